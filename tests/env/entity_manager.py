"""A stand-in for Entity Manager's D-Bus side.

Entity Manager turns JSON board configurations into objects under
/xyz/openbmc_project/inventory (its ObjectManager): the board itself at
/xyz/openbmc_project/inventory/system/<type>/<board name> with
xyz.openbmc_project.Inventory.Item.<Type>, and each record of its "Exposes"
list at <board path>/<record name> with the interface
xyz.openbmc_project.Configuration.<record Type> carrying the record's keys as
properties. Names become path elements with every character outside
[A-Za-z0-9_] replaced by "_", and JSON values map to D-Bus types as Entity
Manager maps them: unsigned integers to t, negative ones to x, reals to d,
strings to s, booleans to b, lists to arrays of those.

The configuration file is a JSON list of boards like Entity Manager's own
files, for example

  [{"Name": "Tray 1", "Type": "Board",
    "Exposes": [{"Name": "nic0", "Type": "SpdmTcpResponder",
                 "Hostname": "127.0.0.1", "Port": 4194,
                 "TrustedComponentType": "Discrete"}]}]

Control commands (JSON lines on stdin):
  {"cmd": "add", "board": {...}}     -> adds one board and its records
  {"cmd": "remove", "name": "Tray 1"} -> removes a board and its records
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import dbus
from tests.env.service import (
    MainLoop,
    ObjectManager,
    PropertyObject,
    dbus_signature,
    serve,
)

SERVICE = "xyz.openbmc_project.EntityManager"
ROOT = "/xyz/openbmc_project/inventory"
CONFIG_PREFIX = "xyz.openbmc_project.Configuration."
ITEM_PREFIX = "xyz.openbmc_project.Inventory.Item."


def path_element(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def to_dbus(value: Any) -> Any:
    """A JSON value as Entity Manager would type it on D-Bus."""
    if isinstance(value, bool):
        return dbus.Boolean(value)
    if isinstance(value, int):
        return dbus.UInt64(value) if value >= 0 else dbus.Int64(value)
    if isinstance(value, float):
        return dbus.Double(value)
    if isinstance(value, str):
        return dbus.String(value)
    if isinstance(value, list):
        items = [to_dbus(v) for v in value]
        if not items:
            return dbus.Array([], signature="s")
        # Mixed lists do not survive Entity Manager either; use the first type.
        return dbus.Array(items, signature=dbus_signature(items[0]))
    raise TypeError(f"cannot put {value!r} on D-Bus")


class EntityManager:
    def __init__(self, conn: dbus.connection.Connection) -> None:
        self.conn = conn
        self.root = ObjectManager(conn, ROOT)
        self.boards: dict[str, list[str]] = {}

    def add_board(self, board: dict[str, Any]) -> list[str]:
        name = board["Name"]
        if name in self.boards:
            raise ValueError(f"board {name!r} exists")
        kind = board.get("Type", "Board")
        board_path = f"{ROOT}/system/{path_element(kind.lower())}/{path_element(name)}"
        board_props = {
            k: to_dbus(v) for k, v in board.items() if k not in ("Exposes", "Probe")
        }
        objects = [
            PropertyObject(self.conn, board_path, {ITEM_PREFIX + kind: board_props})
        ]
        for record in board.get("Exposes", []):
            rpath = f"{board_path}/{path_element(record['Name'])}"
            props = {k: to_dbus(v) for k, v in record.items()}
            objects.append(
                PropertyObject(
                    self.conn, rpath, {CONFIG_PREFIX + record["Type"]: props}
                )
            )
        for obj in objects:
            self.root.add(obj)
        self.boards[name] = [o.path for o in objects]
        return self.boards[name]

    def remove_board(self, name: str) -> None:
        for path in reversed(self.boards.pop(name)):
            self.root.remove(path)

    def handle(self, msg: dict[str, Any]) -> dict[str, Any]:
        cmd = msg["cmd"]
        if cmd == "add":
            return {"paths": self.add_board(msg["board"])}
        if cmd == "remove":
            self.remove_board(msg["name"])
            return {}
        raise ValueError(f"unknown command {cmd!r}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", required=True, help="D-Bus address of the bus")
    parser.add_argument("--config", type=Path, help="JSON list of boards")
    args = parser.parse_args(argv)
    loop = MainLoop()
    conn = dbus.bus.BusConnection(args.address)
    em = EntityManager(conn)
    if args.config is not None:
        for board in json.loads(args.config.read_text()):
            em.add_board(board)
    return serve(loop, conn, SERVICE, em.handle)


if __name__ == "__main__":
    sys.exit(main())
