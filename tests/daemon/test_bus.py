"""spdmd.daemon.bus on a real private dbus-daemon.

The service side runs our MainLoop (GLib through ctypes, no gi) in a
thread; the client side is a separate connection, as bmcweb, busctl or the
object mapper would be. What is asserted is what such a client sees:
types on the wire, error names, signals, introspection XML.
"""

from __future__ import annotations

import gc
import logging
import queue
import shutil
import subprocess
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from typing import Any

import pytest

pytest.importorskip("dbus", reason="dbus-python is not installed (python3-dbus)")
import dbus
import dbus.mainloop
import dbus.service

from spdmd.daemon import bus, dbuserrors

NAME = "xyz.openbmc_project.Test.Bus"
IFACE = "xyz.openbmc_project.Test.Thing"
P = bus.PROPERTIES_IFACE


class Harness:
    """Our MainLoop in a thread, a service connection owning NAME, a client."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.loop = bus.MainLoop()
        self.conn = dbus.bus.BusConnection(address)
        self.conn.request_name(NAME, dbus.bus.NAME_FLAG_DO_NOT_QUEUE)
        self.tree = bus.ObjectTree(self.conn)
        self.thread = threading.Thread(target=self.loop.run, daemon=True)
        self.thread.start()
        self.client = dbus.bus.BusConnection(
            address, mainloop=dbus.mainloop.NULL_MAIN_LOOP
        )

    def on_loop(self, fn: Callable[[], Any], timeout: float = 5.0) -> Any:
        """Run fn on the bus thread and return its result."""
        box: queue.Queue[tuple[bool, Any]] = queue.Queue()

        def call() -> None:
            try:
                box.put((True, fn()))
            except Exception as exc:  # noqa: BLE001 (re-raised in the test thread)
                box.put((False, exc))

        self.loop.call_soon_threadsafe(call)
        ok, value = box.get(timeout=timeout)
        if not ok:
            raise value
        return value

    def call(
        self, path: str, iface: str, method: str, sig: str = "", *args: Any
    ) -> Any:
        return self.client.call_blocking(NAME, path, iface, method, sig, args)

    def close(self) -> None:
        self.loop.quit()
        self.thread.join(5)
        self.client.close()


@pytest.fixture(scope="module")
def h(bus_address: str) -> Iterator[Harness]:
    harness = Harness(bus_address)
    yield harness
    harness.close()


class Signals:
    """A listening connection dispatched by the harness loop."""

    def __init__(self, h: Harness, member: str, iface: str) -> None:
        self.q: queue.Queue[tuple[str, tuple[Any, ...]]] = queue.Queue()
        self.conn = dbus.bus.BusConnection(h.address)
        self.conn.add_signal_receiver(
            lambda *a, path=None: self.q.put((str(path), a)),
            member,
            iface,
            path_keyword="path",
        )
        # The AddMatch must have reached the bus before the test acts.
        self.conn.call_blocking(
            "org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus",
            "GetId",
            "",
            (),
        )

    def get(self, timeout: float = 5.0) -> tuple[str, tuple[Any, ...]]:
        return self.q.get(timeout=timeout)

    def close(self) -> None:
        self.conn.close()


def make_thing(h: Harness, path: str, **extra: bus.Prop) -> bus.PropertiesObject:
    def build() -> bus.PropertiesObject:
        obj = bus.PropertiesObject(h.conn, path)
        props = {
            "Name": bus.Prop("s", "gpu0"),
            "Count": bus.Prop("t", 7),
            "Small": bus.Prop("u", 3),
            "Enabled": bus.Prop("b", True, writable=True),
            "Versions": bus.Prop("av", ["ALL"], writable=True),
            "Tags": bus.Prop("as", []),
            "Links": bus.Prop("a(sss)", [("a", "b", "/c")]),
        }
        props.update(extra)
        obj.add_interface(IFACE, props)
        h.tree.publish(obj)
        return obj

    return h.on_loop(build)


def drop(h: Harness, obj: bus.PropertiesObject) -> None:
    h.on_loop(lambda: h.tree.unpublish(obj))


# --- values and types --------------------------------------------------------


def test_getall_carries_declared_types(h: Harness) -> None:
    """GetAll sends every property with its declared D-Bus type, not a guess."""
    obj = make_thing(h, "/xyz/test/types")
    try:
        props = h.call(obj.path, P, "GetAll", "s", IFACE)
        assert isinstance(props["Count"], dbus.UInt64)
        assert isinstance(props["Small"], dbus.UInt32)
        assert isinstance(props["Enabled"], dbus.Boolean)
        assert props["Versions"].signature == "v"
        assert props["Tags"].signature == "s" and list(props["Tags"]) == []
        assert props["Links"].signature == "(sss)"
        assert [tuple(map(str, s)) for s in props["Links"]] == [("a", "b", "/c")]
    finally:
        drop(h, obj)


def test_get_unknown_interface_and_property(h: Harness) -> None:
    """Get on a missing interface or property gives the standard error names."""
    obj = make_thing(h, "/xyz/test/unknown")
    try:
        with pytest.raises(dbus.DBusException) as e:
            h.call(obj.path, P, "Get", "ss", "xyz.Nope", "Name")
        assert e.value.get_dbus_name() == "org.freedesktop.DBus.Error.UnknownInterface"
        with pytest.raises(dbus.DBusException) as e:
            h.call(obj.path, P, "Get", "ss", IFACE, "Nope")
        assert e.value.get_dbus_name() == "org.freedesktop.DBus.Error.UnknownProperty"
        assert e.value.get_dbus_message() == "No such property"
    finally:
        drop(h, obj)


def test_set_checks_access_and_type(h: Harness) -> None:
    """Set refuses read-only properties and values of the wrong D-Bus type."""
    obj = make_thing(h, "/xyz/test/set")
    try:
        with pytest.raises(dbus.DBusException) as e:
            h.call(obj.path, P, "Set", "ssv", IFACE, "Name", "other")
        assert e.value.get_dbus_name() == "org.freedesktop.DBus.Error.PropertyReadOnly"
        with pytest.raises(dbus.DBusException) as e:
            h.call(obj.path, P, "Set", "ssv", IFACE, "Enabled", dbus.String("yes"))
        assert e.value.get_dbus_name() == "org.freedesktop.DBus.Error.InvalidArgs"
        # An array of strings is not an array of variants.
        with pytest.raises(dbus.DBusException) as e:
            h.call(
                obj.path,
                P,
                "Set",
                "ssv",
                IFACE,
                "Versions",
                dbus.Array(["1.2"], signature="s"),
            )
        assert e.value.get_dbus_name() == "org.freedesktop.DBus.Error.InvalidArgs"
        assert bool(h.call(obj.path, P, "Get", "ss", IFACE, "Enabled")) is True
        h.call(
            obj.path,
            P,
            "Set",
            "ssv",
            IFACE,
            "Versions",
            dbus.Array([dbus.String("1.2", variant_level=1)], signature="v"),
        )
        assert [
            str(v) for v in h.call(obj.path, P, "Get", "ss", IFACE, "Versions")
        ] == ["1.2"]
    finally:
        drop(h, obj)


def test_set_validator_refusal_keeps_value(h: Harness) -> None:
    """A validator's refusal reaches the caller by name and the value stays."""

    def refuse(value: Any) -> Any:
        raise dbuserrors.InvalidArgument("Invalid policy value")

    obj = make_thing(
        h, "/xyz/test/validator", Mode=bus.Prop("s", "a", writable=True, on_set=refuse)
    )
    try:
        with pytest.raises(dbus.DBusException) as e:
            h.call(obj.path, P, "Set", "ssv", IFACE, "Mode", "b")
        assert (
            e.value.get_dbus_name()
            == "xyz.openbmc_project.Common.Error.InvalidArgument"
        )
        assert e.value.get_dbus_message() == "Invalid policy value"
        assert str(h.call(obj.path, P, "Get", "ss", IFACE, "Mode")) == "a"
    finally:
        drop(h, obj)


