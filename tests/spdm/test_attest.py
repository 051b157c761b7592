"""The attestation flow: retries, ResponseNotReady, resynch, timeouts,
deadline, argument checks and the result objects.

Each test runs `attest()` or `get_signed_measurements()` against the real
responder emulator behind a scripted transport with a fake clock (see
conftest.py). The full emulator and fault matrix over real sockets lives
with the emulator's tests.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable

import pytest
from tests.spdm.conftest import (
    Emulated,
    ScriptedDevice,
    disconnect,
    error,
    make_device,
    mangle,
    not_ready,
    silent,
    slow,
)

from spdmd.attest import RequesterConfig, attest, get_signed_measurements
from spdmd.errors import (
    DeadlineExceeded,
    DigestMismatch,
    ErrorResponse,
    MalformedResponse,
    NegotiationError,
    SignatureError,
    UnexpectedResponse,
    UsageError,
)
from spdmd.responder.faults import Faults
from spdmd.spdm.constants import ST1_SECONDS, Code, ErrorCode


def run(e: Emulated, **config: object) -> object:
    cfg = RequesterConfig(trust=e.trust, **config)  # type: ignore[arg-type]
    return attest(e.device, cfg, clock=e.clock, sleep=e.clock.sleep)


def test_good_device_succeeds_with_the_documented_json(emulated: Emulated) -> None:
    """A good device: Success, and to_dict() carries DSP0274 names."""
    result = run(emulated)
    assert result.status == "Success", result.reason
    d = result.to_dict()
    assert set(d) == {
        "status",
        "step",
        "reason",
        "version",
        "hashing_algorithm",
        "signing_algorithm",
        "slot",
        "leaf_subject",
        "cert_chain_digest",
    }
    assert d["status"] == "Success" and d["step"] is None
    assert d["version"] == "1.2"
    assert d["hashing_algorithm"] == "TPM_ALG_SHA_384"
    assert d["signing_algorithm"] == "TPM_ALG_ECDSA_ECC_NIST_P384"
    assert d["slot"] == 0
    assert d["leaf_subject"] == result.cert_chain.leaf_subject
    assert d["cert_chain_digest"] == hashlib.sha384(result.cert_chain.raw).hexdigest()
    assert emulated.device.steps() == [
        "GET_VERSION",
        "GET_CAPABILITIES",
        "NEGOTIATE_ALGORITHMS",
        "GET_DIGESTS",
        *["GET_CERTIFICATE"] * emulated.device.steps().count("GET_CERTIFICATE"),
        "CHALLENGE",
    ]


def test_highest_common_version_inside_the_allowed_set() -> None:
    e = make_device(versions=frozenset({0x10, 0x11, 0x12, 0x13}))
    result = run(e, versions=frozenset({0x11, 0x12}))
    assert result.status == "Success", result.reason
    assert result.version == 0x12


def test_no_common_version_fails_at_get_version() -> None:
    e = make_device(versions=frozenset({0x10, 0x11}))
    result = run(e, versions=frozenset({0x12, 0x13}))
    assert (result.status, result.step) == ("Failed", "GET_VERSION")
    assert isinstance(result.error, NegotiationError)
    assert "offers 1.0, 1.1" in result.reason


def test_no_common_algorithm_fails_at_negotiate_algorithms(emulated: Emulated) -> None:
    """The emulator offers only ECDSA P-384; allowing only P-256 must fail."""
    result = run(emulated, asym_algos=0x10)
    assert (result.status, result.step) == ("Failed", "NEGOTIATE_ALGORITHMS")


def test_wrong_key_fails_at_challenge() -> None:
    e = make_device(faults=Faults(wrong_key=True))
    result = run(e)
    assert (result.status, result.step) == ("Failed", "CHALLENGE")
    assert isinstance(result.error, SignatureError)
    assert "private key" in result.reason
    assert result.unreachable is False


def test_untrusted_root_fails_at_the_chain_unless_verification_is_off() -> None:
    """The device's chain anchors to a root the requester does not trust."""
    good = make_device()
    e = make_device(faults=Faults(untrusted_root=True))
    result = attest(
        e.device, RequesterConfig(trust=good.trust), clock=e.clock, sleep=e.clock.sleep
    )
    assert (result.status, result.step) == ("Failed", "CERTIFICATE_CHAIN")
    # The anchor check itself, not some other chain rule, refused it.
    assert "is not a trust anchor" in result.reason
    assert result.leaf_subject  # the chain was read before it was rejected
    off = attest(
        make_device(faults=Faults(untrusted_root=True)).device,
        RequesterConfig(trust=good.trust, verify_certificate=False),
    )
    assert off.status == "Success", off.reason


