"""The bus layer: GLib main loop without `gi`, Properties, ObjectManager.

OpenBMC builds without GObject introspection, so PyGObject is absent on the
target. dbus-python's GLib integration is C and only needs *something* to
run the default GLib main context; this module runs it by calling
libglib-2.0 through ctypes. On top of `dbus.service.Object` it adds what
dbus-python leaves out: org.freedesktop.DBus.Properties with typed values,
org.freedesktop.DBus.ObjectManager, and introspection XML that lists
properties (the object mapper builds its tree from that XML).

Invariants:
- Every exported object is touched only on the bus thread (the thread
  running `MainLoop.run`). Other threads hand work over with
  `MainLoop.call_soon_threadsafe`.
- A property's value is stored as plain Python and converted to the D-Bus
  type of its declared signature whenever it leaves the process, so every
  Get, GetAll, PropertiesChanged and GetManagedObjects carries the declared
  type and never a guessed one.
"""

from __future__ import annotations

import ctypes
import itertools
import logging
import signal as _signal
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import dbus
import dbus.lowlevel
import dbus.mainloop.glib
import dbus.service

from spdmd.daemon import dbuserrors

__all__ = [
    "INTROSPECTABLE_IFACE",
    "OBJECT_MANAGER_IFACE",
    "PROPERTIES_IFACE",
    "MainLoop",
    "ObjectManager",
    "ObjectTree",
    "Prop",
    "PropertiesObject",
    "Variant",
    "from_dbus",
    "signature_of",
    "to_dbus",
]

PROPERTIES_IFACE = "org.freedesktop.DBus.Properties"
OBJECT_MANAGER_IFACE = "org.freedesktop.DBus.ObjectManager"
INTROSPECTABLE_IFACE = "org.freedesktop.DBus.Introspectable"
PEER_IFACE = "org.freedesktop.DBus.Peer"

_log = logging.getLogger("spdmd")

# gboolean (*GSourceFunc)(gpointer user_data)
_GSourceFunc = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p)
_G_SOURCE_REMOVE = 0


def _load_glib() -> ctypes.CDLL:
    glib = ctypes.CDLL("libglib-2.0.so.0")
    glib.g_main_loop_new.restype = ctypes.c_void_p
    glib.g_main_loop_new.argtypes = [ctypes.c_void_p, ctypes.c_int]
    glib.g_main_loop_run.argtypes = [ctypes.c_void_p]
    glib.g_main_loop_quit.argtypes = [ctypes.c_void_p]
    glib.g_main_loop_unref.argtypes = [ctypes.c_void_p]
    glib.g_idle_add.restype = ctypes.c_uint
    glib.g_idle_add.argtypes = [_GSourceFunc, ctypes.c_void_p]
    glib.g_timeout_add.restype = ctypes.c_uint
    glib.g_timeout_add.argtypes = [ctypes.c_uint, _GSourceFunc, ctypes.c_void_p]
    glib.g_source_remove.restype = ctypes.c_int
    glib.g_source_remove.argtypes = [ctypes.c_uint]
    glib.g_unix_signal_add.restype = ctypes.c_uint
    glib.g_unix_signal_add.argtypes = [ctypes.c_int, _GSourceFunc, ctypes.c_void_p]
    return glib


class TimerHandle:
    """A pending `call_later`; `cancel()` is safe to call more than once."""

    def __init__(self, loop: MainLoop, key: int) -> None:
        self._loop = loop
        self._key = key

    def cancel(self) -> None:
        self._loop._cancel(self._key)


