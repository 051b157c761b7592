"""SPDM over TCP (DSP0287) against real loopback sockets."""

from __future__ import annotations

import socket
import struct
import time

import pytest
from tests.transport.peers import ScriptedPeer, recv_exact

from spdmd.errors import TransportError, TransportTimeout, UsageError
from spdmd.transport import tcp
from spdmd.transport.base import open_transport

GET_VERSION = bytes.fromhex("10840000")
VERSION = bytes.fromhex("100400000002001000120013")


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


def read_frame(conn: socket.socket) -> tuple[bytes, bytes]:
    header = recv_exact(conn, 4)
    length = struct.unpack("<H", header[:2])[0]
    return header, recv_exact(conn, length - 2)


@pytest.mark.parametrize(
    "message, frame",
    [
        pytest.param(
            GET_VERSION, bytes.fromhex("0600 01 05 10840000"), id="get-version"
        ),
        pytest.param(b"", bytes.fromhex("0200 01 05"), id="empty"),
        pytest.param(
            bytes(300), bytes.fromhex("2e01 01 05") + bytes(300), id="300-bytes"
        ),
    ],
)
def test_frame_golden_both_ways(message, frame):
    assert tcp.encode_frame(message) == frame
    assert tcp.parse_header(frame[:4]) == (len(message), 0x05)


def test_exchange_sends_a_dsp0287_frame_and_returns_the_bare_reply(peer_factory):
    seen = []

    def script(conn):
        seen.append(read_frame(conn))
        conn.sendall(tcp.encode_frame(VERSION))

    peer = peer_factory(script)
    transport = open_transport("tcp", port=peer.port)
    assert transport.name == f"tcp 127.0.0.1:{peer.port}"
    assert transport.exchange(GET_VERSION, 2.0) == VERSION
    transport.close()
    assert seen == [(bytes.fromhex("06000105"), GET_VERSION)]


def test_reply_arriving_byte_by_byte_is_reassembled(peer_factory):
    def script(conn):
        read_frame(conn)
        for byte in tcp.encode_frame(VERSION):
            conn.sendall(bytes([byte]))
            time.sleep(0.002)

    peer = peer_factory(script)
    transport = open_transport("tcp", port=peer.port)
    assert transport.exchange(GET_VERSION, 2.0) == VERSION
    transport.close()


@pytest.mark.parametrize("message_type", sorted(tcp.BINDING_ERRORS))
def test_binding_error_messages_raise_transport_error_with_text(
    peer_factory, message_type
):
    def script(conn):
        read_frame(conn)
        conn.sendall(struct.pack("<HBB", 2, 1, message_type))

    peer = peer_factory(script)
    transport = open_transport("tcp", port=peer.port)
    with pytest.raises(TransportError, match=tcp.BINDING_ERRORS[message_type]):
        transport.exchange(GET_VERSION, 2.0)
    transport.close()


@pytest.mark.parametrize(
    "header, text",
    [
        pytest.param(
            bytes.fromhex("06000205"), "binding version 0x02", id="binding-version"
        ),
        pytest.param(
            bytes.fromhex("01000105"), "below the minimum of 2", id="short-length"
        ),
        pytest.param(bytes.fromhex("06000106"), "message type 0x06", id="secured-type"),
    ],
)
def test_bad_headers_are_rejected(peer_factory, header, text):
    def script(conn):
        read_frame(conn)
        conn.sendall(header + bytes(4))

    peer = peer_factory(script)
    transport = open_transport("tcp", port=peer.port)
    with pytest.raises(TransportError, match=text):
        transport.exchange(GET_VERSION, 2.0)
    transport.close()


def test_announced_length_above_the_limit_is_rejected(peer_factory):
    def script(conn):
        read_frame(conn)
        conn.sendall(struct.pack("<HBB", 5000, 1, 5))

    peer = peer_factory(script)
    transport = tcp.TcpTransport("127.0.0.1", peer.port, max_message_size=1024)
    with pytest.raises(
        TransportError, match="4998-byte message, above the limit of 1024"
    ):
        transport.exchange(GET_VERSION, 2.0)
    transport.close()


def test_silent_peer_times_out(peer_factory):
    def script(conn):
        read_frame(conn)
        time.sleep(1)

    peer = peer_factory(script)
    transport = open_transport("tcp", port=peer.port)
    with pytest.raises(TransportTimeout, match="no response"):
        transport.exchange(GET_VERSION, 0.2)
    transport.close()


def test_half_a_frame_then_silence_times_out(peer_factory):
    def script(conn):
        read_frame(conn)
        conn.sendall(tcp.encode_frame(VERSION)[:6])
        time.sleep(1)

    peer = peer_factory(script)
    transport = open_transport("tcp", port=peer.port)
    with pytest.raises(TransportTimeout):
        transport.exchange(GET_VERSION, 0.2)
    transport.close()


def test_after_a_timeout_the_late_reply_is_not_taken_for_the_next(peer_factory):
    """The stream is dropped after a timeout and a fresh connection carries
    the next request, so the first request's late reply is never read."""
    late = bytes.fromhex("10040000")

    def script(conn):
        _header, body = read_frame(conn)
        if body == GET_VERSION and peer.connections == 1:
            time.sleep(0.4)
            conn.sendall(tcp.encode_frame(late))
            time.sleep(0.2)
            return
        conn.sendall(tcp.encode_frame(VERSION))

    peer = peer_factory(script)
    transport = open_transport("tcp", port=peer.port)
    with pytest.raises(TransportTimeout):
        transport.exchange(GET_VERSION, 0.2)
    assert transport.exchange(GET_VERSION, 3.0) == VERSION
    assert peer.connections == 2
    transport.close()


def test_peer_closing_is_a_transport_error(peer_factory):
    peer = peer_factory(lambda conn: read_frame(conn))
    transport = open_transport("tcp", port=peer.port)
    with pytest.raises(TransportError, match="closed the connection"):
        transport.exchange(GET_VERSION, 2.0)


def test_refused_connection_is_a_transport_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(TransportError, match=f"cannot connect to 127.0.0.1:{port}"):
        open_transport("tcp", port=port)


def test_message_too_large_for_a_frame_is_a_usage_error():
    with pytest.raises(UsageError, match="does not fit a DSP0287 frame"):
        tcp.encode_frame(bytes(tcp.MAX_SPDM_SIZE + 1))
