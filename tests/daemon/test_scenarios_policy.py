"""End-to-end SPDM policy and privilege scenarios.

The Policy object at /xyz/openbmc_project/component_integrity is what a BMC
engineer changes with busctl; every change must take effect, survive a
restart, and only root may run the daemon's name.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import dbus
import pytest
from tests.env.client import DBusCallError
from tests.env.harness import BUS_NAME, CI_ROOT, Environment, spdmd_executable
from tests.env.processes import child_env

POLICY = "xyz.openbmc_project.Control.Security.SPDM.Policy"
MS = "xyz.openbmc_project.Attestation.MeasurementSet"


def boot(bmc: Environment, *devices: object) -> None:
    bmc.start_entity_manager(
        [{"Name": "Tray", "Type": "Board", "Exposes": [d.em_record() for d in devices]}]  # type: ignore[attr-defined]
    )
    bmc.start_daemon()


def set_policy(bmc: Environment, name: str, value: object) -> None:
    if isinstance(value, list):
        value = dbus.Array([dbus.String(v) for v in value], signature="v")
    bmc.client.set(BUS_NAME, CI_ROOT, POLICY, name, value)


def test_policy_restricts_versions(bmc: Environment) -> None:
    """AllowedVersions ["1.1"] re-attests at 1.1; a version no device has fails."""
    boot(bmc, bmc.device("dev"), bmc.device("old", versions=frozenset({0x11})))
    first = bmc.wait_status("dev")
    old_first = bmc.wait_status("old")
    assert first["TypeVersion"] == "1.3"
    set_policy(bmc, "AllowedVersions", ["1.1"])
    st = bmc.wait_status("dev", since=first["LastUpdated"])
    assert (st["status"], st["TypeVersion"]) == ("Success", "1.1")
    old = bmc.wait_status("old", since=old_first["LastUpdated"])
    assert (old["status"], old["TypeVersion"]) == ("Success", "1.1")
    set_policy(bmc, "AllowedVersions", ["1.2", "1.3"])
    refused = bmc.wait_status("old", since=old["LastUpdated"])
    assert (refused["status"], refused["FailedStep"]) == ("Failed", "GET_VERSION")


def test_bad_policy_value_refused(bmc: Environment) -> None:
    """A version that does not exist is refused with InvalidArgument and not stored."""
    bmc.start_daemon()
    with pytest.raises(DBusCallError) as exc:
        set_policy(bmc, "AllowedVersions", ["9.9"])
    assert exc.value.name == "xyz.openbmc_project.Common.Error.InvalidArgument"
    assert bmc.client.get(BUS_NAME, CI_ROOT, POLICY, "AllowedVersions") == ["ALL"]


def test_policy_disabled_gates_everything(bmc: Environment) -> None:
    """Policy Enabled false: no attestation and measurements refused; true resumes."""
    dev = bmc.device("dev")
    boot(bmc, dev)
    first = bmc.wait_status("dev")
    set_policy(bmc, "Enabled", False)
    served = dev.server.connections
    with pytest.raises(DBusCallError) as exc:
        bmc.client.call(
            BUS_NAME,
            bmc.responder_path("dev"),
            MS,
            "SPDMGetSignedMeasurements",
            "atst",
            (dbus.Array([255], signature="t"), "", 0),
        )
    assert exc.value.name == "xyz.openbmc_project.Common.Error.InternalFailure"
    assert exc.value.message == "SPDM is disabled by policy"
    assert dev.server.connections == served
    set_policy(bmc, "Enabled", True)
    assert bmc.wait_status("dev", since=first["LastUpdated"])["status"] == "Success"


def test_verify_certificate_false_skips_chain_only(bmc: Environment) -> None:
    """VerifyCertificate false accepts an untrusted root but still checks CHALLENGE."""
    boot(
        bmc, bmc.device("stranger", "untrusted_root"), bmc.device("forger", "wrong_key")
    )
    stranger = bmc.wait_status("stranger")
    forger = bmc.wait_status("forger")
    assert stranger["FailedStep"] == "CERTIFICATE_CHAIN"
    set_policy(bmc, "VerifyCertificate", False)
    assert (
        bmc.wait_status("stranger", since=stranger["LastUpdated"])["status"]
        == "Success"
    )
    again = bmc.wait_status("forger", since=forger["LastUpdated"])
    assert (again["status"], again["FailedStep"]) == ("Failed", "CHALLENGE")


def test_policy_persisted_across_restart(bmc: Environment) -> None:
    """A changed policy is in the state directory and in force after a restart."""
    dev = bmc.device("dev")
    boot(bmc, dev)
    bmc.wait_status("dev")
    set_policy(bmc, "AllowedVersions", ["1.2"])
    set_policy(bmc, "VerifyCertificate", False)
    stored = json.loads((bmc.state_dir / "policy.json").read_text())
    assert stored["AllowedVersions"] == ["1.2"]
    bmc.stop_daemon()
    bmc.start_daemon()
    assert bmc.client.get(BUS_NAME, CI_ROOT, POLICY, "AllowedVersions") == ["1.2"]
    assert bmc.client.get(BUS_NAME, CI_ROOT, POLICY, "VerifyCertificate") is False
    st = bmc.wait_status("dev")
    assert (st["status"], st["TypeVersion"]) == ("Success", "1.2")


def _drop_to_nobody() -> None:
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to start a process as nobody")
def test_non_root_refused_ownership(bmc: Environment) -> None:
    """spdmd started as nobody cannot own the name: it says so and exits 1."""
    # pytest's temporary directories are private to root; nobody needs its own.
    home = Path(tempfile.mkdtemp(prefix="spdmd-nobody-"))
    try:
        os.chmod(home, 0o777)
        shutil.copy(bmc.config_path, home / "config.json")
        shutil.copytree(bmc.trust_dir, home / "trust-anchors")
        proc = run_as_nobody(bmc, home)
    finally:
        shutil.rmtree(home)
    assert proc.returncode == 1, proc.stderr
    assert f"Failed to own {BUS_NAME}" in proc.stderr
    assert not bmc.client.name_has_owner(BUS_NAME)


def run_as_nobody(bmc: Environment, home: Path) -> subprocess.CompletedProcess[str]:
    for p in home.rglob("*"):
        os.chmod(p, 0o755 if p.is_dir() else 0o644)
    return subprocess.run(
        [
            spdmd_executable(),
            "--bus-address",
            bmc.bus.address,
            "--config",
            str(home / "config.json"),
            "--state-dir",
            str(home),
            "--trust-anchors",
            str(home / "trust-anchors"),
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
        env=child_env(bmc.bus.address),
        preexec_fn=_drop_to_nobody,
    )