class MainLoop:
    """The default GLib main context, run through ctypes.

    Creating it installs `DBusGMainLoop` as dbus-python's default, so every
    bus connection made afterwards is dispatched by `run()`. The scheduling
    helpers all go through GLib sources on the default context, which GLib
    documents as safe to add from any thread; the Python callables are kept
    in a table so that nothing the C side points at is garbage collected.
    """

    def __init__(self) -> None:
        dbus.mainloop.glib.threads_init()
        dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
        self._glib = _load_glib()
        self._loop = self._glib.g_main_loop_new(None, 0)
        self._lock = threading.Lock()
        self._pending: dict[int, tuple[Callable[..., Any], tuple[Any, ...], int]] = {}
        self._keys = itertools.count(1)
        self._trampoline = _GSourceFunc(self._dispatch)
        self._signal_trampoline = _GSourceFunc(self._dispatch_signal)
        self._signal_handlers: dict[int, Callable[[], Any]] = {}
        self.thread: threading.Thread | None = None

    def run(self) -> None:
        """Dispatch until `quit()`; the calling thread becomes the bus thread."""
        self.thread = threading.current_thread()
        self._glib.g_main_loop_run(self._loop)

    def quit(self) -> None:
        """Stop `run()`; callable from any thread."""
        self._glib.g_main_loop_quit(self._loop)

    def on_bus_thread(self) -> bool:
        return self.thread is threading.current_thread()

    def call_soon_threadsafe(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run `fn(*args)` on the bus thread at its next idle moment."""
        key = self._register(fn, args)
        self._glib.g_idle_add(self._trampoline, ctypes.c_void_p(key))

    def call_later(
        self, seconds: float, fn: Callable[..., Any], *args: Any
    ) -> TimerHandle:
        """Run `fn(*args)` on the bus thread after `seconds`, once."""
        key = self._register(fn, args)
        ms = max(0, int(seconds * 1000))
        source = self._glib.g_timeout_add(ms, self._trampoline, ctypes.c_void_p(key))
        with self._lock:
            if key in self._pending:
                entry = self._pending[key]
                self._pending[key] = (entry[0], entry[1], source)
        return TimerHandle(self, key)

    def add_signal_handler(self, signum: int, fn: Callable[[], Any]) -> None:
        """Run `fn()` on the bus thread when the process receives `signum`."""
        self._signal_handlers[signum] = fn
        self._glib.g_unix_signal_add(
            signum, self._signal_trampoline, ctypes.c_void_p(signum)
        )

    def _register(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> int:
        with self._lock:
            key = next(self._keys)
            self._pending[key] = (fn, args, 0)
        return key

    def _cancel(self, key: int) -> None:
        with self._lock:
            entry = self._pending.pop(key, None)
        if entry is not None and entry[2]:
            self._glib.g_source_remove(entry[2])

    def _dispatch(self, data: int | None) -> int:
        with self._lock:
            entry = self._pending.pop(data or 0, None)
        if entry is None:
            return _G_SOURCE_REMOVE
        fn, args, _source = entry
        try:
            fn(*args)
        except Exception:  # noqa: BLE001 (logged in full, see comment)
            # A C callback cannot propagate an exception; losing it silently
            # would hide a bug, so it goes to the journal in full.
            _log.exception("BUG: unhandled exception in a main loop callback")
        return _G_SOURCE_REMOVE

    def _dispatch_signal(self, data: int | None) -> int:
        fn = self._signal_handlers.get(data or 0)
        if fn is not None:
            try:
                fn()
            except Exception:  # noqa: BLE001 (logged in full, see comment)
                _log.exception("BUG: unhandled exception in a signal handler")
        return 1  # keep the handler installed


# --- typed values -----------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    """A value for a `v` slot whose D-Bus type is given explicitly."""

    signature: str
    value: Any


_BASIC: dict[str, type] = {
    "b": dbus.Boolean,
    "y": dbus.Byte,
    "n": dbus.Int16,
    "q": dbus.UInt16,
    "i": dbus.Int32,
    "u": dbus.UInt32,
    "x": dbus.Int64,
    "t": dbus.UInt64,
    "d": dbus.Double,
    "s": dbus.String,
    "o": dbus.ObjectPath,
    "g": dbus.Signature,
}
_CODE_OF_TYPE: dict[type, str] = {t: code for code, t in _BASIC.items()}


def _guess_variant(value: Any) -> Variant:
    # Only the shapes this daemon stores in `v` slots are guessed; anything
    # else must come wrapped in `Variant` so its type is never a surprise.
    if isinstance(value, Variant):
        return value
    if isinstance(value, bool):
        return Variant("b", value)
    if isinstance(value, str):
        return Variant("s", value)
    raise TypeError(f"cannot infer a D-Bus type for {value!r}; wrap it in Variant")


def to_dbus(signature: str, value: Any, variant_level: int = 0) -> Any:
    """Convert plain Python `value` to the dbus-python type of `signature`."""
    code = signature[0]
    if code in _BASIC:
        return _BASIC[code](value, variant_level=variant_level)
    if code == "v":
        v = _guess_variant(value)
        return to_dbus(v.signature, v.value, variant_level=variant_level + 1)
    if signature.startswith("a{"):
        key_sig, val_sig = list(dbus.Signature(signature[2:-1]))
        return dbus.Dictionary(
            {to_dbus(key_sig, k): to_dbus(val_sig, v) for k, v in value.items()},
            signature=key_sig + val_sig,
            variant_level=variant_level,
        )
    if code == "a":
        elem = signature[1:]
        return dbus.Array(
            [to_dbus(elem, v) for v in value],
            signature=elem,
            variant_level=variant_level,
        )
    if code == "(":
        fields = list(dbus.Signature(signature[1:-1]))
        if len(fields) != len(value):
            raise TypeError(f"struct {signature} needs {len(fields)} fields")
        return dbus.Struct(
            [to_dbus(s, v) for s, v in zip(fields, value)],
            signature=signature[1:-1],
            variant_level=variant_level,
        )
    raise TypeError(f"unsupported D-Bus signature {signature!r}")


def signature_of(value: Any) -> str:
    """The D-Bus signature of a value as dbus-python received it.

    The outermost variant level is ignored (a Set argument arrives wrapped in
    one); nested variants count as `v`.
    """
    return _sig(value, top=True)


def _sig(value: Any, top: bool = False) -> str:
    if not top and getattr(value, "variant_level", 0) > 0:
        return "v"
    for t in type(value).__mro__:
        if t in _CODE_OF_TYPE:
            return _CODE_OF_TYPE[t]
    if isinstance(value, dbus.Dictionary):
        if value.signature:
            return "a{" + str(value.signature) + "}"
        raise TypeError("dictionary without a signature")
    if isinstance(value, dbus.Array):
        if value.signature:
            return "a" + str(value.signature)
        raise TypeError("array without a signature")
    if isinstance(value, dbus.Struct):
        return "(" + "".join(_sig(v) for v in value) + ")"
    if isinstance(value, dbus.ByteArray):
        return "ay"
    raise TypeError(f"not a dbus-python value: {value!r}")


def has_nested_variant(value: Any, signature: str, allowed: int = 0) -> bool:
    """Whether `value` wraps more variants than `signature` declares.

    dbus-python folds a variant inside a variant into one value with a
    higher `variant_level`; `allowed` is the number of variant levels the
    slot itself provides (1 for a Set argument, 1 more for each `v`).
    """
    if getattr(value, "variant_level", 0) > allowed:
        return True
    if signature.startswith("a{"):
        key_sig, val_sig = list(dbus.Signature(signature[2:-1]))
        return any(
            has_nested_variant(k, key_sig, 0)
            or has_nested_variant(v, val_sig, int(val_sig == "v"))
            for k, v in value.items()
        )
    if signature.startswith("a"):
        elem = signature[1:]
        return any(has_nested_variant(v, elem, int(elem == "v")) for v in value)
    if signature.startswith("("):
        fields = list(dbus.Signature(signature[1:-1]))
        return any(
            has_nested_variant(v, s, int(s == "v")) for s, v in zip(fields, value)
        )
    return False


def from_dbus(value: Any) -> Any:
    """dbus-python value -> plain Python (bool, int, float, str, list, dict, tuple)."""
    if isinstance(value, dbus.Boolean):
        return bool(value)
    if isinstance(value, (dbus.String, dbus.ObjectPath, dbus.Signature)):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, bytes):
        return bytes(value)
    if isinstance(value, dict):
        return {from_dbus(k): from_dbus(v) for k, v in value.items()}
    if isinstance(value, dbus.Struct):
        return tuple(from_dbus(v) for v in value)
    if isinstance(value, list):
        return [from_dbus(v) for v in value]
    return value


# --- properties -------------------------------------------------------------


@dataclass
class Prop:
    """One property: declared signature, current value, access.

    `on_set`, when given, validates a value written with Set (plain Python,
    already type-checked against `signature`) and returns the value to
    store; it raises a `dbuserrors` exception to refuse.
    """

    signature: str
    value: Any
    writable: bool = False
    on_set: Callable[[Any], Any] | None = None
    emits_change: bool = True


class PropertiesObject(dbus.service.Object):
    """A `dbus.service.Object` with typed properties and full introspection."""

    def __init__(self, conn: dbus.connection.Connection, path: str) -> None:
        super().__init__(conn, path)
        self.path = path
        self._props: dict[str, dict[str, Prop]] = {}

    def _message_cb(self, connection: dbus.connection.Connection, message: Any) -> None:
        # dbus-python dispatches a call whatever its argument types; sd-bus
        # refuses a signature other than the declared one, and so do we, so a
        # client built for the wrong size_t width fails loudly.
        if isinstance(message, dbus.lowlevel.MethodCallMessage):
            try:
                _func, parent = dbus.service._method_lookup(
                    self, message.get_member(), message.get_interface()
                )
            except dbus.exceptions.UnknownMethodException:
                parent = None
            want = getattr(parent, "_dbus_in_signature", None)
            got = str(message.get_signature() or "")
            if want is not None and got != want:
                err = dbuserrors.WrongArguments()
                connection.send_message(
                    dbus.lowlevel.ErrorMessage(message, err.get_dbus_name(), err.text)
                )
                return
        super()._message_cb(connection, message)

    # Python-side API (bus thread only)

    def add_interface(self, interface: str, props: dict[str, Prop]) -> None:
        self._props.setdefault(interface, {}).update(props)

    def get(self, interface: str, name: str) -> Any:
        return self._props[interface][name].value

    def set(self, interface: str, name: str, value: Any, *, emit: bool = True) -> None:
        """Change one property from the daemon side; emits when it changed."""
        self.update(interface, {name: value}, emit=emit)

    def update(
        self, interface: str, values: dict[str, Any], *, emit: bool = True
    ) -> None:
        """Change several properties of one interface with one signal.

        `emit=False` is for values set before the object is announced with
        InterfacesAdded, which carries them anyway.
        """
        props = self._props[interface]
        changed: dict[str, Any] = {}
        for name, value in values.items():
            prop = props[name]
            if prop.value != value:
                prop.value = value
                if prop.emits_change:
                    changed[name] = to_dbus(prop.signature, value)
        if changed and emit:
            self.PropertiesChanged(
                interface,
                dbus.Dictionary(changed, signature="sv"),
                dbus.Array([], signature="s"),
            )

    def interfaces(self) -> list[str]:
        """Our interfaces (methods, signals or properties), standard ones excluded."""
        names = set(self._props)
        names.update(self._class_interfaces())
        return sorted(n for n in names if not n.startswith("org.freedesktop.DBus"))

    def managed_value(self) -> dbus.Dictionary:
        """This object's a{sa{sv}} as GetManagedObjects and InterfacesAdded carry it."""
        return dbus.Dictionary(
            {
                iface: self._typed_props(iface)
                if iface in self._props
                else dbus.Dictionary({}, signature="sv")
                for iface in self.interfaces()
            },
            signature="sa{sv}",
        )

    def _typed_props(self, interface: str) -> dbus.Dictionary:
        return dbus.Dictionary(
            {
                n: to_dbus(p.signature, p.value)
                for n, p in self._props[interface].items()
            },
            signature="sv",
        )

    def _class_interfaces(self) -> dict[str, dict[str, Any]]:
        cls = type(self)
        return self._dbus_class_table.get(cls.__module__ + "." + cls.__name__, {})

    def _lookup(self, interface: str, name: str) -> Prop:
        iface = self._props.get(interface)
        if iface is None:
            raise dbuserrors.UnknownInterface()
        prop = iface.get(name)
        if prop is None:
            raise dbuserrors.UnknownProperty()
        return prop

    # org.freedesktop.DBus.Properties

    @dbus.service.method(PROPERTIES_IFACE, in_signature="ss", out_signature="v")
    def Get(self, interface: str, name: str) -> Any:
        prop = self._lookup(str(interface), str(name))
        return to_dbus(prop.signature, prop.value, variant_level=1)

    @dbus.service.method(PROPERTIES_IFACE, in_signature="s", out_signature="a{sv}")
    def GetAll(self, interface: str) -> dbus.Dictionary:
        interface = str(interface)
        if interface in self._props:
            return self._typed_props(interface)
        if interface in self._class_interfaces() or interface == "":
            return dbus.Dictionary({}, signature="sv")
        raise dbuserrors.UnknownInterface()

    @dbus.service.method(PROPERTIES_IFACE, in_signature="ssv", out_signature="")
    def Set(self, interface: str, name: str, value: Any) -> None:
        interface, name = str(interface), str(name)
        prop = self._lookup(interface, name)
        if not prop.writable:
            raise dbuserrors.PropertyReadOnly()
        try:
            got = signature_of(value)
        except TypeError:
            raise dbuserrors.InvalidArgs() from None
        if got != prop.signature:
            raise dbuserrors.InvalidArgs()
        # A variant inside the variant (busctl "v b true" for a b property,
        # "av 1 v s 1.2"): sd-bus refuses it as the wrong type, and so do we,
        # instead of unwrapping whatever is inside.
        if prop.signature != "v" and has_nested_variant(value, prop.signature, 1):
            raise dbuserrors.InvalidArgs()
        plain = from_dbus(value)
        if prop.on_set is not None:
            plain = prop.on_set(plain)
        self.set(interface, name, plain)

    @dbus.service.signal(PROPERTIES_IFACE, signature="sa{sv}as")
    def PropertiesChanged(
        self, interface: str, changed: dict, invalidated: list
    ) -> None:
        pass

    # org.freedesktop.DBus.Introspectable

    @dbus.service.method(
        INTROSPECTABLE_IFACE,
        in_signature="",
        out_signature="s",
        path_keyword="object_path",
        connection_keyword="connection",
    )
    def Introspect(
        self, object_path: str, connection: dbus.connection.Connection
    ) -> str:
        return introspect_xml(self, object_path, connection)


def introspect_xml(
    obj: PropertiesObject, object_path: str, connection: dbus.connection.Connection
) -> str:
    """Introspection data with methods, signals *and* properties of `obj`."""
    root = ET.Element("node", {"name": object_path})
    class_ifaces = obj._class_interfaces()
    names = sorted(set(class_ifaces) | set(obj._props) | {PEER_IFACE})
    for name in names:
        iface = ET.SubElement(root, "interface", {"name": name})
        for func in class_ifaces.get(name, {}).values():
            if getattr(func, "_dbus_is_method", False):
                fragment = type(obj)._reflect_on_method(func)
            elif getattr(func, "_dbus_is_signal", False):
                fragment = type(obj)._reflect_on_signal(func)
            else:
                continue
            iface.append(ET.fromstring(fragment))
        if name == PEER_IFACE:
            # libdbus answers Peer itself; listing it keeps the XML honest.
            ET.SubElement(
                ET.SubElement(iface, "method", {"name": "Ping"}),
                "annotation",
                {"name": "org.freedesktop.DBus.Method.NoReply", "value": "false"},
            )
            m = ET.SubElement(iface, "method", {"name": "GetMachineId"})
            ET.SubElement(
                m, "arg", {"name": "machine_uuid", "type": "s", "direction": "out"}
            )
        for pname, prop in sorted(obj._props.get(name, {}).items()):
            p = ET.SubElement(
                iface,
                "property",
                {
                    "name": pname,
                    "type": prop.signature,
                    "access": "readwrite" if prop.writable else "read",
                },
            )
            if not prop.emits_change:
                ET.SubElement(
                    p,
                    "annotation",
                    {
                        "name": "org.freedesktop.DBus.Property.EmitsChangedSignal",
                        "value": "false",
                    },
                )
    for child in connection.list_exported_child_objects(object_path):
        ET.SubElement(root, "node", {"name": child})
    ET.indent(root)
    return (
        dbus.service._dbus_bindings.DBUS_INTROSPECT_1_0_XML_DOCTYPE_DECL_NODE
        + ET.tostring(root, encoding="unicode")
        + "\n"
    )


# --- object manager ---------------------------------------------------------


class ObjectManager(PropertiesObject):
    """org.freedesktop.DBus.ObjectManager over the objects of an `ObjectTree`.

    GetManagedObjects returns every published object strictly below this
    path, including those below a nested manager. InterfacesAdded and
    InterfacesRemoved for an object are sent once, by the nearest manager
    above it (what sd-bus does); the object mapper listens for them from
    any path.
    """

    def __init__(
        self, conn: dbus.connection.Connection, path: str, tree: ObjectTree
    ) -> None:
        super().__init__(conn, path)
        self._tree = tree

    @dbus.service.method(
        OBJECT_MANAGER_IFACE, in_signature="", out_signature="a{oa{sa{sv}}}"
    )
    def GetManagedObjects(self) -> dbus.Dictionary:
        return dbus.Dictionary(
            {
                dbus.ObjectPath(o.path): o.managed_value()
                for o in self._tree.below(self.path)
            },
            signature="oa{sa{sv}}",
        )

    @dbus.service.signal(OBJECT_MANAGER_IFACE, signature="oa{sa{sv}}")
    def InterfacesAdded(self, path: str, interfaces: dict) -> None:
        pass

    @dbus.service.signal(OBJECT_MANAGER_IFACE, signature="oas")
    def InterfacesRemoved(self, path: str, interfaces: list) -> None:
        pass


def _is_below(path: str, root: str) -> bool:
    if root == "/":
        return path != "/"
    return path.startswith(root + "/")


class ObjectTree:
    """The published objects of one connection and the managers above them."""

    def __init__(self, conn: dbus.connection.Connection) -> None:
        self.conn = conn
        self._managers: dict[str, ObjectManager] = {}
        self._objects: dict[str, PropertiesObject] = {}

    def add_manager(self, path: str) -> ObjectManager:
        manager = ObjectManager(self.conn, path, self)
        self._managers[path] = manager
        return manager

    def get(self, path: str) -> PropertiesObject | None:
        return self._objects.get(path)

    def below(self, root: str) -> Iterable[PropertiesObject]:
        objs = list(self._objects.values()) + list(self._managers.values())
        return [
            o
            for o in objs
            if _is_below(o.path, root) and (o.path in self._objects or o._props)
        ]

    def _nearest_manager(self, path: str) -> ObjectManager | None:
        best: ObjectManager | None = None
        for mpath, manager in self._managers.items():
            if _is_below(path, mpath) and (best is None or len(mpath) > len(best.path)):
                best = manager
        return best

    def publish(self, obj: PropertiesObject) -> None:
        """Announce an exported object with InterfacesAdded."""
        self._objects[obj.path] = obj
        manager = self._nearest_manager(obj.path)
        if manager is not None:
            manager.InterfacesAdded(dbus.ObjectPath(obj.path), obj.managed_value())

    def unpublish(self, obj: PropertiesObject) -> None:
        """Announce removal with InterfacesRemoved and unexport the object."""
        if self._objects.pop(obj.path, None) is None:
            return
        manager = self._nearest_manager(obj.path)
        if manager is not None:
            manager.InterfacesRemoved(
                dbus.ObjectPath(obj.path), dbus.Array(obj.interfaces(), signature="s")
            )
        obj.remove_from_connection()


def install_signal_quit(loop: MainLoop, on_quit: Callable[[], Any]) -> None:
    """SIGTERM and SIGINT stop the loop through `on_quit` on the bus thread."""
    for signum in (_signal.SIGTERM, _signal.SIGINT):
        loop.add_signal_handler(signum, on_quit)