def test_signatures_are_checked_even_without_certificate_verification() -> None:
    e = make_device(faults=Faults(wrong_key=True))
    result = run(e, verify_certificate=False)
    assert (result.status, result.step) == ("Failed", "CHALLENGE")


def test_busy_is_retried_a_bounded_number_of_times(emulated: Emulated) -> None:
    emulated.device.on("CHALLENGE", error(ErrorCode.BUSY), times=3)
    result = run(emulated, busy_retries=3)
    assert result.status == "Success", result.reason
    assert emulated.device.steps().count("CHALLENGE") == 4
    # The resent CHALLENGE is the same request (same nonce).
    challenges = [r for r in emulated.device.sent if r[1] == Code.CHALLENGE]
    assert len(set(challenges)) == 1


def test_busy_beyond_the_limit_fails_naming_busy() -> None:
    e = make_device()
    e.device.on("GET_DIGESTS", error(ErrorCode.BUSY), times=3)
    result = run(e, busy_retries=2)
    assert (result.status, result.step) == ("Failed", "GET_DIGESTS")
    assert isinstance(result.error, ErrorResponse)
    assert result.error.error_code == ErrorCode.BUSY
    assert "BUSY" in result.reason


def test_busy_in_the_middle_of_a_measurement_run_restarts(emulated: Emulated) -> None:
    """Busy to the second GET_MEASUREMENTS of a run from a device that keeps
    L1 on Busy (as libspdm's responder does: the Busy is injected in front
    of the emulator, which never sees that request): the flow starts again
    from GET_VERSION and succeeds with every block. The device that resets
    L1 is tests/responder/test_emulator_faults.py's busy_after case."""
    emulated.device.on("GET_MEASUREMENTS", error(ErrorCode.BUSY), skip=1)
    result = get_signed_measurements(
        emulated.device,
        RequesterConfig(trust=emulated.trust),
        indices=(1, 2),
        clock=emulated.clock,
        sleep=emulated.clock.sleep,
    )
    assert result.status == "Success", result.reason
    assert emulated.device.steps().count("GET_VERSION") == 2
    assert [b.index for b in result.blocks] == [1, 2]


def test_busy_in_a_measurement_run_is_bounded(emulated: Emulated) -> None:
    def busy_when_signed(dev: ScriptedDevice, request: bytes, timeout: float) -> bytes:
        if request[2] & 1:
            return error(ErrorCode.BUSY)(dev, request, timeout)
        response = dev.responder.handle(request)
        assert response is not None
        return response

    emulated.device.on("GET_MEASUREMENTS", busy_when_signed, times=100)
    result = get_signed_measurements(
        emulated.device,
        RequesterConfig(trust=emulated.trust, busy_retries=2),
        indices=(1, 2),
        clock=emulated.clock,
        sleep=emulated.clock.sleep,
    )
    assert (result.status, result.step) == ("Failed", "GET_MEASUREMENTS")
    assert result.error.error_code == ErrorCode.BUSY
    assert emulated.device.steps().count("GET_VERSION") == 3


def test_response_not_ready_then_respond_if_ready(emulated: Emulated) -> None:
    emulated.device.on("CHALLENGE", not_ready(rdt_exponent=12, token=9))
    result = run(emulated)
    assert result.status == "Success", result.reason
    rir = emulated.device.sent[-1]
    assert rir == bytes((0x12, Code.RESPOND_IF_READY, Code.CHALLENGE, 9))
    assert emulated.clock.sleeps == [pytest.approx((1 << 12) / 1e6)]


