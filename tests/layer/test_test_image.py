"""The test image's files do what docs/image-tests.md says, run on the host.

spdmd-test-responder installs a setup helper, one environment file per
responder instance and a spdmd configuration. Here the same files drive the
real commands: the helper waits for each responder's root and port, and
spdmd, given test-config.json (paths and ports moved to temporary ones),
reports test_good Success and test_wrong_key Failed at CHALLENGE on a
private bus. What cannot run here is systemd ordering and the loopback EID
(no AF_MCTP on this kernel); those need the booted image (scripts/qemu-bmc).
"""

from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.layer.conftest import LAYER

FILES = LAYER / "recipes-tests" / "spdmd-test-responder" / "files"
SETUP = FILES / "spdm-test-responder-setup"
BIN = Path(sys.executable).parent
BUS_NAME = "xyz.openbmc_project.spdmd"
CI_ROOT = "/xyz/openbmc_project/component_integrity"
AUTH_IFACE = "xyz.openbmc_project.Attestation.IdentityAuthentication"
STATUS = AUTH_IFACE + ".VerificationStatus."


def _env_file(name: str) -> dict[str, str]:
    values = {}
    for line in (FILES / f"{name}.conf").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key] = value
    return values


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def responders(tmp_path: Path) -> Iterator[dict[str, int]]:
    """good and wrong-key started from their environment files, on free ports,
    each "started" only after the setup helper's wait returned."""
    if os.geteuid() != 0:
        pytest.skip("the setup helper writes under /run/spdm-test-responder (needs root)")
    run_dir = Path("/run/spdm-test-responder")
    # systemd makes it on the BMC (RuntimeDirectory=).
    run_dir.mkdir(exist_ok=True)
    ports: dict[str, int] = {}
    procs = []
    try:
        for name in ("good", "wrong-key"):
            values = _env_file(name)
            assert "MCTP_EID" not in values
            port = _free_port()
            args = shlex.split(values["SPDM_RESPONDER_ARGS"])
            args[args.index("--port") + 1] = str(port)
            env = {**os.environ, "TCP_PORT": str(port),
                   "PATH": f"{BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}"}
            subprocess.run([str(SETUP), "prepare", f"layertest-{name}"], check=True,
                           env=env, timeout=30)
            procs.append(subprocess.Popen(
                [str(BIN / "spdm-responder"), *args, "--write-root",
                 str(run_dir / f"layertest-{name}.pem")],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            subprocess.run([str(SETUP), "wait", f"layertest-{name}"], check=True,
                           env=env, timeout=60)
            ports[name] = port
        yield ports
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=20)
        for name in ("good", "wrong-key"):
            (run_dir / f"layertest-{name}.pem").unlink(missing_ok=True)


def _status(conn, ident: str) -> str:  # type: ignore[no-untyped-def]
    import dbus

    try:
        return str(conn.call_blocking(BUS_NAME, f"{CI_ROOT}/{ident}",
                                      "org.freedesktop.DBus.Properties", "Get", "ss",
                                      (AUTH_IFACE, "ResponderVerificationStatus")))
    except dbus.DBusException:
        return ""


def test_setup_helper_refuses_unknown_actions() -> None:
    """The helper names its usage instead of doing something half-way."""
    result = subprocess.run([str(SETUP), "start", "x"], capture_output=True, text=True)
    assert result.returncode == 2 and "usage:" in result.stderr


def test_test_configuration_gives_success_and_failed(  # type: ignore[no-untyped-def]
    responders: dict[str, int], bus_address: str, bus_connection, tmp_path: Path
) -> None:
    """spdmd with the test image's configuration: test_good Success,
    test_wrong_key Failed, and the journal line names CHALLENGE."""
    config = json.loads((FILES / "test-config.json").read_text())
    assert "/run/spdm-test-responder" in config["trust_anchors"]
    by_name = {r["name"]: r for r in config["responders"]}
    assert by_name["test_good"]["port"] == int(_env_file("good")["TCP_PORT"])
    assert by_name["test_wrong_key"]["port"] == int(_env_file("wrong-key")["TCP_PORT"])
    by_name["test_good"]["port"] = responders["good"]
    by_name["test_wrong_key"]["port"] = responders["wrong-key"]
    # Only the layertest roots: other files in /run/spdm-test-responder are
    # not this test's.
    anchors = tmp_path / "anchors"
    anchors.mkdir()
    for name in ("good", "wrong-key"):
        pem = Path(f"/run/spdm-test-responder/layertest-{name}.pem")
        (anchors / pem.name).write_bytes(pem.read_bytes())
    config["trust_anchors"] = [str(anchors)]
    # No mapper or Entity Manager on this private bus.
    config["mctp_discovery"] = False
    config["entity_manager"] = False
    path = tmp_path / "test-config.json"
    path.write_text(json.dumps(config))
    proc = subprocess.Popen(
        [str(BIN / "spdmd"), "--bus-address", bus_address, "--config", str(path),
         "--state-dir", str(tmp_path / "state")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 60
        good = bad = ""
        while time.monotonic() < deadline and proc.poll() is None:
            good, bad = _status(bus_connection, "test_good"), _status(bus_connection, "test_wrong_key")
            if good.endswith(("Success", "Failed")) and bad.endswith(("Success", "Failed")):
                break
            time.sleep(0.2)
        assert good == STATUS + "Success"
        assert bad == STATUS + "Failed"
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    assert "Failed to attest test_wrong_key at CHALLENGE" in out, out
    assert "Attested test_good with SPDM" in out, out


def _systemd_analyze() -> str:
    import shutil

    exe = shutil.which("systemd-analyze")
    if exe is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd)")
    return exe


def _units(tmp_path: Path, spdmd: str) -> Path:
    """The installed layout in a temporary unit directory: spdmd's unit, the
    test drop-in and the responder template, with target paths mapped to
    this machine's (systemd-analyze insists that ExecStart binaries exist)."""
    units = tmp_path / "units"
    dropins = units / "xyz.openbmc_project.spdmd.service.d"
    dropins.mkdir(parents=True)
    unit = (LAYER.parent / "data" / "systemd" / "xyz.openbmc_project.spdmd.service").read_text()
    (units / "xyz.openbmc_project.spdmd.service").write_text(
        unit.replace("ExecStart=/usr/bin/spdmd", f"ExecStart={BIN / 'spdmd'}"))
    dropin = (FILES / "spdmd-test.conf").read_text()
    assert "ExecStart=/usr/bin/spdmd --config /etc/spdmd/test-config.json" in dropin
    (dropins / "spdmd-test.conf").write_text(dropin.replace("/usr/bin/spdmd", spdmd))
    template = (FILES / "spdm-test-responder@.service").read_text()
    (units / "spdm-test-responder@.service").write_text(
        template.replace("@LIBEXECDIR@/spdmd-test", str(FILES)).replace("@BINDIR@", str(BIN)))
    return units


@pytest.mark.parametrize("unit", ["xyz.openbmc_project.spdmd.service",
                                  "spdm-test-responder@good.service",
                                  "spdm-test-responder@mctp.service"])
def test_test_units_pass_systemd_analyze_verify(unit: str, tmp_path: Path) -> None:
    """spdmd with the test drop-in, and the responder instances, verify cleanly."""
    exe = _systemd_analyze()
    units = _units(tmp_path, str(BIN / "spdmd"))
    target = units / unit
    if "@" in unit and not target.exists():
        target.symlink_to(units / (unit.split("@")[0] + "@.service"))
    result = subprocess.run([exe, "verify", str(target)], capture_output=True, text=True,
                            timeout=60, env={**os.environ, "SYSTEMD_UNIT_PATH": f"{units}:"})
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


def test_verify_reads_the_test_drop_in(tmp_path: Path) -> None:
    """The check can fail: a drop-in naming a missing binary is refused."""
    exe = _systemd_analyze()
    units = _units(tmp_path, "/nonexistent/spdmd")
    result = subprocess.run(
        [exe, "verify", str(units / "xyz.openbmc_project.spdmd.service")],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "SYSTEMD_UNIT_PATH": f"{units}:"})
    assert "/nonexistent/spdmd" in result.stderr
