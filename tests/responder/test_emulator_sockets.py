"""The requester against the emulator's servers over real loopback sockets:
each framing and payload mode, every version, a signing algorithm of each
family, faults that depend on real timing, and many devices at once."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from tests.responder.harness import (
    MEASUREMENT_INDICES,
    VERSIONS,
    emulator_config,
    requester_config,
    vid,
)

from spdmd.attest import attest, get_signed_measurements
from spdmd.responder.responder import Responder
from spdmd.responder.server import ResponderServer, start_servers, stop_servers
from spdmd.spdm.constants import AsymAlgo, HashAlgo
from spdmd.transport import emu
from spdmd.transport.base import open_transport

KINDS = {"tcp": "tcp", "emu-mctp": "emu", "emu-tcp": "emu", "emu-none": "emu"}
PAIRS = [
    pytest.param(
        int(AsymAlgo.ECDSA_P384), int(HashAlgo.SHA_384), id="ECDSA_P384-SHA_384"
    ),
    pytest.param(
        int(AsymAlgo.RSAPSS_2048), int(HashAlgo.SHA_256), id="RSAPSS_2048-SHA_256"
    ),
    pytest.param(
        int(AsymAlgo.RSASSA_3072), int(HashAlgo.SHA3_384), id="RSASSA_3072-SHA3_384"
    ),
    pytest.param(int(AsymAlgo.ED25519), int(HashAlgo.SHA_512), id="ED25519-SHA_512"),
]


def serve(
    faults=(),
    asym=int(AsymAlgo.ECDSA_P384),
    hash_algo=int(HashAlgo.SHA_384),
    framing="tcp",
):
    config = emulator_config(asym, hash_algo, tuple(faults))
    return ResponderServer(Responder(config), framing=framing).start()


# EdDSA exists from SPDM 1.2 on; its absence before is covered in the matrix.
SOCKET_CASES = [
    pytest.param(kind, v, *pair.values, id=f"{kind}-{vid(v)}-{pair.id}")
    for kind in KINDS
    for v in VERSIONS
    for pair in PAIRS
    if not (pair.values[0] == AsymAlgo.ED25519 and v < 0x12)
]


@pytest.mark.parametrize("kind, version, asym, hash_algo", SOCKET_CASES)
def test_attest_and_measure_over_each_framing(kind, version, asym, hash_algo):
    server = serve(asym=asym, hash_algo=hash_algo, framing=KINDS[kind])
    try:
        config = requester_config(version, asym, hash_algo)
        transport = open_transport(kind, port=server.port)
        try:
            result = attest(transport, config)
            assert (result.status, result.step) == ("Success", None), result.reason
            assert result.version == version
            measured = get_signed_measurements(transport, config)
            assert (measured.status, measured.step) == ("Success", None), (
                measured.reason
            )
            assert [b.index for b in measured.blocks] == MEASUREMENT_INDICES
        finally:
            transport.close()
    finally:
        server.stop()


@pytest.mark.parametrize(
    "faults, step",
    [
        pytest.param(("wrong_key",), "CHALLENGE", id="wrong_key"),
        pytest.param(("untrusted_root",), "CERTIFICATE_CHAIN", id="untrusted_root"),
        pytest.param(("silent",), "GET_VERSION", id="silent"),
        pytest.param(("slow=1.5@CHALLENGE",), "CHALLENGE", id="slow-challenge"),
        pytest.param(
            ("truncate=3@GET_CERTIFICATE",),
            "GET_CERTIFICATE",
            id="truncated-certificate",
        ),
    ],
)
@pytest.mark.parametrize("kind", ["tcp", "emu-mctp"])
def test_faults_over_sockets(kind, faults, step):
    server = serve(faults, framing=KINDS[kind])
    try:
        transport = open_transport(kind, port=server.port)
        result = attest(transport, requester_config(round_trip=0.2, deadline=5.0))
        transport.close()
        assert (result.status, result.step) == ("Failed", step), result.reason
    finally:
        server.stop()


def test_silent_device_fails_within_its_deadline_over_tcp():
    """No attestation can hang: the wall clock passes the deadline by at
    most one poll of the transport."""
    server = serve(("silent",))
    try:
        transport = open_transport("tcp", port=server.port)
        start = time.monotonic()
        result = attest(transport, requester_config(round_trip=5.0, deadline=0.5))
        elapsed = time.monotonic() - start
        transport.close()
    finally:
        server.stop()
    assert (result.status, result.step) == ("Failed", "DEADLINE")
    assert elapsed < 5.0


def test_server_survives_abrupt_disconnects_and_continue():
    """A client that vanishes mid-exchange, one that says CONTINUE, and one
    that never says anything: the next client is still served."""
    server = serve(framing="emu")
    try:
        raw = socket.create_connection(("127.0.0.1", server.port))
        raw.sendall(
            emu.encode_message(emu.Command.NORMAL, emu.PayloadMode.MCTP, b"\x05\x10")
        )
        raw.close()
        socket.create_connection(("127.0.0.1", server.port)).close()
        first = open_transport("emu-mctp", port=server.port)
        assert attest(first, requester_config()).ok
        first.close()
        second = open_transport("emu-tcp", port=server.port)
        assert attest(second, requester_config()).ok
        second.close()
        assert server.connections == 4
    finally:
        server.stop()


def test_shutdown_stops_a_server_that_honours_it():
    config = emulator_config()
    server = ResponderServer(
        Responder(config), framing="emu", exit_on_shutdown=True
    ).start()
    transport = open_transport("emu-none", port=server.port)
    transport.shutdown()
    assert server.wait(5)
    server.stop()


def test_payload_mode_restriction_refuses_other_modes():
    config = emulator_config()
    server = ResponderServer(
        Responder(config), framing="emu", payload_mode=emu.PayloadMode.MCTP
    ).start()
    try:
        transport = open_transport("emu-tcp", port=server.port)
        result = attest(transport, requester_config())
        assert (result.status, result.step, result.unreachable) == (
            "Failed",
            "TRANSPORT",
            True,
        )
        transport.close()
    finally:
        server.stop()


def test_many_devices_from_one_process_attested_concurrently():
    """Sixteen emulated devices on their own ports, one thread each, with a
    silent one among them that does not hold up the others."""
    good = emulator_config()
    silent = emulator_config(faults=("silent",))
    responders = [Responder(silent if i == 5 else good) for i in range(16)]
    servers = start_servers(responders, framing="tcp")
    results: dict[int, str] = {}

    def run(i, port):
        transport = open_transport("tcp", port=port)
        results[i] = attest(transport, requester_config(deadline=3.0)).status
        transport.close()

    try:
        threads = [
            threading.Thread(target=run, args=(i, s.port))
            for i, s in enumerate(servers)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    finally:
        stop_servers(servers)
    assert len({s.port for s in servers}) == 16
    assert results[5] == "Failed"
    assert [results[i] for i in range(16) if i != 5] == ["Success"] * 15
