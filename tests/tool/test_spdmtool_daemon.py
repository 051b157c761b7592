"""Exit codes and messages of `spdmtool list/show/reattest/dbus-measurements`
against the real spdmd on a private bus (tests.env), for the cases a user
gets wrong or a device does not cooperate: bad option values, unknown ids,
unreachable buses, silent and disabled responders, a closed stdout.

The happy paths live in tests/daemon/test_bus_tool.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.env.fixtures import require_dbus, require_spdmd
from tests.env.harness import Environment

SPDMTOOL = str(Path(sys.executable).parent / "spdmtool")
CI_IFACE = "xyz.openbmc_project.Attestation.ComponentIntegrity"
BUS_NAME = "xyz.openbmc_project.spdmd"

pytestmark = pytest.mark.skipif(
    not Path(SPDMTOOL).exists(),
    reason=f"spdmtool console script not installed at {SPDMTOOL} (run scripts/setup)",
)


def tool(
    env: dict[str, str] | None, *args: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SPDMTOOL, *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


@pytest.fixture(scope="module")
def bmc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Environment]:
    """spdmd with a good responder gpu0 and one that never answers, silent."""
    require_dbus()
    require_spdmd()
    env = Environment(tmp_path_factory.mktemp("bmc"))
    try:
        env.start_mapper()
        good = env.device("gpu0")
        silent = env.device("silent", "silent")
        env.write_config(
            {
                "entity_manager": False,
                "mctp_discovery": False,
                "deadline_seconds": 2,
                "responders": [
                    {"name": d.name, "host": "127.0.0.1", "port": d.port}
                    for d in (good, silent)
                ],
            }
        )
        env.start_daemon("--size-t", "u")
        env.wait_status("gpu0")
        env.wait_status("silent", timeout=20)
        yield env
    finally:
        if env.daemon is not None:
            print(f"--- spdmd log ---\n{env.daemon.log()}")
            env.stop_daemon()
        for dev in env.devices:
            dev.stop()
        env.close()


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["dbus-measurements", "gpu0", "--slot", "-1"], id="slot-negative"),
        pytest.param(
            ["dbus-measurements", "gpu0", "--slot", "99999999999999999999"],
            id="slot-huge",
        ),
        pytest.param(["dbus-measurements", "gpu0", "--slot", "15"], id="slot-15"),
        pytest.param(["dbus-measurements", "gpu0", "--indices", "-1"], id="index-neg"),
        pytest.param(
            ["dbus-measurements", "gpu0", "--indices", "1,255"], id="index-255-mixed"
        ),
        pytest.param(
            ["dbus-measurements", "gpu0", "--timeout", "0"], id="timeout-zero"
        ),
        pytest.param(["reattest", "silent", "--timeout", "-1"], id="timeout-neg"),
        pytest.param(["reattest", "silent", "--timeout", "nan"], id="timeout-nan"),
        pytest.param(["reattest", "silent", "--timeout", "1e12"], id="timeout-huge"),
        pytest.param(["list", "--bus-address", ""], id="empty-bus-address"),
    ],
)
def test_bad_option_values_exit_2_without_a_call(args: list[str]) -> None:
    """Values the D-Bus types cannot carry or spdmd refuses: exit 2 from
    the option parser, no traceback; no bus is needed to say so."""
    out = tool(None, *args)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "Traceback" not in out.stderr
    assert "error: argument" in out.stderr


def test_bus_address_errors() -> None:
    """A bus socket that does not exist is unreachable (3); an address that
    is not one is a usage error (2)."""
    out = tool(None, "list", "--bus-address", "unix:path=/nonexistent")
    assert out.returncode == 3, out.stdout + out.stderr
    assert out.stderr.startswith("spdmtool: cannot connect to the bus: FileNotFound: ")
    out = tool(None, "list", "--bus-address", "garbage")
    assert out.returncode == 2, out.stdout + out.stderr
    assert out.stderr.startswith("spdmtool: cannot connect to the bus: BadAddress: ")


def test_unknown_id_same_message_everywhere(bmc: Environment) -> None:
    """show, reattest and dbus-measurements of an unknown id all say
    `no responder 'nosuch'` and exit 2."""
    for args in (
        ["show", "nosuch"],
        ["reattest", "nosuch"],
        ["reattest", "nosuch", "--no-wait"],
        ["dbus-measurements", "nosuch"],
    ):
        out = tool(bmc.bus.env(), *args)
        assert (out.returncode, out.stderr) == (
            2,
            "spdmtool: no responder 'nosuch'\n",
        ), args


def test_silent_device_is_unreachable(bmc: Environment) -> None:
    """A device that never answers: dbus-measurements and reattest exit 3,
    as `spdmtool measurements` does, with spdmd's step and reason."""
    out = tool(bmc.bus.env(), "dbus-measurements", "silent", "--timeout", "30")
    assert out.returncode == 3, out.stdout + out.stderr
    assert out.stderr.startswith(
        "spdmtool: silent: InternalFailure: GET_VERSION failed: "
    )
    out = tool(bmc.bus.env(), "reattest", "silent", "--timeout", "30")
    assert out.returncode == 3, out.stdout + out.stderr
    assert out.stdout.startswith("silent: Failed at ")


def test_disabled_responder_exits_3_for_both_commands(bmc: Environment) -> None:
    """A responder disabled on the bus: reattest (NotAllowed) and
    dbus-measurements (InternalFailure) both exit 3 with spdmd's text."""
    path = "/xyz/openbmc_project/component_integrity/gpu0"
    import dbus

    bmc.client.set(BUS_NAME, path, CI_IFACE, "Enabled", dbus.Boolean(False))
    try:
        for error, args in (
            ("NotAllowed", ["reattest", "gpu0"]),
            ("InternalFailure", ["dbus-measurements", "gpu0"]),
        ):
            out = tool(bmc.bus.env(), *args)
            assert (out.returncode, out.stderr) == (
                3,
                f"spdmtool: gpu0: {error}: Responder is disabled\n",
            ), args
    finally:
        bmc.client.set(BUS_NAME, path, CI_IFACE, "Enabled", dbus.Boolean(True))


def test_dbus_measurements_into_a_closed_pipe(bmc: Environment) -> None:
    """`spdmtool dbus-measurements gpu0 | head -2`: the reader is gone
    before the output is written; exit 141 without a message."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        out = subprocess.run(
            [SPDMTOOL, "dbus-measurements", "gpu0"],
            check=False,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            env=bmc.bus.env(),
        )
    finally:
        os.close(write_end)
    assert (out.returncode, out.stderr) == (141, "")


def test_dbus_measurements_index_0(bmc: Environment) -> None:
    """Index 0 passes spdmtool's check as it passes spdmd's (0..254)."""
    out = tool(bmc.bus.env(), "dbus-measurements", "gpu0", "--indices", "0")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "signed measurements: " in out.stdout
