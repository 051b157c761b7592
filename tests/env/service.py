"""What the stand-ins share: a GLib main loop, property objects, a control pipe.

This is deliberately independent of the daemon's own bus layer
(spdmd.daemon.bus): the stand-ins and the daemon meet only on the wire, so a
mistake in one is not hidden by the same mistake in the other.

- `MainLoop` runs libglib's main loop through ctypes, as the daemon must on
  OpenBMC (no PyGObject there, and none installed here).
- `PropertyObject` is a dbus.service.Object with Properties
  (Get/GetAll/Set/PropertiesChanged) and an Introspect that lists every
  interface with its properties, like sd-bus objects do; dbus-python's own
  Introspect leaves property-only interfaces out, and the mapper would then
  never see them.
- `ObjectManager` serves GetManagedObjects and emits InterfacesAdded and
  InterfacesRemoved for the objects registered with it.
- `ControlPipe` reads one JSON command per line from stdin on a thread and
  runs the handler on the main loop; the reply goes to stdout as one JSON
  line. This is how tests drive a stand-in without adding anything to the
  bus that the real service would not have.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import json
import sys
import threading
import traceback
from collections.abc import Callable
from typing import Any

import dbus
import dbus.mainloop.glib
import dbus.service

__all__ = [
    "ControlPipe",
    "MainLoop",
    "ObjectManager",
    "PropertyObject",
    "dbus_signature",
    "introspect_xml",
    "serve",
]

PROPERTIES = "org.freedesktop.DBus.Properties"
OBJECT_MANAGER = "org.freedesktop.DBus.ObjectManager"
INTROSPECTABLE = "org.freedesktop.DBus.Introspectable"

_SourceFunc = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p)


class MainLoop:
    """The default GLib main context, run and fed from Python through ctypes."""

    def __init__(self) -> None:
        name = ctypes.util.find_library("glib-2.0") or "libglib-2.0.so.0"
        self.glib = ctypes.CDLL(name)
        self.glib.g_main_loop_new.restype = ctypes.c_void_p
        self.glib.g_main_loop_new.argtypes = [ctypes.c_void_p, ctypes.c_int]
        self.glib.g_main_loop_run.argtypes = [ctypes.c_void_p]
        self.glib.g_main_loop_quit.argtypes = [ctypes.c_void_p]
        self.glib.g_idle_add.argtypes = [_SourceFunc, ctypes.c_void_p]
        self.glib.g_timeout_add.argtypes = [ctypes.c_uint, _SourceFunc, ctypes.c_void_p]
        self.loop = self.glib.g_main_loop_new(None, 0)
        self._pending: dict[int, Any] = {}
        self._lock = threading.Lock()
        self._next = 0
        dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)

    def _source(self, fn: Callable[[], object]) -> Any:
        with self._lock:
            self._next += 1
            key = self._next

        def run(_data: object) -> int:
            # The ctypes callback must stay alive until GLib has called it.
            self._pending.pop(key, None)
            try:
                fn()
            except Exception:  # noqa: BLE001 - a callback must not stop the loop
                traceback.print_exc(file=sys.stderr)
            return 0

        cb = _SourceFunc(run)
        self._pending[key] = cb
        return cb

    def call_soon(self, fn: Callable[[], object]) -> None:
        """Run fn on the loop thread; safe to call from any thread."""
        self.glib.g_idle_add(self._source(fn), None)

    def call_later(self, seconds: float, fn: Callable[[], object]) -> None:
        self.glib.g_timeout_add(int(seconds * 1000), self._source(fn), None)

    def run(self) -> None:
        self.glib.g_main_loop_run(self.loop)

    def quit(self) -> None:
        self.glib.g_main_loop_quit(self.loop)


_SIMPLE_SIGNATURES = [
    (dbus.Boolean, "b"),
    (dbus.Byte, "y"),
    (dbus.Int16, "n"),
    (dbus.UInt16, "q"),
    (dbus.Int32, "i"),
    (dbus.UInt32, "u"),
    (dbus.Int64, "x"),
    (dbus.UInt64, "t"),
    (dbus.Double, "d"),
    (dbus.ObjectPath, "o"),
    (dbus.Signature, "g"),
    (dbus.String, "s"),
]


def dbus_signature(value: object) -> str:
    """The D-Bus signature of a dbus-typed value (arrays need a signature)."""
    for kind, sig in _SIMPLE_SIGNATURES:
        if isinstance(value, kind):
            return sig
    if isinstance(value, dbus.Array):
        if value.signature is None:
            raise TypeError("dbus.Array without signature")
        return f"a{value.signature}"
    if isinstance(value, dbus.Dictionary):
        if value.signature is None:
            raise TypeError("dbus.Dictionary without signature")
        return f"a{{{value.signature}}}"
    if isinstance(value, dbus.Struct):
        return "(" + "".join(dbus_signature(v) for v in value) + ")"
    if isinstance(value, bool):
        return "b"
    if isinstance(value, str):
        return "s"
    raise TypeError(f"cannot tell the D-Bus type of {value!r}")


def introspect_xml(
    path: str,
    interfaces: dict[str, list[str]],
    children: list[str],
) -> str:
    """Introspection XML from ready-made <interface> bodies and child names."""
    out = [
        '<!DOCTYPE node PUBLIC "-//freedesktop//DTD D-BUS Object Introspection 1.0//EN"',
        ' "http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd">',
        f'<node name="{path}">',
    ]
    for name, body in interfaces.items():
        out.append(f'  <interface name="{name}">')
        out.extend(f"    {line}" for line in body)
        out.append("  </interface>")
    out.extend(f'  <node name="{c}"/>' for c in children)
    out.append("</node>")
    return "\n".join(out) + "\n"


class PropertyObject(dbus.service.Object):
    """An object with properties on named interfaces.

    `props` maps interface name to {property: dbus-typed value}; `writable`
    names the (interface, property) pairs Set may change.
    """

    def __init__(
        self,
        conn: dbus.connection.Connection,
        path: str,
        props: dict[str, dict[str, Any]],
        writable: frozenset[tuple[str, str]] = frozenset(),
    ) -> None:
        super().__init__(conn, path)
        self.path = path
        self.props = {i: dict(p) for i, p in props.items()}
        self.writable = writable

    # org.freedesktop.DBus.Properties

    @dbus.service.method(PROPERTIES, in_signature="ss", out_signature="v")
    def Get(self, interface: str, name: str) -> Any:
        try:
            return self.props[interface][name]
        except KeyError:
            raise dbus.DBusException(
                f"No such property {interface}.{name}",
                name="org.freedesktop.DBus.Error.UnknownProperty",
            ) from None

    @dbus.service.method(PROPERTIES, in_signature="s", out_signature="a{sv}")
    def GetAll(self, interface: str) -> Any:
        if interface and interface not in self.props:
            raise dbus.DBusException(
                f"No such interface {interface}",
                name="org.freedesktop.DBus.Error.UnknownInterface",
            )
        return dbus.Dictionary(self.props.get(interface, {}), signature="sv")

    @dbus.service.method(PROPERTIES, in_signature="ssv")
    def Set(self, interface: str, name: str, value: Any) -> None:
        if (interface, name) not in self.writable:
            raise dbus.DBusException(
                f"Property {interface}.{name} is not writable",
                name="org.freedesktop.DBus.Error.PropertyReadOnly",
            )
        self.set_property(interface, name, value)

    @dbus.service.signal(PROPERTIES, signature="sa{sv}as")
    def PropertiesChanged(
        self, interface: str, changed: dict[str, Any], invalidated: list[str]
    ) -> None:
        pass

    def set_property(self, interface: str, name: str, value: Any) -> None:
        self.props[interface][name] = value
        self.PropertiesChanged(
            interface,
            dbus.Dictionary({name: value}, signature="sv"),
            dbus.Array([], signature="s"),
        )

    def managed_interfaces(self) -> dict[str, dict[str, Any]]:
        return {i: dbus.Dictionary(p, signature="sv") for i, p in self.props.items()}

    # org.freedesktop.DBus.Introspectable

    @dbus.service.method(
        INTROSPECTABLE,
        out_signature="s",
        path_keyword="object_path",
        connection_keyword="connection",
    )
    def Introspect(self, object_path: str, connection: Any) -> str:
        bodies: dict[str, list[str]] = {}
        cls = type(self)
        table = self._dbus_class_table[f"{cls.__module__}.{cls.__name__}"]
        for iface, funcs in table.items():
            lines: list[str] = []
            for func in funcs.values():
                if getattr(func, "_dbus_is_method", False):
                    lines.extend(cls._reflect_on_method(func).strip().splitlines())
                elif getattr(func, "_dbus_is_signal", False):
                    lines.extend(cls._reflect_on_signal(func).strip().splitlines())
            bodies[iface] = [line.strip() for line in lines]
        for iface, props in self.props.items():
            body = bodies.setdefault(iface, [])
            for name, value in props.items():
                access = "readwrite" if (iface, name) in self.writable else "read"
                body.append(
                    f'<property name="{name}" type="{dbus_signature(value)}" '
                    f'access="{access}"/>'
                )
        children = list(connection.list_exported_child_objects(object_path))
        return introspect_xml(object_path, bodies, children)


class ObjectManager(PropertyObject):
    """org.freedesktop.DBus.ObjectManager over the objects added to it."""

    def __init__(self, conn: dbus.connection.Connection, path: str) -> None:
        super().__init__(conn, path, {})
        self.objects: dict[str, PropertyObject] = {}

    @dbus.service.method(OBJECT_MANAGER, out_signature="a{oa{sa{sv}}}")
    def GetManagedObjects(self) -> Any:
        return dbus.Dictionary(
            {p: o.managed_interfaces() for p, o in self.objects.items()},
            signature="oa{sa{sv}}",
        )

    @dbus.service.signal(OBJECT_MANAGER, signature="oa{sa{sv}}")
    def InterfacesAdded(self, path: str, interfaces: Any) -> None:
        pass

    @dbus.service.signal(OBJECT_MANAGER, signature="oas")
    def InterfacesRemoved(self, path: str, interfaces: Any) -> None:
        pass

    def add(self, obj: PropertyObject) -> None:
        self.objects[obj.path] = obj
        self.InterfacesAdded(
            obj.path, dbus.Dictionary(obj.managed_interfaces(), signature="sa{sv}")
        )

    def remove(self, path: str) -> PropertyObject | None:
        obj = self.objects.pop(path, None)
        if obj is None:
            return None
        obj.remove_from_connection()
        self.InterfacesRemoved(path, dbus.Array(list(obj.props), signature="s"))
        return obj


class ControlPipe:
    """JSON commands on stdin, JSON replies on stdout, handled on the loop."""

    def __init__(
        self, loop: MainLoop, handler: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> None:
        self.loop = loop
        self.handler = handler

    @staticmethod
    def reply(message: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()

    def _handle(self, line: str) -> None:
        try:
            result = self.handler(json.loads(line))
            self.reply({"ok": True, **result})
        except Exception as e:  # noqa: BLE001 - the pipe must survive a bad command
            traceback.print_exc(file=sys.stderr)
            self.reply({"ok": False, "error": f"{type(e).__name__}: {e}"})

    def _read(self) -> None:
        for line in sys.stdin:
            if line.strip():
                self.loop.call_soon(functools.partial(self._handle, line))
        # The test closed our stdin: the stand-in's life is over.
        self.loop.call_soon(self.loop.quit)

    def start(self) -> None:
        threading.Thread(target=self._read, daemon=True).start()


def serve(
    loop: MainLoop,
    conn: dbus.connection.Connection,
    name: str,
    handler: Callable[[dict[str, Any]], dict[str, Any]],
) -> int:
    """Own `name`, announce readiness on stdout, run until stdin closes."""
    reply = conn.request_name(name, dbus.bus.NAME_FLAG_DO_NOT_QUEUE)
    if reply != dbus.bus.REQUEST_NAME_REPLY_PRIMARY_OWNER:
        print(f"stand-in: {name} is taken", file=sys.stderr)
        return 1
    ControlPipe(loop, handler).start()
    ControlPipe.reply({"ready": True})
    loop.run()
    return 0
