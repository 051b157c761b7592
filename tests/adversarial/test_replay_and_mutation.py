"""Replaying a recorded device, and flipping any single byte of any
response. Every byte a responder sends during `attest()` is covered by
M1 = A + B + C or by the signature, so no single-byte change, truncation or
extension may ever give Success (except one that turns the message into an
ERROR the flow is allowed to retry)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest
from cryptography import x509
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.adversarial.forger import (
    Forger,
    assert_failed,
    make_forger,
    requester_config,
)
from tests.spdm.vectors import MISSING_REASON, all_vector_paths, load

from spdmd.attest import RequesterConfig, attest, get_signed_measurements
from spdmd.errors import SignatureError, TransportTimeout, UnexpectedResponse
from spdmd.spdm.certs import TrustStore, ValidityPolicy
from spdmd.spdm.constants import Code

VECTORS = all_vector_paths()


@dataclass
class Replayer:
    """A Transport that answers each request with the recorded response of
    the same step (nth occurrence), whatever the request says."""

    exchanges: list[Any]
    seen: Counter[str] = field(default_factory=Counter)
    name: str = "replay"

    def exchange(self, request: bytes, timeout: float) -> bytes:
        step = Code(request[1]).name
        hits = [e for e in self.exchanges if e.step == step]
        n = self.seen[step]
        self.seen[step] += 1
        if n >= len(hits):
            raise TransportTimeout("nothing recorded")
        return hits[n].response

    def close(self) -> None:
        pass


@pytest.mark.skipif(not VECTORS, reason=MISSING_REASON)
@pytest.mark.parametrize("path", VECTORS, ids=[p.stem for p in VECTORS])
def test_replayed_recording_fails_at_challenge(path: Any) -> None:
    """A device replays a recorded DMTF session; our fresh nonce makes the old CHALLENGE_AUTH worthless."""
    v = load(path)
    get_cert = next(e for e in v.exchanges if e.step == "GET_CERTIFICATE")
    portion = int.from_bytes(get_cert.request[6:8], "little")
    trust = TrustStore.from_certificates(
        [x509.load_der_x509_certificate(v.trust_anchor_der)]
    )
    config = RequesterConfig(
        trust=trust,
        versions=frozenset({v.version}),
        asym_algos=v.asym_algo,
        hash_algos=v.hash_algo,
        portion_size=portion,
        slot=v.slot,
        validity=ValidityPolicy.IGNORE,
    )
    result = attest(Replayer(v.exchanges), config)
    # Everything before CHALLENGE replays fine (the chain is genuine)...
    assert result.leaf_subject == v.expect["leaf_subject"], result.reason
    # ...but the recorded signature is over another nonce and transcript
    # (1.3 is caught one check earlier: the RequesterContext is not ours).
    error = UnexpectedResponse if v.version >= 0x13 else SignatureError
    assert_failed(result, "CHALLENGE", error)


# --- single-byte mutations --------------------------------------------------

STEPS = [
    "GET_VERSION",
    "GET_CAPABILITIES",
    "NEGOTIATE_ALGORITHMS",
    "GET_DIGESTS",
    "GET_CERTIFICATE",
    "CHALLENGE",
]


def mutate_once(change: Any, nth: int = 0) -> Any:
    """Change the `nth` response of the step the rule is installed for."""
    state = {"seen": 0}

    def rule(f: Forger, req: bytes, rsp: bytes) -> bytes:
        state["seen"] += 1
        return change(rsp) if state["seen"] == nth + 1 else rsp

    return rule


def changer(kind: str, position: int, xor: int, out: dict[str, bytes]) -> Any:
    def change(rsp: bytes) -> bytes:
        at = position % len(rsp)
        if kind == "flip":
            data = rsp[:at] + bytes((rsp[at] ^ xor,)) + rsp[at + 1 :]
        elif kind == "truncate":
            data = rsp[:at] + rsp[at + 1 :]
        else:
            data = rsp[:at] + bytes((xor,)) + rsp[at:]
        out["data"] = data
        return data

    return change


def is_retryable_error(data: bytes) -> bool:
    # Busy, ResponseNotReady, RequestResynch: the flow may legitimately
    # retry and then succeed against the unmodified emulator.
    return len(data) >= 3 and data[1] == 0x7F and data[2] in (0x03, 0x42, 0x43)


@settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    version=st.sampled_from([0x10, 0x11, 0x12, 0x13]),
    step=st.sampled_from(STEPS),
    kind=st.sampled_from(["flip", "truncate", "extend"]),
    position=st.integers(min_value=0, max_value=1 << 16),
    xor=st.integers(min_value=1, max_value=255),
)
def test_no_single_byte_change_gives_success(
    version: int, step: str, kind: str, position: int, xor: int
) -> None:
    """Any one byte of any response flipped, removed or added: never Success."""
    f, trust = make_forger(versions=frozenset({version}))
    out: dict[str, bytes] = {}
    f.rules[step] = mutate_once(changer(kind, position, xor, out))
    result = attest(f, requester_config(trust, deadline=5.0))
    if is_retryable_error(out["data"]):
        return
    assert result.status == "Failed", (step, kind, out["data"].hex())
    assert result.step is not None and result.reason


@settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    version=st.sampled_from([0x12, 0x13]),
    target=st.sampled_from(
        [
            ("GET_VERSION", 0),
            ("GET_CAPABILITIES", 0),
            ("NEGOTIATE_ALGORITHMS", 0),
            ("GET_MEASUREMENTS", 0),
            ("GET_MEASUREMENTS", 1),
        ]
    ),
    kind=st.sampled_from(["flip", "truncate", "extend"]),
    position=st.integers(min_value=0, max_value=1 << 16),
    xor=st.integers(min_value=1, max_value=255),
)
def test_no_single_byte_change_gives_signed_measurements(
    version: int, target: tuple[str, int], kind: str, position: int, xor: int
) -> None:
    """1.2+: any one byte of VCA or of either MEASUREMENTS changed: never Success."""
    f, trust = make_forger(versions=frozenset({version}))
    out: dict[str, bytes] = {}
    step, nth = target
    f.rules[step] = mutate_once(changer(kind, position, xor, out), nth)
    result = get_signed_measurements(
        f, requester_config(trust, deadline=5.0), indices=(1, 0x10)
    )
    if is_retryable_error(out["data"]):
        return
    assert result.status == "Failed", (step, nth, kind, out["data"].hex())
    assert result.step is not None and result.reason
