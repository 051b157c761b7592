"""pytest fixtures for the private bus; tests/conftest.py re-exports them.

`dbus_daemon` is one private system-bus-like dbus-daemon per test module
(starting one costs ~20 ms, but the stand-ins and the daemon on it cost
more, so modules share it). `bus_address` is its address and
`bus_connection` a fresh dbus-python connection to it for one test.
Both skip, naming what is missing, when dbus-daemon or dbus-python is absent.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from tests.env.dbus_daemon import DBusDaemon


def require_dbus() -> None:
    """Skip the calling test unless dbus-daemon and dbus-python are present."""
    if shutil.which("dbus-daemon") is None:
        pytest.skip("dbus-daemon is not installed (Debian package dbus-daemon)")
    try:
        import dbus  # noqa: F401
    except ImportError:
        pytest.skip("dbus-python is not installed (Debian package python3-dbus)")


def require_spdmd() -> None:
    """Skip the calling test unless the spdmd console script is installed."""
    from tests.env.harness import spdmd_executable

    if shutil.which(spdmd_executable()) is None:
        pytest.skip("the spdmd console script is not installed (run scripts/setup)")


@pytest.fixture(scope="module")
def dbus_daemon() -> Iterator[DBusDaemon]:
    """A private dbus-daemon with the system bus policy and ours included."""
    require_dbus()
    with DBusDaemon() as daemon:
        yield daemon


@pytest.fixture(scope="module")
def bus_address(dbus_daemon: DBusDaemon) -> str:
    """The address of the module's private bus."""
    return dbus_daemon.address


@pytest.fixture
def bus_connection(bus_address: str):  # type: ignore[no-untyped-def]
    """A dbus-python connection (no main loop) to the module's private bus."""
    import dbus

    conn = dbus.bus.BusConnection(bus_address)
    yield conn
    conn.close()
