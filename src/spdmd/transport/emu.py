"""The socket framing of DMTF's spdm-emu tools (also OpenBMC's TCP path).

Each message is `command(4, BE), transport(4, BE), size(4, BE), payload`.
The command is NORMAL for SPDM traffic; CONTINUE tells the emulator this
client is done and another may connect, SHUTDOWN tells it to exit, TEST is
an echo. The transport word selects how the payload wraps the SPDM message:
NONE (bare), MCTP (the MCTP message-type byte 0x05 first) or TCP (the
DSP0287 binding header first). `spdm_responder_emu` exits when a client
drops the connection without CONTINUE, so `close()` always says CONTINUE.
"""

from __future__ import annotations

import enum
import struct
import time
from collections.abc import Callable

from spdmd.errors import TransportError
from spdmd.transport import tcp as dsp0287
from spdmd.transport._stream import StreamConnection

__all__ = [
    "HEADER_SIZE",
    "MCTP_TYPE_SPDM",
    "Command",
    "EmuTransport",
    "PayloadMode",
    "encode_message",
    "parse_header",
    "unwrap_spdm",
    "wrap_spdm",
]

HEADER_SIZE = 12
MCTP_TYPE_SPDM = 0x05
# Large enough for any SPDM message spdm_responder_emu sends (its buffers
# are well below this); a larger size word means the stream is garbage.
DEFAULT_MAX_MESSAGE_SIZE = 0x10000 + 16


class Command(enum.IntEnum):
    NORMAL = 0x0001
    CONTINUE = 0xFFFD
    SHUTDOWN = 0xFFFE
    TEST = 0xDEAD


class PayloadMode(enum.IntEnum):
    NONE = 0
    MCTP = 1
    TCP = 3


def encode_message(command: int, mode: int, payload: bytes = b"") -> bytes:
    return struct.pack(">III", command, mode, len(payload)) + payload


def parse_header(header: bytes) -> tuple[int, int, int]:
    """(command, transport, size) of a 12-byte spdm-emu header."""
    if len(header) != HEADER_SIZE:
        raise TransportError(
            f"spdm-emu header is {len(header)} bytes, expected {HEADER_SIZE}"
        )
    command, mode, size = struct.unpack(">III", header)
    return command, mode, size


def wrap_spdm(mode: PayloadMode, message: bytes) -> bytes:
    """The payload that carries `message` in payload mode `mode`."""
    if mode == PayloadMode.MCTP:
        return bytes([MCTP_TYPE_SPDM]) + message
    if mode == PayloadMode.TCP:
        return dsp0287.encode_frame(message)
    return message


def unwrap_spdm(mode: PayloadMode, payload: bytes, where: str) -> bytes:
    """The SPDM message inside `payload`; TransportError if it is not one."""
    if mode == PayloadMode.MCTP:
        if not payload:
            raise TransportError(f"{where} sent an empty MCTP payload")
        if payload[0] != MCTP_TYPE_SPDM:
            raise TransportError(
                f"{where} sent MCTP message type 0x{payload[0]:02x}, expected 0x{MCTP_TYPE_SPDM:02x}"
            )
        return payload[1:]
    if mode == PayloadMode.TCP:
        length, message_type = dsp0287.parse_header(payload[: dsp0287.HEADER_SIZE])
        dsp0287.check_message_type(message_type, where)
        body = payload[dsp0287.HEADER_SIZE :]
        if len(body) != length:
            raise TransportError(
                f"{where} sent a DSP0287 frame announcing {length} bytes with {len(body)}"
            )
        return body
    return payload


class EmuTransport:
    """One connection to an spdm-emu style responder."""

    def __init__(
        self,
        host: str,
        port: int,
        mode: PayloadMode,
        *,
        connect_timeout: float = 5.0,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        clock: Callable[[], float] = time.monotonic,
        goodbye_timeout: float = 0.5,
    ) -> None:
        self.mode = PayloadMode(mode)
        self.name = f"emu-{self.mode.name.lower()} {host}:{port}"
        self.max_message_size = max_message_size
        self.goodbye_timeout = goodbye_timeout
        self._clock = clock
        self._conn = StreamConnection(
            host, port, connect_timeout=connect_timeout, clock=clock
        )

    def exchange(self, request: bytes, timeout: float) -> bytes:
        deadline = self._clock() + timeout
        self._conn.ensure_connected()
        self._conn.send(
            encode_message(Command.NORMAL, self.mode, wrap_spdm(self.mode, request)),
            deadline,
        )
        while True:
            command, mode, payload = self._receive(deadline)
            if command != Command.NORMAL:
                self._conn.drop()
                raise TransportError(
                    f"{self.name} answered with spdm-emu command 0x{command:04x}, expected NORMAL"
                )
            if mode != self.mode:
                self._conn.drop()
                raise TransportError(
                    f"{self.name} answered in payload mode {mode}, expected {int(self.mode)}"
                )
            if payload:
                return unwrap_spdm(self.mode, payload, self.name)
            # An empty NORMAL message carries no SPDM response: the emulator
            # chose not to answer, so keep waiting until the deadline.

    def send_command(
        self, command: Command, timeout: float
    ) -> tuple[int, bytes] | None:
        """Send CONTINUE, SHUTDOWN or TEST and return the reply (command,
        payload), or None when the peer closes or stays quiet."""
        if not self._conn.connected:
            return None
        deadline = self._clock() + timeout
        try:
            self._conn.send(encode_message(command, self.mode), deadline)
            reply, _mode, payload = self._receive(deadline)
        except TransportError:
            return None
        return reply, payload

    def close(self) -> None:
        """Say CONTINUE so the emulator keeps serving, then disconnect."""
        if self._conn.connected:
            self.send_command(Command.CONTINUE, self.goodbye_timeout)
        self._conn.drop()

    def shutdown(self) -> None:
        """Ask the emulator to exit, then disconnect."""
        if self._conn.connected:
            self.send_command(Command.SHUTDOWN, self.goodbye_timeout)
        self._conn.drop()

    def _receive(self, deadline: float) -> tuple[int, int, bytes]:
        command, mode, size = parse_header(self._conn.recv_exact(HEADER_SIZE, deadline))
        if size > self.max_message_size:
            self._conn.drop()
            raise TransportError(
                f"{self.name} announced a {size}-byte message, above the limit of {self.max_message_size}"
            )
        payload = self._conn.recv_exact(size, deadline) if size else b""
        return command, mode, payload
