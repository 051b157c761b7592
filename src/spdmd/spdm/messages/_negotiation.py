"""GET_VERSION, GET_CAPABILITIES, NEGOTIATE_ALGORITHMS and their responses
(DSP0274 sections 10.3 to 10.5).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from spdmd.spdm.constants import MEASUREMENT_SPEC_DMTF, Code
from spdmd.spdm.messages._base import HEADER_SIZE, Message, _u16, _u32

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


@dataclass
class _CapabilitiesBase(Message):
    """The fields GET_CAPABILITIES and CAPABILITIES share. Their layouts
    are the same except that the 1.0 request is the bare header."""

    version: int = 0x10
    ct_exponent: int = 0
    flags: int = 0
    data_transfer_size: int = 0
    max_spdm_msg_size: int = 0

    @classmethod
    def _size(cls, version: int) -> int:
        if version >= 0x12:
            return 20
        return HEADER_SIZE if cls.IS_REQUEST and version == 0x10 else 12

    def encode(self) -> bytes:
        out = self._header(self.version, 0, 0)
        if self._size(self.version) == HEADER_SIZE:
            return out
        out += bytes((0, self.ct_exponent, 0, 0)) + self.flags.to_bytes(4, "little")
        if self.version >= 0x12:
            out += self.data_transfer_size.to_bytes(4, "little")
            out += self.max_spdm_msg_size.to_bytes(4, "little")
        return out

    @classmethod
    def _decode(cls, data: bytes, version: int | None) -> dict[str, int | bytes]:
        got = cls._start(data, version, HEADER_SIZE)
        size = cls._size(got)
        cls._need(data, size, "fields")
        fields: dict[str, int | bytes] = {
            "version": got,
            "raw": cls._finish(data, size),
        }
        if size > HEADER_SIZE:
            fields.update(ct_exponent=data[5], flags=_u32(data, 8))
        if got >= 0x12:
            fields.update(
                data_transfer_size=_u32(data, 12), max_spdm_msg_size=_u32(data, 16)
            )
        return fields


@dataclass
class GetCapabilities(_CapabilitiesBase):
    """GET_CAPABILITIES: header only in 1.0; CTExponent and flags from 1.1;
    DataTransferSize and MaxSPDMmsgSize from 1.2."""

    CODE: ClassVar[Code] = Code.GET_CAPABILITIES
    IS_REQUEST: ClassVar[bool] = True
    STEP: ClassVar[str] = "GET_CAPABILITIES"

    @classmethod
    def decode(cls, data: bytes, *, version: int | None = None) -> GetCapabilities:
        return cls(**cls._decode(data, version))  # type: ignore[arg-type]


@dataclass
class Capabilities(_CapabilitiesBase):
    """CAPABILITIES: 12 bytes in 1.0/1.1, 20 from 1.2."""

    CODE: ClassVar[Code] = Code.CAPABILITIES
    IS_REQUEST: ClassVar[bool] = False
    STEP: ClassVar[str] = "GET_CAPABILITIES"

    @classmethod
    def decode(cls, data: bytes, *, version: int | None = None) -> Capabilities:
        return cls(**cls._decode(data, version))  # type: ignore[arg-type]


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
