"""Every emulator fault against the requester: the exact status, step and
the gist of the reason a user reads. In process with a fake clock; the
socket variants are in test_emulator_sockets.py."""

from __future__ import annotations

import pytest
from tests.responder.harness import (
    FakeClock,
    LocalTransport,
    emulator_config,
    requester_config,
)

from spdmd.attest import attest, get_signed_measurements
from spdmd.responder.responder import Responder

A, M = attest, get_signed_measurements
OK = ("Success", None, "")

# (faults, flow, (status, step, reason fragment), unreachable)
CASES = [
    (
        ("wrong_key",),
        A,
        ("Failed", "CHALLENGE", "CHALLENGE_AUTH signature does not verify"),
        False,
    ),
    (
        ("wrong_key",),
        M,
        ("Failed", "GET_MEASUREMENTS", "MEASUREMENTS signature does not verify"),
        False,
    ),
    (
        ("untrusted_root",),
        A,
        ("Failed", "CERTIFICATE_CHAIN", "is not a trust anchor"),
        False,
    ),
    (
        ("untrusted_root",),
        M,
        ("Failed", "CERTIFICATE_CHAIN", "is not a trust anchor"),
        False,
    ),
    (
        ("expired_leaf",),
        A,
        ("Failed", "CERTIFICATE_CHAIN", "expired on 2021-01-01"),
        False,
    ),
    (
        ("tampered_chain",),
        A,
        ("Failed", "CERTIFICATE_CHAIN", "does not verify with the key of"),
        False,
    ),
    (("busy=3@CHALLENGE",), A, OK, False),
    (("busy=4@CHALLENGE",), A, ("Failed", "CHALLENGE", "ERROR BUSY"), False),
    (("busy=2",), M, OK, False),
    (
        ("busy=4@GET_MEASUREMENTS",),
        M,
        ("Failed", "GET_MEASUREMENTS", "ERROR BUSY"),
        False,
    ),
    (("not_ready=1@CHALLENGE",), A, OK, False),
    (("not_ready=8@CHALLENGE",), A, OK, False),
    (
        ("not_ready=9@CHALLENGE",),
        A,
        ("Failed", "CHALLENGE", "still not ready after 8"),
        False,
    ),
    (("not_ready=2@GET_MEASUREMENTS",), M, OK, False),
    (("not_ready=1@GET_CERTIFICATE",), A, OK, False),
    (("silent",), A, ("Failed", "GET_VERSION", "no response to GET_VERSION"), True),
    (("silent",), M, ("Failed", "GET_VERSION", "no response to GET_VERSION"), True),
    (
        ("silent@CHALLENGE",),
        A,
        ("Failed", "CHALLENGE", "no response to CHALLENGE"),
        True,
    ),
    (
        ("silent@GET_CERTIFICATE",),
        A,
        ("Failed", "GET_CERTIFICATE", "no response to GET_CERTIFICATE"),
        True,
    ),
    (("silent_only@GET_MEASUREMENTS",), A, OK, False),
    (
        ("silent_only@GET_MEASUREMENTS",),
        M,
        ("Failed", "GET_MEASUREMENTS", "no response to GET_MEASUREMENTS"),
        True,
    ),
    (("slow=0.1@CHALLENGE",), A, OK, False),
    (
        ("slow=5@CHALLENGE",),
        A,
        ("Failed", "CHALLENGE", "no response to CHALLENGE"),
        True,
    ),
    (
        ("slow=5@NEGOTIATE_ALGORITHMS",),
        A,
        ("Failed", "NEGOTIATE_ALGORITHMS", "no response"),
        True,
    ),
    (("truncate=1@CHALLENGE",), A, ("Failed", "CHALLENGE", "CHALLENGE_AUTH is"), False),
    (("truncate=1@GET_DIGESTS",), A, ("Failed", "GET_DIGESTS", "DIGESTS is"), False),
    (
        ("truncate=1@GET_CERTIFICATE",),
        A,
        ("Failed", "GET_CERTIFICATE", "CERTIFICATE is"),
        False,
    ),
    (
        ("truncate=2@GET_MEASUREMENTS",),
        M,
        ("Failed", "GET_MEASUREMENTS", "MEASUREMENTS is"),
        False,
    ),
    (
        ("oversize=16@GET_DIGESTS",),
        A,
        ("Failed", "GET_DIGESTS", "expected 52 from its fields"),
        False,
    ),
    (("oversize=1@CHALLENGE",), A, ("Failed", "CHALLENGE", "from its fields"), False),
    (
        ("oversize=4@GET_VERSION",),
        A,
        ("Failed", "GET_VERSION", "from its fields"),
        False,
    ),
    (
        ("wrong_version@GET_VERSION",),
        A,
        ("Failed", "GET_VERSION", "version byte 0x11, expected 0x10"),
        False,
    ),
    (
        ("wrong_version@GET_CAPABILITIES",),
        A,
        ("Failed", "GET_CAPABILITIES", "version byte 0x11, expected 0x13"),
        False,
    ),
    (
        ("wrong_version@CHALLENGE",),
        A,
        ("Failed", "CHALLENGE", "version byte 0x11"),
        False,
    ),
    (
        ("wrong_version@GET_MEASUREMENTS",),
        M,
        ("Failed", "GET_MEASUREMENTS", "version byte 0x11"),
        False,
    ),
    (("error=UNSPECIFIED@GET_MEASUREMENTS",), A, OK, False),
    (
        ("error=UNSPECIFIED@GET_MEASUREMENTS",),
        M,
        ("Failed", "GET_MEASUREMENTS", "ERROR UNSPECIFIED"),
        False,
    ),
    (
        ("error=UNSPECIFIED@CHALLENGE",),
        A,
        ("Failed", "CHALLENGE", "ERROR UNSPECIFIED"),
        False,
    ),
    (
        ("error=REQUEST_RESYNCH@GET_DIGESTS",),
        A,
        ("Failed", "GET_DIGESTS", "REQUEST_RESYNCH"),
        False,
    ),
]


