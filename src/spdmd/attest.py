"""The attestation flow: drive the sans-I/O requester over one transport.

`attest()` proves a device's identity: VCA, DIGESTS, the certificate chain of
one slot (anchored to a trust anchor), CHALLENGE. `get_signed_measurements()`
does the same up to the chain and then reads measurements, the last request
signed with the caller's or a fresh nonce. Neither raises for anything the
device does: every `SpdmError` becomes a Failed result naming the step and a
reason. Invalid arguments raise `UsageError` before anything is sent.

This module owns what the protocol core leaves out: per-request timeouts
(round trip + CT or ST1, DSP0274 section 9.1), ResponseNotReady followed by
RESPOND_IF_READY, bounded Busy retries, RequestResynch restarting from
GET_VERSION, and one deadline for the whole call. It sleeps and reads the
clock only through the `clock` and `sleep` callables it is given.

Provisioned public keys (slot 0xFF) are not supported: the caller gets a
UsageError. Supporting them needs a configured public key instead of a
chain and a CHALLENGE_AUTH without a certificate chain hash to compare.
"""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from spdmd.errors import (
    DeadlineExceeded,
    ErrorResponse,
    MalformedResponse,
    SpdmError,
    TransportError,
    TransportTimeout,
    UnexpectedResponse,
    UsageError,
)
from spdmd.spdm.certs import (
    CertificateChain,
    TrustStore,
    ValidityPolicy,
    validate_chain,
)
from spdmd.spdm.constants import (
    ASYM_ALGOS,
    HASH_ALGOS,
    MAX_SLOTS,
    MEAS_OP_ALL,
    NONCE_SIZE,
    PROVISIONED_KEY_SLOT,
    REQUESTER_CONTEXT_SIZE,
    SUPPORTED_VERSIONS,
    Code,
    ErrorCode,
    version_to_string,
)
from spdmd.spdm.messages import MeasurementBlock, ResponseNotReadyData
from spdmd.spdm.requester import ALL_ASYM, ALL_HASH, Requester, RequesterSettings

__all__ = [
    "AttestationResult",
    "MeasurementResult",
    "RequesterConfig",
    "attest",
    "get_signed_measurements",
]

# DSP0274 section 10.14: RDTM must exceed 1 and RDT = 2^RDTExponent us with
# an exponent of at most 31.
_MAX_RDT_EXPONENT = 31
# ResponseNotReady answers to one request, before the flow gives up; the
# deadline bounds the waiting anyway.
_NOT_READY_LIMIT = 8
# Pause before resending after Busy: the responder asked to be left alone
# for a moment, and ST1 is the time it may take for a simple answer.
_BUSY_DELAY = 0.1


@dataclass
class RequesterConfig:
    """What one attestation may negotiate and how long it may take."""

    trust: TrustStore | None = None
    versions: frozenset[int] = field(
        default_factory=lambda: frozenset(int(v) for v in SUPPORTED_VERSIONS)
    )
    asym_algos: int = ALL_ASYM
    hash_algos: int = ALL_HASH
    slot: int = 0
    verify_certificate: bool = True
    validity: ValidityPolicy = ValidityPolicy.IF_CLOCK_SET
    round_trip: float = 0.5
    deadline: float = 30.0
    busy_retries: int = 3
    resynch_limit: int = 2
    portion_size: int = 0x400

    def settings(self) -> RequesterSettings:
        settings = RequesterSettings(
            versions=frozenset(int(v) for v in self.versions),
            asym_algos=int(self.asym_algos),
            hash_algos=int(self.hash_algos),
            portion_size=int(self.portion_size),
        )
        settings.check()
        return settings

    def check(self, slot: int) -> None:
        if self.verify_certificate and self.trust is None:
            raise UsageError(
                "no trust anchors given; certificate verification needs them"
            )
        check_slot(slot)
        if not self.deadline > 0:
            raise UsageError(f"deadline must be positive, got {self.deadline}")
        if self.round_trip < 0:
            raise UsageError(
                f"round-trip allowance must not be negative, got {self.round_trip}"
            )
        if self.busy_retries < 0 or self.resynch_limit < 0:
            raise UsageError("retry limits must not be negative")
        self.settings()


