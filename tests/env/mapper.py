"""A stand-in for phosphor-objmgr, the OpenBMC ObjectMapper.

It learns the bus the way the real mapper does (src/main.cpp,
src/processing.cpp, src/handler.cpp, src/associations.cpp of
openbmc/phosphor-objmgr), so what it reports about a service is what that
service's own introspection and signals say, nothing else:

- at start, ListNames, and for every well-known name not starting with
  "org.freedesktop" (unique names are skipped too), Introspect from "/",
  following every <node> child recursively; each path introspected becomes
  known, and every <interface> listed is recorded under the well-known name;
- NameOwnerChanged: a name that lost its owner disappears from every path
  (a path left with no service is forgotten); a new owner is introspected;
- InterfacesAdded / InterfacesRemoved from a known owner add and remove
  interfaces; missing parent paths of an added path become known with no
  interfaces; parents left with only the freedesktop interfaces and no
  other child of that service are forgotten;
- associations: Association.Definitions.Associations a(sss)
  [forward, reverse, endpoint] on a path P become objects P/forward with
  endpoints [endpoint] and endpoint/reverse with endpoints [P], both with
  xyz.openbmc_project.Association.endpoints (as), served by the mapper. An
  association whose endpoint path is not known yet waits until it is, as
  the real mapper's pending associations do. Changes arrive through
  InterfacesAdded, introspection (then a Get of the property) and
  PropertiesChanged.

Methods on /xyz/openbmc_project/object_mapper,
xyz.openbmc_project.ObjectMapper, with handler.cpp's semantics:
GetSubTree(s root, i depth, as ifaces) -> a{sa{sas}},
GetSubTreePaths(s, i, as) -> as, GetObject(s path, as ifaces) -> a{sas},
GetAncestors(s path, as ifaces) -> a{sa{sas}}. ResourceNotFound only when
the root is not itself a known path (so "/" never raises); the root is not
in the result; depth <= 0 is unlimited, otherwise it counts the "/" past
the root; an object matches when any of a service's interfaces is in the
filter (an empty filter matches all) and then all of that service's
interfaces on the path are listed. GetObject raises ResourceNotFound for
an unknown path and when no service matches.

Not copied: GetAssociatedSubTree* and the *ById methods (spdmd does not
call them), the delayed endpoint update for huge association lists.

When it has finished introspecting a name it emits
xyz.openbmc_project.ObjectMapper.Private.IntrospectionComplete(s), like the
real mapper. Until then its view of that name is partial (an
InterfacesRemoved may even drop a parent path it has not introspected
yet), so tests wait for it: the control command `introspected` returns
{name: unique name} for the owner whose introspection last completed.
"""

from __future__ import annotations

import argparse
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import dbus
import dbus.service
from tests.env.service import ControlPipe, MainLoop, PropertyObject

SERVICE = "xyz.openbmc_project.ObjectMapper"
PATH = "/xyz/openbmc_project/object_mapper"
IFACE = "xyz.openbmc_project.ObjectMapper"
PRIVATE = "xyz.openbmc_project.ObjectMapper.Private"
ASSOC_DEFS = "xyz.openbmc_project.Association.Definitions"
ASSOC = "xyz.openbmc_project.Association"
NOT_FOUND = "xyz.openbmc_project.Common.Error.ResourceNotFound"
FREEDESKTOP_IFACES = frozenset(
    {
        "org.freedesktop.DBus.Introspectable",
        "org.freedesktop.DBus.Peer",
        "org.freedesktop.DBus.Properties",
    }
)
CALL_TIMEOUT = 5.0
TIMEOUT_RETRIES = 3

Tree = dict[str, dict[str, set[str]]]


class ResourceNotFound(dbus.DBusException):
    _dbus_error_name = NOT_FOUND

    def __init__(self) -> None:
        super().__init__("The resource is not found.")


def need_to_introspect(name: str) -> bool:
    return bool(name) and not name.startswith((":", "org.freedesktop"))


def _matches(filter_: list[str], ifaces: set[str]) -> bool:
    return not filter_ or not ifaces.isdisjoint(filter_)


def _below(tree: Tree, root: str, depth: int) -> Iterator[str]:
    """Known paths under root within depth (the common part of getSubTree*)."""
    if depth <= 0:
        depth = 2**31 - 1
    prefix = root if root.endswith("/") else root + "/"
    stripped = prefix[:-1]
    if stripped and stripped not in tree:
        raise ResourceNotFound()
    for path in sorted(tree):
        if path == stripped or not path.startswith(prefix):
            continue
        if path[len(stripped) :].count("/") <= depth:
            yield path


