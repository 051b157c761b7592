"""`spdm-responder` as a user runs it: a child process, its trust anchor
file, faults from the command line, and its exit codes."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import pytest
from cryptography import x509
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


def config_for_trust(trust):
    return requester_config(
        asym=int(AsymAlgo.ECDSA_P256), hash_algo=int(HashAlgo.SHA_256), trust=trust
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
        pytest.param(["--port", "99999"], "out of range 0..65535", id="port-high"),
        pytest.param(["--port", "-1"], "out of range 0..65535", id="port-negative"),
        pytest.param(["--port", "x"], "port must be a number", id="port-text"),
        pytest.param(["--net", "-1"], "out of range 0..4294967295", id="net"),
        pytest.param(
            ["--fault", "error=999@CHALLENGE"],
            "fault error code 999 is out of range 0..255",
            id="error-code-high",
        ),
        pytest.param(
            ["--fault", "error=NOPE@CHALLENGE"],
            "neither an ERROR code name",
            id="error-code-name",
        ),
        pytest.param(["--fault", "slow=nan"], "fault slow must be", id="slow-nan"),
        pytest.param(["--fault", "slow=-1"], "fault slow must be", id="slow-negative"),
        pytest.param(["--fault", "slow=1e300"], "fault slow must be", id="slow-huge"),
        pytest.param(
            ["--fault", "oversize=99999999999@GET_MEASUREMENTS"],
            "more than 1048576 bytes",
            id="oversize-huge",
        ),
        pytest.param(
            ["--cert-chain", "/", "--key", "/"],
            "certificate chain / is not a regular file",
            id="chain-directory",
        ),
        pytest.param(["--host", ""], "--host must not be empty", id="empty-host"),
        pytest.param(
            ["--cert-chain", "/dev/zero", "--key", "/dev/zero"],
            "certificate chain /dev/zero is not a regular file",
            id="chain-device",
        ),
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


def test_chain_from_a_fifo_is_refused_at_once(tmp_path):
    """--cert-chain naming a FIFO exits 2 instead of blocking in the read."""
    fifo = tmp_path / "chain.pem"
    os.mkfifo(fifo)
    proc = subprocess.run(
        [*CLI, "--cert-chain", str(fifo), "--key", str(fifo)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 2
    assert f"certificate chain {fifo} is not a regular file" in proc.stderr


def test_oversize_beyond_the_frame_is_clipped_and_the_server_stays_up(child, tmp_path):
    """oversize=70000 on the spdm-emu TCP payload mode: the response is cut
    to a DSP0287 frame's maximum (the requester rejects it), the server
    stays up for the next client, and SIGTERM still ends it with 0."""
    root = tmp_path / "root.pem"
    device = child(
        "--asym",
        "ECDSA_P256",
        "--hash",
        "SHA_256",
        "--write-root",
        str(root),
        "--fault",
        "oversize=70000@GET_MEASUREMENTS",
    )
    transport = open_transport("emu-tcp", port=device.port)
    result = get_signed_measurements(transport, config_for(root))
    transport.close()
    assert (result.status, result.step) == ("Failed", "GET_MEASUREMENTS")
    assert "65533 bytes" in result.reason
    transport = open_transport("emu-tcp", port=device.port)
    assert attest(transport, config_for(root)).ok
    transport.close()
    assert device.stop() == 0


def test_connection_handler_error_closes_only_that_connection():
    """An exception escaping a connection handler is logged as a BUG and
    kept in .errors; the next client is served."""
    from spdmd.responder.responder import Responder, ResponderConfig
    from spdmd.responder.server import ResponderServer

    config = ResponderConfig.generate(
        asym_algos=int(AsymAlgo.ECDSA_P256), hash_algos=int(HashAlgo.SHA_256)
    )
    events: list[str] = []
    server = ResponderServer(Responder(config), framing="emu", on_event=events.append)
    real = server._serve_emu
    calls = []

    def handler(conn):
        calls.append(conn)
        if len(calls) == 1:
            raise RuntimeError("handler bug")
        return real(conn)

    server._serve_emu = handler
    root = config.slots[0][int(AsymAlgo.ECDSA_P256)].der_chain[0]
    trust = TrustStore.from_certificates([x509.load_der_x509_certificate(root)])
    with server:
        first = open_transport("emu-mctp", port=server.port)
        assert not attest(first, config_for_trust(trust)).ok
        first.close()
        second = open_transport("emu-mctp", port=server.port)
        result = attest(second, config_for_trust(trust))
        second.close()
    assert result.ok, result.reason
    assert [type(e) for e in server.errors] == [RuntimeError]
    assert any(e.startswith("BUG: connection handler raised") for e in events)


def test_server_thread_ending_on_an_error_is_not_exit_0():
    """If the serving thread ends without SHUTDOWN or a signal (here: its
    listening socket fails), the process exits 1 with a message."""
    script = (
        "import sys, spdmd.responder.server as s\n"
        "orig = s.ResponderServer.start\n"
        "def start(self):\n"
        "    self._listener.close()\n"
        "    return orig(self)\n"
        "s.ResponderServer.start = start\n"
        "from spdmd.responder.cli import main\n"
        "sys.exit(main(['--port', '0', '--asym', 'ECDSA_P256']))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "the server stopped on an error" in proc.stderr
