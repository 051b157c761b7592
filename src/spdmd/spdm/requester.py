"""The SPDM requester as a state machine without I/O (DSP0274 1.0 to 1.3).

Each `get_*`/`negotiate_*`/`challenge` method returns the request bytes and
remembers the request as pending; `receive(response)` validates the response
to the pending request, updates the negotiated state and the transcripts,
and verifies what can be verified. The caller (spdmd.attest) owns the
transport, the clock, retries and the deadline.

Invariants:
- a response is only ever matched with the pending request; after an ERROR
  the request stays pending, so the caller may resend it (Busy) or follow it
  with RESPOND_IF_READY (ResponseNotReady), and the final response is
  paired with the original request in the transcript;
- every verification failure raises (SignatureError, DigestMismatch,
  CertificateChainError) with the step set; nothing returns False;
- negotiated algorithms are exactly one bit, inside what was offered.

Known shortcomings (each is also described where it lives, with what would
remove it):
- no CHUNK_SEND/CHUNK_GET (1.2): our DataTransferSize equals
  MaxSPDMmsgSize, and a response larger than the responder's
  DataTransferSize fails with ERROR LargeResponse (see `_on_capabilities`);
- no 1.3 multi-key connection: MULTI_KEY_CONN is never offered, and a
  responder that selects it anyway is refused at NEGOTIATE_ALGORITHMS
  (see `_on_algorithms` and `messages.Digests`);
- no Ed448: it is never offered (see `_ASYM_SINCE_12`);
- no provisioned public key (slot 0xFF): spdmd.attest refuses the slot
  before anything is sent; this class expects a certificate chain for
  every slot it verifies;
- the MeasurementSummaryHash in CHALLENGE_AUTH is requested and covered by
  the signature, but not compared with measurements (see `challenge`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from spdmd.errors import (
    DigestMismatch,
    ErrorResponse,
    MalformedResponse,
    NegotiationError,
    SignatureError,
    SpdmError,
    UnexpectedResponse,
    UsageError,
)
from spdmd.spdm import crypto
from spdmd.spdm import messages as m
from spdmd.spdm._chain_reader import ChainReader
from spdmd.spdm.certs import CertificateChain, parse_cert_chain
from spdmd.spdm.constants import (
    ASYM_ALGOS,
    CHALLENGE_AUTH_SIGNING_CONTEXT,
    CRYPTO_REQUESTS,
    HASH_ALGOS,
    MAX_SLOTS,
    MEAS_ATTR_GENERATE_SIGNATURE,
    MEAS_HASH_ALGOS,
    MEAS_OP_ALL,
    MEAS_OP_COUNT,
    MEASUREMENT_SPEC_DMTF,
    MEASUREMENTS_SIGNING_CONTEXT,
    MIN_DATA_TRANSFER_SIZE,
    ST1_SECONDS,
    SUMMARY_HASH_ALL,
    SUMMARY_HASH_NONE,
    SUPPORTED_VERSIONS,
    CapabilityFlag,
    Code,
    ErrorCode,
    version_to_string,
)
from spdmd.spdm.transcript import Transcript

__all__ = ["ALL_ASYM", "ALL_HASH", "Requester", "RequesterSettings"]

ALL_ASYM = sum(int(bit) for bit in ASYM_ALGOS)
ALL_HASH = sum(int(bit) for bit in HASH_ALGOS)
# DSP0274 1.2 section 10.5: EdDSA exists from 1.2 on; older versions must
# not be offered it.
#
# Known shortcoming: Ed448 (0x800) is never offered at all, because ALL_ASYM
# comes from constants.ASYM_ALGOS, which has no Ed448 entry. From 1.2 an
# Ed448 signature uses the SPDM signing context string as its Ed448
# context (DSP0274 1.2 section 15), and `cryptography` signs and verifies
# Ed448 only with an empty context. Supporting it needs an Ed448
# implementation that takes a context, then an ASYM_ALGOS entry and the
# crypto and certs cases (the leaf key type check already names Ed448
# keys).
_ASYM_SINCE_12 = 0x400 | 0x800
# OtherParamsSupport (1.2+): OpaqueDataFmt1, the DMTF general opaque format.
_OPAQUE_DATA_FMT1 = 0x02
# OtherParamsSupport/Selection bit 4 (1.3): MULTI_KEY_CONN.
_MULTI_KEY_CONN = 0x10


def _names(versions: frozenset[int] | set[int]) -> str:
    return ", ".join(version_to_string(v) for v in sorted(versions)) or "none"


def _single_bit(value: int) -> bool:
    return value != 0 and value & (value - 1) == 0


@dataclass
class RequesterSettings:
    """What the requester offers. Defaults: every version and algorithm this
    package supports, no requester capabilities, CTExponent 0 and a 4608-byte
    DataTransferSize (1.2+, equal to MaxSPDMmsgSize since we do not chunk)."""

    versions: frozenset[int] = field(
        default_factory=lambda: frozenset(int(v) for v in SUPPORTED_VERSIONS)
    )
    asym_algos: int = ALL_ASYM
    hash_algos: int = ALL_HASH
    portion_size: int = 0x400
    data_transfer_size: int = 0x1200

    def check(self) -> None:
        if not self.versions & {int(v) for v in SUPPORTED_VERSIONS}:
            raise UsageError(
                f"no supported SPDM version allowed ({_names(self.versions)})"
            )
        if not self.asym_algos & ALL_ASYM:
            raise UsageError(
                f"no supported signing algorithm allowed (mask 0x{self.asym_algos:x})"
            )
        if not self.hash_algos & ALL_HASH:
            raise UsageError(
                f"no supported hash algorithm allowed (mask 0x{self.hash_algos:x})"
            )
        if not 1 <= self.portion_size <= 0xFFFF:
            raise UsageError(
                f"certificate portion size {self.portion_size} is outside 1..65535"
            )
        if self.data_transfer_size < MIN_DATA_TRANSFER_SIZE:
            raise UsageError(
                f"DataTransferSize {self.data_transfer_size} is below the SPDM minimum {MIN_DATA_TRANSFER_SIZE}"
            )


class Requester:
    """One connection's requester state. Not thread-safe."""

    def __init__(self, settings: RequesterSettings | None = None) -> None:
        self.settings = settings or RequesterSettings()
        self.settings.check()
        self._reset()

    def _reset(self) -> None:
        """Forget the connection: GET_VERSION starts everything afresh."""
        self.pending: Any = None
        self.version = 0x10
        self.transcript = Transcript()
        self.ct_exponent: int | None = None
        self.responder_flags = 0
        self.responder_data_transfer_size = 0
        self.asym_algo = 0
        self.hash_algo = 0
        self.measurement_hash_algo = 0
        self.measurement_spec = 0
        self.slot_mask = 0
        self.digests: dict[int, bytes] = {}
        # One parsed chain per slot read; `.raw` is the chain as served.
        self.parsed_chains: dict[int, CertificateChain] = {}
        self._cert: ChainReader | None = None
        self._summary_type = SUMMARY_HASH_NONE
        # Filled by a signed MEASUREMENTS: the Redfish SignedMeasurements
        # bytes and the blocks of every GET_MEASUREMENTS since the last reset.
        self.blocks: list[m.MeasurementBlock] = []
        self._l1_closed = False
        self.signed_measurements = b""
        self.measurement_count: int | None = None

    # --- timing ----------------------------------------------------------

    def response_time(self, code: int) -> float:
        """Seconds the responder may take (DSP0274 section 9.1): CT =
        2^CTExponent us for the cryptographic requests once CAPABILITIES is
        known, ST1 for everything else."""
        if code in CRYPTO_REQUESTS and self.ct_exponent is not None:
            return (1 << self.ct_exponent) / 1e6
        return ST1_SECONDS

    # --- building requests -----------------------------------------------

    def send(self, msg: Any) -> bytes:
        """Make `msg` the pending request and return its bytes. The builder
        methods below use it; tests replaying recorded requests call it (or
        `send_bytes`) directly."""
        data: bytes = msg.raw or msg.encode()
        msg.raw = data
        code = msg.CODE
        if code == Code.GET_CERTIFICATE:
            if self._cert is None or self._cert.slot != msg.slot:
                if not self.slot_mask & (1 << msg.slot):
                    raise NegotiationError(
                        f"slot {msg.slot} holds no certificate chain (DIGESTS slot mask 0x{self.slot_mask:02x})",
                        step="GET_CERTIFICATE",
                    )
                self._cert = ChainReader(msg.slot)
            if msg.offset != len(self._cert.buffer):
                raise UsageError(
                    f"BUG: GET_CERTIFICATE offset {msg.offset}, expected {len(self._cert.buffer)}"
                )
        elif code == Code.CHALLENGE:
            self._summary_type = msg.summary_type
        if code != Code.GET_MEASUREMENTS or self._l1_closed:
            # `blocks` follows L1: a new run of GET_MEASUREMENTS starts it.
            self.blocks = []
            self._l1_closed = False
        if code != Code.GET_MEASUREMENTS:
            self.transcript.other_request()
        self.pending = msg
        return data

    def send_bytes(self, data: bytes) -> bytes:
        """Make an encoded request pending (see `send`)."""
        return self.send(m.decode_request(data))

    def get_version(self) -> bytes:
        return self.send(m.GetVersion())

    def get_capabilities(self) -> bytes:
        size = self.settings.data_transfer_size
        return self.send(
            m.GetCapabilities(
                version=self.version,
                data_transfer_size=size if self.version >= 0x12 else 0,
                max_spdm_msg_size=size if self.version >= 0x12 else 0,
            )
        )

    def offered_asym(self) -> int:
        mask = self.settings.asym_algos & ALL_ASYM
        return mask if self.version >= 0x12 else mask & ~_ASYM_SINCE_12

    def negotiate_algorithms(self) -> bytes:
        asym = self.offered_asym()
        if not asym:
            raise NegotiationError(
                f"none of the allowed signing algorithms exists in SPDM {version_to_string(self.version)}",
                step="NEGOTIATE_ALGORITHMS",
            )
        return self.send(
            m.NegotiateAlgorithms(
                version=self.version,
                measurement_spec=MEASUREMENT_SPEC_DMTF,
                other_params=_OPAQUE_DATA_FMT1 if self.version >= 0x12 else 0,
                base_asym=asym,
                base_hash=self.settings.hash_algos & ALL_HASH,
            )
        )

    def get_digests(self) -> bytes:
        self._require(CapabilityFlag.CERT, "GET_DIGESTS", "certificates (CERT_CAP)")
        return self.send(m.GetDigests(version=self.version))

    def get_certificate(self, slot: int) -> bytes:
        """The next GET_CERTIFICATE of `slot`'s chain; call until
        `certificate_complete(slot)`."""
        read = self._cert if self._cert and self._cert.slot == slot else None
        offset = len(read.buffer) if read else 0
        length = (
            read.next_length(self.settings.portion_size)
            if read
            else (self.settings.portion_size)
        )
        return self.send(
            m.GetCertificate(
                version=self.version, slot=slot, offset=offset, length=length
            )
        )

    def certificate_complete(self, slot: int) -> bool:
        return slot in self.parsed_chains

    def challenge(
        self, slot: int, nonce: bytes, requester_context: bytes = b""
    ) -> bytes:
        self._require(CapabilityFlag.CHAL, "CHALLENGE", "CHALLENGE (CHAL_CAP)")
        # Ask for the summary of all measurements when the device has any:
        # it costs nothing and binds the measurements to the signature.
        # Known shortcoming: the summary is checked for size and covered by
        # the signature, but never compared with the measurements
        # themselves (DSP0274 section 10.8: the hash of all measurement
        # blocks concatenated, or of the TCB ones). attest() reads no
        # measurements, so it has nothing to compare with, and the summary
        # is not in the result either. Removing it means reading every
        # block (GET_MEASUREMENTS 0xFF) after CHALLENGE in the same
        # connection, or returning the summary for the caller to compare.
        meas = self.responder_flags & (
            CapabilityFlag.MEAS_NO_SIG | CapabilityFlag.MEAS_SIG
        )
        self._summary_type = SUMMARY_HASH_ALL if meas else SUMMARY_HASH_NONE
        return self.send(
            m.Challenge(
                version=self.version,
                slot=slot,
                summary_type=self._summary_type,
                nonce=nonce,
                requester_context=requester_context if self.version >= 0x13 else b"",
            )
        )

    def get_measurements(
        self,
        operation: int,
        *,
        signed: bool,
        nonce: bytes = b"",
        slot: int = 0,
        requester_context: bytes = b"",
    ) -> bytes:
        need = (
            CapabilityFlag.MEAS_SIG
            if signed
            else CapabilityFlag.MEAS_NO_SIG | CapabilityFlag.MEAS_SIG
        )
        what = (
            "signed measurements (MEAS_CAP 10b)"
            if signed
            else "measurements (MEAS_CAP)"
        )
        self._require(need, "GET_MEASUREMENTS", what)
        if signed and self.version == 0x10 and slot != 0:
            raise NegotiationError(
                f"SPDM 1.0 has no SlotID in GET_MEASUREMENTS: measurements cannot be signed with slot {slot}",
                step="GET_MEASUREMENTS",
            )
        return self.send(
            m.GetMeasurements(
                version=self.version,
                attributes=MEAS_ATTR_GENERATE_SIGNATURE if signed else 0,
                operation=operation,
                nonce=nonce if signed else b"",
                slot=slot,
                requester_context=requester_context if self.version >= 0x13 else b"",
            )
        )

    def respond_if_ready(self, not_ready: m.ResponseNotReadyData) -> bytes:
        """RESPOND_IF_READY for the pending request. It is not made pending
        and enters no transcript (DSP0274 section 10.13)."""
        return m.RespondIfReady(
            version=self.version,
            request_code=not_ready.request_code,
            token=not_ready.token,
        ).encode()

    def _require(self, flag: int, step: str, what: str) -> None:
        if not self.responder_flags & flag:
            raise NegotiationError(
                f"the responder does not support {what}: CAPABILITIES flags 0x{self.responder_flags:08x}",
                step=step,
            )

    # --- consuming responses ---------------------------------------------

    def receive(self, data: bytes) -> Any:
        """Validate and apply the response to the pending request."""
        req = self.pending
        if req is None:
            raise UsageError("BUG: a response was received with no request pending")
        code = Code(req.CODE)
        try:
            rsp = m.decode_response(
                code,
                data,
                version=0x10 if code == Code.GET_VERSION else self.version,
                **self._sizes(req),
            )
        except ErrorResponse as exc:
            if exc.error_code != ErrorCode.RESPONSE_NOT_READY:
                if code == Code.GET_MEASUREMENTS:
                    self.transcript.measurements_failed()
                    self.blocks = []
                elif code == Code.CHALLENGE:
                    self.transcript.challenge_failed()
            raise
        try:
            _HANDLERS[code](self, req, rsp)
        except SpdmError as exc:
            exc.step = exc.step or code.name
            raise
        self.pending = None
        return rsp

    def _sizes(self, req: Any) -> dict[str, int]:
        code = req.CODE
        if code == Code.GET_DIGESTS:
            return {"hash_size": crypto.hash_size(self.hash_algo)}
        if code == Code.CHALLENGE:
            h = crypto.hash_size(self.hash_algo)
            return {
                "hash_size": h,
                "signature_size": self._signature_size(),
                "summary_hash_size": h
                if self._summary_type != SUMMARY_HASH_NONE
                else 0,
            }
        if code == Code.GET_MEASUREMENTS:
            return {
                "signature_size": self._signature_size()
                if req.signature_requested
                else 0
            }
        return {}

    def _signature_size(self) -> int:
        return ASYM_ALGOS[self.asym_algo].signature_size  # type: ignore[index]

    def _on_version(self, req: m.GetVersion, rsp: m.Version) -> None:
        offered = rsp.versions
        common = offered & self.settings.versions & {int(v) for v in SUPPORTED_VERSIONS}
        if not common:
            raise NegotiationError(
                f"no common SPDM version: the responder offers {_names(offered)}, allowed are {_names(self.settings.versions)}"
            )
        self._reset()
        self.version = max(common)
        self.transcript = Transcript(self.version)
        self.transcript.start_vca(req.raw, rsp.raw)

    def _on_capabilities(self, req: m.GetCapabilities, rsp: m.Capabilities) -> None:
        if self.version >= 0x12:
            # DSP0274 1.2 section 10.4: DataTransferSize is at least 42 and at
            # most MaxSPDMmsgSize, and equal to it unless the responder chunks.
            dts, mx = rsp.data_transfer_size, rsp.max_spdm_msg_size
            if dts < MIN_DATA_TRANSFER_SIZE:
                raise MalformedResponse(
                    f"CAPABILITIES DataTransferSize is {dts}, expected at least {MIN_DATA_TRANSFER_SIZE}"
                )
            if dts > mx:
                raise MalformedResponse(
                    f"CAPABILITIES DataTransferSize {dts} exceeds MaxSPDMmsgSize {mx}"
                )
            if dts != mx and not rsp.flags & CapabilityFlag.CHUNK:
                raise MalformedResponse(
                    f"CAPABILITIES DataTransferSize {dts} differs from MaxSPDMmsgSize {mx} without CHUNK_CAP"
                )
            # Known shortcoming: CHUNK_SEND/CHUNK_GET (DSP0274 1.2, large
            # SPDM message transfer) are not implemented. Our requests are
            # always small, so only CHUNK_GET would matter: a responder with
            # CHUNK_CAP and a DataTransferSize below a response's size
            # answers ERROR LargeResponse, which fails the step with a
            # reason naming chunked transfer. A large certificate chain
            # still works, as GET_CERTIFICATE asks for portions. Removing
            # it means a CHUNK_GET loop in spdmd.attest that reassembles
            # the response before `receive`, and offering CHUNK_CAP.
        both = CapabilityFlag.MEAS_NO_SIG | CapabilityFlag.MEAS_SIG
        if rsp.flags & both == both:
            # DSP0274 table "Responder flag fields": MEAS_CAP 11b is reserved.
            raise MalformedResponse(
                f"CAPABILITIES flags 0x{rsp.flags:08x} set MEAS_CAP to the reserved value 11b"
            )
        self.ct_exponent = rsp.ct_exponent
        self.responder_flags = rsp.flags
        self.responder_data_transfer_size = rsp.data_transfer_size
        self.transcript.add_vca(req.raw, rsp.raw)

    def _on_algorithms(self, req: m.NegotiateAlgorithms, rsp: m.Algorithms) -> None:
        step = "NEGOTIATE_ALGORITHMS"
        for name, got, offered in (
            ("BaseAsymSel", rsp.base_asym, req.base_asym),
            ("BaseHashSel", rsp.base_hash, req.base_hash),
        ):
            if not _single_bit(got) or not got & offered:
                raise NegotiationError(
                    f"ALGORITHMS {name} is 0x{got:x}, expected exactly one bit of the offered 0x{offered:x}",
                    step=step,
                )
        # OtherParamsSelection bits 3:0 choose the opaque data format (1.2+);
        # it must be one that was offered.
        if rsp.other_params & 0x0F & ~req.other_params:
            raise NegotiationError(
                f"ALGORITHMS OtherParamsSelection 0x{rsp.other_params:02x} selects an opaque data format not offered (0x{req.other_params:02x})",
                step=step,
            )
        if self.version >= 0x13 and rsp.other_params & _MULTI_KEY_CONN:
            # Known shortcoming: 1.3 multi-key connections are not
            # supported. We never offer MULTI_KEY_CONN, but a responder
            # whose MULTI_KEY_CAP is "multi-key only" selects it anyway,
            # and then DIGESTS carries KeyPairID, CertificateInfo and
            # KeyUsageMask per slot, which messages.Digests does not decode.
            # Supporting it means decoding those fields and choosing a slot
            # whose KeyUsageMask allows CHALLENGE and measurements.
            raise NegotiationError(
                f"ALGORITHMS OtherParamsSelection 0x{rsp.other_params:02x} selects a multi-key connection (MULTI_KEY_CONN), which this requester does not support",
                step=step,
            )
        if rsp.ext_asym or rsp.ext_hash or rsp.tables:
            raise UnexpectedResponse(
                "ALGORITHMS selects extended algorithms or algorithm tables that were not offered",
                step=step,
            )
        measures = self.responder_flags & (
            CapabilityFlag.MEAS_NO_SIG | CapabilityFlag.MEAS_SIG
        )
        if measures:
            if rsp.measurement_spec != MEASUREMENT_SPEC_DMTF:
                raise NegotiationError(
                    f"ALGORITHMS MeasurementSpecificationSel is 0x{rsp.measurement_spec:02x}, expected DMTF (0x01)",
                    step=step,
                )
            if rsp.measurement_hash not in MEAS_HASH_ALGOS:
                raise NegotiationError(
                    f"ALGORITHMS MeasurementHashAlgo is 0x{rsp.measurement_hash:x}, expected exactly one known bit",
                    step=step,
                )
        self.asym_algo = rsp.base_asym
        self.hash_algo = rsp.base_hash
        self.measurement_hash_algo = rsp.measurement_hash
        self.measurement_spec = rsp.measurement_spec
        self.transcript.add_vca(req.raw, rsp.raw)

    def _on_digests(self, req: m.GetDigests, rsp: m.Digests) -> None:
        if not rsp.slot_mask:
            raise MalformedResponse("DIGESTS lists no provisioned slot (slot mask 0)")
        self.slot_mask = rsp.slot_mask
        self.digests = {
            s: d for s in range(MAX_SLOTS) if (d := rsp.digest_for(s)) is not None
        }
        self.parsed_chains.clear()
        self._cert = None
        self.transcript.start_digests(req.raw, rsp.raw)

    def _on_certificate(self, req: m.GetCertificate, rsp: m.Certificate) -> None:
        assert self._cert is not None
        self.transcript.add_certificate(req.raw, rsp.raw)
        chain = self._cert.add(req, rsp)
        if chain is None:
            return
        self._cert = None
        slot = req.slot
        if crypto.digest(self.hash_algo, chain) != self.digests[slot]:
            raise DigestMismatch(
                f"the certificate chain served for slot {slot} does not match its DIGESTS entry",
                step="CERTIFICATE_CHAIN",
            )
        self.parsed_chains[slot] = parse_cert_chain(chain, self.hash_algo)

    def _verify(self, slot: int, what: str, message: bytes, signature: bytes) -> None:
        chain = self.parsed_chains.get(slot)
        if chain is None:
            raise UsageError(
                f"BUG: {what} for slot {slot} before its certificate chain"
            )
        try:
            crypto.verify_signature(
                chain.leaf.public_key(),
                self.asym_algo,
                self.hash_algo,
                message,
                signature,
            )
        except SignatureError as exc:
            raise SignatureError(
                f"{what} signature does not verify with the public key of leaf certificate '{chain.leaf_subject}' ({exc}): the device does not hold that certificate's private key, or the signed data was altered"
            ) from None

    def _on_challenge_auth(self, req: m.Challenge, rsp: m.ChallengeAuth) -> None:
        # Record first: B and C are cleared whatever the outcome.
        m1 = self.transcript.challenge(req.raw, rsp.signed_part)
        if rsp.slot != req.slot:
            raise UnexpectedResponse(
                f"CHALLENGE_AUTH is for slot {rsp.slot}, expected {req.slot}"
            )
        # DSP0274 1.0 to 1.3 section 10.8, CHALLENGE_AUTH Param2: bit K of
        # SlotMask is set if and only if slot K holds a certificate chain.
        # 1.0 already defines Param2 this way (DMTF's responder fills it in
        # 1.0, and DMTF's conformance suite checks it for 1.0 and 1.1), so
        # the rule applies to every version. A response that says the
        # challenged slot is empty contradicts its own CertChainHash. Slot
        # 0xFF (Param2 = 0 from 1.1) never gets here: attest refuses it.
        if not rsp.slot_mask & (1 << req.slot):
            raise UnexpectedResponse(
                f"CHALLENGE_AUTH SlotMask 0x{rsp.slot_mask:02x} says the challenged slot {req.slot} holds no certificate chain"
            )
        if rsp.requester_context != req.requester_context:
            raise UnexpectedResponse(
                f"CHALLENGE_AUTH RequesterContext {rsp.requester_context.hex()} does not echo the request's {req.requester_context.hex()}"
            )
        expected = self.digests.get(req.slot)
        if rsp.cert_chain_hash != expected:
            raise DigestMismatch(
                f"CHALLENGE_AUTH CertChainHash {rsp.cert_chain_hash.hex()} differs from the slot {req.slot} chain digest {expected.hex() if expected else '(none)'}"
            )
        # A chain in self.parsed_chains already hashed to its DIGESTS entry
        # (_on_certificate), which CertChainHash just matched: no second hash.
        if req.slot not in self.parsed_chains:
            raise DigestMismatch(
                f"CHALLENGE_AUTH for slot {req.slot} arrived before its certificate chain was read"
            )
        message = crypto.signing_input(
            self.version, CHALLENGE_AUTH_SIGNING_CONTEXT, m1, self.hash_algo
        )
        self._verify(req.slot, "CHALLENGE_AUTH", message, rsp.signature)

    def _on_measurements(self, req: m.GetMeasurements, rsp: m.Measurements) -> None:
        signed = req.signature_requested
        l1 = self.transcript.measurements(req.raw, rsp.signed_part, signed=signed)
        if signed and self.version >= 0x11 and rsp.slot != req.slot:
            raise UnexpectedResponse(
                f"MEASUREMENTS is for slot {rsp.slot}, expected {req.slot}"
            )
        if not signed and rsp.content_changed:
            raise MalformedResponse("unsigned MEASUREMENTS reports a content change")
        if rsp.requester_context != req.requester_context:
            raise UnexpectedResponse(
                f"MEASUREMENTS RequesterContext {rsp.requester_context.hex()} does not echo the request's {req.requester_context.hex()}"
            )
        self._check_blocks(req.operation, rsp)
        if req.operation == MEAS_OP_COUNT:
            self.measurement_count = rsp.total_count
        self.blocks.extend(rsp.blocks)
        if not signed:
            return
        assert l1 is not None
        self._l1_closed = True
        message = crypto.signing_input(
            self.version, MEASUREMENTS_SIGNING_CONTEXT, l1, self.hash_algo
        )
        self.signed_measurements = l1 + rsp.signature
        self._verify(req.slot, "MEASUREMENTS", message, rsp.signature)

    def _check_blocks(self, operation: int, rsp: m.Measurements) -> None:
        if operation == MEAS_OP_COUNT:
            if rsp.blocks:
                raise MalformedResponse(
                    f"MEASUREMENTS to a count request carries {len(rsp.blocks)} blocks, expected 0"
                )
            return
        seen: set[int] = set()
        for block in rsp.blocks:
            if block.index in (0, 0xFF) or block.index in seen:
                raise MalformedResponse(
                    f"MEASUREMENTS has an invalid or repeated block index {block.index}"
                )
            if operation != MEAS_OP_ALL and block.index != operation:
                raise UnexpectedResponse(
                    f"MEASUREMENTS block index is {block.index}, expected {operation}"
                )
            if block.spec != self.measurement_spec:
                raise MalformedResponse(
                    f"MEASUREMENTS block {block.index} MeasurementSpecification is 0x{block.spec:02x}, expected the negotiated 0x{self.measurement_spec:02x}"
                )
            self._check_digest_size(block)
            seen.add(block.index)
        if operation != MEAS_OP_ALL and len(rsp.blocks) != 1:
            raise MalformedResponse(
                f"MEASUREMENTS for index {operation} carries {len(rsp.blocks)} blocks, expected 1"
            )

    def _check_digest_size(self, block: m.MeasurementBlock) -> None:
        """DSP0274 section 10.11, DMTF measurement specification format: a
        value whose DMTFSpecMeasurementValueType bit 7 is clear is a digest
        made with the negotiated MeasurementHashAlgo, so it is exactly that
        hash's size. With "raw bit stream only" (size 0) no digest exists."""
        if block.spec != MEASUREMENT_SPEC_DMTF or block.raw_bit_stream:
            return
        size = MEAS_HASH_ALGOS.get(self.measurement_hash_algo, 0)  # type: ignore[call-overload]
        if not size:
            raise MalformedResponse(
                f"MEASUREMENTS block {block.index} is a digest, but the negotiated MeasurementHashAlgo 0x{self.measurement_hash_algo:x} allows only raw bit streams"
            )
        if len(block.value) != size:
            raise MalformedResponse(
                f"MEASUREMENTS block {block.index} digest is {len(block.value)} bytes, expected {size} for the negotiated MeasurementHashAlgo 0x{self.measurement_hash_algo:x}"
            )


_HANDLERS: dict[Code, Any] = {
    Code.GET_VERSION: Requester._on_version,
    Code.GET_CAPABILITIES: Requester._on_capabilities,
    Code.NEGOTIATE_ALGORITHMS: Requester._on_algorithms,
    Code.GET_DIGESTS: Requester._on_digests,
    Code.GET_CERTIFICATE: Requester._on_certificate,
    Code.CHALLENGE: Requester._on_challenge_auth,
    Code.GET_MEASUREMENTS: Requester._on_measurements,
}
