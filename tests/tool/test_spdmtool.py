"""`spdmtool` as a user runs it: the installed console script, as a
subprocess, against the emulator (`spdmd.responder.server`) on a real
socket. Exit codes, the --json object and the human lines are asserted."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from spdmd.spdm.constants import AsymAlgo, HashAlgo

SPDMTOOL = Path(sys.executable).parent / "spdmtool"
REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    not SPDMTOOL.exists(),
    reason=f"spdmtool console script not installed at {SPDMTOOL} (run scripts/setup)",
)

RESULT_KEYS = {
    "status",
    "step",
    "reason",
    "version",
    "hashing_algorithm",
    "signing_algorithm",
    "slot",
    "leaf_subject",
    "cert_chain_digest",
}


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    return subprocess.run(
        [str(SPDMTOOL), *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


class Device:
    """One emulated responder on a free port, and the trust anchor that
    matches its genuine root."""

    def __init__(
        self, tmp: Path, faults: list[str], framing: str, asym: int, hash_algo: int
    ):
        from spdmd.responder.faults import Faults
        from spdmd.responder.responder import Responder, ResponderConfig
        from spdmd.responder.server import ResponderServer

        self.config = ResponderConfig.generate(
            asym_algos=asym, hash_algos=hash_algo, faults=Faults.parse(faults)
        )
        self.credential = self.config.slots[0][asym]
        good = ResponderConfig.generate(asym_algos=asym, hash_algos=hash_algo)
        self.anchor = tmp / "root.der"
        self.anchor.write_bytes(good.slots[0][asym].der_chain[0])
        self.server = ResponderServer(Responder(self.config), framing=framing).start()
        self.port = str(self.server.port)
        self.hash_algo = hash_algo


@pytest.fixture
def device(tmp_path):
    started: list[Device] = []

    def make(
        *faults: str,
        framing: str = "emu",
        asym=AsymAlgo.ECDSA_P384,
        hash_algo=HashAlgo.SHA_384,
    ) -> Device:
        dev = Device(tmp_path, list(faults), framing, int(asym), int(hash_algo))
        started.append(dev)
        return dev

    yield make
    for dev in started:
        dev.server.stop()


def attest(
    dev: Device, *extra: str, transport: str = "emu-mctp", command: str = "attest"
):
    return run(
        command,
        "--transport",
        transport,
        "--port",
        dev.port,
        "--trust-anchor",
        str(dev.anchor),
        *extra,
    )


def test_attest_success_human(device):
    """A good device: exit 0 and a short Success summary naming the leaf."""
    dev = device()
    proc = attest(dev)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("Success:")
    assert (
        "SPDM 1.3, TPM_ALG_ECDSA_ECC_NIST_P384, TPM_ALG_SHA_384, slot 0" in proc.stdout
    )
    assert "leaf: CN=spdmd emulator responder ECDSA_P384" in proc.stdout
    assert len(proc.stdout.splitlines()) <= 5


def test_attest_json_keys(device):
    """--json prints one object with the documented keys and true values."""
    dev = device()
    proc = attest(dev, "--json", "--versions", "1.1,1.2", transport="emu-tcp")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = json.loads(proc.stdout)
    assert RESULT_KEYS <= out.keys()
    assert out["status"] == "Success" and out["step"] is None
    assert out["version"] == "1.2"
    assert out["signing_algorithm"] == "TPM_ALG_ECDSA_ECC_NIST_P384"
    assert out["hashing_algorithm"] == "TPM_ALG_SHA_384"
    assert out["slot"] == 0
    assert out["leaf_subject"].startswith("CN=spdmd emulator responder ECDSA_P384")
    served = dev.credential.chain(HashAlgo.SHA_384)
    assert out["cert_chain_digest"] == hashlib.sha384(served).hexdigest()


def test_attest_tcp_rsa(device):
    """DSP0287 framing with an RSA-PSS device."""
    dev = device(framing="tcp", asym=AsymAlgo.RSAPSS_2048, hash_algo=HashAlgo.SHA_256)
    proc = attest(dev, "--json", transport="tcp")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["signing_algorithm"] == "TPM_ALG_RSAPSS_2048"


def test_wrong_key_fails_at_challenge(device):
    """A device signing with a key that is not its certificate's: exit 1,
    Failed at CHALLENGE."""
    dev = device("wrong_key")
    proc = attest(dev, "--json")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = json.loads(proc.stdout)
    assert (out["status"], out["step"]) == ("Failed", "CHALLENGE")
    assert "signature" in out["reason"]
    human = attest(dev)
    assert human.returncode == 1
    assert human.stdout.startswith("Failed at CHALLENGE:")


def test_untrusted_root_fails_at_chain(device):
    """A chain from a root the BMC was not given: exit 1, chain step."""
    dev = device("untrusted_root")
    proc = attest(dev, "--json")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = json.loads(proc.stdout)
    assert (out["status"], out["step"]) == ("Failed", "CERTIFICATE_CHAIN")
    assert "is not a trust anchor" in out["reason"]


def test_unreachable_port_exit_3(tmp_path, device):
    """Nothing listens on the port: exit 3, Failed at TRANSPORT."""
    dev = device()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = str(probe.getsockname()[1])
    proc = run(
        "attest",
        "--transport",
        "emu-mctp",
        "--port",
        closed_port,
        "--trust-anchor",
        str(dev.anchor),
        "--json",
    )
    assert proc.returncode == 3, proc.stdout + proc.stderr
    out = json.loads(proc.stdout)
    assert RESULT_KEYS <= out.keys()
    assert (out["status"], out["step"]) == ("Failed", "TRANSPORT")


def test_silent_device_exit_3(device):
    """A device that never answers ends within the deadline with exit 3."""
    dev = device("silent")
    proc = attest(dev, "--json", "--deadline", "3", transport="emu-mctp")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["status"] == "Failed"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ["attest", "--transport", "tcp"], "--trust-anchor", id="no-anchor"
        ),
        pytest.param(
            ["attest", "--transport", "bogus", "--trust-anchor", "x"],
            "invalid choice",
            id="transport",
        ),
        pytest.param(
            ["attest", "--transport", "tcp", "--trust-anchor", "/nonexistent/root.pem"],
            "cannot read trust anchor /nonexistent/root.pem",
            id="missing-anchor",
        ),
        pytest.param(
            [
                "attest",
                "--transport",
                "tcp",
                "--trust-anchor",
                "ANCHOR",
                "--versions",
                "1.4",
            ],
            "versions must be",
            id="versions",
        ),
        pytest.param(
            ["attest", "--transport", "tcp", "--trust-anchor", "ANCHOR", "--eid", "9"],
            "--eid apply only to the mctp",
            id="eid-on-tcp",
        ),
        pytest.param(
            [
                "measurements",
                "--transport",
                "tcp",
                "--trust-anchor",
                "ANCHOR",
                "--nonce",
                "abcd",
            ],
            "nonce must be 32 bytes",
            id="short-nonce",
        ),
        pytest.param(
            [
                "measurements",
                "--transport",
                "tcp",
                "--trust-anchor",
                "ANCHOR",
                "--indices",
                "3,3",
            ],
            "measurement indices repeat",
            id="index-repeated",
        ),
        pytest.param(
            [
                "measurements",
                "--transport",
                "tcp",
                "--trust-anchor",
                "ANCHOR",
                "--indices",
                "256",
            ],
            "out of range 0..255",
            id="index-256",
        ),
        pytest.param(
            ["attest", "--transport", "tcp", "--trust-anchor", ""],
            "--trust-anchor must not be empty",
            id="empty-anchor",
        ),
        pytest.param(
            ["attest", "--transport", "tcp", "--trust-anchor", "ANCHOR", "--host", ""],
            "--host must not be empty",
            id="empty-host",
        ),
        pytest.param(
            ["attest", "--transport", "tcp", "--trust-anchor", "/dev/zero"],
            "trust anchor /dev/zero is not a regular file",
            id="device-anchor",
        ),
        pytest.param(
            [
                "attest",
                "--transport",
                "tcp",
                "--trust-anchor",
                "ANCHOR",
                "--save-chain",
                "",
            ],
            "--save-chain must not be empty",
            id="empty-save-chain",
        ),
        pytest.param(
            [
                "attest",
                "--transport",
                "tcp",
                "--trust-anchor",
                "ANCHOR",
                "--deadline",
                "nan",
            ],
            "seconds must be more than 0",
            id="deadline-nan",
        ),
        pytest.param(
            [
                "attest",
                "--transport",
                "tcp",
                "--trust-anchor",
                "ANCHOR",
                "--deadline",
                "-1",
            ],
            "seconds must be more than 0",
            id="deadline-negative",
        ),
        pytest.param(
            [
                "attest",
                "--transport",
                "tcp",
                "--trust-anchor",
                "ANCHOR",
                "--deadline",
                "1e30",
            ],
            "at most 86400",
            id="deadline-huge",
        ),
        pytest.param(
            ["attest", "--transport", "mctp", "--trust-anchor", "ANCHOR", "--eid", "7"],
            "out of range 8..254",
            id="eid-reserved",
        ),
        pytest.param([], "COMMAND", id="no-command"),
    ],
)
def test_usage_errors_exit_2(tmp_path, args, message):
    """Bad options exit 2 with a message saying what is wrong; nothing is sent."""
    from spdmd.responder.pki import generate_pki

    anchor = generate_pki(AsymAlgo.ECDSA_P256).write_root(tmp_path / "root.pem")
    proc = run(*[str(anchor) if a == "ANCHOR" else a for a in args])
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stderr
    assert proc.stdout == ""


def test_measurements_json(device):
    """Signed measurements: exit 0, blocks, and the caller's nonce inside
    the signed bytes the Redfish SignedMeasurements value is built from."""
    dev = device()
    nonce = bytes(range(32))
    proc = attest(dev, "--json", "--nonce", nonce.hex(), command="measurements")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = json.loads(proc.stdout)
    assert RESULT_KEYS | {"signed_measurements", "blocks"} <= out.keys()
    assert out["status"] == "Success"
    signed = base64.b64decode(out["signed_measurements"])
    assert nonce in signed
    assert sorted(b["index"] for b in out["blocks"]) == [
        1,
        2,
        3,
        4,
        0x10,
        0x11,
        0xFD,
        0xFE,
    ]


def test_measurements_indices_human(device):
    """--indices selects blocks; human output lists one line per block."""
    dev = device(framing="tcp")
    proc = attest(dev, "--indices", "1,2", transport="tcp", command="measurements")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 measurement block(s), signature verified" in proc.stdout
    assert "[1] immutable ROM" in proc.stdout and "[2] mutable firmware" in proc.stdout


def test_measurements_wrong_key(device):
    """A wrong-key device fails before its measurements are trusted."""
    dev = device("wrong_key")
    proc = attest(dev, "--json", command="measurements")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["status"] == "Failed"


def test_verbose_lists_chain(device):
    """-v adds the certificate chain, root first."""
    dev = device()
    proc = attest(dev, "-v")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "chain[1]: CN=spdmd emulator root CA" in proc.stdout
    assert "chain[3]: CN=spdmd emulator responder" in proc.stdout


def test_save_chain_of_untrusted_device_then_provision(device, tmp_path):
    """--save-chain keeps the chain of a device that failed at the chain
    step; provisioning its root (the first certificate) makes it pass."""
    dev = device("untrusted_root")
    saved = tmp_path / "device-chain.pem"
    proc = attest(dev, "--save-chain", str(saved))
    assert proc.returncode == 1
    assert f"chain (3 certificates) saved to {saved}" in proc.stdout
    from cryptography import x509

    chain = x509.load_pem_x509_certificates(saved.read_bytes())
    assert [
        c.public_bytes(serialization.Encoding.DER) for c in chain
    ] == dev.credential.der_chain
    root = tmp_path / "provisioned-root.pem"
    root.write_bytes(chain[0].public_bytes(serialization.Encoding.PEM))
    proc = run(
        "attest",
        "--transport",
        "emu-mctp",
        "--port",
        dev.port,
        "--trust-anchor",
        str(root),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_save_chain_nothing_read(tmp_path, device):
    """No chain (unreachable device): nothing is written, stderr says so."""
    dev = device()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = str(probe.getsockname()[1])
    target = tmp_path / "chain.pem"
    proc = run(
        "attest",
        "--transport",
        "emu-mctp",
        "--port",
        closed_port,
        "--trust-anchor",
        str(dev.anchor),
        "--save-chain",
        str(target),
    )
    assert proc.returncode == 3
    assert "no certificate chain was read" in proc.stderr and not target.exists()


def test_index_0_follows_the_library_rule(device):
    """Index 0 is accepted as by spdmd.attest and the D-Bus method: the
    device reports its block count and signs; no blocks come back."""
    dev = device()
    proc = attest(dev, "--indices", "0", "--json", command="measurements")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["blocks"] == []


def test_fifo_trust_anchor_is_refused_at_once(tmp_path, device):
    """A FIFO given as trust anchor is refused with exit 2 instead of
    blocking forever in the read (no writer ever comes)."""
    dev = device()
    fifo = tmp_path / "fifo.pem"
    os.mkfifo(fifo)
    proc = run(
        "attest", "--transport", "emu-mctp", "--port", dev.port,
        "--trust-anchor", str(fifo), "--deadline", "2", timeout=20,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "is not a regular file" in proc.stderr
    assert dev.server.connections == 0


def test_oversized_trust_anchor_is_refused(tmp_path):
    """A trust anchor file over 1 MiB is refused before it is read whole."""
    big = tmp_path / "big.pem"
    with big.open("wb") as f:
        f.truncate((1 << 20) + 1)
    proc = run("attest", "--transport", "tcp", "--trust-anchor", str(big))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "more than the 1048576" in proc.stderr


def test_trust_anchor_directory_skips_fifos(tmp_path, device):
    """A directory of anchors holding a FIFO besides the root still works."""
    dev = device()
    anchors = tmp_path / "anchors"
    anchors.mkdir()
    (anchors / "root.der").write_bytes(dev.anchor.read_bytes())
    os.mkfifo(anchors / "pipe.pem")
    proc = run(
        "attest", "--transport", "emu-mctp", "--port", dev.port,
        "--trust-anchor", str(anchors), timeout=30,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_unwritable_save_chain_refused_before_traffic(tmp_path, device):
    """--save-chain into a missing directory: exit 2, the device is never
    contacted, and no file is left behind."""
    dev = device()
    target = tmp_path / "missing" / "chain.pem"
    proc = attest(dev, "--save-chain", str(target))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"cannot write --save-chain {target}" in proc.stderr
    assert dev.server.connections == 0
    unused = tmp_path / "unused.pem"
    silent = device("silent")
    proc = attest(silent, "--save-chain", str(unused), "--deadline", "2")
    assert proc.returncode == 3
    assert not unused.exists()


def test_save_chain_write_failure_after_success_is_not_exit_0(device):
    """The chain cannot be written although the path looked writable
    (/dev/full): the device verified, but the exit status is 2."""
    dev = device()
    proc = attest(dev, "--save-chain", "/dev/full")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "cannot write /dev/full" in proc.stderr
    assert proc.stdout.startswith("Success")


def test_json_to_a_full_disk(device):
    """stdout on /dev/full: a one-line message and exit 2, no traceback."""
    dev = device()
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    with open("/dev/full", "w") as full:
        proc = subprocess.run(
            [str(SPDMTOOL), "measurements", "--transport", "emu-mctp",
             "--port", dev.port, "--trust-anchor", str(dev.anchor), "--json"],
            stdout=full, stderr=subprocess.PIPE, text=True, timeout=60, env=env,
            check=False,
        )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr == "spdmtool: cannot write the output: No space left on device\n"


def _closed_pipe_run(*args: str) -> subprocess.CompletedProcess[str]:
    """Run spdmtool with stdout a pipe whose reader is already gone, as
    `| head -2` is once head has its lines."""
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(
            [str(SPDMTOOL), *args], stdout=write_end, stderr=subprocess.PIPE,
            text=True, timeout=60, env=env, check=False,
        )  # fmt: skip
    finally:
        os.close(write_end)


def test_closed_pipe_exits_quietly(device):
    """A reader that went away (EPIPE): no message, no traceback, exit 141
    as a shell reports a command ended by SIGPIPE."""
    dev = device()
    proc = _closed_pipe_run(
        "measurements", "--transport", "emu-mctp", "--port", dev.port,
        "--trust-anchor", str(dev.anchor), "-v",
    )  # fmt: skip
    assert (proc.returncode, proc.stderr) == (141, "")
    proc = _closed_pipe_run("--help")
    assert (proc.returncode, proc.stderr) == (141, "")


def test_closed_stdout_is_no_traceback():
    """Started with stdout closed (`>&-`): no traceback, the usual status."""
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    proc = subprocess.run(
        ["sh", "-c", f'"{SPDMTOOL}" --help >&-'],
        capture_output=True, text=True, timeout=60, env=env, check=False,
    )  # fmt: skip
    assert proc.returncode == 0
    assert "Traceback" not in proc.stderr


def test_device_line_names_the_default_port(tmp_path):
    """A failed connection without --port names the port that was tried."""
    from spdmd.responder.pki import generate_pki

    anchor = generate_pki(AsymAlgo.ECDSA_P256).write_root(tmp_path / "root.pem")
    proc = run(
        "attest", "--transport", "tcp", "--host", "127.0.0.2",
        "--trust-anchor", str(anchor), "--deadline", "3",
    )  # fmt: skip
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "  device: tcp 127.0.0.2:4194" in proc.stdout.splitlines()


def test_hash_spellings(device):
    """--hash takes the short names in any case, with - or _, and the
    DSP0274 names; an unknown one is a usage error."""
    dev = device()
    for spelling in ("SHA_384", "sha-384", "sha_384", "TPM_ALG_SHA_384"):
        proc = attest(dev, "--hash", spelling)
        assert proc.returncode == 0, (spelling, proc.stdout + proc.stderr)
    proc = attest(dev, "--hash", "sha384x")
    assert proc.returncode == 2 and "unknown hash algorithm" in proc.stderr
