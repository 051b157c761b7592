"""The test image's files do what docs/image-tests.md says, run on the host.

spdmd-test-responder installs a setup helper, one environment file per
responder instance and a spdmd configuration. Here the same files drive the
real commands: the helper waits for each responder's root and port, and
spdmd, given test-config.json (paths and ports moved to temporary ones),
reports test_good Success, test_wrong_key Failed at CHALLENGE and test_mctp
Success (with signed measurements through D-Bus) on a private bus.

test_mctp is a static mctp entry (net 1, eid 8). On the image, the MCTP hop
is the kernel: the helper gives lo EID 8 and spdmd talks AF_MCTP to the
responder's bound socket. This host's kernel has no AF_MCTP, so here the
MCTP hop is the SPDMD_TEST_MCTP_MAP test hook (docs/testing.md): "1/8" is
mapped to the same emulator serving the spdm-emu MCTP framing over TCP, and
the helper's EID step is left out. What is checked here is therefore the
configuration entry, the trust of the instance's root and spdmd's handling
of the endpoint, not the kernel's MCTP stack; systemd ordering and the
loopback EID need the booted image (scripts/qemu-bmc).
"""

from __future__ import annotations

import base64
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.layer.conftest import LAYER, recipe_variable

FILES = LAYER / "recipes-tests" / "spdmd-test-responder" / "files"
SETUP = FILES / "spdm-test-responder-setup"
BIN = Path(sys.executable).parent
BUS_NAME = "xyz.openbmc_project.spdmd"
CI_ROOT = "/xyz/openbmc_project/component_integrity"
AUTH_IFACE = "xyz.openbmc_project.Attestation.IdentityAuthentication"
CI_IFACE = "xyz.openbmc_project.Attestation.ComponentIntegrity"
RESPONDER_IFACE = "xyz.openbmc_project.spdmd.Responder1"
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


INSTANCES = ("good", "wrong-key", "mctp")


def _host_args(name: str, port: int) -> list[str]:
    """spdm-responder's arguments from the instance's environment file, moved
    to a free port. The mctp instance serves AF_MCTP on the image; here it
    serves the spdm-emu MCTP framing on TCP, which SPDMD_TEST_MCTP_MAP names."""
    args = shlex.split(_env_file(name)["SPDM_RESPONDER_ARGS"])
    if name == "mctp":
        at = args.index("--transport")
        assert args[at + 1] == "mctp"
        args[at + 1] = "emu-mctp"
        return [*args, "--host", "127.0.0.1", "--port", str(port)]
    args[args.index("--port") + 1] = str(port)
    return args


@pytest.fixture
def responders(tmp_path: Path) -> Iterator[dict[str, int]]:
    """good, wrong-key and mctp started from their environment files, on free
    ports, each "started" only after the setup helper's wait returned."""
    if os.geteuid() != 0:
        pytest.skip("the setup helper writes under /run/spdm-test-responder (needs root)")
    run_dir = Path("/run/spdm-test-responder")
    # systemd makes it on the BMC (RuntimeDirectory=).
    run_dir.mkdir(exist_ok=True)
    ports: dict[str, int] = {}
    procs = []
    try:
        for name in INSTANCES:
            values = _env_file(name)
            # Only the mctp instance has a loopback EID to set up.
            assert ("MCTP_EID" in values) == (name == "mctp")
            port = _free_port()
            args = _host_args(name, port)
            env = {**os.environ, "TCP_PORT": str(port),
                   "PATH": f"{BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}"}
            # The EID step runs "mctp addr add" against the kernel (no AF_MCTP
            # here); the helper's wait for the root and port still runs.
            env.pop("MCTP_EID", None)
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
        for name in INSTANCES:
            (run_dir / f"layertest-{name}.pem").unlink(missing_ok=True)


def _prop(conn, ident: str, iface: str, name: str) -> str:  # type: ignore[no-untyped-def]
    import dbus

    try:
        return str(conn.call_blocking(BUS_NAME, f"{CI_ROOT}/{ident}",
                                      "org.freedesktop.DBus.Properties", "Get", "ss",
                                      (iface, name)))
    except dbus.DBusException:
        return ""


def _status(conn, ident: str) -> str:  # type: ignore[no-untyped-def]
    return _prop(conn, ident, AUTH_IFACE, "ResponderVerificationStatus")


def test_setup_helper_refuses_unknown_actions() -> None:
    """The helper names its usage instead of doing something half-way."""
    result = subprocess.run([str(SETUP), "start", "x"], capture_output=True, text=True)
    assert result.returncode == 2 and "usage:" in result.stderr