def check_slot(slot: int) -> None:
    if slot == PROVISIONED_KEY_SLOT:
        raise UsageError(
            "slot 0xFF (a provisioned public key instead of a certificate) is not supported"
        )
    if not 0 <= slot < MAX_SLOTS:
        raise UsageError(f"slot {slot} is outside 0..7")


def check_indices(indices: Iterable[int]) -> tuple[int, ...]:
    """0..254 unique, or a single 255 (all); empty means 255."""
    values = tuple(indices) or (MEAS_OP_ALL,)
    for value in values:
        if not isinstance(value, int) or not 0 <= value <= MEAS_OP_ALL:
            raise UsageError(f"measurement index {value!r} is outside 0..255")
    if MEAS_OP_ALL in values and len(values) > 1:
        raise UsageError(
            "measurement index 255 (all) cannot be combined with other indices"
        )
    if len(set(values)) != len(values):
        raise UsageError(f"measurement indices repeat: {', '.join(map(str, values))}")
    return values


def _algo_name(table: dict[Any, Any], bit: int) -> str | None:
    info = table.get(bit) if bit else None
    return info.redfish_name if info else None


@dataclass
class AttestationResult:
    """The outcome of `attest()`; see docs/architecture.md for the fields."""

    status: str = "Failed"
    step: str | None = None
    reason: str = ""
    error: SpdmError | None = None
    version: int = 0
    hash_algo: int = 0
    asym_algo: int = 0
    measurement_hash_algo: int = 0
    capabilities: int = 0
    slot: int = 0
    slot_mask: int = 0
    cert_chain: CertificateChain | None = None
    cert_chain_digest: bytes = b""
    leaf_subject: str = ""
    unreachable: bool = False

    @property
    def ok(self) -> bool:
        return self.status == "Success"

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of `spdmtool --json`."""
        return {
            "status": self.status,
            "step": self.step,
            "reason": self.reason or None,
            "version": version_to_string(self.version) if self.version else None,
            "hashing_algorithm": _algo_name(HASH_ALGOS, self.hash_algo),
            "signing_algorithm": _algo_name(ASYM_ALGOS, self.asym_algo),
            "slot": self.slot,
            "leaf_subject": self.leaf_subject or None,
            "cert_chain_digest": self.cert_chain_digest.hex() or None,
        }


@dataclass
class MeasurementResult(AttestationResult):
    """The outcome of `get_signed_measurements()`."""

    blocks: list[MeasurementBlock] = field(default_factory=list)
    signed_measurements: bytes = b""
    nonce: bytes = b""

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["signed_measurements"] = (
            base64.b64encode(self.signed_measurements).decode()
            if self.signed_measurements
            else None
        )
        out["nonce"] = self.nonce.hex() or None
        out["blocks"] = [
            {
                "index": b.index,
                "spec": b.spec,
                "value_type": b.value_type,
                "raw_bit_stream": b.raw_bit_stream,
                "value": b.value.hex(),
            }
            for b in self.blocks
        ]
        return out


class _BusyMidRun(SpdmError):
    """Busy to a GET_MEASUREMENTS that follows others in the same L1.

    The rule (DSP0274 1.2 section 10.11, the L1 definition in section 15)
    is that an ERROR answer to GET_MEASUREMENTS, Busy included, resets L1.
    The requester's transcript and our emulator both follow it. Resending
    the busy request would still be wrong in the middle of a run:

    - with both sides following the rule, the reset drops the exchanges
      before the Busy from L1, so the final signature would not cover the
      blocks already read and the result would lack indices the caller
      asked for;
    - a real device may keep L1 on Busy (libspdm's responder does: it
      answers Busy before the request reaches its measurement code), and
      then the two sides sign different transcripts and a good device
      fails at the signature.

    Starting again from GET_VERSION resets L1 on both sides whichever way
    the device reads the rule, and reads every index again under one
    signature, so it is kept. Restarting only the measurement requests is
    not enough: a device that keeps L1 still holds what came before the
    Busy. The restart counts against `busy_retries`. Busy to the first
    GET_MEASUREMENTS of a run is simply resent: L1 holds nothing yet on
    either side, so both readings agree.
    """

    def __init__(self, error: ErrorResponse) -> None:
        super().__init__(error.message, step=error.step)
        self.error = error


class _Session:
    """One call's transport, clock and limits, shared across resynchs."""

    def __init__(
        self,
        transport: Any,
        config: RequesterConfig,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
    ) -> None:
        self.transport = transport
        self.config = config
        self.clock = clock
        self._sleep = sleep
        self.deadline_at = clock() + config.deadline

    def _remaining(self, step: str, what: str) -> float:
        remaining = self.deadline_at - self.clock()
        if remaining <= 0:
            raise DeadlineExceeded(
                f"the {self.config.deadline:g} s deadline passed {what} {step}",
                step="DEADLINE",
            )
        return remaining

    def sleep(self, seconds: float, step: str) -> None:
        if seconds >= self._remaining(step, "before"):
            raise DeadlineExceeded(
                f"waiting {seconds:g} s for {step} would pass the {self.config.deadline:g} s deadline",
                step="DEADLINE",
            )
        self._sleep(seconds)

    def _send(self, request: bytes, timeout: float, step: str) -> bytes:
        remaining = self._remaining(step, "before")
        wait = min(timeout, remaining)
        try:
            return bytes(self.transport.exchange(request, wait))
        except TransportTimeout:
            if wait < timeout:
                raise DeadlineExceeded(
                    f"the {self.config.deadline:g} s deadline passed waiting for the response to {step}",
                    step="DEADLINE",
                ) from None
            raise TransportTimeout(
                f"no response to {step} within {wait:.2f} s", step=step
            ) from None
        except TransportError as exc:
            raise TransportError(
                f"lost the device during {step}: {exc}", step="TRANSPORT"
            ) from None

    def exchange(self, requester: Requester, request: bytes) -> Any:
        """Send the pending request and return its decoded response,
        handling Busy and ResponseNotReady (DSP0274 section 10.14)."""
        code = Code(requester.pending.CODE)
        step = code.name
        timeout = self.config.round_trip + requester.response_time(code)
        data, busy, not_ready = request, 0, 0
        # See _BusyMidRun: once L1 holds exchanges, Busy cannot simply be
        # resent, whether or not the device resets L1 on Busy.
        mid_run = code == Code.GET_MEASUREMENTS and bool(requester.transcript.l1)
        while True:
            response = self._send(data, timeout, step)
            try:
                return requester.receive(response)
            except ErrorResponse as exc:
                if exc.error_code == ErrorCode.BUSY and mid_run:
                    raise _BusyMidRun(exc) from None
                if exc.error_code == ErrorCode.BUSY and busy < self.config.busy_retries:
                    busy += 1
                    self.sleep(_BUSY_DELAY, step)
                    data = request
                    continue
                if exc.error_code == ErrorCode.RESPONSE_NOT_READY:
                    not_ready += 1
                    wait = self._not_ready(code, exc, not_ready)
                    self.sleep(wait, step)
                    data = requester.respond_if_ready(
                        ResponseNotReadyData(*exc.extended)
                    )
                    continue
                raise

    def _not_ready(self, code: Code, exc: ErrorResponse, count: int) -> float:
        step = code.name
        nr = ResponseNotReadyData(*exc.extended)
        if code == Code.GET_VERSION:
            raise UnexpectedResponse(
                "GET_VERSION answered with ResponseNotReady, which SPDM does not allow for it",
                step=step,
            )
        if nr.request_code != code:
            raise UnexpectedResponse(
                f"ResponseNotReady names request code 0x{nr.request_code:02x}, expected 0x{code:02x} ({step})",
                step=step,
            )
        if nr.rdtm <= 1:
            raise MalformedResponse(
                f"ResponseNotReady RDTM is {nr.rdtm}, must be more than 1", step=step
            )
        if nr.rdt_exponent > _MAX_RDT_EXPONENT:
            raise MalformedResponse(
                f"ResponseNotReady RDTExponent is {nr.rdt_exponent}, at most {_MAX_RDT_EXPONENT} is allowed",
                step=step,
            )
        if count > _NOT_READY_LIMIT:
            raise UnexpectedResponse(
                f"{step} still not ready after {_NOT_READY_LIMIT} RESPOND_IF_READY attempts",
                step=step,
            )
        return (1 << nr.rdt_exponent) / 1e6


