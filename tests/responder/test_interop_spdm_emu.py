"""Interop with DMTF's reference responder `spdm_responder_emu`.

Runs only when SPDM_EMU_BIN names its bin/ directory (the responder opens
its sample keys by relative path, so it is started from there). Covers
issue 2's "Done when": `spdmtool attest` and `spdmtool measurements`
succeed over emu-mctp and emu-tcp for SPDM 1.0 to 1.3 with ECDSA and RSA,
and fail with exit 1 naming CHALLENGE for a wrong key and the chain for a
trust anchor that is not the device's root.

spdm_responder_emu has no option to sign with a wrong key, so that case
runs it from a copy of bin/ whose leaf private key files were replaced by a
fresh key of the same algorithm: the certificate stays, the key no longer
matches it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from spdmd.responder import pki
from spdmd.spdm.constants import ASYM_ALGOS, ASYM_BY_NAME

EMU_BIN = os.environ.get("SPDM_EMU_BIN")
pytestmark = pytest.mark.skipif(
    not EMU_BIN,
    reason="SPDM_EMU_BIN is not set: DMTF's spdm_responder_emu bin/ directory is needed",
)

SPDMTOOL = [sys.executable, "-m", "spdmd.tool.cli"]
# --trans of spdm_responder_emu -> our transport kind and its default port.
TRANSPORTS = {"MCTP": ("emu-mctp", 2323), "TCP": ("emu-tcp", 4194)}
# DMTF's sample key directories per signing algorithm.
KEY_DIRS = {
    "ECDSA_P256": "ecp256",
    "ECDSA_P384": "ecp384",
    "RSASSA_2048": "rsa2048",
    "RSAPSS_2048": "rsa2048",
    "RSASSA_3072": "rsa3072",
    "RSAPSS_3072": "rsa3072",
}
PAIRS = [
    ("ECDSA_P256", "SHA_256"),
    ("ECDSA_P384", "SHA_384"),
    ("RSASSA_3072", "SHA_384"),
    ("RSAPSS_2048", "SHA_256"),
]
VERSIONS = ["1.0", "1.1", "1.2", "1.3"]


def bin_dir() -> Path:
    path = Path(EMU_BIN or "")
    if not (path / "spdm_responder_emu").is_file():
        pytest.fail(f"SPDM_EMU_BIN={EMU_BIN} holds no spdm_responder_emu")
    return path


class Emu:
    def __init__(
        self, cwd: Path, trans: str, ver: str, asym: str, hash_name: str
    ) -> None:
        self.kind, self.port = TRANSPORTS[trans]
        self.proc = subprocess.Popen(
            [
                str(cwd / "spdm_responder_emu"),
                "--trans",
                trans,
                "--ver",
                ver,
                "--asym",
                asym,
                "--hash",
                hash_name,
            ],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._wait_listening()

    def _wait_listening(self) -> None:
        # A probe connection closed without CONTINUE would make the emulator
        # exit, so look for the listening socket with ss instead.
        end = time.monotonic() + 15
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"spdm_responder_emu exited early: {self.proc.stdout.read()}"
                )
            out = subprocess.run(
                ["ss", "-ltn", f"sport = :{self.port}"],
                capture_output=True,
                text=True,
                check=False,
            )
            if out.returncode == 0 and str(self.port) in out.stdout.split("\n", 1)[-1]:
                return
            time.sleep(0.1)
        raise AssertionError(f"spdm_responder_emu did not listen on port {self.port}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def spdmtool(command: str, emu: Emu, anchor: Path, ver: str, asym: str, hash_name: str):
    args = [
        *SPDMTOOL,
        command,
        "--transport",
        emu.kind,
        "--port",
        str(emu.port),
        "--trust-anchor",
        str(anchor),
        "--versions",
        ver,
        "--asym",
        asym,
        "--hash",
        hash_name,
        "--json",
    ]
    proc = subprocess.run(
        args, capture_output=True, text=True, timeout=120, check=False
    )
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise AssertionError(
            f"spdmtool printed no JSON (exit {proc.returncode}): {proc.stdout}{proc.stderr}"
        ) from None
    return proc.returncode, report


@pytest.mark.parametrize("trans", list(TRANSPORTS))
@pytest.mark.parametrize("ver", VERSIONS)
@pytest.mark.parametrize("asym, hash_name", PAIRS, ids=[f"{a}-{h}" for a, h in PAIRS])
def test_attest_and_measurements_succeed(trans, ver, asym, hash_name):
    root = bin_dir()
    anchor = root / KEY_DIRS[asym] / "ca.cert.der"
    emu = Emu(root, trans, ver, asym, hash_name)
    try:
        code, report = spdmtool("attest", emu, anchor, ver, asym, hash_name)
        assert (code, report["status"]) == (0, "Success"), report
        assert report["version"] == ver
        assert (
            report["signing_algorithm"] == ASYM_ALGOS[ASYM_BY_NAME[asym]].redfish_name
        )
        code, report = spdmtool("measurements", emu, anchor, ver, asym, hash_name)
        assert (code, report["status"]) == (0, "Success"), report
        assert report["blocks"]
    finally:
        emu.stop()


@pytest.mark.parametrize("trans", list(TRANSPORTS))
@pytest.mark.parametrize(
    "asym, hash_name", [("ECDSA_P384", "SHA_384"), ("RSASSA_3072", "SHA_384")]
)
def test_trust_anchor_that_is_not_its_root_fails_the_chain(
    trans, asym, hash_name, tmp_path
):
    other = pki.generate_pki(ASYM_BY_NAME[asym], name="not the device's")
    anchor = other.write_root(tmp_path / "other-root.pem")
    emu = Emu(bin_dir(), trans, "1.2", asym, hash_name)
    try:
        code, report = spdmtool("attest", emu, anchor, "1.2", asym, hash_name)
    finally:
        emu.stop()
    assert (code, report["status"], report["step"]) == (
        1,
        "Failed",
        "CERTIFICATE_CHAIN",
    ), report


def wrong_key_bin(tmp_path: Path, asym: str) -> Path:
    """A copy of bin/ whose leaf key for `asym` no longer fits its certificate."""
    source = bin_dir()
    target = tmp_path / "bin"
    target.mkdir()
    key_dir = KEY_DIRS[asym]
    for entry in source.iterdir():
        if entry.name != key_dir:
            (target / entry.name).symlink_to(entry)
    shutil.copytree(source / key_dir, target / key_dir)
    key = pki.private_key(ASYM_BY_NAME[asym], "interop-wrong-key")
    traditional = serialization.PrivateFormat.TraditionalOpenSSL
    none = serialization.NoEncryption()
    replacements = {
        "end_responder.key": key.private_bytes(
            serialization.Encoding.PEM, traditional, none
        ),
        "end_responder.key.der": key.private_bytes(
            serialization.Encoding.DER, traditional, none
        ),
        "end_responder.key.p8": key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, none
        ),
    }
    for name, data in replacements.items():
        if (target / key_dir / name).exists():
            (target / key_dir / name).write_bytes(data)
    return target


@pytest.mark.parametrize("trans", list(TRANSPORTS))
@pytest.mark.parametrize(
    "asym, hash_name", [("ECDSA_P384", "SHA_384"), ("RSASSA_3072", "SHA_384")]
)
def test_wrong_private_key_fails_challenge(trans, asym, hash_name, tmp_path):
    root = wrong_key_bin(tmp_path, asym)
    anchor = root / KEY_DIRS[asym] / "ca.cert.der"
    emu = Emu(root, trans, "1.2", asym, hash_name)
    try:
        code, report = spdmtool("attest", emu, anchor, "1.2", asym, hash_name)
    finally:
        emu.stop()
    assert (code, report["status"], report["step"]) == (1, "Failed", "CHALLENGE"), (
        report
    )
    assert "CHALLENGE" in report["reason"]