def test_response_not_ready_for_measurements(emulated: Emulated) -> None:
    emulated.device.on("GET_MEASUREMENTS", not_ready(rdt_exponent=3, token=1))
    result = get_signed_measurements(
        emulated.device,
        RequesterConfig(trust=emulated.trust),
        clock=emulated.clock,
        sleep=emulated.clock.sleep,
    )
    assert result.status == "Success", result.reason
    # RNR/RESPOND_IF_READY never enter L1: the signature verified, and the
    # SignedMeasurements bytes hold the original request, not RESPOND_IF_READY.
    meas = next(r for r in emulated.device.sent if r[1] == Code.GET_MEASUREMENTS)
    assert meas in result.signed_measurements
    assert bytes((0x12, 0xFF, 0xE0, 1)) not in result.signed_measurements


@pytest.mark.parametrize(
    ("action", "kind", "text"),
    [
        pytest.param(
            not_ready(request_code=0x81),
            UnexpectedResponse,
            "request code 0x81",
            id="wrong-code",
        ),
        pytest.param(not_ready(rdtm=1), MalformedResponse, "RDTM is 1", id="rdtm-1"),
        pytest.param(
            not_ready(rdt_exponent=32),
            MalformedResponse,
            "RDTExponent is 32",
            id="rdt-32",
        ),
    ],
)
def test_bad_response_not_ready_is_rejected(
    emulated: Emulated, action: object, kind: type, text: str
) -> None:
    emulated.device.on("CHALLENGE", action)  # type: ignore[arg-type]
    result = run(emulated)
    assert (result.status, result.step) == ("Failed", "CHALLENGE")
    assert isinstance(result.error, kind)
    assert text in result.reason
    assert emulated.clock.sleeps == []


def test_response_not_ready_to_get_version_is_rejected(emulated: Emulated) -> None:
    emulated.device.on("GET_VERSION", not_ready())
    result = run(emulated)
    assert (result.status, result.step) == ("Failed", "GET_VERSION")
    assert "does not allow" in result.reason


def test_endless_response_not_ready_gives_up(emulated: Emulated) -> None:
    emulated.device.on("CHALLENGE", not_ready(rdt_exponent=1))
    emulated.device.on(
        "RESPOND_IF_READY", not_ready(rdt_exponent=1, request_code=0x83), times=100
    )
    result = run(emulated)
    assert (result.status, result.step) == ("Failed", "CHALLENGE")
    assert "still not ready" in result.reason


def test_response_not_ready_beyond_the_deadline_fails_without_waiting(
    emulated: Emulated,
) -> None:
    emulated.device.on("CHALLENGE", not_ready(rdt_exponent=31))
    result = run(emulated, deadline=10.0)
    assert (result.status, result.step) == ("Failed", "DEADLINE")
    assert isinstance(result.error, DeadlineExceeded)
    assert emulated.clock.sleeps == []


def test_request_resynch_restarts_from_get_version(emulated: Emulated) -> None:
    emulated.device.on("CHALLENGE", error(ErrorCode.REQUEST_RESYNCH))
    result = run(emulated)
    assert result.status == "Success", result.reason
    steps = emulated.device.steps()
    assert steps.count("GET_VERSION") == 2
    assert steps.index("GET_VERSION", 1) == steps.index("CHALLENGE") + 1


def test_request_resynch_is_bounded(emulated: Emulated) -> None:
    emulated.device.on("GET_DIGESTS", error(ErrorCode.REQUEST_RESYNCH), times=10)
    result = run(emulated, resynch_limit=2)
    assert (result.status, result.step) == ("Failed", "GET_DIGESTS")
    assert emulated.device.steps().count("GET_VERSION") == 3
    assert result.error.error_code == ErrorCode.REQUEST_RESYNCH


def test_other_errors_fail_with_request_and_error_code(emulated: Emulated) -> None:
    emulated.device.on("GET_CERTIFICATE", error(ErrorCode.UNSPECIFIED))
    result = run(emulated)
    assert (result.status, result.step) == ("Failed", "GET_CERTIFICATE")
    assert result.error.request_code == Code.GET_CERTIFICATE
    assert result.error.error_code == ErrorCode.UNSPECIFIED


