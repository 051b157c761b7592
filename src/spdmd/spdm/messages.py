"""SPDM messages as dataclasses, encoded and decoded both ways (DSP0274 1.0-1.3).

One class per request and per response. `encode()` gives the wire bytes;
`decode(data, ...)` parses them and keeps the bytes it consumed in `raw`
(what transcripts hash). Both sides use these classes: the requester encodes
requests and decodes responses, the responder emulator the other way round.

Invariants:
- every length is computed from the fields and checked against the data,
  never taken from how much arrived; bytes beyond the computed length are an
  error;
- the layout follows the version byte of the message itself; `decode(...,
  version=V)` additionally insists on that version;
- decoders raise only `MalformedResponse`/`UnexpectedResponse` (responses)
  or `MalformedRequest` (requests), never IndexError or struct.error;
- `decode_response()` is the one response validator the requester uses, with
  a fixed check order: minimum length, version byte, response code (an ERROR
  becomes `ErrorResponse`), then the full length.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from spdmd.errors import (
    ErrorResponse,
    MalformedRequest,
    MalformedResponse,
    SpdmError,
    UnexpectedResponse,
)
from spdmd.spdm.constants import (
    MEASUREMENT_SPEC_DMTF,
    NONCE_SIZE,
    REQUESTER_CONTEXT_SIZE,
    RESPONSE_FOR_REQUEST,
    SUPPORTED_VERSIONS,
    Code,
    ErrorCode,
)

__all__ = [
    "HEADER_SIZE",
    "REQUEST_CLASSES",
    "RESPONSE_CLASSES",
    "AlgStruct",
    "Algorithms",
    "Capabilities",
    "Certificate",
    "Challenge",
    "ChallengeAuth",
    "Digests",
    "ErrorMessage",
    "GetCapabilities",
    "GetCertificate",
    "GetDigests",
    "GetMeasurements",
    "GetVersion",
    "MeasurementBlock",
    "Measurements",
    "Message",
    "NegotiateAlgorithms",
    "RespondIfReady",
    "ResponseNotReadyData",
    "Version",
    "decode_request",
    "decode_response",
    "error_name",
]

HEADER_SIZE = 4
_VERSIONS = frozenset(int(v) for v in SUPPORTED_VERSIONS)


def error_name(code: int) -> str:
    """ErrorCode name for messages ("InvalidRequest" style is not needed)."""
    try:
        return ErrorCode(code).name
    except ValueError:
        return f"0x{code:02x}"


def _u16(data: bytes, off: int) -> int:
    return int.from_bytes(data[off : off + 2], "little")


def _u24(data: bytes, off: int) -> int:
    return int.from_bytes(data[off : off + 3], "little")


def _u32(data: bytes, off: int) -> int:
    return int.from_bytes(data[off : off + 4], "little")


def _popcount(value: int) -> int:
    return (value).bit_count()


@dataclass
class Message:
    """Common part: the header's version byte and the bytes decoded."""

    CODE: ClassVar[Code]
    IS_REQUEST: ClassVar[bool]
    # The request a response answers: names the step in errors.
    STEP: ClassVar[str]

    raw: bytes = field(default=b"", repr=False, compare=False, kw_only=True)

    @classmethod
    def _error(cls, text: str) -> SpdmError:
        kind = MalformedRequest if cls.IS_REQUEST else MalformedResponse
        return kind(f"{cls.CODE.name} {text}", step=cls.STEP)

    @classmethod
    def _start(cls, data: bytes, version: int | None, fixed: int) -> int:
        """Check the header and the fixed part; return the version byte."""
        if len(data) < HEADER_SIZE:
            raise cls._error(f"is {len(data)} bytes, shorter than the 4-byte header")
        if data[1] != cls.CODE:
            raise cls._error(f"has code 0x{data[1]:02x}, expected 0x{cls.CODE:02x}")
        got = data[0]
        if version is not None and got != version:
            kind = MalformedRequest if cls.IS_REQUEST else UnexpectedResponse
            raise kind(
                f"{cls.CODE.name} has version byte 0x{got:02x}, expected 0x{version:02x}",
                step=cls.STEP,
            )
        if got not in _VERSIONS:
            raise cls._error(f"has unsupported version byte 0x{got:02x}")
        if len(data) < fixed:
            raise cls._error(f"is {len(data)} bytes, expected at least {fixed}")
        return got

    @classmethod
    def _need(cls, data: bytes, size: int, what: str) -> None:
        if len(data) < size:
            raise cls._error(
                f"is {len(data)} bytes, expected at least {size} for its {what}"
            )

    @classmethod
    def _finish(cls, data: bytes, size: int) -> bytes:
        if len(data) != size:
            raise cls._error(f"is {len(data)} bytes, expected {size} from its fields")
        return bytes(data[:size])

    def _header(self, version: int, param1: int, param2: int) -> bytes:
        return bytes((version, self.CODE, param1 & 0xFF, param2 & 0xFF))