def subtree(tree: Tree, root: str, depth: int, filter_: list[str]) -> dict[str, Any]:
    """GetSubTree's answer from a tree (handler.cpp getSubTree)."""
    result: dict[str, Any] = {}
    for path in list(_below(tree, root, depth)):
        for service, ifaces in tree[path].items():
            if _matches(filter_, ifaces):
                result.setdefault(path, {})[service] = sorted(ifaces)
    return result


def subtree_paths(tree: Tree, root: str, depth: int, filter_: list[str]) -> list[str]:
    """GetSubTreePaths' answer (handler.cpp getSubTreePaths)."""
    return [
        path
        for path in list(_below(tree, root, depth))
        if not filter_ or any(_matches(filter_, i) for i in tree[path].values())
    ]


def get_object(tree: Tree, path: str, filter_: list[str]) -> dict[str, list[str]]:
    """GetObject's answer (handler.cpp getObject)."""
    if path not in tree:
        raise ResourceNotFound()
    services = tree[path]
    result = {s: sorted(i) for s, i in services.items() if _matches(filter_, i)}
    if filter_ and not result:
        raise ResourceNotFound()
    return result


def ancestors(tree: Tree, path: str, filter_: list[str]) -> dict[str, Any]:
    """GetAncestors' answer (handler.cpp getAncestors)."""
    path = path.removesuffix("/")
    if path and path not in tree:
        raise ResourceNotFound()
    result: dict[str, Any] = {}
    for this, services in tree.items():
        if this == path or not path.startswith(this):
            continue
        for service, ifaces in services.items():
            if _matches(filter_, ifaces):
                result.setdefault(this, {})[service] = sorted(ifaces)
    return result


class MapperObject(dbus.service.Object):
    """/xyz/openbmc_project/object_mapper."""

    def __init__(self, mapper: Mapper) -> None:
        super().__init__(mapper.conn, PATH)
        self.mapper = mapper

    @staticmethod
    def _subtree_reply(result: dict[str, Any]) -> Any:
        return dbus.Dictionary(
            {
                p: dbus.Dictionary(
                    {s: dbus.Array(i, signature="s") for s, i in svc.items()},
                    signature="sas",
                )
                for p, svc in result.items()
            },
            signature="sa{sas}",
        )

    @dbus.service.method(IFACE, in_signature="sias", out_signature="a{sa{sas}}")
    def GetSubTree(self, root: str, depth: int, ifaces: list[str]) -> Any:
        return self._subtree_reply(
            subtree(self.mapper.tree, str(root), int(depth), [str(i) for i in ifaces])
        )

    @dbus.service.method(IFACE, in_signature="sias", out_signature="as")
    def GetSubTreePaths(self, root: str, depth: int, ifaces: list[str]) -> Any:
        return dbus.Array(
            subtree_paths(
                self.mapper.tree, str(root), int(depth), [str(i) for i in ifaces]
            ),
            signature="s",
        )

    @dbus.service.method(IFACE, in_signature="sas", out_signature="a{sas}")
    def GetObject(self, path: str, ifaces: list[str]) -> Any:
        result = get_object(self.mapper.tree, str(path), [str(i) for i in ifaces])
        return dbus.Dictionary(
            {s: dbus.Array(i, signature="s") for s, i in result.items()},
            signature="sas",
        )

    @dbus.service.method(IFACE, in_signature="sas", out_signature="a{sa{sas}}")
    def GetAncestors(self, path: str, ifaces: list[str]) -> Any:
        return self._subtree_reply(
            ancestors(self.mapper.tree, str(path), [str(i) for i in ifaces])
        )

    @dbus.service.signal(PRIVATE, signature="s")
    def IntrospectionComplete(self, name: str) -> None:
        pass