def _fill(result: AttestationResult, r: Requester, slot: int) -> None:
    """Copy what was negotiated so far, success or not."""
    result.version = r.version if r.transcript.a else 0
    result.hash_algo = r.hash_algo
    result.asym_algo = r.asym_algo
    result.measurement_hash_algo = r.measurement_hash_algo
    result.capabilities = r.responder_flags
    result.slot = slot
    result.slot_mask = r.slot_mask
    chain = r.parsed_chains.get(slot)
    result.cert_chain = chain
    result.cert_chain_digest = r.digests.get(slot, b"")
    result.leaf_subject = chain.leaf_subject if chain else ""


def _identify(session: _Session, r: Requester, slot: int) -> None:
    """VCA, DIGESTS, the slot's chain and its validation."""
    session.exchange(r, r.get_version())
    session.exchange(r, r.get_capabilities())
    session.exchange(r, r.negotiate_algorithms())
    session.exchange(r, r.get_digests())
    while not r.certificate_complete(slot):
        session.exchange(r, r.get_certificate(slot))
    config = session.config
    if config.verify_certificate:
        assert config.trust is not None
        validate_chain(
            r.parsed_chains[slot],
            trust=config.trust,
            asym_algo=r.asym_algo,
            hash_algo=r.hash_algo,
            version=r.version,
            validity=config.validity,
        )