def test_properties_changed_on_set_and_update(h: Harness) -> None:
    """Set and daemon-side updates emit one PropertiesChanged with typed values; no-ops emit none."""
    obj = make_thing(h, "/xyz/test/changed")
    sig = Signals(h, "PropertiesChanged", P)
    try:
        h.call(obj.path, P, "Set", "ssv", IFACE, "Enabled", dbus.Boolean(False))
        path, (iface, changed, invalidated) = sig.get()
        assert (path, str(iface), dict(changed), list(invalidated)) == (
            obj.path,
            IFACE,
            {"Enabled": False},
            [],
        )
        h.on_loop(
            lambda: obj.update(IFACE, {"Count": 9, "Name": "gpu0"})
        )  # Name unchanged
        path, (iface, changed, _inv) = sig.get()
        assert list(changed) == ["Count"] and isinstance(changed["Count"], dbus.UInt64)
        h.on_loop(lambda: obj.set(IFACE, "Count", 9))
        h.on_loop(lambda: obj.set(IFACE, "Small", 4, emit=False))
        with pytest.raises(queue.Empty):
            sig.get(timeout=0.3)
        assert int(h.call(obj.path, P, "Get", "ss", IFACE, "Small")) == 4
    finally:
        sig.close()
        drop(h, obj)


