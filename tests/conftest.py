"""Shared pytest set-up: makes `tests.env` importable and offers its fixtures.

The fixtures (private dbus-daemon, stand-ins) are defined in
tests/env/fixtures.py; importing them here makes them visible to every test
directory without a pytest plugin entry point.
"""

import sys
from pathlib import Path

_REPO = str(Path(__file__).resolve().parent.parent)
if _REPO not in sys.path:
    sys.path.insert(0, _REPO)

from tests.env.fixtures import (  # noqa: F401
    bus_address,
    bus_connection,
    dbus_daemon,
)
