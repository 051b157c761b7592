"""The socket options the stream transports (tcp, emu-*) set, on real
loopback sockets, against a peer that writes like spdm_responder_emu.

The user-visible effect (about 40 ms less per SPDM message against DMTF's
responder) is a timing and is measured by scripts/bench-attest
(docs/benchmarks.md); here we check the cause: our end ACKs at once after
each receive instead of waiting for the delayed-ACK timer, and sends
without Nagle.
"""

from __future__ import annotations

import socket
import struct

import pytest
from tests.transport.peers import ScriptedPeer, recv_exact

from spdmd.transport import emu, tcp
from spdmd.transport.base import open_transport

GET_VERSION = bytes.fromhex("10840000")
VERSION = bytes.fromhex("100400000002001000120013")
EXCHANGES = 4


def piecemeal_emu(conn: socket.socket) -> None:
    """spdm-emu framing, each header field and the payload in its own send(),
    Nagle left on, as spdm_responder_emu writes them."""
    for _ in range(EXCHANGES):
        _command, mode, size = struct.unpack(">III", recv_exact(conn, 12))
        recv_exact(conn, size)
        payload = emu.wrap_spdm(emu.PayloadMode(mode), VERSION)
        for field in (1, mode, len(payload)):
            conn.send(struct.pack(">I", field))
        conn.send(payload)


def piecemeal_tcp(conn: socket.socket) -> None:
    """DSP0287: the binding header and the SPDM message in two send() calls."""
    for _ in range(EXCHANGES):
        length, _binding, _type = struct.unpack("<HBB", recv_exact(conn, 4))
        recv_exact(conn, length - 2)
        conn.send(tcp.encode_frame(VERSION)[:4])
        conn.send(VERSION)


def whole_tcp(conn: socket.socket) -> None:
    """DSP0287, each response in one send()."""
    for _ in range(EXCHANGES):
        length, _binding, _type = struct.unpack("<HBB", recv_exact(conn, 4))
        recv_exact(conn, length - 2)
        conn.sendall(tcp.encode_frame(VERSION))


def stream_socket(transport: object) -> socket.socket:
    # The stream transports keep their socket in the private
    # StreamConnection; the options live on that socket.
    sock = transport._conn._sock  # type: ignore[attr-defined]
    assert sock is not None
    return sock


@pytest.mark.parametrize(
    "kind, script",
    [
        pytest.param("emu-mctp", piecemeal_emu, id="emu-mctp"),
        pytest.param("emu-none", piecemeal_emu, id="emu-none"),
        pytest.param("tcp", piecemeal_tcp, id="tcp"),
        pytest.param("tcp", whole_tcp, id="tcp-whole-frames"),
    ],
)
def test_nodelay_and_quick_ack_after_every_receive(kind: str, script) -> None:
    """Request after request, the connection sends without Nagle and is in
    quick-ACK mode once a response has been read, so a peer that writes a
    frame in pieces is not held up by our delayed ACK."""
    if getattr(socket, "TCP_QUICKACK", None) is None:
        pytest.skip("this platform has no TCP_QUICKACK (Linux only)")
    peer = ScriptedPeer(script)
    transport = open_transport(kind, port=peer.port)
    try:
        sock = stream_socket(transport)
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        quick = []
        for _ in range(EXCHANGES):
            assert transport.exchange(GET_VERSION, 2.0) == VERSION
            quick.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK))
        # Without setting it again after each receive, Linux is back in
        # delayed-ACK ("pingpong") mode from the second exchange on.
        assert quick == [1] * EXCHANGES
    finally:
        transport.close()
        peer.close()
