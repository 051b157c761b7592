"""A small configurable D-Bus service, the subject of the mapper's tests.

It owns a name under xyz.openbmc_project.Test (open in the private bus's
policy), keeps an ObjectManager at /xyz/openbmc_project/test and puts
objects anywhere, with any interfaces and properties, on command:

  {"cmd": "add", "path": "/a/b", "interfaces": {"x.y.Z": {"Prop": 1}}}
  {"cmd": "remove", "path": "/a/b"}
  {"cmd": "set", "path": "/a/b", "interface": "x.y.Z", "name": "Prop", "value": 2}

Values are typed as Entity Manager types JSON, except a property named
"Associations", which is a(sss) as in xyz.openbmc_project.Association.Definitions.
--objects gives the objects present before the name is owned.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import dbus
from tests.env.entity_manager import to_dbus
from tests.env.service import MainLoop, ObjectManager, PropertyObject, serve

MANAGER_PATH = "/xyz/openbmc_project/test"


def typed(name: str, value: Any) -> Any:
    if name == "Associations":
        return dbus.Array(
            [dbus.Struct(tuple(a), signature="sss") for a in value], signature="(sss)"
        )
    return to_dbus(value)


class Toy:
    def __init__(self, conn: dbus.connection.Connection) -> None:
        self.conn = conn
        self.manager = ObjectManager(conn, MANAGER_PATH)

    def add(self, path: str, interfaces: dict[str, dict[str, Any]]) -> None:
        props = {
            i: {n: typed(n, v) for n, v in p.items()} for i, p in interfaces.items()
        }
        self.manager.add(PropertyObject(self.conn, path, props))

    def handle(self, msg: dict[str, Any]) -> dict[str, Any]:
        cmd = msg["cmd"]
        if cmd == "add":
            self.add(msg["path"], msg["interfaces"])
        elif cmd == "remove":
            if self.manager.remove(msg["path"]) is None:
                raise ValueError(f"no object {msg['path']}")
        elif cmd == "set":
            obj = self.manager.objects[msg["path"]]
            name = msg["name"]
            obj.set_property(msg["interface"], name, typed(name, msg["value"]))
        else:
            raise ValueError(f"unknown command {cmd!r}")
        return {}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--objects", default="{}", help="JSON {path: interfaces}")
    args = parser.parse_args(argv)
    loop = MainLoop()
    conn = dbus.bus.BusConnection(args.address)
    toy = Toy(conn)
    for path, interfaces in json.loads(args.objects).items():
        toy.add(path, interfaces)
    return serve(loop, conn, args.name, toy.handle)


if __name__ == "__main__":
    sys.exit(main())