# --- GET_VERSION / VERSION (DSP0274 section 10.3) ---------------------------


@dataclass
class GetVersion(Message):
    """GET_VERSION: always sent with version byte 0x10."""

    CODE: ClassVar[Code] = Code.GET_VERSION
    IS_REQUEST: ClassVar[bool] = True
    STEP: ClassVar[str] = "GET_VERSION"
    version: int = 0x10

    def encode(self) -> bytes:
        return self._header(self.version, 0, 0)

    @classmethod
    def decode(cls, data: bytes, *, version: int | None = None) -> GetVersion:
        got = cls._start(data, version, HEADER_SIZE)
        return cls(version=got, raw=cls._finish(data, HEADER_SIZE))


@dataclass
class Version(Message):
    """VERSION: `entries` are the u16 version number entries (major 15:12,
    minor 11:8, update 7:4, alpha 3:0)."""

    CODE: ClassVar[Code] = Code.VERSION
    IS_REQUEST: ClassVar[bool] = False
    STEP: ClassVar[str] = "GET_VERSION"
    entries: tuple[int, ...] = ()
    version: int = 0x10

    @property
    def versions(self) -> frozenset[int]:
        """The version bytes (major.minor) the responder supports."""
        return frozenset((e >> 8) & 0xFF for e in self.entries)

    def encode(self) -> bytes:
        body = bytes((0, len(self.entries)))
        body += b"".join(e.to_bytes(2, "little") for e in self.entries)
        return self._header(self.version, 0, 0) + body

    @classmethod
    def decode(cls, data: bytes, *, version: int | None = 0x10) -> Version:
        got = cls._start(data, version, 6)
        count = data[5]
        size = 6 + 2 * count
        cls._need(data, size, f"{count} version entries")
        raw = cls._finish(data, size)
        entries = tuple(_u16(data, 6 + 2 * i) for i in range(count))
        return cls(entries=entries, version=got, raw=raw)


# --- GET_CAPABILITIES / CAPABILITIES (section 10.4) -------------------------


def _capabilities_size(version: int, request: bool) -> int:
    if version >= 0x12:
        return 20
    if request and version == 0x10:
        return HEADER_SIZE
    return 12


@dataclass
class GetCapabilities(Message):
    """GET_CAPABILITIES: header only in 1.0; CTExponent and flags from 1.1;
    DataTransferSize and MaxSPDMmsgSize from 1.2."""

    CODE: ClassVar[Code] = Code.GET_CAPABILITIES
    IS_REQUEST: ClassVar[bool] = True
    STEP: ClassVar[str] = "GET_CAPABILITIES"
    version: int = 0x10
    ct_exponent: int = 0
    flags: int = 0
    data_transfer_size: int = 0
    max_spdm_msg_size: int = 0

    def encode(self) -> bytes:
        out = self._header(self.version, 0, 0)
        if self.version >= 0x11:
            out += bytes((0, self.ct_exponent, 0, 0)) + self.flags.to_bytes(4, "little")
        if self.version >= 0x12:
            out += self.data_transfer_size.to_bytes(4, "little")
            out += self.max_spdm_msg_size.to_bytes(4, "little")
        return out

    @classmethod
    def decode(cls, data: bytes, *, version: int | None = None) -> GetCapabilities:
        got = cls._start(data, version, HEADER_SIZE)
        size = _capabilities_size(got, True)
        cls._need(data, size, "fields")
        raw = cls._finish(data, size)
        if got == 0x10:
            return cls(version=got, raw=raw)
        msg = cls(version=got, ct_exponent=data[5], flags=_u32(data, 8), raw=raw)
        if got >= 0x12:
            msg.data_transfer_size = _u32(data, 12)
            msg.max_spdm_msg_size = _u32(data, 16)
        return msg