def test_timeouts_are_round_trip_plus_st1_or_ct() -> None:
    """CT = 2^CTExponent us for the cryptographic requests, ST1 otherwise."""
    e = make_device(ct_exponent=20)
    result = run(e, round_trip=0.25)
    assert result.status == "Success", result.reason
    by_step = dict(zip(e.device.steps(), e.device.timeouts, strict=True))
    assert by_step["GET_VERSION"] == pytest.approx(0.25 + ST1_SECONDS)
    assert by_step["NEGOTIATE_ALGORITHMS"] == pytest.approx(0.25 + ST1_SECONDS)
    assert by_step["CHALLENGE"] == pytest.approx(0.25 + (1 << 20) / 1e6)
    assert by_step["GET_CERTIFICATE"] == pytest.approx(0.25 + (1 << 20) / 1e6)


def test_silent_device_is_unreachable_at_get_version(emulated: Emulated) -> None:
    emulated.device.on("GET_VERSION", silent)
    result = run(emulated)
    assert (result.status, result.step) == ("Failed", "GET_VERSION")
    assert result.unreachable is True
    assert "no response to GET_VERSION" in result.reason


def test_silence_mid_flow_fails_that_step(emulated: Emulated) -> None:
    emulated.device.on("CHALLENGE", silent)
    result = run(emulated)
    assert (result.status, result.step, result.unreachable) == (
        "Failed",
        "CHALLENGE",
        True,
    )


def test_lost_connection_is_unreachable(emulated: Emulated) -> None:
    emulated.device.on("GET_DIGESTS", disconnect)
    result = run(emulated)
    assert (result.status, result.step, result.unreachable) == (
        "Failed",
        "TRANSPORT",
        True,
    )
    assert "GET_DIGESTS" in result.reason


def test_slow_device_hits_the_overall_deadline() -> None:
    """Every answer comes just inside its timeout; the whole call must still
    end at the deadline, and no timeout may reach past it."""
    e = make_device()
    for step in (
        "GET_VERSION",
        "GET_CAPABILITIES",
        "NEGOTIATE_ALGORITHMS",
        "GET_DIGESTS",
    ):
        e.device.on(step, slow(0.55))
    start = e.clock.now
    result = run(e, deadline=1.5, round_trip=0.5)
    assert (result.status, result.step) == ("Failed", "DEADLINE")
    assert e.clock.now - start <= 1.5 + 1e-9
    assert e.device.timeouts[-1] < 0.6


def test_usage_errors_raise_before_anything_is_sent(emulated: Emulated) -> None:
    dev = emulated.device
    cfg = RequesterConfig(trust=emulated.trust)
    cases = [
        lambda: attest(dev, RequesterConfig(trust=None)),
        lambda: attest(dev, RequesterConfig(trust=emulated.trust, slot=8)),
        lambda: attest(dev, RequesterConfig(trust=emulated.trust, slot=0xFF)),
        lambda: attest(
            dev, RequesterConfig(trust=emulated.trust, versions=frozenset({0x20}))
        ),
        lambda: attest(dev, RequesterConfig(trust=emulated.trust, deadline=0)),
        lambda: get_signed_measurements(dev, cfg, nonce=b"short"),
        lambda: get_signed_measurements(dev, cfg, indices=(256,)),
        lambda: get_signed_measurements(dev, cfg, indices=(1, 1)),
        lambda: get_signed_measurements(dev, cfg, indices=(1, 255)),
        lambda: get_signed_measurements(dev, cfg, slot=9),
    ]
    for case in cases:
        with pytest.raises(UsageError):
            case()
    assert dev.sent == []


def test_signed_measurements_one_request_per_index(emulated: Emulated) -> None:
    nonce = bytes(range(32))
    result = get_signed_measurements(
        emulated.device,
        RequesterConfig(trust=emulated.trust),
        indices=(1, 3),
        nonce=nonce,
        clock=emulated.clock,
        sleep=emulated.clock.sleep,
    )
    assert result.status == "Success", result.reason
    meas = [r for r in emulated.device.sent if r[1] == Code.GET_MEASUREMENTS]
    assert [(r[2], r[3]) for r in meas] == [(0, 1), (1, 3)]
    assert nonce in meas[1] and nonce not in meas[0]
    assert [b.index for b in result.blocks] == [1, 3]
    # 1.2: SignedMeasurements = VCA + every measurement exchange.
    assert result.signed_measurements.startswith(emulated.device.sent[0])
    assert meas[0] in result.signed_measurements
    d = result.to_dict()
    assert base64.b64decode(d["signed_measurements"]) == result.signed_measurements
    assert [b["index"] for b in d["blocks"]] == [1, 3]
    assert d["nonce"] == nonce.hex()