class Mapper:
    def __init__(self, conn: dbus.connection.Connection) -> None:
        self.conn = conn
        self.tree: Tree = {}
        self.owners: dict[str, str] = {}  # unique name -> well-known name
        # (source path, service) -> [(forward, reverse, endpoint)]
        self.declared: dict[tuple[str, str], list[tuple[str, str, str]]] = {}
        self.assoc_objects: dict[str, PropertyObject] = {}
        self.in_progress: dict[str, int] = {}
        # well-known name -> the unique name whose introspection last
        # completed (when IntrospectionComplete was emitted for it).
        self.introspected: dict[str, str] = {}
        self.obj = MapperObject(self)
        om = "org.freedesktop.DBus.ObjectManager"
        for handler, member, iface, match in (
            (
                self.on_name_owner_changed,
                "NameOwnerChanged",
                "org.freedesktop.DBus",
                {"bus_name": "org.freedesktop.DBus", "path": "/org/freedesktop/DBus"},
            ),
            (self.on_interfaces_added, "InterfacesAdded", om, {}),
            (self.on_interfaces_removed, "InterfacesRemoved", om, {}),
            # Only association changes, like the real mapper's arg0 match.
            (
                self.on_properties_changed,
                "PropertiesChanged",
                "org.freedesktop.DBus.Properties",
                {"arg0": ASSOC_DEFS, "path_keyword": "path"},
            ),
        ):
            keywords = dict(match)
            if handler != self.on_name_owner_changed:
                keywords["sender_keyword"] = "sender"
            conn.add_signal_receiver(
                handler, signal_name=member, dbus_interface=iface, **keywords
            )

    # start-up

    def list_names(self) -> None:
        names = self.conn.call_blocking(
            "org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus",
            "ListNames",
            "",
            (),
        )
        for name in sorted(str(n) for n in names):
            if need_to_introspect(name):
                try:
                    owner = self.conn.get_name_owner(name)
                except dbus.DBusException:
                    continue
                self.owners[str(owner)] = name
                self.start_introspect(name)

    # introspection

    def start_introspect(self, name: str) -> None:
        self.in_progress[name] = self.in_progress.get(name, 0)
        self.introspect(name, "/")

    def _call(
        self,
        name: str,
        path: str,
        iface: str,
        method: str,
        sig: str,
        args: tuple[Any, ...],
        on_reply: Any,
        retries: int = 0,
    ) -> None:
        self.in_progress[name] = self.in_progress.get(name, 0) + 1

        def done() -> None:
            self.in_progress[name] -= 1
            if self.in_progress[name] == 0:
                del self.in_progress[name]
                owner = next((u for u, n in self.owners.items() if n == name), "")
                self.introspected[name] = owner
                self.obj.IntrospectionComplete(name)

        def reply(*values: Any) -> None:
            try:
                on_reply(*values)
            finally:
                done()

        def error(e: dbus.DBusException) -> None:
            if e.get_dbus_name() == "org.freedesktop.DBus.Error.NoReply" and (
                retries < TIMEOUT_RETRIES
            ):
                self._call(name, path, iface, method, sig, args, on_reply, retries + 1)
            else:
                print(
                    f"mapper stand-in: {method} of {name} {path} failed: {e}",
                    file=sys.stderr,
                )
            done()

        self.conn.call_async(
            name, path, iface, method, sig, args, reply, error, timeout=CALL_TIMEOUT
        )

    def introspect(self, name: str, path: str) -> None:
        def parsed(xml: str) -> None:
            try:
                root = ET.fromstring(str(xml))
            except ET.ParseError:
                print(f"mapper stand-in: bad XML from {name} {path}", file=sys.stderr)
                return
            services = self.tree.setdefault(path, {})
            for el in root.findall("interface"):
                iface = el.get("name")
                if not iface:
                    continue
                services.setdefault(name, set()).add(iface)
                if iface == ASSOC_DEFS:
                    self._call(
                        name,
                        path,
                        "org.freedesktop.DBus.Properties",
                        "Get",
                        "ss",
                        (ASSOC_DEFS, "Associations"),
                        lambda v, p=path: self.set_associations(p, name, v),
                    )
            self.refresh_associations()
            for el in root.findall("node"):
                child = el.get("name")
                if child:
                    base = "" if path == "/" else path
                    self.introspect(name, f"{base}/{child}")

        self._call(
            name,
            path,
            "org.freedesktop.DBus.Introspectable",
            "Introspect",
            "",
            (),
            parsed,
        )

    # signals

    def on_name_owner_changed(self, name: str, old: str, new: str) -> None:
        name, old, new = str(name), str(old), str(new)
        if name.startswith(":"):
            return
        if old:
            self.owners.pop(old, None)
            for path in list(self.tree):
                self.tree[path].pop(name, None)
                if not self.tree[path]:
                    del self.tree[path]
            for key in [k for k in self.declared if k[1] == name]:
                del self.declared[key]
            self.refresh_associations()
        if new and need_to_introspect(name):
            self.owners[new] = name
            self.start_introspect(name)

    def well_known(self, sender: str) -> str | None:
        return sender if not sender.startswith(":") else self.owners.get(sender)

    def on_interfaces_added(self, path: str, interfaces: Any, sender: str) -> None:
        name = self.well_known(str(sender))
        if name is None or not need_to_introspect(name):
            return
        path = str(path)
        services = self.tree.setdefault(path, {})
        ifaces = services.setdefault(name, set())
        for iface, props in interfaces.items():
            ifaces.add(str(iface))
            if iface == ASSOC_DEFS and "Associations" in props:
                self.declared[(path, name)] = self._assoc_list(props["Associations"])
        # Parents become known with no interfaces, as processInterfaceAdded does.
        parent = path
        while "/" in parent:
            parent = parent[: parent.rfind("/")]
            entry = self.tree.setdefault(parent, {})
            if name in entry:
                break
            entry[name] = set()
        self.refresh_associations()

    def on_interfaces_removed(self, path: str, interfaces: Any, sender: str) -> None:
        name = self.well_known(str(sender))
        path = str(path)
        if name is None or path not in self.tree:
            return
        services = self.tree[path]
        if name in services:
            for iface in interfaces:
                if iface == ASSOC_DEFS:
                    self.declared.pop((path, name), None)
                services[name].discard(str(iface))
            if not services[name]:
                del services[name]
        if not services:
            del self.tree[path]
        self.remove_unneeded_parents(path, name)
        self.refresh_associations()

    def remove_unneeded_parents(self, path: str, name: str) -> None:
        parent = path
        while True:
            pos = parent.rfind("/")
            if pos <= 0:
                return
            parent = parent[:pos]
            services = self.tree.get(parent)
            if services is None or name not in services:
                return
            if not services[name] <= FREEDESKTOP_IFACES:
                return
            prefix = parent + "/"
            if any(p.startswith(prefix) and name in s for p, s in self.tree.items()):
                return
            del services[name]
            if not services:
                del self.tree[parent]

    def on_properties_changed(
        self, iface: str, changed: Any, invalidated: Any, sender: str, path: str
    ) -> None:
        name = self.well_known(str(sender))
        if name is None or "Associations" not in changed:
            return
        self.set_associations(str(path), name, changed["Associations"])

    # associations

    @staticmethod
    def _assoc_list(value: Any) -> list[tuple[str, str, str]]:
        return [(str(f), str(r), str(e)) for f, r, e in value]

    def set_associations(self, path: str, name: str, value: Any) -> None:
        self.declared[(path, name)] = self._assoc_list(value)
        self.refresh_associations()

    def refresh_associations(self) -> None:
        """Make the served association objects match what is declared.

        An association is live only while both its source and its endpoint
        are known paths; otherwise it is pending, as in associations.cpp.
        """
        wanted: dict[str, list[str]] = {}
        for (source, _name), assocs in self.declared.items():
            if source not in self.tree:
                continue
            for forward, reverse, endpoint in assocs:
                if not endpoint or endpoint not in self.tree:
                    continue
                if forward:
                    ends = wanted.setdefault(f"{source}/{forward}", [])
                    if endpoint not in ends:
                        ends.append(endpoint)
                if reverse:
                    ends = wanted.setdefault(f"{endpoint}/{reverse}", [])
                    if source not in ends:
                        ends.append(source)
        for path in list(self.assoc_objects):
            if path not in wanted:
                self.assoc_objects.pop(path).remove_from_connection()
                services = self.tree.get(path, {})
                services.pop(SERVICE, None)
                if path in self.tree and not services:
                    del self.tree[path]
        for path, ends in wanted.items():
            value = dbus.Array(ends, signature="s")
            obj = self.assoc_objects.get(path)
            if obj is None:
                self.assoc_objects[path] = PropertyObject(
                    self.conn, path, {ASSOC: {"endpoints": value}}
                )
                self.tree.setdefault(path, {})[SERVICE] = {ASSOC}
            elif list(obj.props[ASSOC]["endpoints"]) != ends:
                obj.set_property(ASSOC, "endpoints", value)

    def handle(self, msg: dict[str, Any]) -> dict[str, Any]:
        cmd = msg["cmd"]
        if cmd == "busy":
            return {"busy": sorted(self.in_progress)}
        if cmd == "introspected":
            return {"introspected": dict(self.introspected)}
        if cmd == "tree":
            return {
                "tree": {
                    p: {s: sorted(i) for s, i in v.items()}
                    for p, v in self.tree.items()
                }
            }
        raise ValueError(f"unknown command {cmd!r}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", required=True, help="D-Bus address of the bus")
    args = parser.parse_args(argv)
    loop = MainLoop()
    conn = dbus.bus.BusConnection(args.address)
    mapper = Mapper(conn)
    if conn.request_name(SERVICE, dbus.bus.NAME_FLAG_DO_NOT_QUEUE) != (
        dbus.bus.REQUEST_NAME_REPLY_PRIMARY_OWNER
    ):
        print(f"mapper stand-in: {SERVICE} is taken", file=sys.stderr)
        return 1
    mapper.list_names()
    ControlPipe(loop, mapper.handle).start()
    ControlPipe.reply({"ready": True})
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
