"""A malicious responder that holds the right leaf key and re-signs.

`Forger` is a Transport: the project's responder emulator answers every
request, then a per-step rule may rewrite the answer on its way back. The
forger keeps its own copy of transcripts A, B and L1 exactly as the
requester saw them (the rewritten bytes, not what the emulator produced), so
a rule can rebuild a CHALLENGE_AUTH or MEASUREMENTS with a signature that is
valid over any transcript it likes, made with the genuine leaf key.

That is the strongest attacker a protocol check has to stop: when such a
response is still rejected, it is the check under test that rejects it, not
a stale signature. The signing input is rebuilt here from DSP0274 1.2
section 15 (prefix, zero-padded context, hash of the transcript) and signed
with `cryptography` directly, independently of spdmd.spdm.crypto, so a bug
shared by the emulator and the requester would show as a failing positive
control (test_forger_positive_controls).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from spdmd.attest import RequesterConfig
from spdmd.errors import TransportTimeout
from spdmd.responder.faults import Faults
from spdmd.responder.responder import Responder, ResponderConfig
from spdmd.spdm import messages as m
from spdmd.spdm.certs import TrustStore
from spdmd.spdm.constants import Code

# DSP0274 1.2 section 15 context strings, written out here on purpose.
CHALLENGE_CONTEXT = b"responder-challenge_auth signing"
MEASUREMENTS_CONTEXT = b"responder-measurements signing"
P384 = 0x80
SHA384 = 0x2
H = 48  # SHA-384 digest size
SIG = 96  # ECDSA P-384 r || s

Rule = Callable[["Forger", bytes, bytes], "bytes | None"]


def signing_input(
    version: int,
    context: bytes,
    transcript: bytes,
    *,
    prefix_version: int | None = None,
) -> bytes:
    """What a 1.2+ responder signs; 1.0/1.1 sign the transcript itself."""
    if version < 0x12:
        return transcript
    pv = version if prefix_version is None else prefix_version
    prefix = f"dmtf-spdm-v{pv >> 4}.{pv & 0xF}.*".encode() * 4
    padded = bytes(36 - len(context)) + context
    return prefix + padded + hashlib.sha384(transcript).digest()


def ecdsa_p384(key: Any, message: bytes) -> bytes:
    r, s = decode_dss_signature(key.sign(message, ec.ECDSA(hashes.SHA384())))
    return r.to_bytes(48, "big") + s.to_bytes(48, "big")


@dataclass
class Forger:
    """Transport: emulator answers, rules rewrite, transcripts follow."""

    responder: Responder
    config: ResponderConfig
    rules: dict[str, Rule] = field(default_factory=dict)
    sent: list[bytes] = field(default_factory=list)
    a: bytearray = field(default_factory=bytearray)
    b: bytearray = field(default_factory=bytearray)
    l1: bytearray = field(default_factory=bytearray)
    version: int = 0x10
    name: str = "forger"
    # A fake clock (tests.spdm.conftest.FakeClock) that silence advances by
    # the timeout; rules may advance it themselves to act slow.
    clock: Any = None
    timeout: float = 0.0

    def key(self, slot: int = 0) -> Any:
        return self.config.slots[slot][P384].key

    def chain(self, slot: int = 0) -> bytes:
        return self.config.slots[slot][P384].chain(SHA384)

    def steps(self) -> list[str]:
        return [Code(r[1]).name for r in self.sent]

    # --- Transport ---------------------------------------------------------

    def exchange(self, request: bytes, timeout: float) -> bytes:
        self.sent.append(request)
        self.timeout = timeout
        step = Code(request[1]).name
        real = self.responder.handle(request)
        rule = self.rules.get(step)
        out = rule(self, request, real or b"") if rule else real
        if out is None:
            if self.clock is not None:
                self.clock.now += timeout
            raise TransportTimeout("no response")
        self._record(request, out)
        return out

    def close(self) -> None:
        pass

    def _record(self, request: bytes, response: bytes) -> None:
        """Follow the transcripts the requester keeps (linear flows only)."""
        code = request[1]
        if len(response) > 1 and response[1] == Code.ERROR:
            return
        if code != Code.GET_MEASUREMENTS:
            self.l1.clear()
        if code == Code.GET_VERSION:
            self.a = bytearray(request + response)
            self.b.clear()
        elif code in (Code.GET_CAPABILITIES, Code.NEGOTIATE_ALGORITHMS):
            self.a += request + response
            if code == Code.NEGOTIATE_ALGORITHMS:
                self.version = response[0]
        elif code == Code.GET_DIGESTS:
            self.b = bytearray(request + response)
        elif code == Code.GET_CERTIFICATE:
            self.b += request + response
        elif code == Code.CHALLENGE:
            self.b.clear()
        elif code == Code.GET_MEASUREMENTS:
            signed = bool(request[2] & 1)
            unsigned = response[: len(response) - SIG] if signed else response
            self.l1 += request + unsigned
            if signed:
                self.l1.clear()

    # --- building forged responses -------------------------------------------

    def challenge_auth(self, request: bytes, response: bytes) -> m.ChallengeAuth:
        summary = H if request[3] else 0
        return m.ChallengeAuth.decode(
            response, hash_size=H, signature_size=SIG, summary_hash_size=summary
        )

    def signed_challenge_auth(
        self,
        request: bytes,
        auth: m.ChallengeAuth,
        *,
        over: Callable[[bytes, bytes, bytes], bytes] = lambda a, b, c: a + b + c,
        context: bytes = CHALLENGE_CONTEXT,
        prefix_version: int | None = None,
        key: Any = None,
    ) -> bytes:
        """`auth` re-encoded with a genuine signature over `over(A, B, C)`."""
        auth.signature = b""
        auth.raw = b""
        unsigned = auth.encode()
        transcript = over(bytes(self.a), bytes(self.b), request + unsigned)
        message = signing_input(
            self.version, context, transcript, prefix_version=prefix_version
        )
        return unsigned + ecdsa_p384(key or self.key(), message)

    def measurements(self, request: bytes, response: bytes) -> m.Measurements:
        signed = bool(request[2] & 1)
        return m.Measurements.decode(response, signature_size=SIG if signed else 0)

    def signed_measurements(
        self,
        request: bytes,
        meas: m.Measurements,
        *,
        over: Callable[[bytes, bytes, bytes], bytes] | None = None,
        context: bytes = MEASUREMENTS_CONTEXT,
        prefix_version: int | None = None,
    ) -> bytes:
        """`meas` re-encoded and signed over `over(A, earlier L1, this pair)`;
        by default what DSP0274 says: (A from 1.2) + L1 + this pair."""
        meas.signature = b""
        meas.raw = b""
        unsigned = meas.encode()
        this = request + unsigned
        if over is None:
            prefix = bytes(self.a) if self.version >= 0x12 else b""
            transcript = prefix + bytes(self.l1) + this
        else:
            transcript = over(bytes(self.a), bytes(self.l1), this)
        message = signing_input(
            self.version, context, transcript, prefix_version=prefix_version
        )
        return unsigned + ecdsa_p384(self.key(), message)


def make_forger(
    *,
    versions: frozenset[int] = frozenset({0x12}),
    slot_count: int = 1,
    faults: Faults | None = None,
    **kw: Any,
) -> tuple[Forger, TrustStore]:
    """A P-384/SHA-384 emulator behind a Forger, and a store trusting the
    root of every slot."""
    config = ResponderConfig.generate(
        versions=versions, slot_count=slot_count, faults=faults, **kw
    )
    roots = [
        x509.load_der_x509_certificate(config.slots[s][P384].der_chain[0])
        for s in range(slot_count)
    ]
    forger = Forger(Responder(config), config)
    return forger, TrustStore.from_certificates(roots)


def requester_config(trust: TrustStore, **kw: Any) -> RequesterConfig:
    return RequesterConfig(trust=trust, **kw)


def assert_failed(result: Any, step: str, error: type | None = None) -> None:
    """Failed at `step`, with a reason, and (if given) that error class."""
    assert (result.status, result.step) == ("Failed", step), result.reason
    if error is not None:
        assert isinstance(result.error, error), repr(result.error)
    assert result.reason