@dataclass
class Capabilities(Message):
    """CAPABILITIES: 12 bytes in 1.0/1.1, 20 from 1.2."""

    CODE: ClassVar[Code] = Code.CAPABILITIES
    IS_REQUEST: ClassVar[bool] = False
    STEP: ClassVar[str] = "GET_CAPABILITIES"
    version: int = 0x10
    ct_exponent: int = 0
    flags: int = 0
    data_transfer_size: int = 0
    max_spdm_msg_size: int = 0

    def encode(self) -> bytes:
        out = self._header(self.version, 0, 0)
        out += bytes((0, self.ct_exponent, 0, 0)) + self.flags.to_bytes(4, "little")
        if self.version >= 0x12:
            out += self.data_transfer_size.to_bytes(4, "little")
            out += self.max_spdm_msg_size.to_bytes(4, "little")
        return out

    @classmethod
    def decode(cls, data: bytes, *, version: int | None = None) -> Capabilities:
        got = cls._start(data, version, HEADER_SIZE)
        size = _capabilities_size(got, False)
        cls._need(data, size, "fields")
        raw = cls._finish(data, size)
        msg = cls(version=got, ct_exponent=data[5], flags=_u32(data, 8), raw=raw)
        if got >= 0x12:
            msg.data_transfer_size = _u32(data, 12)
            msg.max_spdm_msg_size = _u32(data, 16)
        return msg


# --- NEGOTIATE_ALGORITHMS / ALGORITHMS (section 10.5) -----------------------


@dataclass
class AlgStruct:
    """One algorithm structure table entry (DHE, AEAD, ReqBaseAsym,
    KeySchedule): AlgType, the fixed-size supported bit mask and external
    algorithm entries (DSP0274 1.1 section 10.5, AlgCount bits 7:4 = fixed
    size, 3:0 = external count)."""

    alg_type: int
    supported: int
    fixed_size: int = 2
    external: tuple[int, ...] = ()

    def encode(self) -> bytes:
        count = (self.fixed_size << 4) | len(self.external)
        out = bytes((self.alg_type, count))
        out += self.supported.to_bytes(self.fixed_size, "little")
        return out + b"".join(e.to_bytes(4, "little") for e in self.external)


def _decode_tables(
    cls: type[Message], data: bytes, off: int, count: int
) -> tuple[tuple[AlgStruct, ...], int]:
    tables = []
    for i in range(count):
        cls._need(data, off + 2, f"algorithm table {i} header")
        alg_type, alg_count = data[off], data[off + 1]
        fixed, ext = alg_count >> 4, alg_count & 0xF
        if fixed == 0:
            raise cls._error(f"algorithm table {i} has fixed size 0, expected 2")
        end = off + 2 + fixed + 4 * ext
        cls._need(data, end, f"algorithm table {i}")
        supported = int.from_bytes(data[off + 2 : off + 2 + fixed], "little")
        externals = tuple(_u32(data, off + 2 + fixed + 4 * j) for j in range(ext))
        tables.append(AlgStruct(alg_type, supported, fixed, externals))
        off = end
    return tuple(tables), off


def _decode_alg_tail(
    cls: type[Message], data: bytes, version: int, fixed: int, counts_at: int
) -> tuple[tuple[int, ...], tuple[int, ...], tuple[AlgStruct, ...], int]:
    """Extended entries and tables after the fixed part; checks Length.

    Both algorithm messages end the same way: ExtAsymCount and ExtHashCount
    at `counts_at`, the extended entries, then Param1 tables (1.1+).
    """
    n_asym, n_hash = data[counts_at], data[counts_at + 1]
    off = fixed + 4 * (n_asym + n_hash)
    cls._need(data, off, "extended algorithm entries")
    ext = tuple(_u32(data, fixed + 4 * i) for i in range(n_asym + n_hash))
    tables: tuple[AlgStruct, ...] = ()
    if version >= 0x11:
        tables, off = _decode_tables(cls, data, off, data[2])
    length = _u16(data, 4)
    if length != off:
        raise cls._error(f"Length field is {length}, expected {off} from its fields")
    return ext[:n_asym], ext[n_asym:], tables, off


