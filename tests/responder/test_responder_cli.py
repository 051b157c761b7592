"""`spdm-responder` as a user runs it: a child process, its trust anchor
file, faults from the command line, and its exit codes."""

from __future__ import annotations

import re
import signal
import subprocess
import sys

import pytest
from tests.responder.harness import requester_config

from spdmd.attest import attest, get_signed_measurements
from spdmd.responder import pki
from spdmd.spdm.certs import TrustStore
from spdmd.spdm.constants import AsymAlgo, HashAlgo
from spdmd.transport.base import open_transport

CLI = [sys.executable, "-m", "spdmd.responder.cli"]


class Child:
    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [*CLI, "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        line = self.proc.stdout.readline()
        match = re.fullmatch(r"listening on 127\.0\.0\.1:(\d+)\n", line)
        if match is None:
            self.proc.kill()
            raise AssertionError(
                f"unexpected first line {line!r}: {self.proc.stderr.read()}"
            )
        self.port = int(match.group(1))

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(10)
        finally:
            self.proc.stdout.close()
            self.proc.stderr.close()


@pytest.fixture
def child():
    children = []

    def start(*args):
        c = Child(*args)
        children.append(c)
        return c

    yield start
    for c in children:
        c.stop()


def config_for(root, **overrides):
    return requester_config(
        asym=int(AsymAlgo.ECDSA_P256),
        hash_algo=int(HashAlgo.SHA_256),
        trust=TrustStore.from_paths([root]),
        **overrides,
    )


def test_good_device_with_written_root_attests_and_stops_cleanly(child, tmp_path):
    """--write-root gives the anchor spdmtool needs; SIGTERM exits 0."""
    root = tmp_path / "root.pem"
    device = child(
        "--transport",
        "tcp",
        "--asym",
        "ECDSA_P256",
        "--hash",
        "SHA_256",
        "--write-root",
        str(root),
    )
    transport = open_transport("tcp", port=device.port)
    result = attest(transport, config_for(root))
    transport.close()
    assert (result.status, result.step) == ("Success", None), result.reason
    assert device.stop() == 0


def test_wrong_key_device_fails_challenge(child, tmp_path):
    root = tmp_path / "root.pem"
    device = child(
        "--asym",
        "ECDSA_P256",
        "--hash",
        "SHA_256",
        "--fault",
        "wrong_key",
        "--write-root",
        str(root),
    )
    transport = open_transport("emu-mctp", port=device.port)
    result = attest(transport, config_for(root))
    transport.close()
    assert (result.status, result.step) == ("Failed", "CHALLENGE")


def test_faults_comma_separated_and_measurements(child, tmp_path):
    root = tmp_path / "root.pem"
    device = child(
        "--asym",
        "ECDSA_P256",
        "--hash",
        "SHA_256",
        "--write-root",
        str(root),
        "--fault",
        "busy=1@GET_DIGESTS,error=UNSPECIFIED@GET_MEASUREMENTS",
    )
    transport = open_transport("emu-none", port=device.port)
    assert attest(transport, config_for(root)).ok
    result = get_signed_measurements(transport, config_for(root))
    transport.close()
    assert (result.status, result.step) == ("Failed", "GET_MEASUREMENTS")


def test_loaded_chain_and_key_are_served(child, tmp_path):
    own = pki.generate_pki(
        AsymAlgo.ECDSA_P256, HashAlgo.SHA_256, name="customer device"
    )
    own.write_chain(tmp_path / "chain.pem")
    own.write_key(tmp_path / "key.pem")
    own.write_root(tmp_path / "root.pem")
    device = child(
        "--transport",
        "tcp",
        "--asym",
        "ECDSA_P256",
        "--hash",
        "SHA_256",
        "--cert-chain",
        str(tmp_path / "chain.pem"),
        "--key",
        str(tmp_path / "key.pem"),
    )
    transport = open_transport("tcp", port=device.port)
    result = attest(transport, config_for(tmp_path / "root.pem"))
    transport.close()
    assert result.ok, result.reason
    assert result.leaf_subject == own.leaf_cert.subject.rfc4514_string()


def test_shutdown_ends_the_process_with_status_0(child):
    device = child("--asym", "ECDSA_P256")
    transport = open_transport("emu-tcp", port=device.port)
    transport.shutdown()
    assert device.proc.wait(10) == 0


@pytest.mark.parametrize(
    "args, text",
    [
        pytest.param(["--fault", "bogus"], "unknown fault 'bogus'", id="bad-fault"),
        pytest.param(
            ["--versions", "1.7"], "unsupported SPDM version", id="bad-version"
        ),
        pytest.param(
            ["--asym", "DSA"], "unknown signing algorithm 'DSA'", id="bad-asym"
        ),
        pytest.param(["--slot-count", "9"], "out of range 1..8", id="bad-slots"),
        pytest.param(["--key", "/nonexistent"], "go together", id="key-without-chain"),
    ],
)
def test_usage_errors_exit_2(args, text):
    proc = subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 2
    assert text in proc.stderr


def test_port_in_use_exits_3():
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run(
            [*CLI, "--asym", "ECDSA_P256", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert proc.returncode == 3
    assert f"cannot listen on 127.0.0.1:{port}" in proc.stderr


def test_entry_point_is_declared():
    from importlib.metadata import entry_points

    names = {ep.name: ep.value for ep in entry_points(group="console_scripts")}
    assert names.get("spdm-responder") == "spdmd.responder.cli:main"


def test_mctp_without_kernel_support_exits_3():
    """On a kernel without AF_MCTP the emulator says so instead of hanging."""
    import socket

    try:
        socket.socket(45, socket.SOCK_DGRAM, 0).close()
    except OSError:
        pass
    else:
        pytest.skip("this kernel has AF_MCTP; tests/mctp_vm runs the MCTP responder")
    proc = subprocess.run(
        [*CLI, "--transport", "mctp", "--asym", "ECDSA_P256"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 3
    assert "CONFIG_MCTP" in proc.stderr
    assert "listening" not in proc.stdout


def test_unwritable_root_path_exits_2(tmp_path):
    proc = subprocess.run(
        [
            *CLI,
            "--asym",
            "ECDSA_P256",
            "--port",
            "0",
            "--write-root",
            str(tmp_path / "no" / "root.pem"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert "cannot write" in proc.stderr
