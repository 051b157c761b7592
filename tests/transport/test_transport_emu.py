"""The spdm-emu socket framing in all three payload modes, real sockets."""

from __future__ import annotations

import struct
import time

import pytest
from tests.transport.peers import ScriptedPeer, recv_exact

from spdmd.errors import TransportError, TransportTimeout
from spdmd.transport import emu
from spdmd.transport.base import open_transport

GET_VERSION = bytes.fromhex("10840000")
VERSION = bytes.fromhex("100400000002001000120013")


def read_message(conn):
    command, mode, size = struct.unpack(">III", recv_exact(conn, 12))
    return command, mode, recv_exact(conn, size) if size else b""


@pytest.fixture
def peer_factory():
    peers = []

    def make(script):
        peer = ScriptedPeer(script)
        peers.append(peer)
        return peer

    yield make
    for peer in peers:
        peer.close()


@pytest.mark.parametrize(
    "kind, mode, payload",
    [
        pytest.param("emu-none", 0, GET_VERSION, id="none"),
        pytest.param("emu-mctp", 1, b"\x05" + GET_VERSION, id="mctp"),
        pytest.param("emu-tcp", 3, bytes.fromhex("06000105") + GET_VERSION, id="tcp"),
    ],
)
def test_payload_modes_on_the_wire_and_continue_on_close(
    peer_factory, kind, mode, payload
):
    """Each mode wraps the SPDM message as spdm-emu does, the reply is
    unwrapped, and close() says CONTINUE so the emulator keeps running."""
    seen = []

    def script(conn):
        seen.append(read_message(conn))
        conn.sendall(
            emu.encode_message(1, mode, emu.wrap_spdm(emu.PayloadMode(mode), VERSION))
        )
        seen.append(read_message(conn))
        conn.sendall(emu.encode_message(emu.Command.CONTINUE, mode))

    peer = peer_factory(script)
    transport = open_transport(kind, port=peer.port)
    assert transport.exchange(GET_VERSION, 2.0) == VERSION
    transport.close()
    assert seen == [(1, mode, payload), (0xFFFD, mode, b"")]


def test_header_golden():
    assert emu.encode_message(
        emu.Command.NORMAL, emu.PayloadMode.MCTP, b"\x05\x10\x84\x00\x00"
    ) == (bytes.fromhex("00000001 00000001 00000005 0510840000"))
    assert emu.parse_header(bytes.fromhex("0000fffd0000000300000000")) == (0xFFFD, 3, 0)


def test_close_returns_even_if_the_peer_ignores_continue(peer_factory):
    def script(conn):
        read_message(conn)
        conn.sendall(emu.encode_message(1, 0, VERSION))
        time.sleep(2)

    peer = peer_factory(script)
    transport = emu.EmuTransport(
        "127.0.0.1", peer.port, emu.PayloadMode.NONE, goodbye_timeout=0.1
    )
    transport.exchange(GET_VERSION, 2.0)
    start = time.monotonic()
    transport.close()
    assert time.monotonic() - start < 1.5


def test_shutdown_sends_shutdown(peer_factory):
    seen = []

    def script(conn):
        seen.append(read_message(conn))
        conn.sendall(emu.encode_message(emu.Command.SHUTDOWN, 1))

    peer = peer_factory(script)
    transport = open_transport("emu-mctp", port=peer.port)
    transport.shutdown()
    assert seen == [(0xFFFE, 1, b"")]


@pytest.mark.parametrize(
    "reply, text",
    [
        pytest.param(
            emu.encode_message(1, 1, b"\x06" + VERSION),
            "MCTP message type 0x06",
            id="mctp-type",
        ),
        pytest.param(emu.encode_message(1, 1, b""), None, id="empty-is-no-answer"),
        pytest.param(
            emu.encode_message(0xFFFE, 1, b""), "command 0xfffe", id="shutdown-instead"
        ),
        pytest.param(
            emu.encode_message(1, 3, b"\x05" + VERSION),
            "payload mode 3",
            id="mode-mismatch",
        ),
        pytest.param(
            struct.pack(">III", 1, 1, 0x7FFFFFFF), "above the limit", id="huge-size"
        ),
    ],
)
def test_bad_replies_are_rejected(peer_factory, reply, text):
    def script(conn):
        read_message(conn)
        conn.sendall(reply)
        time.sleep(0.5)

    peer = peer_factory(script)
    transport = open_transport("emu-mctp", port=peer.port)
    if text is None:
        with pytest.raises(TransportTimeout):
            transport.exchange(GET_VERSION, 0.2)
    else:
        with pytest.raises(TransportError, match=text):
            transport.exchange(GET_VERSION, 2.0)
    transport.close()


def test_tcp_mode_with_binding_error_inside(peer_factory):
    def script(conn):
        read_message(conn)
        conn.sendall(emu.encode_message(1, 3, struct.pack("<HBB", 2, 1, 0xC3)))

    peer = peer_factory(script)
    transport = open_transport("emu-tcp", port=peer.port)
    with pytest.raises(TransportError, match="cannot act as a responder"):
        transport.exchange(GET_VERSION, 2.0)
    transport.close()


def test_tcp_mode_frame_length_must_match_payload():
    with pytest.raises(TransportError, match="announcing 4 bytes with 2"):
        emu.unwrap_spdm(
            emu.PayloadMode.TCP, bytes.fromhex("06000105") + b"\x10\x04", "peer"
        )


def test_silent_emulator_times_out(peer_factory):
    def script(conn):
        read_message(conn)
        time.sleep(1)

    peer = peer_factory(script)
    transport = open_transport("emu-none", port=peer.port)
    with pytest.raises(TransportTimeout):
        transport.exchange(GET_VERSION, 0.2)
    transport.close()