def _encode_alg_tail(
    msg: Message, body: bytes, ext: tuple[int, ...], tables: tuple[AlgStruct, ...]
) -> bytes:
    body += b"".join(e.to_bytes(4, "little") for e in ext)
    body += b"".join(t.encode() for t in tables)
    length = HEADER_SIZE + 2 + len(body)
    head = msg._header(msg.version, len(tables), 0)  # type: ignore[attr-defined]
    return head + length.to_bytes(2, "little") + body


@dataclass
class NegotiateAlgorithms(Message):
    """NEGOTIATE_ALGORITHMS: 32 fixed bytes, extended entries, tables.

    Param1 is the table count (1.1+); Length is computed on encode and must
    equal the parsed size on decode.
    """

    CODE: ClassVar[Code] = Code.NEGOTIATE_ALGORITHMS
    IS_REQUEST: ClassVar[bool] = True
    STEP: ClassVar[str] = "NEGOTIATE_ALGORITHMS"
    version: int = 0x10
    measurement_spec: int = MEASUREMENT_SPEC_DMTF
    other_params: int = 0
    base_asym: int = 0
    base_hash: int = 0
    ext_asym: tuple[int, ...] = ()
    ext_hash: tuple[int, ...] = ()
    mel_spec: int = 0
    tables: tuple[AlgStruct, ...] = ()

    def encode(self) -> bytes:
        body = bytes((self.measurement_spec, self.other_params))
        body += self.base_asym.to_bytes(4, "little") + self.base_hash.to_bytes(
            4, "little"
        )
        body += bytes(12) + bytes(
            (len(self.ext_asym), len(self.ext_hash), 0, self.mel_spec)
        )
        return _encode_alg_tail(self, body, self.ext_asym + self.ext_hash, self.tables)

    @classmethod
    def decode(cls, data: bytes, *, version: int | None = None) -> NegotiateAlgorithms:
        got = cls._start(data, version, 32)
        ext_asym, ext_hash, tables, off = _decode_alg_tail(cls, data, got, 32, 28)
        return cls(
            version=got,
            measurement_spec=data[6],
            other_params=data[7],
            base_asym=_u32(data, 8),
            base_hash=_u32(data, 12),
            ext_asym=ext_asym,
            ext_hash=ext_hash,
            mel_spec=data[31],
            tables=tables,
            raw=cls._finish(data, off),
        )


@dataclass
class Algorithms(Message):
    """ALGORITHMS: 36 fixed bytes, extended selections, tables."""

    CODE: ClassVar[Code] = Code.ALGORITHMS
    IS_REQUEST: ClassVar[bool] = False
    STEP: ClassVar[str] = "NEGOTIATE_ALGORITHMS"
    version: int = 0x10
    measurement_spec: int = 0
    other_params: int = 0
    measurement_hash: int = 0
    base_asym: int = 0
    base_hash: int = 0
    ext_asym: tuple[int, ...] = ()
    ext_hash: tuple[int, ...] = ()
    mel_spec: int = 0
    tables: tuple[AlgStruct, ...] = ()

    def encode(self) -> bytes:
        body = bytes((self.measurement_spec, self.other_params))
        for value in (self.measurement_hash, self.base_asym, self.base_hash):
            body += value.to_bytes(4, "little")
        body += bytes(11) + bytes(
            (self.mel_spec, len(self.ext_asym), len(self.ext_hash))
        )
        body += bytes(2)
        return _encode_alg_tail(self, body, self.ext_asym + self.ext_hash, self.tables)

    @classmethod
    def decode(cls, data: bytes, *, version: int | None = None) -> Algorithms:
        got = cls._start(data, version, 36)
        ext_asym, ext_hash, tables, off = _decode_alg_tail(cls, data, got, 36, 32)
        return cls(
            version=got,
            measurement_spec=data[6],
            other_params=data[7],
            measurement_hash=_u32(data, 8),
            base_asym=_u32(data, 12),
            base_hash=_u32(data, 16),
            mel_spec=data[31],
            ext_asym=ext_asym,
            ext_hash=ext_hash,
            tables=tables,
            raw=cls._finish(data, off),
        )


