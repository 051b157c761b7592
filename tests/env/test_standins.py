"""The mctpd and Entity Manager stand-ins look like the real services on the wire.

Read with busctl, an independent client, and with GetManagedObjects; the
paths, interface names and D-Bus types are those of mctpd's docs/mctpd.md
and of Entity Manager's JSON typing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.env.client import Client
from tests.env.dbus_daemon import DBusDaemon
from tests.env.processes import StandIn, wait_for

MCTPD = "au.com.codeconstruct.MCTP1"
EP = "/au/com/codeconstruct/mctp1/networks/1/endpoints/20"


@pytest.fixture
def client(dbus_daemon: DBusDaemon) -> Iterator[Client]:
    with Client(dbus_daemon.address) as c:
        yield c


def busctl(address: str, *args: str) -> str:
    exe = shutil.which("busctl")
    if exe is None:
        pytest.skip("busctl is not installed (Debian package systemd)")
    out = subprocess.run(
        [exe, f"--address={address}", *args],
        check=True,
        capture_output=True,
        text=True,
        timeout=10,
    )
    return out.stdout


def test_mctpd_endpoint_object(dbus_daemon: DBusDaemon) -> None:
    """An endpoint has mctpd's path, interfaces and property types."""
    with StandIn(
        "mctpd",
        dbus_daemon.address,
        "--endpoints",
        json.dumps([{"net": 1, "eid": 20, "types": [0, 5], "uuid": "u-1"}]),
    ):
        text = busctl(dbus_daemon.address, "introspect", MCTPD, EP)
    rows = {
        line.split()[0]: line.split()[1:3] for line in text.splitlines()[1:] if line
    }
    assert rows[".NetworkId"] == ["property", "u"]
    assert rows[".EID"] == ["property", "y"]
    assert rows[".SupportedMessageTypes"] == ["property", "ay"]
    assert rows[".Connectivity"] == ["property", "s"]
    assert rows[".UUID"] == ["property", "s"]
    assert rows[".SetMTU"] == ["method", "u"]
    for iface in (
        "xyz.openbmc_project.MCTP.Endpoint",
        "xyz.openbmc_project.Common.UUID",
        "au.com.codeconstruct.MCTP.Endpoint1",
    ):
        assert rows[iface][0] == "interface"


def test_mctpd_signals_follow_commands(dbus_daemon: DBusDaemon, client: Client) -> None:
    """add, connectivity and remove show in GetManagedObjects; Remove() removes."""
    with StandIn("mctpd", dbus_daemon.address) as mctpd:
        mctpd.command("add", net=1, eid=20, types=[0, 5])
        objects = client.managed_objects(MCTPD, "/au/com/codeconstruct/mctp1")
        ep = objects[EP]
        assert ep["xyz.openbmc_project.MCTP.Endpoint"] == {
            "NetworkId": 1,
            "EID": 20,
            "SupportedMessageTypes": [0, 5],
        }
        assert "xyz.openbmc_project.Common.UUID" not in ep
        mctpd.command("connectivity", net=1, eid=20, value="Degraded")
        assert (
            client.get(MCTPD, EP, "au.com.codeconstruct.MCTP.Endpoint1", "Connectivity")
            == "Degraded"
        )
        client.call(MCTPD, EP, "au.com.codeconstruct.MCTP.Endpoint1", "Remove")
        wait_for(
            lambda: (
                EP not in client.managed_objects(MCTPD, "/au/com/codeconstruct/mctp1")
            ),
            5,
        )
        assert mctpd.command("calls")["calls"] == [["Remove", 1, 20]]


def test_entity_manager_records(
    dbus_daemon: DBusDaemon, client: Client, tmp_path: Path
) -> None:
    """Records appear under the board with Entity Manager's path and JSON typing."""
    config = tmp_path / "em.json"
    config.write_text(
        json.dumps(
            [
                {
                    "Name": "Tray 1",
                    "Type": "Board",
                    "Exposes": [
                        {
                            "Name": "nic 0",
                            "Type": "SpdmTcpResponder",
                            "Hostname": "10.0.0.2",
                            "Port": 4194,
                        }
                    ],
                }
            ]
        )
    )
    with StandIn("entity_manager", dbus_daemon.address, "--config", str(config)):
        path = "/xyz/openbmc_project/inventory/system/board/Tray_1/nic_0"
        text = busctl(
            dbus_daemon.address, "introspect", "xyz.openbmc_project.EntityManager", path
        )
        objects = client.managed_objects(
            "xyz.openbmc_project.EntityManager", "/xyz/openbmc_project/inventory"
        )
    assert ".Port" in text and " t " in text.split(".Port", 1)[1].splitlines()[0]
    record = objects[path]["xyz.openbmc_project.Configuration.SpdmTcpResponder"]
    assert record["Hostname"] == "10.0.0.2" and record["Port"] == 4194
    assert (
        "xyz.openbmc_project.Inventory.Item.Board"
        in objects["/xyz/openbmc_project/inventory/system/board/Tray_1"]
    )