# --- introspection -----------------------------------------------------------


def test_introspection_lists_properties_with_type_and_access(h: Harness) -> None:
    """The XML a mapper reads lists each property with its type and access."""
    obj = make_thing(h, "/xyz/test/intro/leaf")
    try:
        xml = str(h.call(obj.path, bus.INTROSPECTABLE_IFACE, "Introspect"))
        root = ET.fromstring(xml)
        iface = next(i for i in root.findall("interface") if i.get("name") == IFACE)
        props = {
            p.get("name"): (p.get("type"), p.get("access"))
            for p in iface.findall("property")
        }
        assert props["Count"] == ("t", "read")
        assert props["Enabled"] == ("b", "readwrite")
        assert props["Links"] == ("a(sss)", "read")
        names = {i.get("name") for i in root.findall("interface")}
        assert {P, bus.INTROSPECTABLE_IFACE} <= names
        parent = ET.fromstring(
            str(h.call("/xyz/test/intro", bus.INTROSPECTABLE_IFACE, "Introspect"))
        )
        assert [n.get("name") for n in parent.findall("node")] == ["leaf"]
    finally:
        drop(h, obj)


def test_busctl_reads_properties(h: Harness) -> None:
    """An independent client (systemd's busctl) parses our XML and reads the values."""
    if shutil.which("busctl") is None:
        pytest.skip("busctl is not installed (Debian package systemd)")
    obj = make_thing(h, "/xyz/test/busctl")
    try:
        out = subprocess.run(
            ["busctl", f"--address={h.address}", "introspect", NAME, obj.path, IFACE],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
        rows = {
            line.split()[0]: line.split()
            for line in out.splitlines()
            if line.startswith(".")
        }
        assert rows[".Count"][1:4] == ["property", "t", "7"]
        assert rows[".Enabled"][-1] == "writable"
    finally:
        drop(h, obj)


# --- object manager ----------------------------------------------------------


def test_object_manager_signals_and_contents(h: Harness) -> None:
    """Publish sends InterfacesAdded from the nearest manager, unpublish InterfacesRemoved;
    GetManagedObjects of an outer manager includes objects below an inner one."""
    outer = h.on_loop(lambda: h.tree.add_manager("/xyz/om"))
    inner = h.on_loop(lambda: h.tree.add_manager("/xyz/om/inner"))
    added = Signals(h, "InterfacesAdded", bus.OBJECT_MANAGER_IFACE)
    removed = Signals(h, "InterfacesRemoved", bus.OBJECT_MANAGER_IFACE)
    try:
        a = make_thing(h, "/xyz/om/inner/a")
        b = make_thing(h, "/xyz/om/b")
        path, (obj_path, ifaces) = added.get()
        assert (path, str(obj_path)) == ("/xyz/om/inner", "/xyz/om/inner/a")
        assert isinstance(ifaces[IFACE]["Count"], dbus.UInt64)
        path, (obj_path, _) = added.get()
        assert (path, str(obj_path)) == ("/xyz/om", "/xyz/om/b")
        assert sorted(
            map(str, h.call("/xyz/om", bus.OBJECT_MANAGER_IFACE, "GetManagedObjects"))
        ) == [
            "/xyz/om/b",
            "/xyz/om/inner/a",
        ]
        assert list(
            map(
                str,
                h.call("/xyz/om/inner", bus.OBJECT_MANAGER_IFACE, "GetManagedObjects"),
            )
        ) == [
            "/xyz/om/inner/a",
        ]
        drop(h, a)
        path, (obj_path, names) = removed.get()
        assert (path, str(obj_path), list(map(str, names))) == (
            "/xyz/om/inner",
            "/xyz/om/inner/a",
            [IFACE],
        )
        with pytest.raises(dbus.DBusException) as e:
            h.call("/xyz/om/inner/a", P, "GetAll", "s", IFACE)
        assert e.value.get_dbus_name() == "org.freedesktop.DBus.Error.UnknownMethod"
        drop(h, b)
    finally:
        added.close()
        removed.close()
        h.on_loop(
            lambda: (outer.remove_from_connection(), inner.remove_from_connection())
        )


def test_manager_with_properties_is_listed_by_outer_manager(h: Harness) -> None:
    """An ObjectManager that also has properties (the Policy object) is managed by the one above."""
    outer = h.on_loop(lambda: h.tree.add_manager("/xyz/pm"))

    def build() -> bus.ObjectManager:
        m = h.tree.add_manager("/xyz/pm/ci")
        m.add_interface(IFACE, {"Enabled": bus.Prop("b", True, writable=True)})
        return m

    inner = h.on_loop(build)
    try:
        objs = h.call("/xyz/pm", bus.OBJECT_MANAGER_IFACE, "GetManagedObjects")
        assert bool(objs["/xyz/pm/ci"][IFACE]["Enabled"]) is True
        assert "/xyz/pm/ci" not in h.call(
            "/xyz/pm/ci", bus.OBJECT_MANAGER_IFACE, "GetManagedObjects"
        )
    finally:
        h.on_loop(
            lambda: (outer.remove_from_connection(), inner.remove_from_connection())
        )


# --- main loop ---------------------------------------------------------------


def test_call_soon_threadsafe_from_many_threads(h: Harness) -> None:
    """Calls handed over from worker threads all run, on the bus thread, even after a GC."""
    seen: list[tuple[int, bool]] = []
    done = threading.Event()
    total = 200

    def record(i: int) -> None:
        seen.append((i, h.loop.on_bus_thread()))
        if len(seen) == total:
            done.set()

    def worker(start: int) -> None:
        for i in range(start, start + 50):
            h.loop.call_soon_threadsafe(record, i)

    threads = [threading.Thread(target=worker, args=(k * 50,)) for k in range(4)]
    for t in threads:
        t.start()
    gc.collect()
    for t in threads:
        t.join()
    assert done.wait(10)
    assert sorted(i for i, _ in seen) == list(range(total))
    assert all(on_bus for _, on_bus in seen)


def test_call_later_runs_and_cancel_prevents(h: Harness) -> None:
    """A timer fires once; a cancelled timer never does."""
    fired: queue.Queue[str] = queue.Queue()
    h.loop.call_later(0.05, fired.put, "a")
    handle = h.loop.call_later(0.05, fired.put, "b")
    handle.cancel()
    handle.cancel()
    assert fired.get(timeout=5) == "a"
    time.sleep(0.2)
    assert fired.empty()


def test_callback_exception_is_logged_and_loop_survives(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """A failing callback is logged as a BUG with its traceback; later callbacks still run."""
    logger = logging.getLogger("spdmd")
    logger.addHandler(caplog.handler)
    try:

        def boom() -> None:
            raise RuntimeError("broken invariant")

        h.loop.call_soon_threadsafe(boom)
        assert h.on_loop(lambda: 42) == 42
        assert any(r.message.startswith("BUG:") and r.exc_info for r in caplog.records)
    finally:
        logger.removeHandler(caplog.handler)


class _Slow(bus.PropertiesObject):
    """A method whose reply waits for a worker thread, like SPDMGetSignedMeasurements."""

    def __init__(
        self, conn: Any, path: str, loop: bus.MainLoop, gate: threading.Event
    ) -> None:
        super().__init__(conn, path)
        self.loop = loop
        self.gate = gate
        self.add_interface(IFACE, {"Name": bus.Prop("s", "slow")})

    @dbus.service.method(
        IFACE, in_signature="", out_signature="s", async_callbacks=("reply", "error")
    )
    def Wait(self, reply: Callable[..., None], error: Callable[..., None]) -> None:
        def work() -> None:
            self.gate.wait(10)
            self.loop.call_soon_threadsafe(reply, "done")

        threading.Thread(target=work, daemon=True).start()


def test_bus_answers_while_a_worker_blocks(h: Harness) -> None:
    """While an async method waits on a blocked worker, other calls are answered."""
    gate = threading.Event()
    obj = h.on_loop(lambda: _Slow(h.conn, "/xyz/test/slow", h.loop, gate))
    other = dbus.bus.BusConnection(h.address, mainloop=dbus.mainloop.NULL_MAIN_LOOP)
    result: queue.Queue[str] = queue.Queue()
    t = threading.Thread(
        target=lambda: result.put(
            str(other.call_blocking(NAME, obj.path, IFACE, "Wait", "", ()))
        )
    )
    t.start()
    try:
        # The worker is still blocked on the gate: this answer cannot have
        # waited for it.
        assert str(h.call(obj.path, P, "Get", "ss", IFACE, "Name")) == "slow"
        assert result.empty()
    finally:
        gate.set()
        t.join(10)
        other.close()
        h.on_loop(obj.remove_from_connection)
    assert result.get(timeout=1) == "done"


def test_quit_from_another_thread_stops_run(bus_address: str) -> None:
    """quit() from a non-bus thread makes run() return."""
    loop = bus.MainLoop()
    t = threading.Thread(target=loop.run, daemon=True)
    t.start()
    loop.call_soon_threadsafe(lambda: None)
    threading.Timer(0.1, loop.quit).start()
    t.join(5)
    assert not t.is_alive()


# --- conversions without a bus ------------------------------------------------


@pytest.mark.parametrize(
    ("sig", "value"),
    [
        pytest.param("t", 2**63, id="uint64"),
        pytest.param("u", 7, id="uint32"),
        pytest.param("b", False, id="bool"),
        pytest.param("s", "x", id="string"),
        pytest.param("o", "/a/b", id="path"),
        pytest.param("as", [], id="empty-as"),
        pytest.param("av", ["ALL", "1.2"], id="av"),
        pytest.param("a(sss)", [("f", "r", "/e")], id="associations"),
        pytest.param("a{sv}", {"k": "v"}, id="dict"),
    ],
)
def test_to_dbus_signature_round_trip(sig: str, value: Any) -> None:
    """What to_dbus builds, signature_of reads back as the same signature."""
    typed = bus.to_dbus(sig, value, variant_level=1)
    assert bus.signature_of(typed) == sig
    plain = bus.from_dbus(typed)
    assert plain == (value if sig != "a(sss)" else [tuple(v) for v in value])


def test_to_dbus_refuses_unguessable_variant() -> None:
    """A `v` slot holding something other than str/bool must say its type."""
    with pytest.raises(TypeError):
        bus.to_dbus("v", 3)
    assert bus.signature_of(bus.to_dbus("v", bus.Variant("q", 3))) == "q"


def test_call_with_wrong_argument_types_is_refused(h: Harness) -> None:
    """Like sd-bus, a call whose signature differs from the declared one gets InvalidArgs."""
    obj = make_thing(h, "/xyz/test/sig")
    try:
        with pytest.raises(dbus.DBusException) as e:
            h.call(obj.path, P, "Get", "su", IFACE, 3)
        assert e.value.get_dbus_name() == "org.freedesktop.DBus.Error.InvalidArgs"
        assert e.value.get_dbus_message() == "Wrong argument types"
        assert str(h.call(obj.path, P, "Get", "ss", IFACE, "Name")) == "gpu0"
    finally:
        drop(h, obj)
