"""SPDM over the real Linux AF_MCTP stack, inside the VM.

Every test here goes through the guest kernel's MCTP code: sockets, routes,
tags, fragmentation to the link MTU and reassembly. The endpoints on the far
side are ours (tests/mctp_vm/endpoint.py) so that they can misbehave to order.
"""

from __future__ import annotations

import ctypes
import json
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from tests.mctp_vm.mctp import ControlCommand, ControlRequest, ControlResponse

from spdmd.attest import RequesterConfig, attest, get_signed_measurements
from spdmd.errors import TransportTimeout
from spdmd.spdm.certs import TrustStore
from spdmd.transport import mctp as af_mctp

if TYPE_CHECKING:
    from conftest import SerialBus, TunBus

# A silent endpoint must be reported Failed within this many seconds.
SILENT_DEADLINE = 20.0


def run_spdmtool(
    tool: list[str], eid: int, anchor: Path, *extra: str, timeout: float = 120
) -> tuple[int, dict[str, object], float]:
    started = time.monotonic()
    proc = subprocess.run(
        [*tool, "attest", "--transport", "mctp", "--eid", str(eid)]
        + ["--trust-anchor", str(anchor), "--json", *extra],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    elapsed = time.monotonic() - started
    assert proc.stdout, f"spdmtool printed nothing; stderr: {proc.stderr}"
    result = json.loads(proc.stdout)
    print(f"spdmtool eid {eid}: exit {proc.returncode} {result} in {elapsed:.1f} s")
    return proc.returncode, result, elapsed


def config(anchor: Path, **kwargs: object) -> RequesterConfig:
    return RequesterConfig(trust=TrustStore.from_paths([anchor]), **kwargs)  # type: ignore[arg-type]


# -- spdmtool attest --transport mctp ----------------------------------------


def test_loopback_attest_success(spdmtool: list[str], loopback: Path) -> None:
    """spdmtool reaches a responder bound to type 5 through the local EID on lo."""
    rc, result, _ = run_spdmtool(spdmtool, 9, loopback)
    assert (rc, result["status"]) == (0, "Success")


def test_tun_attest_success_with_fragmented_chain(
    spdmtool: list[str], tun_bus: TunBus
) -> None:
    """spdmtool attests an endpoint behind TUN; the certificate chain crosses 68-byte packets."""
    ep = tun_bus.ep(20)
    rc, result, _ = run_spdmtool(spdmtool, 20, tun_bus.trust_anchor)
    assert (rc, result["status"]) == (0, "Success")
    assert result["version"] == "1.3"
    # A 1 KiB certificate portion in 64-byte payloads: the kernel reassembled
    # at least 16 packets into one message.
    assert max(ep.reply_packets) >= 16


@pytest.mark.parametrize(
    ("eid", "step"),
    [
        pytest.param(21, "CHALLENGE", id="wrong-key"),
        pytest.param(22, "CERTIFICATE_CHAIN", id="untrusted-root"),
    ],
)
def test_tun_attest_faulty_endpoint_fails(
    spdmtool: list[str], tun_bus: TunBus, eid: int, step: str
) -> None:
    """A misbehaving endpoint behind TUN is Failed at the step that caught it."""
    rc, result, _ = run_spdmtool(spdmtool, eid, tun_bus.trust_anchor)
    assert (rc, result["status"], result["step"]) == (1, "Failed", step)


def test_tun_silent_endpoint_fails_within_deadline(
    spdmtool: list[str], tun_bus: TunBus
) -> None:
    """A silent endpoint behind TUN is reported Failed (unreachable) before its deadline."""
    started = time.monotonic()
    rc, result, _ = run_spdmtool(
        spdmtool, 23, tun_bus.trust_anchor, "--deadline", str(SILENT_DEADLINE)
    )
    elapsed = time.monotonic() - started
    assert (rc, result["status"], result["step"]) == (3, "Failed", "GET_VERSION")
    assert "no response" in str(result["reason"])
    # Even counting the tool's start-up it gave up inside the deadline: the
    # GET_VERSION timeout ended it, not the deadline.
    assert elapsed < SILENT_DEADLINE
    assert tun_bus.ep(23).unanswered >= 1


def test_serial_attest_success(spdmtool: list[str], serial_bus: SerialBus) -> None:
    """spdmtool attests a host-side endpoint over mctp-serial (DSP0253 on ttyS1, network 2)."""
    rc, result, _ = run_spdmtool(
        spdmtool, serial_bus.good, serial_bus.trust_anchor, "--net", str(serial_bus.net)
    )
    assert (rc, result["status"]) == (0, "Success")


def test_serial_endpoint_is_not_on_the_default_network(
    spdmtool: list[str], serial_bus: SerialBus
) -> None:
    """Without --net the serial endpoint (network 2) is unreachable: Failed, exit 3."""
    rc, result, _ = run_spdmtool(spdmtool, serial_bus.good, serial_bus.trust_anchor)
    assert (rc, result["status"]) == (3, "Failed")
    assert "route" in str(result["reason"]), result["reason"]


def test_serial_silent_endpoint_fails_within_deadline(
    spdmtool: list[str], serial_bus: SerialBus
) -> None:
    """A silent endpoint over mctp-serial is reported Failed before its deadline."""
    rc, result, elapsed = run_spdmtool(
        spdmtool,
        serial_bus.silent,
        serial_bus.trust_anchor,
        "--net",
        str(serial_bus.net),
        "--deadline",
        str(SILENT_DEADLINE),
    )
    assert (rc, result["status"], result["step"]) == (3, "Failed", "GET_VERSION")
    assert elapsed < SILENT_DEADLINE


# -- many endpoints, one process ------------------------------------------------


def test_concurrent_attestation_with_a_silent_endpoint(tun_bus: TunBus) -> None:
    """Four endpoints attested at once from one process: no EADDRINUSE, the
    silent one times out while the others complete."""
    results: dict[int, object] = {}
    finished: dict[int, float] = {}
    started = time.monotonic()

    def one(eid: int) -> None:
        transport = af_mctp.MctpTransport(eid=eid)
        try:
            results[eid] = attest(
                transport, config(tun_bus.trust_anchor, deadline=20.0)
            )
        finally:
            transport.close()
            finished[eid] = time.monotonic() - started

    threads = [threading.Thread(target=one, args=(eid,)) for eid in (20, 23, 27, 28)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for eid in (20, 27, 28):
        r = results[eid]
        assert r.status == "Success", (eid, r.step, r.reason)  # type: ignore[attr-defined]
    silent = results[23]
    assert (silent.status, silent.step) == ("Failed", "GET_VERSION")  # type: ignore[attr-defined]
    assert silent.unreachable  # type: ignore[attr-defined]
    assert finished[23] < 20.0
    print("finished after (s):", {eid: round(t, 1) for eid, t in finished.items()})


def test_signed_measurements_cross_fragmentation(tun_bus: TunBus) -> None:
    """All measurement blocks, signed, in one reply reassembled from many packets."""
    ep = tun_bus.ep(27)
    transport = af_mctp.MctpTransport(eid=27)
    try:
        before = len(ep.reply_packets)
        result = get_signed_measurements(transport, config(tun_bus.trust_anchor))
    finally:
        transport.close()
    assert result.status == "Success", (result.step, result.reason)
    assert len(result.blocks) >= 8
    assert ep.reply_packets[-1] >= 8, ep.reply_packets[before:]


def test_large_request_is_fragmented_by_the_kernel(tun_bus: TunBus) -> None:
    """A 300-byte request leaves the kernel as five packets that the endpoint reassembles."""
    ep = tun_bus.ep(28)
    transport = af_mctp.MctpTransport(eid=28)
    try:
        # GET_VERSION with 296 bytes of padding: answered (VERSION or ERROR)
        # only if the endpoint put the five packets back together.
        response = transport.exchange(bytes.fromhex("10840000") + bytes(296), 5.0)
    finally:
        transport.close()
    assert response[1] in (0x04, 0x7F)
    # 1 type byte + 300 bytes in 64-byte payloads.
    assert ep.request_packets[-1] == 5


# -- replies the kernel or the transport must not deliver -------------------------


def test_duplicated_replies_fail_closed(tun_bus: TunBus) -> None:
    """An endpoint that repeats its previous reply before each new one is Failed, never Success.

    Linux hands out the lowest free tag, so the next request reuses the tag
    of the one just answered and the kernel delivers the duplicate as its
    reply; the requester must reject it rather than build on it.
    """
    transport = af_mctp.MctpTransport(eid=24)
    try:
        result = attest(transport, config(tun_bus.trust_anchor))
    finally:
        transport.close()
    assert (result.status, result.step) == ("Failed", "GET_CAPABILITIES")
    assert "version" in result.reason or "response" in result.reason, result.reason


def test_mismatched_replies_ignored(tun_bus: TunBus) -> None:
    """Replies with a wrong tag or from a wrong source EID never reach the requester."""
    transport = af_mctp.MctpTransport(eid=25)
    try:
        result = attest(transport, config(tun_bus.trust_anchor))
    finally:
        transport.close()
    assert result.status == "Success", (result.step, result.reason)
    assert transport.discarded == 0


@pytest.mark.parametrize("tag_mode", ["kernel", "prealloc"])
def test_late_reply_after_timeout_is_not_taken_for_the_next(
    tun_bus: TunBus, tag_mode: str
) -> None:
    """A reply that arrives after its request timed out is not mistaken for the next reply."""
    ep = tun_bus.ep(26)
    transport = af_mctp.MctpTransport(eid=26, tag_mode=tag_mode)
    try:
        ep.hold_next = True
        with pytest.raises(TransportTimeout):
            transport.exchange(bytes.fromhex("10840000"), 0.5)  # GET_VERSION
        # GET_CAPABILITIES 1.0; the held VERSION reply is released first.
        response = transport.exchange(bytes.fromhex("10e10000"), 5.0)
    finally:
        transport.close()
    assert response[1] == 0x61  # CAPABILITIES, not the late VERSION
    # Kernel tags: the abandoned tag's key was still alive (the kernel keeps
    # it about 6 s). Preallocated tags: the tag was dropped after the
    # timeout, but the next allocation got the same tag value back. Either
    # way the late reply reached the socket and the transport dropped it
    # by its response code.
    assert transport.discarded == 1


# -- MCTP control messages a bus owner sends --------------------------------------


def control(
    eid: int, command: int, data: bytes = b"", timeout: float = 5.0, net: int = 0
) -> ControlResponse:
    """One control request through an AF_MCTP socket of type 0, as mctpd sends it."""
    libc = af_mctp.load_libc()
    sock = af_mctp.open_mctp_socket()
    try:
        fd = sock.fileno()
        body = ControlRequest(1, command, data).encode()
        addr = af_mctp.MctpAddress(net, eid, 0, af_mctp.MCTP_TAG_OWNER).pack()
        assert libc.sendto(
            fd, body, len(body), 0, ctypes.pointer(addr), ctypes.sizeof(addr)
        ) == len(body)
        assert af_mctp.wait_readable(fd, timeout), f"no control response from EID {eid}"
        buf = ctypes.create_string_buffer(256)
        src = af_mctp.SockaddrMctp()
        srclen = ctypes.c_uint32(ctypes.sizeof(src))
        n = libc.recvfrom(fd, buf, 256, 0, ctypes.pointer(src), ctypes.pointer(srclen))
        assert n > 0
        assert (src.smctp_addr, src.smctp_type) == (eid, 0)
        return ControlResponse.decode(buf.raw[:n])
    finally:
        sock.close()


def test_control_messages_through_the_kernel(tun_bus: TunBus) -> None:
    """Get Endpoint ID, Message Type Support, MCTP Version and Set Endpoint ID over TUN."""
    r = control(20, ControlCommand.GET_ENDPOINT_ID)
    assert (r.completion, r.data[0]) == (0, 20)
    r = control(20, ControlCommand.GET_MESSAGE_TYPE_SUPPORT)
    assert (r.completion, r.data) == (0, b"\x01\x05")
    r = control(20, ControlCommand.GET_MCTP_VERSION_SUPPORT, b"\xff")
    assert (r.completion, r.data) == (0, b"\x01\xf1\xf3\xf1\x00")
    r = control(20, ControlCommand.SET_ENDPOINT_ID, b"\x00\x14")
    assert (r.completion, r.data[1]) == (0, 20)


def test_silent_endpoint_ignores_control_too(tun_bus: TunBus) -> None:
    """The silent endpoint does not answer Get Endpoint ID either."""
    with pytest.raises(AssertionError, match="no control response"):
        control(23, ControlCommand.GET_ENDPOINT_ID, timeout=0.5)


def test_control_message_over_serial(serial_bus: SerialBus) -> None:
    """Get Endpoint ID of the host-side endpoint over mctp-serial, network 2."""
    r = control(serial_bus.good, ControlCommand.GET_ENDPOINT_ID, net=serial_bus.net)
    assert (r.completion, r.data[0]) == (0, serial_bus.good)


# -- the daemon ------------------------------------------------------------------


def test_daemon_discovers_through_mctpd_and_attests_over_the_kernel(
    tun_bus: TunBus, tmp_path: Path
) -> None:
    """spdmd on a private bus finds four endpoints through the mctpd stand-in
    and attests each over AF_MCTP: good ones Success, faulty and silent Failed."""
    if shutil.which("dbus-daemon") is None:
        pytest.skip("dbus-daemon is not installed (Debian package dbus-daemon)")
    from tests.env.harness import Environment, spdmd_executable

    if shutil.which(spdmd_executable()) is None:
        pytest.skip("the spdmd console script is not installed (run scripts/setup)")
    env = Environment(tmp_path / "bmc")
    try:
        # The daemon trusts exactly the root of the TUN endpoints' chains.
        for old in env.trust_dir.iterdir():
            old.unlink()
        (env.trust_dir / "root.der").write_bytes(tun_bus.trust_anchor.read_bytes())
        before = {e: len(tun_bus.ep(e).request_packets) for e in (20, 21, 23, 27)}
        env.start_mapper()
        env.start_mctpd(
            [{"net": 1, "eid": e, "types": [0, 5]} for e in (20, 21, 23, 27)]
        )
        # An empty SPDMD_TEST_MCTP_MAP turns the test hook off: real AF_MCTP.
        daemon = env.start_daemon(extra_env={"SPDMD_TEST_MCTP_MAP": ""}, wait=False)
        # Python start-up under TCG is many times slower than on the host.
        print(f"spdmd owned its name after {daemon.wait_owned(timeout=90):.1f} s")
        seen = {}
        for eid in (20, 21, 23, 27):
            seen[eid] = env.wait_status(f"mctp_1_{eid}", timeout=90)
        summary = {eid: st["status"] for eid, st in seen.items()}
        print("daemon verdicts:", summary)
        assert summary == {20: "Success", 21: "Failed", 23: "Failed", 27: "Success"}
        # Every verdict came over the kernel: each endpoint saw new requests.
        for eid, count in before.items():
            assert len(tun_bus.ep(eid).request_packets) > count, eid
    finally:
        if env.daemon is not None:
            print(f"--- spdmd log ---\n{env.daemon.log()}")
        env.close()
