"""A stand-in for CodeConstruct's mctpd, as seen on D-Bus.

Service au.com.codeconstruct.MCTP1; ObjectManager and the
au.com.codeconstruct.MCTP1 interface at /au/com/codeconstruct/mctp1; one
object per network at .../networks/<net> (au.com.codeconstruct.MCTP.Network1)
and one per peer at .../networks/<net>/endpoints/<eid> with

- xyz.openbmc_project.MCTP.Endpoint: NetworkId u, EID y, SupportedMessageTypes ay
- xyz.openbmc_project.Common.UUID: UUID s (only when the peer has one)
- au.com.codeconstruct.MCTP.Endpoint1: Connectivity s (emits change),
  SetMTU(u), Remove(), Recover()

Peers appear and vanish with InterfacesAdded/InterfacesRemoved on the
ObjectManager path, as mctpd does (docs/mctpd.md of CodeConstruct/mctp).
The objects are registered before the name is requested, so a mapper that
introspects on NameOwnerChanged sees them all.

No MCTP traffic happens here: the host has no AF_MCTP. Tests point the
daemon's MCTP transport at emulators with the test hook described in
docs/testing.md.

Control commands (JSON lines on stdin):
  {"cmd": "add", "net": 1, "eid": 20, "types": [0, 5], "uuid": "..."}
  {"cmd": "remove", "net": 1, "eid": 20}
  {"cmd": "connectivity", "net": 1, "eid": 20, "value": "Degraded"}
  {"cmd": "calls"}  -> {"calls": [[method, net, eid, args...], ...]}
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import dbus
import dbus.service
from tests.env.service import MainLoop, ObjectManager, PropertyObject, serve

SERVICE = "au.com.codeconstruct.MCTP1"
ROOT = "/au/com/codeconstruct/mctp1"
ENDPOINT = "xyz.openbmc_project.MCTP.Endpoint"
UUID = "xyz.openbmc_project.Common.UUID"
ENDPOINT1 = "au.com.codeconstruct.MCTP.Endpoint1"
NETWORK1 = "au.com.codeconstruct.MCTP.Network1"
LOCAL_EID = 8


def endpoint_path(net: int, eid: int) -> str:
    return f"{ROOT}/networks/{net}/endpoints/{eid}"


class Root(ObjectManager):
    """The top object: ObjectManager plus mctpd's own interface."""

    def __init__(self, conn: dbus.connection.Connection) -> None:
        super().__init__(conn, ROOT)
        self.registered: list[tuple[int, list[int]]] = []

    @dbus.service.method(SERVICE, in_signature="yau")
    def RegisterTypeSupport(self, msg_type: int, versions: Any) -> None:
        self.registered.append((int(msg_type), [int(v) for v in versions]))


class Endpoint(PropertyObject):
    """One MCTP peer."""

    def __init__(
        self, mctpd: Mctpd, net: int, eid: int, types: list[int], uuid: str | None
    ) -> None:
        props: dict[str, dict[str, Any]] = {
            ENDPOINT: {
                "NetworkId": dbus.UInt32(net),
                "EID": dbus.Byte(eid),
                "SupportedMessageTypes": dbus.Array(
                    [dbus.Byte(t) for t in types], signature="y"
                ),
            },
            ENDPOINT1: {"Connectivity": dbus.String("Available")},
        }
        if uuid is not None:
            props[UUID] = {"UUID": dbus.String(uuid)}
        super().__init__(mctpd.conn, endpoint_path(net, eid), props)
        self.mctpd = mctpd
        self.net = net
        self.eid = eid

    @dbus.service.method(ENDPOINT1, in_signature="u")
    def SetMTU(self, mtu: int) -> None:
        self.mctpd.calls.append(["SetMTU", self.net, self.eid, int(mtu)])

    @dbus.service.method(ENDPOINT1)
    def Remove(self) -> None:
        self.mctpd.calls.append(["Remove", self.net, self.eid])
        self.mctpd.remove(self.net, self.eid)

    @dbus.service.method(ENDPOINT1)
    def Recover(self) -> None:
        # mctpd queries the peer and reports the outcome through
        # Connectivity; here the test decides that outcome.
        self.mctpd.calls.append(["Recover", self.net, self.eid])


class Mctpd:
    def __init__(self, conn: dbus.connection.Connection) -> None:
        self.conn = conn
        self.root = Root(conn)
        self.networks: dict[int, PropertyObject] = {}
        self.calls: list[list[Any]] = []

    def network(self, net: int) -> None:
        if net in self.networks:
            return
        obj = PropertyObject(
            self.conn,
            f"{ROOT}/networks/{net}",
            {
                NETWORK1: {
                    "LocalEIDs": dbus.Array([dbus.Byte(LOCAL_EID)], signature="y")
                }
            },
        )
        self.networks[net] = obj
        self.root.add(obj)

    def add(
        self, net: int, eid: int, types: list[int], uuid: str | None = None
    ) -> None:
        if endpoint_path(net, eid) in self.root.objects:
            raise ValueError(f"endpoint {net}/{eid} exists")
        if not 0 < eid < 0xFF:
            raise ValueError(f"EID {eid} out of range")
        self.network(net)
        self.root.add(Endpoint(self, net, eid, types, uuid))

    def remove(self, net: int, eid: int) -> None:
        if self.root.remove(endpoint_path(net, eid)) is None:
            raise ValueError(f"no endpoint {net}/{eid}")

    def handle(self, msg: dict[str, Any]) -> dict[str, Any]:
        cmd = msg["cmd"]
        if cmd == "add":
            self.add(
                int(msg["net"]),
                int(msg["eid"]),
                list(msg.get("types", [0, 5])),
                msg.get("uuid"),
            )
        elif cmd == "remove":
            self.remove(int(msg["net"]), int(msg["eid"]))
        elif cmd == "connectivity":
            obj = self.root.objects[endpoint_path(int(msg["net"]), int(msg["eid"]))]
            obj.set_property(ENDPOINT1, "Connectivity", dbus.String(msg["value"]))
        elif cmd == "calls":
            return {"calls": self.calls}
        else:
            raise ValueError(f"unknown command {cmd!r}")
        return {}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", required=True, help="D-Bus address of the bus")
    parser.add_argument(
        "--endpoints",
        default="[]",
        help='JSON list of {"net", "eid", "types", "uuid"} present at start',
    )
    args = parser.parse_args(argv)
    loop = MainLoop()
    conn = dbus.bus.BusConnection(args.address)
    mctpd = Mctpd(conn)
    for ep in json.loads(args.endpoints):
        mctpd.add(
            int(ep["net"]),
            int(ep["eid"]),
            list(ep.get("types", [0, 5])),
            ep.get("uuid"),
        )
    return serve(loop, conn, SERVICE, mctpd.handle)


if __name__ == "__main__":
    sys.exit(main())
