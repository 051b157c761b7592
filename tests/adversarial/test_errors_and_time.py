"""A device that stalls: ResponseNotReady or Busy forever, RequestResynch
forever, silence, replies that take almost the whole timeout, malformed
ERROR messages. Every call must end Failed within its deadline (fake clock),
after a bounded number of requests, raising nothing but a result."""

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
from spdmd.errors import ErrorResponse, SpdmError, UnexpectedResponse
from spdmd.spdm.constants import Code

DEADLINE = 10.0


def timed(f: Forger, trust: Any, measurements: bool = False, **kw: Any) -> Any:
    clock = FakeClock()
    f.clock = clock
    cfg = requester_config(trust, deadline=DEADLINE, **kw)
    start = clock()
    if measurements:
        result = get_signed_measurements(f, cfg, clock=clock, sleep=clock.sleep)
    else:
        result = attest(f, cfg, clock=clock, sleep=clock.sleep)
    # Fail within the deadline: the flow may not wait past it.
    assert clock() - start <= DEADLINE + 1e-6, clock() - start
    return result


def error(code: int, data: int = 0, extended: bytes = b"") -> Any:
    def rule(f: Forger, req: bytes, rsp: bytes) -> bytes:
        return bytes((req[0], 0x7F, code, data)) + extended

    return rule


def not_ready_forever(rdt_exponent: int) -> Any:
    """ResponseNotReady to the request and to every RESPOND_IF_READY."""

    def rule(f: Forger, req: bytes, rsp: bytes) -> bytes:
        code = req[2] if req[1] == Code.RESPOND_IF_READY else req[1]
        f.clock.now += 0.001
        return bytes((req[0], 0x7F, 0x42, 0, rdt_exponent, code, 1, 2))

    return rule


@pytest.mark.parametrize("rdt_exponent", [0, 10, 20, 31])
def test_response_not_ready_forever(rdt_exponent: int) -> None:
    """CHALLENGE answered with ResponseNotReady, and every RESPOND_IF_READY too."""
    f, trust = make_forger()
    rule = not_ready_forever(rdt_exponent)
    f.rules["CHALLENGE"] = rule
    f.rules["RESPOND_IF_READY"] = rule
    result = timed(f, trust)
    assert result.status == "Failed"
    assert result.step in ("CHALLENGE", "DEADLINE"), result.reason
    assert f.steps().count("RESPOND_IF_READY") <= 10


def test_response_not_ready_to_measurements_forever() -> None:
    """GET_MEASUREMENTS answered with ResponseNotReady forever."""
    f, trust = make_forger()
    rule = not_ready_forever(12)
    f.rules["GET_MEASUREMENTS"] = rule
    f.rules["RESPOND_IF_READY"] = rule
    result = timed(f, trust, measurements=True)
    assert result.status == "Failed"
    assert result.step in ("GET_MEASUREMENTS", "DEADLINE"), result.reason


def test_respond_if_ready_answered_with_another_response() -> None:
    """After ResponseNotReady for CHALLENGE, RESPOND_IF_READY gets a DIGESTS."""
    f, trust = make_forger()
    f.rules["CHALLENGE"] = not_ready_forever(4)
    f.rules["RESPOND_IF_READY"] = lambda f, req, rsp: (
        bytes((0x12, 0x01, 0, 1)) + bytes(48)
    )
    assert_failed(timed(f, trust), "CHALLENGE", UnexpectedResponse)


@pytest.mark.parametrize(
    "extended", [b"", b"\x04", b"\x04\x83\x01", b"\x04\x83\x01\x02\x00"]
)
def test_response_not_ready_with_bad_extended_data(extended: bytes) -> None:
    """ResponseNotReady whose extended data is missing, short or has a trailing byte."""
    f, trust = make_forger()
    f.rules["CHALLENGE"] = error(0x42, 0, extended)
    result = timed(f, trust)
    assert_failed(result, "CHALLENGE", SpdmError)


@pytest.mark.parametrize("step", ["GET_VERSION", "GET_DIGESTS", "CHALLENGE"])
def test_busy_forever(step: str) -> None:
    """Busy to every attempt at one request."""
    f, trust = make_forger()
    f.rules[step] = error(0x03)
    result = timed(f, trust, busy_retries=3)
    assert_failed(result, step, ErrorResponse)
    assert f.steps().count(step) == 4