# --- GET_DIGESTS / DIGESTS (section 10.6) -----------------------------------


@dataclass
class GetDigests(Message):
    CODE: ClassVar[Code] = Code.GET_DIGESTS
    IS_REQUEST: ClassVar[bool] = True
    STEP: ClassVar[str] = "GET_DIGESTS"
    version: int = 0x10

    def encode(self) -> bytes:
        return self._header(self.version, 0, 0)

    @classmethod
    def decode(cls, data: bytes, *, version: int | None = None) -> GetDigests:
        got = cls._start(data, version, HEADER_SIZE)
        return cls(version=got, raw=cls._finish(data, HEADER_SIZE))


@dataclass
class Digests(Message):
    """DIGESTS: Param2 = provisioned slot mask, one digest per set bit in
    ascending slot order; 1.3 Param1 = supported slot mask.

    Multi-key fields (1.3 MULTI_KEY_CONN) are not decoded: this requester
    never negotiates them, so a responder must not send them.
    """

    CODE: ClassVar[Code] = Code.DIGESTS
    IS_REQUEST: ClassVar[bool] = False
    STEP: ClassVar[str] = "GET_DIGESTS"
    version: int = 0x10
    slot_mask: int = 0
    digests: tuple[bytes, ...] = ()
    supported_slot_mask: int = 0

    def digest_for(self, slot: int) -> bytes | None:
        """The digest of `slot`, or None when it is not provisioned."""
        if not self.slot_mask & (1 << slot):
            return None
        return self.digests[_popcount(self.slot_mask & ((1 << slot) - 1))]

    def encode(self) -> bytes:
        if len(self.digests) != _popcount(self.slot_mask):
            raise self._error(
                f"has {len(self.digests)} digests, expected {_popcount(self.slot_mask)} for slot mask 0x{self.slot_mask:02x}"
            )
        head = self._header(self.version, self.supported_slot_mask, self.slot_mask)
        return head + b"".join(self.digests)

    @classmethod
    def decode(
        cls, data: bytes, *, hash_size: int, version: int | None = None
    ) -> Digests:
        got = cls._start(data, version, HEADER_SIZE)
        mask = data[3]
        count = _popcount(mask)
        size = HEADER_SIZE + count * hash_size
        cls._need(data, size, f"{count} digests")
        raw = cls._finish(data, size)
        digests = tuple(
            bytes(data[HEADER_SIZE + i * hash_size : HEADER_SIZE + (i + 1) * hash_size])
            for i in range(count)
        )
        supported = data[2] if got >= 0x13 else 0
        return cls(
            version=got,
            slot_mask=mask,
            digests=digests,
            supported_slot_mask=supported,
            raw=raw,
        )


# --- GET_CERTIFICATE / CERTIFICATE (section 10.7) ---------------------------


@dataclass
class GetCertificate(Message):
    """GET_CERTIFICATE: slot (Param1 bits 3:0), Offset, Length."""

    CODE: ClassVar[Code] = Code.GET_CERTIFICATE
    IS_REQUEST: ClassVar[bool] = True
    STEP: ClassVar[str] = "GET_CERTIFICATE"
    version: int = 0x10
    slot: int = 0
    offset: int = 0
    length: int = 0
    attributes: int = 0

    def encode(self) -> bytes:
        head = self._header(self.version, self.slot & 0xF, self.attributes)
        return (
            head + self.offset.to_bytes(2, "little") + self.length.to_bytes(2, "little")
        )

    @classmethod
    def decode(cls, data: bytes, *, version: int | None = None) -> GetCertificate:
        got = cls._start(data, version, 8)
        return cls(
            version=got,
            slot=data[2] & 0xF,
            offset=_u16(data, 4),
            length=_u16(data, 6),
            attributes=data[3],
            raw=cls._finish(data, 8),
        )


