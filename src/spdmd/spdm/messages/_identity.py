"""GET_DIGESTS, GET_CERTIFICATE, CHALLENGE and their responses
(DSP0274 sections 10.6 to 10.8).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from spdmd.spdm.constants import NONCE_SIZE, Code
from spdmd.spdm.messages._base import (
    HEADER_SIZE,
    Message,
    _context_size,
    _popcount,
    _u16,
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

    Known shortcoming: the 1.3 multi-key fields (KeyPairID,
    CertificateInfo, KeyUsageMask, present when the connection is
    MULTI_KEY_CONN) are not decoded. The requester never offers
    MULTI_KEY_CONN and refuses an ALGORITHMS that selects it, so a DIGESTS
    with them never reaches this decoder; supporting them means decoding
    them here and choosing a slot by its KeyUsageMask in the requester.
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
        if got >= 0x13 and mask & ~supported:
            # DSP0274 1.3 section 10.6: a provisioned slot is a supported
            # slot, so ProvisionedSlotMask (Param2) lies inside
            # SupportedSlotMask (Param1). Before 1.3 Param1 is reserved.
            raise cls._error(
                f"ProvisionedSlotMask 0x{mask:02x} names slots outside its SupportedSlotMask 0x{supported:02x}"
            )
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
