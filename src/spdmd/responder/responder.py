"""A sans-I/O SPDM responder (DSP0274 1.0 to 1.3) with faults to order.

`Responder(config).handle(request)` takes one request and returns one
response, or None when the responder stays silent. It keeps the connection
state the specification requires of a responder: the negotiated version and
algorithms, the legal order of requests (anything else is answered with
UnexpectedRequest), and its own copies of transcripts A, B, C and L1 from
which CHALLENGE_AUTH and MEASUREMENTS are signed. Nothing here sleeps or
touches a socket: a slow reply is reported by `handle_timed` and carried
out by the server.

Credentials are per slot and per signing algorithm, because the SPDM chain
embeds the negotiated hash (RootHash) and the key must fit the negotiated
BaseAsymAlgo; `spdmd.responder.config` describes a device and builds them.
Its names are re-exported here.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable

from spdmd.errors import MalformedRequest, SpdmError
from spdmd.responder.config import (
    ASYM_PREFERENCE,
    DEFAULT_MEASUREMENTS,
    HASH_PREFERENCE,
    Credential,
    MeasurementSpec,
    ResponderConfig,
    credential_from_pki,
    first_bit,
    generate_slot_pki,
)
from spdmd.spdm import crypto
from spdmd.spdm import messages as m
from spdmd.spdm.constants import (
    ASYM_ALGOS,
    CHALLENGE_AUTH_SIGNING_CONTEXT,
    HASH_ALGOS,
    MAX_SLOTS,
    MEAS_ATTR_GENERATE_SIGNATURE,
    MEAS_OP_ALL,
    MEAS_OP_COUNT,
    MEASUREMENT_SPEC_DMTF,
    MEASUREMENTS_SIGNING_CONTEXT,
    MIN_DATA_TRANSFER_SIZE,
    NONCE_SIZE,
    SUMMARY_HASH_ALL,
    SUMMARY_HASH_NONE,
    SUMMARY_HASH_TCB,
    AsymAlgo,
    CapabilityFlag,
    Code,
    ErrorCode,
    HashAlgo,
    MeasHashAlgo,
)

__all__ = [
    "ASYM_PREFERENCE",
    "DEFAULT_MEASUREMENTS",
    "HASH_PREFERENCE",
    "Credential",
    "MeasurementSpec",
    "Responder",
    "ResponderConfig",
    "credential_from_pki",
    "generate_slot_pki",
]

# BaseHashAlgo -> the MeasurementHashAlgo of the same function.
_MEAS_HASH_FOR = {
    HashAlgo.SHA_256: MeasHashAlgo.SHA_256,
    HashAlgo.SHA_384: MeasHashAlgo.SHA_384,
    HashAlgo.SHA_512: MeasHashAlgo.SHA_512,
    HashAlgo.SHA3_256: MeasHashAlgo.SHA3_256,
    HashAlgo.SHA3_384: MeasHashAlgo.SHA3_384,
    HashAlgo.SHA3_512: MeasHashAlgo.SHA3_512,
}
# EdDSA entered BaseAsymAlgo in DSP0274 1.2.
_MIN_VERSION = {AsymAlgo.ED25519: 0x12}

# Which requests are legal in which state (DSP0274 section 9, figure
# "SPDM messaging protocol flow"). GET_VERSION is legal everywhere.
_START, _VERSIONED, _CAPABLE, _NEGOTIATED = (
    "start",
    "version",
    "capabilities",
    "negotiated",
)
_LEGAL_STATES: dict[Code, frozenset[str]] = {
    Code.GET_CAPABILITIES: frozenset({_VERSIONED}),
    Code.NEGOTIATE_ALGORITHMS: frozenset({_CAPABLE}),
    Code.GET_DIGESTS: frozenset({_NEGOTIATED}),
    Code.GET_CERTIFICATE: frozenset({_NEGOTIATED}),
    Code.CHALLENGE: frozenset({_NEGOTIATED}),
    Code.GET_MEASUREMENTS: frozenset({_NEGOTIATED}),
}

# ResponseNotReady timing: wait 2^10 us, RDTM well above 1 (DSP0274 10.14).
_RDT_EXPONENT = 10
_RDTM = 10


class _Refuse(Exception):
    """Internal: answer with ERROR `code`/`data`."""

    def __init__(self, code: int, data: int = 0) -> None:
        super().__init__(code)
        self.code = code
        self.data = data


class Responder:
    """One SPDM responder connection state (see the module docstring)."""

    def __init__(
        self, config: ResponderConfig, *, random: Callable[[int], bytes] = os.urandom
    ) -> None:
        self.config = config
        self.faults = config.faults
        self._random = random
        self._pending: tuple[bytes, int] | None = None
        self._busy_left = self.faults.busy
        self._busy_after_left = self.faults.busy_after
        self._not_ready_left = self.faults.not_ready
        self._silenced = self.faults.silent_all
        self._token = 0
        self.requests_seen = 0
        self._reset()

    # -- public --------------------------------------------------------------

    def handle(self, request: bytes) -> bytes | None:
        """The response to `request`, or None to stay silent."""
        return self.handle_timed(request)[0]

    def handle_timed(self, request: bytes) -> tuple[bytes | None, float]:
        """(response or None, seconds the server should wait before sending)."""
        self.requests_seen += 1
        response, delay = self._handle(request)
        self._track_l1(request, response)
        return response, delay

    def _handle(self, request: bytes) -> tuple[bytes | None, float]:
        step = _step_name(request)
        f = self.faults
        if f.silent_from is not None and step == f.silent_from:
            self._silenced = True
        if self._silenced or (step is not None and step == f.silent_only):
            return None, 0.0
        if self._busy_left and (f.busy_step is None or step == f.busy_step):
            if self._busy_after_left:
                self._busy_after_left -= 1
            else:
                self._busy_left -= 1
                return self._error(ErrorCode.BUSY), self._delay(step)
        if step is not None and step == f.error_step:
            return self._error(f.error_code), self._delay(step)
        if (
            self._not_ready_left
            and step is not None
            and step == f.not_ready_step
            and self._state in _LEGAL_STATES.get(Code[step], frozenset({self._state}))
        ):
            self._not_ready_left -= 1
            self._token = (self._token + 1) & 0xFF
            self._pending = (request, self._token)
            return self._not_ready(request[1]), self._delay(step)
        response = self._answer(request)
        return self._post(step, response), self._delay(step)

    # -- dispatch --------------------------------------------------------------

    def _track_l1(self, request: bytes, response: bytes | None) -> None:
        """Apply the L1 reset rules (DSP0274 1.2 section 10.11 and the L1
        definition in section 15) to one answered request, whatever
        produced the answer (a handler, a refusal or a fault):

        - any request other than GET_MEASUREMENTS resets L1;
        - an ERROR answer to GET_MEASUREMENTS resets L1, Busy included, the
          same rule the requester's transcript follows;
        - ResponseNotReady does not (the final answer to RESPOND_IF_READY
          pairs with the original request), and RESPOND_IF_READY counts as
          the request it names.

        DMTF's libspdm responder keeps L1 when it answers Busy; this
        emulator follows the rule as written. spdmd.attest copes with
        both by starting again from GET_VERSION (see _BusyMidRun there).
        """
        if len(request) < 2:
            return
        code = request[1]
        if code == Code.RESPOND_IF_READY and len(request) >= 3:
            code = request[2]
        answered_error = (
            response is not None
            and len(response) >= 3
            and response[1] == Code.ERROR
            and response[2] != ErrorCode.RESPONSE_NOT_READY
        )
        if code != Code.GET_MEASUREMENTS or answered_error:
            self._l1 = b""

    def _answer(self, request: bytes) -> bytes:
        try:
            return self._dispatch(request)
        except _Refuse as refusal:
            return self._error(refusal.code, refusal.data)
        except MalformedRequest:
            return self._error(ErrorCode.INVALID_REQUEST)

    def _dispatch(self, request: bytes) -> bytes:
        if len(request) < m.HEADER_SIZE:
            raise _Refuse(ErrorCode.INVALID_REQUEST)
        code = request[1]
        if code == Code.GET_VERSION:
            return self._get_version(request)
        if code == Code.RESPOND_IF_READY:
            return self._respond_if_ready(request)
        try:
            known = Code(code)
        except ValueError:
            raise _Refuse(ErrorCode.UNSUPPORTED_REQUEST, code) from None
        if known not in _LEGAL_STATES:
            raise _Refuse(ErrorCode.UNSUPPORTED_REQUEST, code)
        if self._state == _START:
            # Like DMTF's responder: before GET_VERSION nothing is negotiated,
            # so the answer is VersionMismatch in version 1.0.
            raise _Refuse(ErrorCode.VERSION_MISMATCH)
        if known == Code.GET_CAPABILITIES:
            if request[0] not in self.config.versions:
                raise _Refuse(ErrorCode.VERSION_MISMATCH)
        elif request[0] != self._version:
            raise _Refuse(ErrorCode.VERSION_MISMATCH)
        if self._state not in _LEGAL_STATES[known]:
            raise _Refuse(ErrorCode.UNEXPECTED_REQUEST)
        # L1 resets are applied in _track_l1, after the answer is known.
        handler = {
            Code.GET_CAPABILITIES: self._get_capabilities,
            Code.NEGOTIATE_ALGORITHMS: self._negotiate_algorithms,
            Code.GET_DIGESTS: self._get_digests,
            Code.GET_CERTIFICATE: self._get_certificate,
            Code.CHALLENGE: self._challenge,
            Code.GET_MEASUREMENTS: self._get_measurements,
        }[known]
        return handler(request)

    # -- VCA -------------------------------------------------------------------

    def _reset(self) -> None:
        self._state = _START
        self._version = 0x10
        self._asym = 0
        self._hash = 0
        self._meas_hash = 0
        self._requester_dts = 0
        self._a = b""
        self._b = b""
        self._l1 = b""
        self._pending = None

    def _get_version(self, request: bytes) -> bytes:
        if request[0] != 0x10:
            # DSP0274 10.3: GET_VERSION is always version 1.0.
            self._reset()
            raise _Refuse(ErrorCode.VERSION_MISMATCH)
        req = m.GetVersion.decode(request)
        self._reset()
        entries = tuple(v << 8 for v in sorted(self.config.versions))
        response = m.Version(entries=entries).encode()
        self._state = _VERSIONED
        self._a = req.raw + response
        return response

    def _get_capabilities(self, request: bytes) -> bytes:
        req = m.GetCapabilities.decode(request)
        version = req.version
        # Like DMTF's responder: once GET_CAPABILITIES names a version we
        # offer, even a refusal of it is answered in that version.
        self._version = version
        dts = self.config.data_transfer_size
        if version >= 0x12:
            # DSP0274 1.2 10.4: DataTransferSize at least 42 and, without
            # CHUNK, equal to MaxSPDMmsgSize.
            if req.data_transfer_size < MIN_DATA_TRANSFER_SIZE:
                raise _Refuse(ErrorCode.INVALID_REQUEST)
            if req.data_transfer_size > req.max_spdm_msg_size:
                raise _Refuse(ErrorCode.INVALID_REQUEST)
            chunking = req.flags & CapabilityFlag.CHUNK
            if not chunking and req.data_transfer_size != req.max_spdm_msg_size:
                raise _Refuse(ErrorCode.INVALID_REQUEST)
            self._requester_dts = req.data_transfer_size
        response = m.Capabilities(
            version=version,
            ct_exponent=self.config.ct_exponent,
            flags=self.config.capabilities,
            data_transfer_size=dts,
            max_spdm_msg_size=dts,
        ).encode()
        self._version = version
        self._a += req.raw + response
        self._state = _CAPABLE
        return response

    def _negotiate_algorithms(self, request: bytes) -> bytes:
        req = m.NegotiateAlgorithms.decode(request)
        usable_asym = req.base_asym & self.config.asym_algos
        usable_asym &= ~sum(a for a, v in _MIN_VERSION.items() if self._version < v)
        provisioned = (
            set().union(*(set(c) for c in self.config.slots.values()))
            if self.config.slots
            else set()
        )
        usable_asym &= sum(provisioned) if provisioned else 0
        asym = first_bit(usable_asym, ASYM_PREFERENCE)
        hash_algo = first_bit(req.base_hash & self.config.hash_algos, HASH_PREFERENCE)
        meas_capable = bool(
            self.config.capabilities
            & (CapabilityFlag.MEAS_SIG | CapabilityFlag.MEAS_NO_SIG)
        )
        meas_spec = (
            MEASUREMENT_SPEC_DMTF
            if meas_capable and req.measurement_spec & MEASUREMENT_SPEC_DMTF
            else 0
        )
        meas_hash = (
            int(_MEAS_HASH_FOR[HashAlgo(hash_algo)]) if meas_spec and hash_algo else 0
        )
        other = 0
        if self._version >= 0x12:
            # Opaque data format: prefer format 1 (bit 1), else format 0.
            other = 0x2 if req.other_params & 0x2 else req.other_params & 0x1
        tables = tuple(m.AlgStruct(t.alg_type, 0, t.fixed_size) for t in req.tables)
        response = m.Algorithms(
            version=self._version,
            measurement_spec=meas_spec,
            other_params=other,
            measurement_hash=meas_hash,
            base_asym=asym,
            base_hash=hash_algo,
            tables=tables,
        ).encode()
        self._asym, self._hash, self._meas_hash = asym, hash_algo, meas_hash
        self._a += req.raw + response
        self._state = _NEGOTIATED
        return response

    # -- certificates and challenge --------------------------------------------

    def _require_crypto(self) -> None:
        if not self._asym or not self._hash:
            # Negotiation found no common algorithm; nothing can be signed.
            raise _Refuse(ErrorCode.UNEXPECTED_REQUEST)

    def _credential(self, slot: int) -> Credential:
        cred = self.config.slots.get(slot, {}).get(self._asym)
        if cred is None:
            raise _Refuse(ErrorCode.INVALID_REQUEST)
        return cred

    def _slot_mask(self) -> int:
        mask = 0
        for slot, creds in self.config.slots.items():
            if self._asym in creds:
                mask |= 1 << slot
        return mask

    def _get_digests(self, request: bytes) -> bytes:
        req = m.GetDigests.decode(request)
        self._require_crypto()
        if not self.config.capabilities & CapabilityFlag.CERT:
            raise _Refuse(ErrorCode.UNSUPPORTED_REQUEST, Code.GET_DIGESTS)
        mask = self._slot_mask()
        digests = tuple(
            crypto.digest(self._hash, self._credential(s).chain(self._hash))
            for s in range(MAX_SLOTS)
            if mask & (1 << s)
        )
        response = m.Digests(
            version=self._version,
            slot_mask=mask,
            digests=digests,
            supported_slot_mask=mask if self._version >= 0x13 else 0,
        ).encode()
        # DSP0274: GET_DIGESTS starts transcript B afresh.
        self._b = req.raw + response
        return response

    def _get_certificate(self, request: bytes) -> bytes:
        req = m.GetCertificate.decode(request)
        self._require_crypto()
        if not self.config.capabilities & CapabilityFlag.CERT:
            raise _Refuse(ErrorCode.UNSUPPORTED_REQUEST, Code.GET_CERTIFICATE)
        chain = self._credential(req.slot).chain(self._hash)
        if self._version >= 0x13 and req.attributes & 0x1:
            # 1.3 SlotSizeRequested: report the size, send nothing.
            portion, remainder = b"", len(chain)
        else:
            if req.offset >= len(chain) or req.length == 0:
                raise _Refuse(ErrorCode.INVALID_REQUEST)
            limit = self.config.max_cert_portion
            if self._requester_dts:
                limit = min(limit, self._requester_dts - 8)
            size = min(req.length, len(chain) - req.offset, limit)
            portion = chain[req.offset : req.offset + size]
            remainder = len(chain) - req.offset - size
        response = m.Certificate(
            version=self._version,
            slot=req.slot,
            portion=portion,
            remainder_length=remainder,
        ).encode()
        self._b += req.raw + response
        return response

    def _challenge(self, request: bytes) -> bytes:
        req = m.Challenge.decode(request)
        self._require_crypto()
        if not self.config.capabilities & CapabilityFlag.CHAL:
            raise _Refuse(ErrorCode.UNSUPPORTED_REQUEST, Code.CHALLENGE)
        if req.summary_type not in (
            SUMMARY_HASH_NONE,
            SUMMARY_HASH_TCB,
            SUMMARY_HASH_ALL,
        ):
            raise _Refuse(ErrorCode.INVALID_REQUEST)
        if req.summary_type != SUMMARY_HASH_NONE and not self._meas_hash:
            raise _Refuse(ErrorCode.INVALID_REQUEST)
        cred = self._credential(req.slot)
        summary = b""
        if req.summary_type != SUMMARY_HASH_NONE:
            indices = sorted(self.config.measurements)
            if req.summary_type == SUMMARY_HASH_TCB:
                # TCB: the components that are not mutable configuration.
                indices = [
                    i
                    for i in indices
                    if self.config.measurements[i].value_type in (0, 1)
                ]
            summary = crypto.digest(
                self._hash, b"".join(self._block(i).encode() for i in indices)
            )
        auth = m.ChallengeAuth(
            version=self._version,
            slot=req.slot,
            slot_mask=self._slot_mask(),
            cert_chain_hash=crypto.digest(self._hash, cred.chain(self._hash)),
            nonce=self._random(NONCE_SIZE),
            measurement_summary_hash=summary,
            requester_context=req.requester_context,
        )
        unsigned = auth.encode()
        transcript = self._a + self._b + req.raw + unsigned
        # DSP0274 10.8: after CHALLENGE, B and C start again.
        self._b = b""
        auth.signature = self._sign(cred, CHALLENGE_AUTH_SIGNING_CONTEXT, transcript)
        return auth.encode()

    # -- measurements ----------------------------------------------------------

    def _block(self, index: int) -> m.MeasurementBlock:
        spec = self.config.measurements[index]
        if (
            spec.digest
            and self._meas_hash
            and self._meas_hash != MeasHashAlgo.RAW_BIT_STREAM
        ):
            name = HASH_ALGOS[_hash_for_meas(self._meas_hash)].hashlib_name
            value = hashlib.new(name, spec.content).digest()
            return m.MeasurementBlock(
                index, MEASUREMENT_SPEC_DMTF, spec.value_type, value
            )
        return m.MeasurementBlock(
            index, MEASUREMENT_SPEC_DMTF, spec.value_type | 0x80, spec.content
        )

    def _get_measurements(self, request: bytes) -> bytes:
        req = m.GetMeasurements.decode(request)
        self._require_crypto()
        if not self._meas_hash:
            raise _Refuse(ErrorCode.UNSUPPORTED_REQUEST, Code.GET_MEASUREMENTS)
        signed = bool(req.attributes & MEAS_ATTR_GENERATE_SIGNATURE)
        if signed and not self.config.capabilities & CapabilityFlag.MEAS_SIG:
            raise _Refuse(ErrorCode.INVALID_REQUEST)
        slot = req.slot if signed else 0
        cred = self._credential(slot) if signed else None
        op = req.operation
        if op == MEAS_OP_COUNT:
            blocks: tuple[m.MeasurementBlock, ...] = ()
            total = len(self.config.measurements)
        elif op == MEAS_OP_ALL:
            blocks = tuple(self._block(i) for i in sorted(self.config.measurements))
            total = 0
        elif op in self.config.measurements:
            blocks = (self._block(op),)
            total = 0
        else:
            raise _Refuse(ErrorCode.INVALID_REQUEST)
        param2 = 0
        if signed:
            param2 = slot
            if self._version >= 0x12:
                # DSP0274 1.2 10.11 ContentChanged = 10b: no change detected
                # (the blocks are fixed), as DMTF's responder reports.
                param2 |= 0x20
        response = m.Measurements(
            version=self._version,
            total_count=total,
            param2=param2,
            blocks=blocks,
            nonce=self._random(NONCE_SIZE),
            requester_context=req.requester_context,
        )
        unsigned = response.encode()
        if (
            self._requester_dts
            and len(unsigned) + self._signature_size(signed) > self._requester_dts
        ):
            raise _Refuse(ErrorCode.RESPONSE_TOO_LARGE)
        # DSP0274 1.2 10.11: from 1.2 L1 starts with VCA.
        if not self._l1 and self._version >= 0x12:
            self._l1 = self._a
        self._l1 += req.raw + unsigned
        if not signed:
            return unsigned
        transcript, self._l1 = self._l1, b""
        assert cred is not None
        response.signature = self._sign(cred, MEASUREMENTS_SIGNING_CONTEXT, transcript)
        return response.encode()

    def _signature_size(self, signed: bool) -> int:
        return ASYM_ALGOS[AsymAlgo(self._asym)].signature_size if signed else 0

    def _sign(self, cred: Credential, context: bytes, transcript: bytes) -> bytes:
        message = crypto.signing_input(self._version, context, transcript, self._hash)
        key = cred.signing_key if cred.signing_key is not None else cred.key
        return crypto.sign(key, self._asym, self._hash, message)

    # -- errors, RESPOND_IF_READY and post-processing faults -------------------

    def _error(self, code: int, data: int = 0) -> bytes:
        # Before GET_CAPABILITIES names a version, errors are version 1.0.
        version = self._version if self._state != _START else 0x10
        return m.ErrorMessage(
            version=version, error_code=code, error_data=data
        ).encode()

    def _not_ready(self, request_code: int) -> bytes:
        extended = m.ResponseNotReadyData(
            _RDT_EXPONENT, request_code, self._token, _RDTM
        ).encode()
        return m.ErrorMessage(
            version=self._version,
            error_code=ErrorCode.RESPONSE_NOT_READY,
            extended=extended,
        ).encode()

    def _respond_if_ready(self, request: bytes) -> bytes:
        req = m.RespondIfReady.decode(request)
        if self._pending is None:
            raise _Refuse(ErrorCode.UNEXPECTED_REQUEST)
        original, token = self._pending
        if req.version != self._version:
            raise _Refuse(ErrorCode.VERSION_MISMATCH)
        if req.request_code != original[1] or req.token != token:
            raise _Refuse(ErrorCode.INVALID_REQUEST)
        if self._not_ready_left:
            self._not_ready_left -= 1
            return self._not_ready(original[1])
        self._pending = None
        # The original request pairs with this final response in the
        # transcripts; RESPOND_IF_READY itself never enters them.
        return self._post(_step_name(original), self._answer(original))

    def _post(self, step: str | None, response: bytes) -> bytes:
        f = self.faults
        if f.wrong_version and (
            f.wrong_version_step is None or step == f.wrong_version_step
        ):
            wrong = 0x11 if response[0] != 0x11 else 0x12
            response = bytes([wrong]) + response[1:]
        if f.truncate and (f.truncate_step is None or step == f.truncate_step):
            response = response[: max(len(response) - f.truncate, 0)]
        if f.oversize and (f.oversize_step is None or step == f.oversize_step):
            response = response + b"\xa5" * f.oversize
        return response

    def _delay(self, step: str | None) -> float:
        f = self.faults
        if f.slow and (f.slow_step is None or step == f.slow_step):
            return f.slow
        return 0.0


def _hash_for_meas(meas_hash: int) -> HashAlgo:
    for base, meas in _MEAS_HASH_FOR.items():
        if meas == meas_hash:
            return base
    raise SpdmError(f"no hash for measurement hash 0x{meas_hash:x}")


def _step_name(request: bytes) -> str | None:
    if len(request) < 2:
        return None
    try:
        return Code(request[1]).name
    except ValueError:
        return None