def test_test_configuration_gives_success_and_failed(  # type: ignore[no-untyped-def]
    responders: dict[str, int], bus_address: str, bus_connection, tmp_path: Path
) -> None:
    """spdmd with the test image's configuration: test_good Success,
    test_wrong_key Failed with the journal line naming CHALLENGE, and the
    static MCTP entry test_mctp Success with a negotiated version and signed
    measurements through D-Bus. Here test_mctp's MCTP hop is the
    SPDMD_TEST_MCTP_MAP test hook (no AF_MCTP on this host); on the image it
    is the kernel's AF_MCTP stack with EID 8 on lo."""
    config = json.loads((FILES / "test-config.json").read_text())
    assert "/run/spdm-test-responder" in config["trust_anchors"]
    by_name = {r["name"]: r for r in config["responders"]}
    assert set(by_name) == {"test_good", "test_wrong_key", "test_mctp"}
    assert by_name["test_good"]["port"] == int(_env_file("good")["TCP_PORT"])
    assert by_name["test_wrong_key"]["port"] == int(_env_file("wrong-key")["TCP_PORT"])
    # The entry itself makes the device exist (no mctpd reports a local EID),
    # at the EID the helper gives lo on the image.
    mctp = by_name["test_mctp"]
    assert mctp["transport"] == "mctp" and mctp["static"] is True
    assert (mctp["net"], mctp["eid"]) == (1, int(_env_file("mctp")["MCTP_EID"]))
    by_name["test_good"]["port"] = responders["good"]
    by_name["test_wrong_key"]["port"] = responders["wrong-key"]
    # The test hook stands in for the kernel: net 1 eid 8 is the emulator's
    # spdm-emu MCTP framing on TCP. test_mctp's entry itself is unchanged.
    mctp_map = tmp_path / "mctp-map.json"
    mctp_map.write_text(json.dumps({f"{mctp['net']}/{mctp['eid']}": {
        "kind": "emu-mctp", "host": "127.0.0.1", "port": responders["mctp"]}}))
    # Only the layertest roots: other files in /run/spdm-test-responder are
    # not this test's.
    anchors = tmp_path / "anchors"
    anchors.mkdir()
    for name in INSTANCES:
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
        env={**os.environ, "SPDMD_TEST_MCTP_MAP": str(mctp_map)},
    )
    ids = ("test_good", "test_wrong_key", "test_mctp")
    try:
        deadline = time.monotonic() + 60
        seen: dict[str, str] = {}
        while time.monotonic() < deadline and proc.poll() is None:
            seen = {i: _status(bus_connection, i) for i in ids}
            if all(v.endswith(("Success", "Failed")) for v in seen.values()):
                break
            time.sleep(0.2)
        assert seen == {"test_good": STATUS + "Success",
                        "test_wrong_key": STATUS + "Failed",
                        "test_mctp": STATUS + "Success"}
        assert re.fullmatch(r"1\.[0-3]", _prop(bus_connection, "test_mctp", CI_IFACE,
                                              "TypeVersion"))
        assert _prop(bus_connection, "test_mctp", RESPONDER_IFACE,
                     "Transport") == "mctp net 1 eid 8"
        measured = subprocess.run(
            [str(BIN / "spdmtool"), "dbus-measurements", "--bus-address", bus_address,
             "--json", "test_mctp"],
            check=False, capture_output=True, text=True, timeout=120)
        assert measured.returncode == 0, measured.stdout + measured.stderr
        reply = json.loads(measured.stdout)
        assert base64.b64decode(reply["signed_measurements"], validate=True)
        assert reply["hashing_algorithm"].startswith("TPM_ALG_SHA_")
        assert reply["signing_algorithm"].startswith("TPM_ALG_")
        assert reply["certificate"].startswith(
            "/xyz/openbmc_project/certs/devices/test_mctp/")
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    assert "Failed to attest test_wrong_key at CHALLENGE" in out, out
    assert "Attested test_good with SPDM" in out, out
    assert "Attested test_mctp with SPDM" in out, out


def test_spdmd_is_ordered_after_every_responder_instance() -> None:
    """The drop-in makes spdmd want and start after each instance the image
    runs (good, wrong-key, mctp): otherwise its first attestation of one could
    find no port or no EID on lo and wait a whole re-attestation period."""
    dropin = (FILES / "spdmd-test.conf").read_text().replace("\\\n", " ")
    words: dict[str, set[str]] = {"Wants": set(), "After": set()}
    for line in dropin.splitlines():
        key, _, value = line.partition("=")
        if key in words:
            words[key].update(value.split())
    recipe = (FILES.parent / "spdmd-test-responder_0.1.bb").read_text()
    installed = set(recipe_variable(recipe, "SYSTEMD_SERVICE:${PN}"))
    assert installed == {f"spdm-test-responder@{name}.service" for name in INSTANCES}
    assert words["Wants"] == installed
    assert words["After"] == installed


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