def _run(
    session: _Session,
    result: AttestationResult,
    flow: Callable[[Requester], None],
) -> None:
    """Run `flow` on a fresh requester, again after RequestResynch or a
    Busy in the middle of a measurement run."""
    config = session.config
    resynchs = restarts = 0
    while True:
        r = Requester(config.settings())
        try:
            flow(r)
        except _BusyMidRun as busy:
            if restarts < config.busy_retries:
                restarts += 1
                session.sleep(_BUSY_DELAY, "GET_MEASUREMENTS")
                continue
            raise busy.error from None
        except ErrorResponse as exc:
            if (
                exc.error_code == ErrorCode.REQUEST_RESYNCH
                and resynchs < config.resynch_limit
            ):
                resynchs += 1
                continue
            raise
        finally:
            _fill(result, r, result.slot)
        return


def _fail(result: AttestationResult, exc: SpdmError) -> None:
    result.status = "Failed"
    result.error = exc
    result.step = exc.step or "TRANSPORT"
    result.reason = exc.message
    result.unreachable = isinstance(exc, TransportError)


def attest(
    transport: Any,
    config: RequesterConfig,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> AttestationResult:
    """Authenticate the device behind `transport` (issue 2 item 3)."""
    config.check(config.slot)
    result = AttestationResult(slot=config.slot)
    session = _Session(transport, config, clock, sleep)

    def flow(r: Requester) -> None:
        _identify(session, r, config.slot)
        nonce = secrets.token_bytes(NONCE_SIZE)
        context = secrets.token_bytes(REQUESTER_CONTEXT_SIZE)
        session.exchange(r, r.challenge(config.slot, nonce, context))

    try:
        _run(session, result, flow)
    except SpdmError as exc:
        _fail(result, exc)
        return result
    result.status = "Success"
    return result


def get_signed_measurements(
    transport: Any,
    config: RequesterConfig,
    *,
    indices: Iterable[int] = (MEAS_OP_ALL,),
    nonce: bytes | None = None,
    slot: int = 0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> MeasurementResult:
    """Read measurements, the last request signed (issue 2 item 3).

    One GET_MEASUREMENTS per index; only the last carries the signature bit
    and the nonce, so the signature covers every exchange (L1).
    """
    config.check(slot)
    wanted = check_indices(indices)
    if nonce is None:
        nonce = secrets.token_bytes(NONCE_SIZE)
    if not isinstance(nonce, bytes | bytearray) or len(nonce) != NONCE_SIZE:
        raise UsageError(f"nonce must be {NONCE_SIZE} bytes")
    result = MeasurementResult(slot=slot, nonce=bytes(nonce))
    session = _Session(transport, config, clock, sleep)

    def flow(r: Requester) -> None:
        _identify(session, r, slot)
        for n, index in enumerate(wanted):
            last = n == len(wanted) - 1
            context = secrets.token_bytes(REQUESTER_CONTEXT_SIZE)
            request = r.get_measurements(
                index,
                signed=last,
                nonce=bytes(nonce) if last else b"",
                slot=slot,
                requester_context=context,
            )
            session.exchange(r, request)
        result.blocks = list(r.blocks)
        result.signed_measurements = r.signed_measurements

    try:
        _run(session, result, flow)
    except SpdmError as exc:
        _fail(result, exc)
        return result
    result.status = "Success"
    return result
