"""MCTP over serial framing (DSP0253), as the Linux mctp-serial driver does it.

A frame is

    0x7E  revision(0x01)  byte count  packet bytes (escaped)  FCS high  FCS low  0x7E

Inside the packet bytes, 0x7E and 0x7D are sent as 0x7D followed by the byte
with bit 5 cleared (0x5E, 0x5D). The FCS is CRC-16/CCITT as the kernel's
`crc_ccitt()` computes it (reflected polynomial 0x8408, initial value 0xFFFF,
no final XOR) over revision, byte count and the unescaped packet, sent high
byte first. Linux 6.1 (drivers/net/mctp/mctp-serial.c) neither escapes the
header nor the FCS bytes, and expects every frame to open and close with its
own 0x7E; this module matches that so it interoperates with the kernel.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "ESCAPE",
    "FLAG",
    "MAX_PACKET",
    "REVISION",
    "FrameDecoder",
    "crc_ccitt",
    "encode_frame",
]

FLAG = 0x7E
ESCAPE = 0x7D
REVISION = 0x01
# The driver's MTU is 68 and it rejects a byte count above MTU + 6.
MAX_PACKET = 68 + 6
FCS_INIT = 0xFFFF


def _table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _table()


def crc_ccitt(data: bytes, crc: int = FCS_INIT) -> int:
    """CRC-16/CCITT, reflected, as the kernel's crc_ccitt(crc, data, len)."""
    for byte in data:
        crc = (crc >> 8) ^ _TABLE[(crc ^ byte) & 0xFF]
    return crc


def encode_frame(packet: bytes) -> bytes:
    if not packet or len(packet) > MAX_PACKET:
        raise ValueError(
            f"MCTP packet of {len(packet)} bytes does not fit a serial frame"
        )
    header = bytes((REVISION, len(packet)))
    fcs = crc_ccitt(header + packet)
    body = bytearray()
    for byte in packet:
        if byte in (FLAG, ESCAPE):
            body += bytes((ESCAPE, byte & ~0x20))
        else:
            body.append(byte)
    return bytes((FLAG,)) + header + bytes(body) + bytes((fcs >> 8, fcs & 0xFF, FLAG))


@dataclass
class FrameDecoder:
    """Feeds bytes in any chunking; returns the packets of complete frames.

    A frame with a bad revision, length or FCS is dropped (counted in
    `errors`) and the decoder waits for the next flag, as the driver does.
    """

    errors: int = 0
    _state: str = "idle"
    _buf: bytearray = field(default_factory=bytearray)
    _length: int = 0
    _fcs: bytearray = field(default_factory=bytearray)
    _escape: bool = False

    def feed(self, data: bytes) -> list[bytes]:
        out = []
        for byte in data:
            packet = self._push(byte)
            if packet is not None:
                out.append(packet)
        return out

    def _error(self) -> None:
        self.errors += 1
        self._state = "error"

    def _push(self, byte: int) -> bytes | None:
        state = self._state
        if state in ("idle", "error"):
            if byte == FLAG:
                self._state = "revision"
            elif state == "idle":
                self._error()
            return None
        if state == "revision":
            if byte == FLAG:
                # Back-to-back flags: the second opens the frame.
                return None
            if byte != REVISION:
                self._error()
                return None
            self._state = "length"
            return None
        if state == "length":
            if byte == 0 or byte > MAX_PACKET:
                self._error()
                return None
            self._length = byte
            self._buf = bytearray()
            self._escape = False
            self._state = "data"
            return None
        if state == "data":
            if byte == FLAG:
                self._error()
                self._state = "revision"
                return None
            if self._escape:
                self._buf.append(byte | 0x20)
                self._escape = False
            elif byte == ESCAPE:
                self._escape = True
                return None
            else:
                self._buf.append(byte)
            if len(self._buf) == self._length:
                self._fcs = bytearray()
                self._state = "fcs"
            return None
        if state == "fcs":
            self._fcs.append(byte)
            if len(self._fcs) == 2:
                self._state = "end"
            return None
        # state "end": the closing flag
        if byte != FLAG:
            self._error()
            return None
        self._state = "idle"
        received = (self._fcs[0] << 8) | self._fcs[1]
        packet = bytes(self._buf)
        if crc_ccitt(bytes((REVISION, self._length)) + packet) != received:
            self.errors += 1
            return None
        return packet
