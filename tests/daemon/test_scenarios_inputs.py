"""Bad input a BMC engineer can give the real spdmd: what it says and keeps.

The configuration file, the state directory and D-Bus Set, on the real bus
with the real daemon process; what is asserted is what busctl and the
journal (the daemon's log) show.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest
from tests.env.client import DBusCallError
from tests.env.harness import BUS_NAME, Environment
from tests.env.processes import wait_for

CI = "xyz.openbmc_project.Attestation.ComponentIntegrity"
POLICY_PATH = "/xyz/openbmc_project/component_integrity"
POLICY = "xyz.openbmc_project.Control.Security.SPDM.Policy"


def wait_log(bmc: Environment, text: str, timeout: float = 10.0) -> str:
    assert bmc.daemon is not None
    daemon = bmc.daemon
    return wait_for(lambda: daemon.log() if text in daemon.log() else None, timeout)


def test_duplicate_static_responders_are_logged_as_skipped(bmc: Environment) -> None:
    """A second config entry for one host:port, and a TCP entry with an eid, say Skipped."""
    dev = bmc.device("gpu0")
    other = bmc.device("gpu1")
    bmc.write_config(
        {
            "responders": [
                {"name": "gpu0", "host": "127.0.0.1", "port": dev.port},
                {
                    "name": "gpu0_again",
                    "transport": "tcp",
                    "host": "127.0.0.1",
                    "port": dev.port,
                },
                {"name": "gpu1", "host": "127.0.0.1", "port": other.port, "eid": 300},
            ]
        }
    )
    bmc.start_daemon()
    assert bmc.wait_status("gpu0")["status"] == "Success"
    log = wait_log(bmc, "responders[2]")
    assert (
        "Skipped a responder in the configuration file: responders[1]: "
        f"tcp 127.0.0.1:{dev.port} has the same address as responders[0]"
    ) in log
    assert (
        "Skipped a responder in the configuration file: responders[2]: "
        "eid does not apply to transport emu-tcp"
    ) in log
    assert bmc.responder_ids() == ["gpu0"]


def _break_state_dir(bmc: Environment) -> None:
    # Root writes through chmod, so the directory is replaced by a file: every
    # save then fails as on a read-only or full file system.
    shutil.rmtree(bmc.state_dir)
    bmc.state_dir.write_text("not a directory\n")


def test_enabled_set_fails_when_it_cannot_be_saved(bmc: Environment) -> None:
    """Enabled, like the policy, is refused with InternalFailure and kept when unsaveable."""
    dev = bmc.device("gpu0")
    bmc.write_config(
        {"responders": [{"name": "gpu0", "host": "127.0.0.1", "port": dev.port}]}
    )
    bmc.start_daemon()
    first = bmc.wait_status("gpu0")
    path = bmc.responder_path("gpu0")
    _break_state_dir(bmc)
    with pytest.raises(DBusCallError) as exc:
        bmc.client.set(BUS_NAME, POLICY_PATH, POLICY, "VerifyCertificate", False)
    assert exc.value.name == "xyz.openbmc_project.Common.Error.InternalFailure"
    assert exc.value.message == "Cannot save the policy"
    assert bmc.client.get(BUS_NAME, POLICY_PATH, POLICY, "VerifyCertificate") is True
    with pytest.raises(DBusCallError) as exc:
        bmc.client.set(BUS_NAME, path, CI, "Enabled", False)
    assert exc.value.name == "xyz.openbmc_project.Common.Error.InternalFailure"
    assert exc.value.message == "Cannot save the responder settings"
    assert bmc.client.get(BUS_NAME, path, CI, "Enabled") is True
    assert "Failed to save responder settings" in bmc.daemon.log()  # type: ignore[union-attr]
    # Still enabled in force, not only on the bus: a re-attestation runs.
    bmc.client.call(BUS_NAME, path, "xyz.openbmc_project.spdmd.Responder1", "Reattest")
    assert bmc.wait_status("gpu0", since=first["LastUpdated"])["status"] == "Success"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        pytest.param('{"disabled": "gpu0"}', "disabled is not a list of ids but str"),
        pytest.param("[1, null]", "not a JSON object but list"),
    ],
)
def test_malformed_responder_settings_are_logged_and_ignored(
    bmc: Environment, content: str, reason: str
) -> None:
    """A responders.json of the wrong shape is named in the log; devices stay enabled."""
    dev = bmc.device("gpu0")
    bmc.write_config(
        {"responders": [{"name": "gpu0", "host": "127.0.0.1", "port": dev.port}]}
    )
    (bmc.state_dir / "responders.json").write_text(content)
    bmc.start_daemon()
    assert bmc.wait_status("gpu0")["status"] == "Success"
    assert bmc.client.get(BUS_NAME, bmc.responder_path("gpu0"), CI, "Enabled") is True
    log = bmc.daemon.log()  # type: ignore[union-attr]
    assert "Ignored part of the saved responder settings in " in log
    assert reason in log


def test_entity_manager_records_of_the_wrong_type(bmc: Environment) -> None:
    """Wrong-typed EM properties are named as such; a non-path Authenticating is not linked."""
    dev = bmc.device("gpu0")
    bmc.start_entity_manager(
        [
            {
                "Name": "Tray 1",
                "Type": "Board",
                "Exposes": [
                    dev.em_record(Authenticating="not a path"),
                    {
                        "Name": "p",
                        "Type": "SpdmTcpResponder",
                        "Hostname": "h",
                        "Port": "2323",
                    },
                    {"Name": "h", "Type": "SpdmTcpResponder", "Hostname": 5},
                ],
            }
        ]
    )
    bmc.start_daemon()
    assert bmc.wait_status("gpu0")["status"] == "Success"
    board = "/xyz/openbmc_project/inventory/system/board/Tray_1"
    log = wait_log(bmc, "Hostname has the wrong type")
    assert (
        f"Skipped an Entity Manager SPDM configuration: {board}/p: "
        "Port has the wrong type str, not an integer"
    ) in log
    assert (
        f"Skipped an Entity Manager SPDM configuration: {board}/h: "
        "Hostname has the wrong type int, not a string"
    ) in log
    assert (
        f"Skipped part of an Entity Manager SPDM configuration: {board}/gpu0: "
        "Authenticating 'not a path' is not a D-Bus object path; "
        "no authenticating association"
    ) in log
    assocs = bmc.client.get(
        BUS_NAME,
        bmc.responder_path("gpu0"),
        "xyz.openbmc_project.Association.Definitions",
        "Associations",
    )
    assert [a for a in assocs if a[0] == "authenticating"] == []
    assert bmc.responder_ids() == ["gpu0"]


def _busctl(bmc: Environment, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["busctl", f"--address={bmc.bus.address}", *args],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )


@pytest.mark.parametrize(
    ("path", "iface", "name", "value", "expected"),
    [
        pytest.param(
            POLICY_PATH,
            POLICY,
            "AllowedVersions",
            ["av", "1", "v", "s", "1.2"],
            ["ALL"],
            id="av-variant-in-variant",
        ),
        pytest.param(
            "/xyz/openbmc_project/component_integrity/gpu0",
            CI,
            "Enabled",
            ["v", "b", "false"],
            True,
            id="b-as-variant",
        ),
    ],
)
def test_set_with_a_nested_variant_is_refused(
    bmc: Environment,
    path: str,
    iface: str,
    name: str,
    value: list[str],
    expected: object,
) -> None:
    """busctl set-property with a variant inside the variant gets InvalidArgs, as from sd-bus."""
    if shutil.which("busctl") is None:
        pytest.skip("busctl is not installed (Debian package systemd)")
    dev = bmc.device("gpu0")
    bmc.write_config(
        {"responders": [{"name": "gpu0", "host": "127.0.0.1", "port": dev.port}]}
    )
    bmc.start_daemon()
    bmc.wait_status("gpu0")
    out = _busctl(bmc, "set-property", BUS_NAME, path, iface, name, *value)
    assert out.returncode != 0
    assert "Wrong type for property" in out.stderr
    assert bmc.client.get(BUS_NAME, path, iface, name) == expected
    # The same value without the extra variant is accepted.
    plain = ["av", "1", "s", "1.2"] if name == "AllowedVersions" else ["b", "false"]
    out = _busctl(bmc, "set-property", BUS_NAME, path, iface, name, *plain)
    assert out.returncode == 0, out.stderr