@dataclass
class Certificate(Message):
    """CERTIFICATE: slot, PortionLength, RemainderLength, portion."""

    CODE: ClassVar[Code] = Code.CERTIFICATE
    IS_REQUEST: ClassVar[bool] = False
    STEP: ClassVar[str] = "GET_CERTIFICATE"
    version: int = 0x10
    slot: int = 0
    portion: bytes = b""
    remainder_length: int = 0
    param2: int = 0

    def encode(self) -> bytes:
        head = self._header(self.version, self.slot & 0xF, self.param2)
        head += len(self.portion).to_bytes(2, "little")
        return head + self.remainder_length.to_bytes(2, "little") + self.portion

    @classmethod
    def decode(cls, data: bytes, *, version: int | None = None) -> Certificate:
        got = cls._start(data, version, 8)
        portion_length = _u16(data, 4)
        size = 8 + portion_length
        cls._need(data, size, f"{portion_length}-byte portion")
        return cls(
            version=got,
            slot=data[2] & 0xF,
            portion=bytes(data[8:size]),
            remainder_length=_u16(data, 6),
            param2=data[3],
            raw=cls._finish(data, size),
        )


# --- CHALLENGE / CHALLENGE_AUTH (section 10.8) ------------------------------


def _context_size(version: int) -> int:
    # DSP0274 1.3 section 10.8: RequesterContext in CHALLENGE, CHALLENGE_AUTH,
    # GET_MEASUREMENTS and MEASUREMENTS.
    return REQUESTER_CONTEXT_SIZE if version >= 0x13 else 0


@dataclass
class Challenge(Message):
    """CHALLENGE: slot (Param1), summary hash type (Param2), nonce, and from
    1.3 the RequesterContext."""

    CODE: ClassVar[Code] = Code.CHALLENGE
    IS_REQUEST: ClassVar[bool] = True
    STEP: ClassVar[str] = "CHALLENGE"
    version: int = 0x10
    slot: int = 0
    summary_type: int = 0
    nonce: bytes = bytes(NONCE_SIZE)
    requester_context: bytes = b""

    def encode(self) -> bytes:
        if len(self.nonce) != NONCE_SIZE:
            raise self._error(
                f"nonce is {len(self.nonce)} bytes, expected {NONCE_SIZE}"
            )
        ctx = _context_size(self.version)
        if len(self.requester_context) != ctx:
            raise self._error(
                f"RequesterContext is {len(self.requester_context)} bytes, expected {ctx}"
            )
        head = self._header(self.version, self.slot, self.summary_type)
        return head + self.nonce + self.requester_context

    @classmethod
    def decode(cls, data: bytes, *, version: int | None = None) -> Challenge:
        got = cls._start(data, version, HEADER_SIZE)
        ctx = _context_size(got)
        size = HEADER_SIZE + NONCE_SIZE + ctx
        cls._need(data, size, "nonce")
        return cls(
            version=got,
            slot=data[2],
            summary_type=data[3],
            nonce=bytes(data[4:36]),
            requester_context=bytes(data[36 : 36 + ctx]),
            raw=cls._finish(data, size),
        )


