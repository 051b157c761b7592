"""Fixtures for the end-to-end scenarios: the real spdmd on a private bus.

`bmc` is one tests.env.harness.Environment per test module (bus, trust
anchors, the ObjectMapper stand-in), so the bus and the mapper are started
once per module. Each test gets it reset: no daemon, no mctpd or Entity
Manager, no devices, no MCTP routes, a fresh state directory and the
default test configuration (5 s deadline).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.env.fixtures import require_dbus, require_spdmd
from tests.env.harness import Environment


@pytest.fixture(scope="module")
def bmc_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Environment]:
    """The module's bus, trust anchors and mapper."""
    require_dbus()
    require_spdmd()
    env = Environment(tmp_path_factory.mktemp("bmc"))
    try:
        env.start_mapper()
        yield env
    finally:
        env.close()


@pytest.fixture
def bmc(bmc_module: Environment, tmp_path: Path) -> Iterator[Environment]:
    """The module's environment, reset for one test; the daemon log on failure."""
    env = bmc_module
    env.state_dir = tmp_path / "state"
    env.state_dir.mkdir()
    env.mctp_map.clear()
    env.write_mctp_map()
    env.write_config({})
    if "mapper" not in env.standins or not env.standins["mapper"].running():
        env.start_mapper()
    try:
        yield env
    finally:
        if env.daemon is not None:
            log = env.daemon.log()
            env.stop_daemon()
            print(f"--- spdmd log ---\n{log}")
        for module in ("mctpd", "entity_manager"):
            env.stop_standin(module)
        for dev in env.devices:
            dev.stop()
        env.devices.clear()
