"""GET_MEASUREMENTS, MEASUREMENTS and measurement blocks
(DSP0274 section 10.11).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from spdmd.spdm.constants import MEASUREMENT_SPEC_DMTF, NONCE_SIZE, Code
from spdmd.spdm.messages._base import (
    HEADER_SIZE,
    Message,
    _context_size,
    _u16,
    _u24,
)

# --- GET_MEASUREMENTS / MEASUREMENTS (section 10.11) ------------------------

_MEAS_SIGNATURE_BIT = 0x01


@dataclass
class GetMeasurements(Message):
    """GET_MEASUREMENTS: attributes (Param1), operation (Param2); nonce and
    (1.1+) SlotID only with the signature bit; 1.3 RequesterContext always."""

    CODE: ClassVar[Code] = Code.GET_MEASUREMENTS
    IS_REQUEST: ClassVar[bool] = True
    STEP: ClassVar[str] = "GET_MEASUREMENTS"
    version: int = 0x10
    attributes: int = 0
    operation: int = 0
    nonce: bytes = b""
    slot: int = 0
    requester_context: bytes = b""

    @property
    def signature_requested(self) -> bool:
        return bool(self.attributes & _MEAS_SIGNATURE_BIT)

    def encode(self) -> bytes:
        out = self._header(self.version, self.attributes, self.operation)
        if self.signature_requested:
            if len(self.nonce) != NONCE_SIZE:
                raise self._error(
                    f"nonce is {len(self.nonce)} bytes, expected {NONCE_SIZE}"
                )
            out += self.nonce
            if self.version >= 0x11:
                out += bytes((self.slot,))
        ctx = _context_size(self.version)
        if len(self.requester_context) != ctx:
            raise self._error(
                f"RequesterContext is {len(self.requester_context)} bytes, expected {ctx}"
            )
        return out + self.requester_context

    @classmethod
    def decode(cls, data: bytes, *, version: int | None = None) -> GetMeasurements:
        got = cls._start(data, version, HEADER_SIZE)
        signed = bool(data[2] & _MEAS_SIGNATURE_BIT)
        off = HEADER_SIZE
        nonce, slot = b"", 0
        if signed:
            off += NONCE_SIZE + (1 if got >= 0x11 else 0)
            cls._need(data, off, "nonce and SlotID")
            nonce = bytes(data[4:36])
            slot = data[36] if got >= 0x11 else 0
        ctx = _context_size(got)
        size = off + ctx
        cls._need(data, size, "RequesterContext")
        return cls(
            version=got,
            attributes=data[2],
            operation=data[3],
            nonce=nonce,
            slot=slot,
            requester_context=bytes(data[off:size]),
            raw=cls._finish(data, size),
        )


@dataclass
class MeasurementBlock:
    """One measurement block. For the DMTF specification the value carries
    DMTFSpecMeasurementValueType (bit 7: raw bit stream) and its own size;
    blocks of another specification keep their measurement bytes in `value`
    and `value_type` 0."""

    index: int
    spec: int = MEASUREMENT_SPEC_DMTF
    value_type: int = 0
    value: bytes = b""

    @property
    def raw_bit_stream(self) -> bool:
        return self.spec == MEASUREMENT_SPEC_DMTF and bool(self.value_type & 0x80)

    def encode(self) -> bytes:
        if self.spec == MEASUREMENT_SPEC_DMTF:
            body = bytes((self.value_type,)) + len(self.value).to_bytes(2, "little")
            body += self.value
        else:
            body = self.value
        return bytes((self.index, self.spec)) + len(body).to_bytes(2, "little") + body


def _decode_blocks(data: bytes, count: int) -> tuple[MeasurementBlock, ...]:
    """Parse a measurement record that must hold exactly `count` blocks."""
    blocks = []
    off = 0
    for i in range(count):
        if off + 4 > len(data):
            raise Measurements._error(
                f"record ends inside block {i} header ({len(data) - off} bytes left, expected 4)"
            )
        index, spec, size = data[off], data[off + 1], _u16(data, off + 2)
        end = off + 4 + size
        if end > len(data):
            raise Measurements._error(
                f"block {i} (index {index}) MeasurementSize is {size}, only {len(data) - off - 4} bytes left in the record"
            )
        if spec == 0 or spec & (spec - 1):
            raise Measurements._error(
                f"block {i} MeasurementSpecification is 0x{spec:02x}, expected one bit set"
            )
        body = data[off + 4 : end]
        if spec == MEASUREMENT_SPEC_DMTF:
            if size < 3 or _u16(body, 1) != size - 3:
                raise Measurements._error(
                    f"block {i} (index {index}) DMTF value size does not match MeasurementSize {size}"
                )
            blocks.append(MeasurementBlock(index, spec, body[0], bytes(body[3:])))
        else:
            blocks.append(MeasurementBlock(index, spec, 0, bytes(body)))
        off = end
    if off != len(data):
        raise Measurements._error(
            f"record has {len(data) - off} bytes after its {count} blocks"
        )
    return tuple(blocks)


@dataclass
class Measurements(Message):
    """MEASUREMENTS. `total_count` is Param1 (the count for operation 0);
    Param2 holds the slot (bits 3:0) and 1.2+ content-changed bits (5:4).

    Nonce and OpaqueDataLength are present whether or not a signature was
    requested (DSP0274 1.0 to 1.3); the signature only when it was, so
    `decode` needs its size (0 for an unsigned response).
    """

    CODE: ClassVar[Code] = Code.MEASUREMENTS
    IS_REQUEST: ClassVar[bool] = False
    STEP: ClassVar[str] = "GET_MEASUREMENTS"
    version: int = 0x10
    total_count: int = 0
    param2: int = 0
    blocks: tuple[MeasurementBlock, ...] = ()
    nonce: bytes = bytes(NONCE_SIZE)
    opaque: bytes = b""
    requester_context: bytes = b""
    signature: bytes = b""

    @property
    def slot(self) -> int:
        return self.param2 & 0xF

    @property
    def content_changed(self) -> int:
        return (self.param2 >> 4) & 0x3 if self.version >= 0x12 else 0

    @property
    def signed_part(self) -> bytes:
        """The message without its signature: what L1 holds."""
        data = self.raw or self.encode()
        return data[: len(data) - len(self.signature)]

    def encode(self) -> bytes:
        record = b"".join(b.encode() for b in self.blocks)
        ctx = _context_size(self.version)
        if len(self.nonce) != NONCE_SIZE or len(self.requester_context) != ctx:
            raise self._error("nonce or RequesterContext has the wrong size")
        return (
            self._header(self.version, self.total_count, self.param2)
            + bytes((len(self.blocks),))
            + len(record).to_bytes(3, "little")
            + record
            + self.nonce
            + len(self.opaque).to_bytes(2, "little")
            + self.opaque
            + self.requester_context
            + self.signature
        )

    @classmethod
    def decode(
        cls, data: bytes, *, signature_size: int = 0, version: int | None = None
    ) -> Measurements:
        got = cls._start(data, version, 8)
        count, record_length = data[4], _u24(data, 5)
        off = 8 + record_length
        cls._need(
            data,
            off + NONCE_SIZE + 2,
            f"{record_length}-byte record, nonce and OpaqueLength",
        )
        blocks = _decode_blocks(data[8:off], count)
        nonce = bytes(data[off : off + NONCE_SIZE])
        opaque_at = off + NONCE_SIZE + 2
        opaque_length = _u16(data, opaque_at - 2)
        ctx = _context_size(got)
        opaque_end = opaque_at + opaque_length
        size = opaque_end + ctx + signature_size
        cls._need(data, size, f"{opaque_length}-byte opaque data and signature")
        return cls(
            version=got,
            total_count=data[2],
            param2=data[3],
            blocks=blocks,
            nonce=nonce,
            opaque=bytes(data[opaque_at:opaque_end]),
            requester_context=bytes(data[opaque_end : opaque_end + ctx]),
            signature=bytes(data[opaque_end + ctx : size]),
            raw=cls._finish(data, size),
        )
