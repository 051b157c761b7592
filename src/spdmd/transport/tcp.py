"""SPDM over TCP (DMTF DSP0287).

Every message on the stream is preceded by a 4-byte binding header:
PayloadLength (2, little-endian, counts the two bytes after it plus the SPDM
message), BindingVersion (0x01) and MessageType (0x05 for SPDM; 0x06 secured,
0xBF role inquiry, 0xC0..0xC3 binding errors). The framing helpers are pure
functions so the emulator's servers and the spdm-emu "TCP" payload mode reuse
them.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable

from spdmd.errors import TransportError, UsageError
from spdmd.transport._stream import StreamConnection

__all__ = [
    "BINDING_ERRORS",
    "BINDING_VERSION",
    "HEADER_SIZE",
    "MAX_SPDM_SIZE",
    "MESSAGE_TYPE_SPDM",
    "TcpTransport",
    "encode_frame",
    "parse_header",
]

HEADER_SIZE = 4
BINDING_VERSION = 0x01
MESSAGE_TYPE_SPDM = 0x05
MESSAGE_TYPE_SECURED = 0x06
MESSAGE_TYPE_ROLE_INQUIRY = 0xBF
# DSP0287 binding error message types; the peer sends one instead of an
# SPDM message when it cannot take part in the exchange.
BINDING_ERRORS: dict[int, str] = {
    0xC0: "message too large for the peer",
    0xC1: "message type not supported by the peer",
    0xC2: "peer cannot act as a requester",
    0xC3: "peer cannot act as a responder",
}
# PayloadLength is 16 bits and includes BindingVersion and MessageType.
MAX_SPDM_SIZE = 0xFFFF - 2


def encode_frame(message: bytes, message_type: int = MESSAGE_TYPE_SPDM) -> bytes:
    """Prefix `message` with the DSP0287 binding header."""
    if len(message) > MAX_SPDM_SIZE:
        raise UsageError(
            f"SPDM message of {len(message)} bytes does not fit a DSP0287 frame (max {MAX_SPDM_SIZE})"
        )
    return (
        struct.pack("<HBB", len(message) + 2, BINDING_VERSION, message_type) + message
    )


def parse_header(header: bytes) -> tuple[int, int]:
    """Check a 4-byte binding header; return (SPDM length, message type).

    Raises TransportError for a wrong binding version or a length that
    cannot hold the two header bytes it counts.
    """
    if len(header) != HEADER_SIZE:
        raise TransportError(
            f"DSP0287 header is {len(header)} bytes, expected {HEADER_SIZE}"
        )
    length, version, message_type = struct.unpack("<HBB", header)
    if length < 2:
        raise TransportError(
            f"DSP0287 PayloadLength {length} is below the minimum of 2"
        )
    if version != BINDING_VERSION:
        raise TransportError(
            f"DSP0287 binding version 0x{version:02x}, expected 0x{BINDING_VERSION:02x}"
        )
    return length - 2, message_type


def check_message_type(message_type: int, where: str) -> None:
    """Raise TransportError unless the frame carries a plain SPDM message."""
    if message_type == MESSAGE_TYPE_SPDM:
        return
    if message_type in BINDING_ERRORS:
        raise TransportError(
            f"{where} sent DSP0287 error 0x{message_type:02x}: {BINDING_ERRORS[message_type]}"
        )
    raise TransportError(
        f"{where} sent DSP0287 message type 0x{message_type:02x}, expected 0x{MESSAGE_TYPE_SPDM:02x}"
    )


class TcpTransport:
    """One TCP connection to a responder speaking DSP0287."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        connect_timeout: float = 5.0,
        max_message_size: int = MAX_SPDM_SIZE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = f"tcp {host}:{port}"
        self.max_message_size = max_message_size
        self._clock = clock
        self._conn = StreamConnection(
            host, port, connect_timeout=connect_timeout, clock=clock
        )

    def exchange(self, request: bytes, timeout: float) -> bytes:
        frame = encode_frame(request)
        deadline = self._clock() + timeout
        self._conn.ensure_connected()
        self._conn.send(frame, deadline)
        length, message_type = parse_header_or_drop(self._conn, deadline)
        if length > self.max_message_size:
            self._conn.drop()
            raise TransportError(
                f"{self.name} announced a {length}-byte message, above the limit of {self.max_message_size}"
            )
        body = self._conn.recv_exact(length, deadline) if length else b""
        check_message_type(message_type, self.name)
        return body

    def close(self) -> None:
        self._conn.drop()


def parse_header_or_drop(conn: StreamConnection, deadline: float) -> tuple[int, int]:
    """Read and check one binding header; a bad one leaves the stream out of
    step, so the connection is dropped before raising."""
    header = conn.recv_exact(HEADER_SIZE, deadline)
    try:
        return parse_header(header)
    except TransportError:
        conn.drop()
        raise