def test_busy_forever_in_a_measurement_run() -> None:
    """Busy to the second GET_MEASUREMENTS of a run, every time (restarts are bounded)."""
    f, trust = make_forger()

    def rule(f: Forger, req: bytes, rsp: bytes) -> bytes:
        if req[3] == 2:
            return bytes((req[0], 0x7F, 0x03, 0))
        return rsp

    f.rules["GET_MEASUREMENTS"] = rule
    clock = FakeClock()
    f.clock = clock
    result = get_signed_measurements(
        f,
        requester_config(trust, deadline=DEADLINE),
        indices=(1, 2),
        clock=clock,
        sleep=clock.sleep,
    )
    assert_failed(result, "GET_MEASUREMENTS", ErrorResponse)
    assert f.steps().count("GET_VERSION") <= 4


def test_request_resynch_forever() -> None:
    """RequestResynch to every CHALLENGE: restarts are bounded."""
    f, trust = make_forger()
    f.rules["CHALLENGE"] = error(0x43)
    result = timed(f, trust, resynch_limit=2)
    assert_failed(result, "CHALLENGE", ErrorResponse)
    assert f.steps().count("GET_VERSION") == 3


@pytest.mark.parametrize("step", ["GET_VERSION", "GET_CERTIFICATE", "CHALLENGE"])
def test_silence(step: str) -> None:
    """The device stops answering at one request."""
    f, trust = make_forger()
    f.rules[step] = lambda f, req, rsp: None
    result = timed(f, trust)
    assert result.status == "Failed"
    assert result.step in (step, "DEADLINE"), result.reason
    assert result.unreachable or result.step == "DEADLINE"


def test_every_reply_just_inside_its_timeout() -> None:
    """Each reply takes 95 % of its timeout: the overall deadline still holds."""
    f, trust = make_forger()

    def slow(f: Forger, req: bytes, rsp: bytes) -> bytes:
        f.clock.now += f.timeout * 0.95
        return rsp

    for step in (
        "GET_VERSION",
        "GET_CAPABILITIES",
        "NEGOTIATE_ALGORITHMS",
        "GET_DIGESTS",
        "GET_CERTIFICATE",
        "CHALLENGE",
    ):
        f.rules[step] = slow
    result = timed(f, trust, round_trip=2.0, portion_size=64)
    assert_failed(result, "DEADLINE")


def test_huge_ct_exponent_does_not_stretch_the_deadline() -> None:
    """CAPABILITIES claims CTExponent 255 (a timeout of 10^70 s), then the device goes silent."""
    f, trust = make_forger()

    def caps(f: Forger, req: bytes, rsp: bytes) -> bytes:
        out = bytearray(rsp)
        out[5] = 255
        return bytes(out)

    f.rules["GET_CAPABILITIES"] = caps
    f.rules["GET_DIGESTS"] = lambda f, req, rsp: None
    result = timed(f, trust)
    assert result.status == "Failed"
    assert result.step in ("GET_CAPABILITIES", "DEADLINE"), result.reason


@pytest.mark.parametrize("code", [0x00, 0x01, 0x05, 0x41, 0x0F, 0xFF])
def test_other_errors_end_the_attempt(code: int) -> None:
    """ERROR with an ordinary or unknown code, plus garbage extended data, to CHALLENGE."""
    f, trust = make_forger()
    f.rules["CHALLENGE"] = error(code, 0x55, b"\xde\xad" * 40)
    result = timed(f, trust)
    assert_failed(result, "CHALLENGE", ErrorResponse)


@pytest.mark.parametrize("data", [b"", b"\x12", b"\x12\x03\x00", b"\xff" * 3])
def test_runt_responses(data: bytes) -> None:
    """CHALLENGE answered with 0 to 3 bytes."""
    f, trust = make_forger()
    f.rules["CHALLENGE"] = lambda f, req, rsp: data
    assert_failed(timed(f, trust), "CHALLENGE", SpdmError)