def test_signed_measurements_all_by_default(emulated: Emulated) -> None:
    result = get_signed_measurements(
        emulated.device, RequesterConfig(trust=emulated.trust), indices=()
    )
    assert result.status == "Success", result.reason
    meas = [r for r in emulated.device.sent if r[1] == Code.GET_MEASUREMENTS]
    assert len(meas) == 1 and meas[0][2:4] == b"\x01\xff"
    assert len(result.blocks) >= 1


def test_signed_measurements_1_0_hold_only_the_measurement_exchange() -> None:
    e = make_device(versions=frozenset({0x10}))
    result = get_signed_measurements(e.device, RequesterConfig(trust=e.trust))
    assert result.status == "Success", result.reason
    meas = next(r for r in e.device.sent if r[1] == Code.GET_MEASUREMENTS)
    assert result.signed_measurements.startswith(meas)


def test_measurements_with_wrong_key_fail_at_get_measurements() -> None:
    e = make_device(faults=Faults(wrong_key=True))
    result = get_signed_measurements(e.device, RequesterConfig(trust=e.trust))
    assert (result.status, result.step) == ("Failed", "GET_MEASUREMENTS")
    assert isinstance(result.error, SignatureError)


@pytest.mark.parametrize("portion", [1, 42, 0x400, 0xFFFF])
def test_certificate_portion_sizes(portion: int) -> None:
    e = make_device()
    result = run(e, portion_size=portion)
    assert result.status == "Success", result.reason
    asked = [
        int.from_bytes(r[6:8], "little")
        for r in e.device.sent
        if r[1] == Code.GET_CERTIFICATE
    ]
    assert max(asked) <= portion


def _flip(at: int) -> Callable[[bytearray], None]:
    def change(data: bytearray) -> None:
        data[at] ^= 0x01

    return change


def test_digests_entry_not_matching_the_chain_fails_at_the_chain(
    emulated: Emulated,
) -> None:
    emulated.device.on("GET_DIGESTS", mangle(_flip(4)))
    result = run(emulated)
    assert (result.status, result.step) == ("Failed", "CERTIFICATE_CHAIN")
    assert isinstance(result.error, DigestMismatch)
    assert "DIGESTS entry" in result.reason


def test_cert_chain_hash_not_matching_fails_at_challenge(emulated: Emulated) -> None:
    emulated.device.on("CHALLENGE", mangle(_flip(4)))
    result = run(emulated)
    assert (result.status, result.step) == ("Failed", "CHALLENGE")
    assert isinstance(result.error, DigestMismatch)
    assert "CertChainHash" in result.reason


def test_requester_context_must_be_echoed_in_1_3() -> None:
    e = make_device(versions=frozenset({0x13}))
    # RequesterContext sits right before the 96-byte P-384 signature.
    e.device.on("CHALLENGE", mangle(_flip(-97)))
    result = run(e)
    assert (result.status, result.step) == ("Failed", "CHALLENGE")
    assert isinstance(result.error, UnexpectedResponse)
    assert "RequesterContext" in result.reason


def test_truncated_and_oversized_responses_fail_with_the_length(
    emulated: Emulated,
) -> None:
    emulated.device.on("GET_CAPABILITIES", mangle(lambda d: d.pop()))
    result = run(emulated)
    assert (result.status, result.step) == ("Failed", "GET_CAPABILITIES")
    assert isinstance(result.error, MalformedResponse)
    assert "is 19 bytes, expected at least 20" in result.reason
    e = make_device()
    e.device.on("NEGOTIATE_ALGORITHMS", mangle(lambda d: d.extend(b"\0")))
    result = run(e)
    assert (result.status, result.step) == ("Failed", "NEGOTIATE_ALGORITHMS")
    assert "expected 36 from its fields" in result.reason


def test_wrong_version_byte_fails_naming_both(emulated: Emulated) -> None:
    def version(d: bytearray) -> None:
        d[0] = 0x11

    emulated.device.on("GET_DIGESTS", mangle(version))
    result = run(emulated)
    assert (result.status, result.step) == ("Failed", "GET_DIGESTS")
    assert "version byte 0x11, expected 0x12" in result.reason
