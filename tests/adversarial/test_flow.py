"""Flow-level lies: capabilities that would skip CHALLENGE or the
signature, a CHALLENGE_AUTH slot mask that leaves out the challenged slot,
and signatures that put RESPOND_IF_READY or an ERROR in the transcript."""

from __future__ import annotations

from typing import Any

import pytest
from tests.adversarial.forger import (
    Forger,
    assert_failed,
    make_forger,
    requester_config,
)
from tests.spdm.conftest import FakeClock

from spdmd.attest import attest, get_signed_measurements
from spdmd.errors import (
    NegotiationError,
    SignatureError,
    SpdmError,
    UnexpectedResponse,
)
from spdmd.spdm.constants import Code

CERT, CHAL, MEAS_NO_SIG, MEAS_SIG = 0x2, 0x4, 0x8, 0x10


def capabilities(flags: int) -> Any:
    def rule(f: Forger, req: bytes, rsp: bytes) -> bytes:
        return rsp[:8] + flags.to_bytes(4, "little") + rsp[12:]

    return rule


def timed(f: Forger, trust: Any, **kw: Any) -> Any:
    clock = FakeClock()
    f.clock = clock
    return attest(f, requester_config(trust, **kw), clock=clock, sleep=clock.sleep)


def test_no_chal_cap_never_succeeds_without_challenge() -> None:
    """CAPABILITIES drops CHAL_CAP: the requester must fail rather than trust the chain alone."""
    f, trust = make_forger()
    f.rules["GET_CAPABILITIES"] = capabilities(CERT | MEAS_SIG)
    assert_failed(attest(f, requester_config(trust)), "CHALLENGE", NegotiationError)
    assert "CHALLENGE" not in f.steps()


def test_no_cert_cap() -> None:
    """CAPABILITIES drops CERT_CAP."""
    f, trust = make_forger()
    f.rules["GET_CAPABILITIES"] = capabilities(CHAL | MEAS_SIG)
    assert_failed(attest(f, requester_config(trust)), "GET_DIGESTS", NegotiationError)


def test_measurements_without_signature_capability() -> None:
    """CAPABILITIES says MEAS_CAP 01b (unsigned only): no unsigned result may pass as signed."""
    f, trust = make_forger()
    f.rules["GET_CAPABILITIES"] = capabilities(CERT | CHAL | MEAS_NO_SIG)
    result = get_signed_measurements(f, requester_config(trust))
    assert_failed(result, "GET_MEASUREMENTS", NegotiationError)
    assert "GET_MEASUREMENTS" not in f.steps()


def test_reserved_meas_cap() -> None:
    """CAPABILITIES sets MEAS_CAP to the reserved 11b."""
    f, trust = make_forger()
    f.rules["GET_CAPABILITIES"] = capabilities(CERT | CHAL | MEAS_NO_SIG | MEAS_SIG)
    assert_failed(attest(f, requester_config(trust)), "GET_CAPABILITIES", SpdmError)


def slot_mask(mask: int) -> Any:
    """A CHALLENGE rule: the genuine CHALLENGE_AUTH with Param2 set to
    `mask`, signed again so that only the slot mask differs."""

    def rule(f: Forger, req: bytes, rsp: bytes) -> bytes:
        auth = f.challenge_auth(req, rsp)
        auth.slot_mask = mask
        return f.signed_challenge_auth(req, auth)

    return rule


@pytest.mark.parametrize("version", [0x10, 0x11, 0x12, 0x13])
def test_challenge_auth_slot_mask_without_the_slot(version: int) -> None:
    """A correctly signed CHALLENGE_AUTH whose Param2 slot mask says slot 0 holds no chain (Param2 is the slot mask from 1.0 on)."""
    f, trust = make_forger(versions=frozenset({version}))
    f.rules["CHALLENGE"] = slot_mask(0x02)
    result = attest(f, requester_config(trust))
    assert_failed(result, "CHALLENGE", UnexpectedResponse)
    assert "SlotMask 0x02" in result.reason


def test_challenge_auth_slot_mask_with_more_slots() -> None:
    """Control: a re-signed CHALLENGE_AUTH whose slot mask names the challenged slot and others is accepted."""
    f, trust = make_forger()
    f.rules["CHALLENGE"] = slot_mask(0xFF)
    result = attest(f, requester_config(trust))
    assert result.status == "Success", result.reason


def test_not_ready_then_a_correct_challenge_auth() -> None:
    """Control: ResponseNotReady, then on RESPOND_IF_READY a CHALLENGE_AUTH signed over the original CHALLENGE."""
    f, trust = make_forger()
    parked: dict[str, bytes] = {}

    def challenge(f: Forger, req: bytes, rsp: bytes) -> bytes:
        parked["req"], parked["rsp"] = req, rsp
        return bytes((req[0], 0x7F, 0x42, 0, 4, Code.CHALLENGE, 9, 2))

    def respond(f: Forger, req: bytes, rsp: bytes) -> bytes:
        return f.signed_challenge_auth(
            parked["req"], f.challenge_auth(parked["req"], parked["rsp"])
        )

    f.rules["CHALLENGE"] = challenge
    f.rules["RESPOND_IF_READY"] = respond
    result = timed(f, trust)
    assert result.status == "Success", result.reason


def test_not_ready_and_respond_if_ready_in_the_signed_transcript() -> None:
    """The signature covers RESPOND_IF_READY instead of the CHALLENGE it answers."""
    f, trust = make_forger()
    parked: dict[str, bytes] = {}

    def challenge(f: Forger, req: bytes, rsp: bytes) -> bytes:
        parked["req"], parked["rsp"] = req, rsp
        return bytes((req[0], 0x7F, 0x42, 0, 4, Code.CHALLENGE, 9, 2))

    def respond(f: Forger, req: bytes, rsp: bytes) -> bytes:
        original = parked["req"]
        return f.signed_challenge_auth(
            original,
            f.challenge_auth(original, parked["rsp"]),
            over=lambda a, b, c: a + b + req + c[len(original) :],
        )

    f.rules["CHALLENGE"] = challenge
    f.rules["RESPOND_IF_READY"] = respond
    assert_failed(timed(f, trust), "CHALLENGE", SignatureError)


@pytest.mark.parametrize("clear_b", [False, True])
def test_busy_then_challenge_auth(clear_b: bool) -> None:
    """Busy to CHALLENGE, then CHALLENGE_AUTH over A+B+C (accepted) or over A+C as if Busy had cleared B (rejected)."""
    f, trust = make_forger()
    state = {"busy": True}

    def rule(f: Forger, req: bytes, rsp: bytes) -> bytes:
        if state["busy"]:
            state["busy"] = False
            return bytes((req[0], 0x7F, 0x03, 0))
        over = (lambda a, b, c: a + c) if clear_b else (lambda a, b, c: a + b + c)
        return f.signed_challenge_auth(req, f.challenge_auth(req, rsp), over=over)

    f.rules["CHALLENGE"] = rule
    result = timed(f, trust)
    if clear_b:
        assert_failed(result, "CHALLENGE", SignatureError)
    else:
        assert result.status == "Success", result.reason