@dataclass
class ChallengeAuth(Message):
    """CHALLENGE_AUTH. Its size depends on the negotiated hash and signature
    sizes and on whether a summary hash was requested, so `decode` needs them.

    `attributes` keeps Param1 bits 7:4 (BasicMutAuthReq in 1.1+).
    """

    CODE: ClassVar[Code] = Code.CHALLENGE_AUTH
    IS_REQUEST: ClassVar[bool] = False
    STEP: ClassVar[str] = "CHALLENGE"
    version: int = 0x10
    slot: int = 0
    slot_mask: int = 0
    cert_chain_hash: bytes = b""
    nonce: bytes = bytes(NONCE_SIZE)
    measurement_summary_hash: bytes = b""
    opaque: bytes = b""
    requester_context: bytes = b""
    signature: bytes = b""
    attributes: int = 0

    @property
    def signed_part(self) -> bytes:
        """The message without its signature: what transcript C holds."""
        data = self.raw or self.encode()
        return data[: len(data) - len(self.signature)]

    def encode(self) -> bytes:
        ctx = _context_size(self.version)
        if len(self.nonce) != NONCE_SIZE or len(self.requester_context) != ctx:
            raise self._error("nonce or RequesterContext has the wrong size")
        head = self._header(
            self.version, (self.attributes & 0xF0) | (self.slot & 0xF), self.slot_mask
        )
        return (
            head
            + self.cert_chain_hash
            + self.nonce
            + self.measurement_summary_hash
            + len(self.opaque).to_bytes(2, "little")
            + self.opaque
            + self.requester_context
            + self.signature
        )

    @classmethod
    def decode(
        cls,
        data: bytes,
        *,
        hash_size: int,
        signature_size: int,
        summary_hash_size: int = 0,
        version: int | None = None,
    ) -> ChallengeAuth:
        got = cls._start(data, version, HEADER_SIZE)
        off = HEADER_SIZE + hash_size + NONCE_SIZE + summary_hash_size
        cls._need(data, off + 2, "hashes, nonce and OpaqueDataLength")
        opaque_length = _u16(data, off)
        ctx = _context_size(got)
        opaque_end = off + 2 + opaque_length
        size = opaque_end + ctx + signature_size
        cls._need(data, size, f"{opaque_length}-byte opaque data and signature")
        nonce_at = HEADER_SIZE + hash_size
        return cls(
            version=got,
            slot=data[2] & 0xF,
            attributes=data[2] & 0xF0,
            slot_mask=data[3],
            cert_chain_hash=bytes(data[HEADER_SIZE:nonce_at]),
            nonce=bytes(data[nonce_at : nonce_at + NONCE_SIZE]),
            measurement_summary_hash=bytes(data[nonce_at + NONCE_SIZE : off]),
            opaque=bytes(data[off + 2 : opaque_end]),
            requester_context=bytes(data[opaque_end : opaque_end + ctx]),
            signature=bytes(data[opaque_end + ctx : size]),
            raw=cls._finish(data, size),
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


# --- RESPOND_IF_READY and ERROR (sections 10.13, 10.14) ---------------------


@dataclass
class RespondIfReady(Message):
    """RESPOND_IF_READY: Param1 = the original request code, Param2 = token."""

    CODE: ClassVar[Code] = Code.RESPOND_IF_READY
    IS_REQUEST: ClassVar[bool] = True
    STEP: ClassVar[str] = "RESPOND_IF_READY"
    version: int = 0x10
    request_code: int = 0
    token: int = 0

    def encode(self) -> bytes:
        return self._header(self.version, self.request_code, self.token)

    @classmethod
    def decode(cls, data: bytes, *, version: int | None = None) -> RespondIfReady:
        got = cls._start(data, version, HEADER_SIZE)
        return cls(
            version=got,
            request_code=data[2],
            token=data[3],
            raw=cls._finish(data, HEADER_SIZE),
        )


@dataclass
class ResponseNotReadyData:
    """ERROR ResponseNotReady extended data (DSP0274 section 10.14)."""

    rdt_exponent: int
    request_code: int
    token: int
    rdtm: int

    SIZE: ClassVar[int] = 4

    def encode(self) -> bytes:
        return bytes((self.rdt_exponent, self.request_code, self.token, self.rdtm))


@dataclass
class ErrorMessage(Message):
    """ERROR: Param1 = error code, Param2 = error data, extended data.

    Only ResponseNotReady has extended data whose size the specification
    fixes (4 bytes), so only there is the size checked; for other codes the
    extended data is kept as sent.
    """

    CODE: ClassVar[Code] = Code.ERROR
    IS_REQUEST: ClassVar[bool] = False
    STEP: ClassVar[str] = "ERROR"
    version: int = 0x10
    error_code: int = 0
    error_data: int = 0
    extended: bytes = b""

    @property
    def not_ready(self) -> ResponseNotReadyData | None:
        if self.error_code != ErrorCode.RESPONSE_NOT_READY:
            return None
        e = self.extended
        return ResponseNotReadyData(e[0], e[1], e[2], e[3])

    def encode(self) -> bytes:
        return (
            self._header(self.version, self.error_code, self.error_data) + self.extended
        )

    @classmethod
    def decode(cls, data: bytes, *, version: int | None = None) -> ErrorMessage:
        got = cls._start(data, version, HEADER_SIZE)
        if data[2] == ErrorCode.RESPONSE_NOT_READY:
            size = HEADER_SIZE + ResponseNotReadyData.SIZE
            cls._need(data, size, "ResponseNotReady extended data")
            raw = cls._finish(data, size)
        else:
            raw = bytes(data)
        return cls(
            version=got,
            error_code=data[2],
            error_data=data[3],
            extended=raw[HEADER_SIZE:],
            raw=raw,
        )


RESPONSE_CLASSES: dict[Code, type[Message]] = {
    Code.VERSION: Version,
    Code.CAPABILITIES: Capabilities,
    Code.ALGORITHMS: Algorithms,
    Code.DIGESTS: Digests,
    Code.CERTIFICATE: Certificate,
    Code.CHALLENGE_AUTH: ChallengeAuth,
    Code.MEASUREMENTS: Measurements,
    Code.ERROR: ErrorMessage,
}

REQUEST_CLASSES: dict[Code, type[Message]] = {
    Code.GET_VERSION: GetVersion,
    Code.GET_CAPABILITIES: GetCapabilities,
    Code.NEGOTIATE_ALGORITHMS: NegotiateAlgorithms,
    Code.GET_DIGESTS: GetDigests,
    Code.GET_CERTIFICATE: GetCertificate,
    Code.CHALLENGE: Challenge,
    Code.GET_MEASUREMENTS: GetMeasurements,
    Code.RESPOND_IF_READY: RespondIfReady,
}


def _as_code(code: int) -> Code | None:
    try:
        return Code(code)
    except ValueError:
        return None


def _code_name(code: int) -> str:
    try:
        return Code(code).name
    except ValueError:
        return f"0x{code:02x}"


def decode_response(
    request_code: int, data: bytes, *, version: int, **params: Any
) -> Any:
    """Validate and decode the response to `request_code` (the one validator).

    Fixed order: minimum length, version byte, response code (ERROR raises
    `ErrorResponse` carrying the request and error codes), then the message's
    own full-length check. `params` are the size parameters the response
    class needs (`hash_size`, `signature_size`, `summary_hash_size`).
    """
    step = _code_name(request_code)
    if len(data) < HEADER_SIZE:
        raise MalformedResponse(
            f"response to {step} is {len(data)} bytes, shorter than the 4-byte header",
            step=step,
        )
    if data[0] != version:
        raise UnexpectedResponse(
            f"response to {step} has version byte 0x{data[0]:02x}, expected 0x{version:02x}",
            step=step,
        )
    if data[1] == Code.ERROR:
        try:
            err = ErrorMessage.decode(data)
        except SpdmError as exc:
            exc.step = step
            raise
        err_step = step
        raise ErrorResponse(
            f"{step} answered with ERROR {error_name(err.error_code)} (0x{err.error_code:02x}), data 0x{err.error_data:02x}",
            request_code=request_code,
            error_code=err.error_code,
            error_data=err.error_data,
            extended=err.extended,
            step=err_step,
        )
    code = _as_code(request_code)
    expected = RESPONSE_FOR_REQUEST.get(code) if code is not None else None
    if expected is None:
        raise UnexpectedResponse(
            f"no response is defined for request {step}", step=step
        )
    if data[1] != expected:
        raise UnexpectedResponse(
            f"response to {step} has code {_code_name(data[1])} (0x{data[1]:02x}), expected {expected.name} (0x{expected:02x})",
            step=step,
        )
    cls = RESPONSE_CLASSES[expected]
    try:
        return cls.decode(data, version=version, **params)  # type: ignore[attr-defined]
    except SpdmError as exc:
        exc.step = step
        raise


def decode_request(data: bytes, *, version: int | None = None) -> Any:
    """Decode any request by its code (responder side)."""
    if len(data) < HEADER_SIZE:
        raise MalformedRequest(
            f"request is {len(data)} bytes, shorter than the 4-byte header"
        )
    code = _as_code(data[1])
    cls = REQUEST_CLASSES.get(code) if code is not None else None
    if cls is None:
        raise MalformedRequest(f"request code 0x{data[1]:02x} is not supported")
    return cls.decode(data, version=version)  # type: ignore[attr-defined]
