"""Blocking D-Bus calls for tests and the demo, answers as plain Python values.

A test sees what busctl would show: plain str/int/bool/list/dict, with the
D-Bus error name of a failed call in DBusCallError.name.
"""

from __future__ import annotations

from typing import Any, Self

import dbus

__all__ = ["Client", "DBusCallError", "unwrap"]

MAPPER = (
    "xyz.openbmc_project.ObjectMapper",
    "/xyz/openbmc_project/object_mapper",
    "xyz.openbmc_project.ObjectMapper",
)
PROPERTIES = "org.freedesktop.DBus.Properties"


class DBusCallError(Exception):
    """A call failed; `name` is the D-Bus error name, `message` its text."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = message


def unwrap(value: Any) -> Any:
    """dbus-python values as plain Python ones (bytes arrays stay lists of int)."""
    if isinstance(value, dbus.Boolean):
        return bool(value)
    if isinstance(
        value,
        (
            dbus.Byte,
            dbus.Int16,
            dbus.UInt16,
            dbus.Int32,
            dbus.UInt32,
            dbus.Int64,
            dbus.UInt64,
        ),
    ):
        return int(value)
    if isinstance(value, dbus.Double):
        return float(value)
    if isinstance(value, (dbus.String, dbus.ObjectPath, dbus.Signature)):
        return str(value)
    if isinstance(value, dict):
        return {unwrap(k): unwrap(v) for k, v in value.items()}
    if isinstance(value, dbus.Struct):
        return tuple(unwrap(v) for v in value)
    if isinstance(value, (list, tuple)):
        return [unwrap(v) for v in value]
    return value


class Client:
    """One connection to a bus, with the calls the tests make."""

    def __init__(self, address: str) -> None:
        self.conn = dbus.bus.BusConnection(address)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(
        self,
        service: str,
        path: str,
        interface: str,
        method: str,
        signature: str = "",
        args: tuple[Any, ...] = (),
        timeout: float = 10.0,
    ) -> Any:
        try:
            reply = self.conn.call_blocking(
                service, path, interface, method, signature, args, timeout=timeout
            )
        except dbus.DBusException as e:
            raise DBusCallError(e.get_dbus_name() or "", e.get_dbus_message() or "")
        return unwrap(reply)

    def get(self, service: str, path: str, interface: str, name: str) -> Any:
        return self.call(service, path, PROPERTIES, "Get", "ss", (interface, name))

    def get_all(
        self, service: str, path: str, interface: str, timeout: float = 10.0
    ) -> dict[str, Any]:
        result: dict[str, Any] = self.call(
            service, path, PROPERTIES, "GetAll", "s", (interface,), timeout=timeout
        )
        return result

    def set(
        self, service: str, path: str, interface: str, name: str, value: Any
    ) -> None:
        self.call(service, path, PROPERTIES, "Set", "ssv", (interface, name, value))

    def managed_objects(self, service: str, path: str) -> dict[str, Any]:
        result: dict[str, Any] = self.call(
            service, path, "org.freedesktop.DBus.ObjectManager", "GetManagedObjects"
        )
        return result

    def subtree(
        self,
        root: str,
        depth: int = 0,
        interfaces: tuple[str, ...] = (),
        timeout: float = 10.0,
    ) -> Any:
        return self.call(
            *MAPPER,
            "GetSubTree",
            "sias",
            (root, depth, dbus.Array(interfaces, signature="s")),
            timeout=timeout,
        )

    def subtree_paths(
        self, root: str, depth: int = 0, interfaces: tuple[str, ...] = ()
    ) -> Any:
        return self.call(
            *MAPPER,
            "GetSubTreePaths",
            "sias",
            (root, depth, dbus.Array(interfaces, signature="s")),
        )

    def get_object(self, path: str, interfaces: tuple[str, ...] = ()) -> Any:
        return self.call(
            *MAPPER, "GetObject", "sas", (path, dbus.Array(interfaces, signature="s"))
        )

    def endpoints(self, path: str) -> list[str] | None:
        """The mapper's association endpoints at path, None when it has none."""
        try:
            result: list[str] = self.get(
                MAPPER[0], path, "xyz.openbmc_project.Association", "endpoints"
            )
        except DBusCallError:
            return None
        return result

    def name_has_owner(self, name: str) -> bool:
        return bool(self.conn.name_has_owner(name))