def case_id(faults, flow, expected, _unreachable):
    return f"{'+'.join(faults)}-{flow.__name__}"


@pytest.mark.parametrize(
    "faults, flow, expected, unreachable",
    [pytest.param(*c, id=case_id(*c)) for c in CASES],
)
def test_fault_gives_exact_status_and_step(faults, flow, expected, unreachable):
    clock = FakeClock()
    transport = LocalTransport(Responder(emulator_config(faults=faults)), clock)
    result = flow(transport, requester_config(), clock=clock, sleep=clock.sleep)
    status, step, fragment = expected
    assert (result.status, result.step) == (status, step), result.reason
    assert fragment in result.reason
    assert result.unreachable is unreachable


def test_silent_device_fails_within_the_deadline_even_with_long_timeouts():
    """A deadline shorter than one request's timeout still ends the call."""
    clock = FakeClock()
    transport = LocalTransport(Responder(emulator_config(faults=("silent",))), clock)
    config = requester_config(round_trip=20.0, deadline=2.0)
    start = clock.now
    result = attest(transport, config, clock=clock, sleep=clock.sleep)
    assert (result.status, result.step) == ("Failed", "DEADLINE")
    assert clock.now - start <= 2.0


def test_busy_retries_resend_the_same_request():
    clock = FakeClock()
    transport = LocalTransport(
        Responder(emulator_config(faults=("busy=2@CHALLENGE",))), clock
    )
    assert attest(transport, requester_config(), clock=clock, sleep=clock.sleep).ok
    challenges = [r for r in transport.requests if r[1] == 0x83]
    assert len(challenges) == 3 and len(set(challenges)) == 1


def test_not_ready_is_followed_by_respond_if_ready_with_the_token():
    clock = FakeClock()
    transport = LocalTransport(
        Responder(emulator_config(faults=("not_ready=2@CHALLENGE",))), clock
    )
    assert attest(transport, requester_config(), clock=clock, sleep=clock.sleep).ok
    rir = [r for r in transport.requests if r[1] == 0xFF]
    assert [r[2] for r in rir] == [0x83, 0x83]
    assert rir[0][3] == rir[1][3]


@pytest.mark.parametrize("after", [1, 2])
def test_busy_in_the_middle_of_a_measurement_run(after):
    """Busy to a later GET_MEASUREMENTS of a run (the emulator resets L1, as
    the rule says): the flow starts again from GET_VERSION and returns every
    block asked for under one signature. The device that keeps L1 on Busy
    is tests/spdm/test_attest.py's scripted variant."""
    clock = FakeClock()
    faults = ("busy=1@GET_MEASUREMENTS", f"busy_after={after}")
    transport = LocalTransport(Responder(emulator_config(faults=faults)), clock)
    result = get_signed_measurements(
        transport,
        requester_config(),
        indices=(1, 2, 3),
        clock=clock,
        sleep=clock.sleep,
    )
    assert result.status == "Success", result.reason
    assert [b.index for b in result.blocks] == [1, 2, 3]
    assert [r[1] for r in transport.requests].count(0x84) == 2
