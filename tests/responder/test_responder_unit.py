"""The sans-I/O responder on its own: the behaviours DMTF's reference
responder shows (shared/reference/spdm-requester-notes.md, "Known values"),
the request order, chunked certificates, slots, and fault parsing."""

from __future__ import annotations

import pytest
from tests.responder.harness import (
    FakeClock,
    LocalTransport,
    emulator_config,
    requester_config,
    trusted_roots,
)

from spdmd.attest import attest
from spdmd.errors import ErrorResponse, UsageError
from spdmd.responder.faults import Faults
from spdmd.responder.responder import Responder
from spdmd.spdm import certs, crypto
from spdmd.spdm import messages as m
from spdmd.spdm.constants import AsymAlgo, ErrorCode, HashAlgo
from spdmd.spdm.requester import Requester, RequesterSettings

P384, SHA384 = int(AsymAlgo.ECDSA_P384), int(HashAlgo.SHA_384)


def negotiated(version=0x12, **config):
    responder = Responder(emulator_config(**config))
    assert responder.handle(m.GetVersion().encode())[1] == 0x04
    caps = m.GetCapabilities(
        version=version, data_transfer_size=4096, max_spdm_msg_size=4096
    )
    assert responder.handle(caps.encode())[1] == 0x61
    algos = m.NegotiateAlgorithms(version=version, base_asym=P384, base_hash=SHA384)
    assert responder.handle(algos.encode())[1] == 0x63
    return responder


def error(version, code, data=0):
    return bytes((version, 0x7F, code, data))


def test_requests_before_get_version_get_version_mismatch():
    assert Responder(emulator_config()).handle(
        bytes.fromhex("10810000")
    ) == bytes.fromhex("107f4100")


def test_get_version_in_another_version_gets_version_mismatch():
    assert Responder(emulator_config()).handle(
        bytes.fromhex("11840000")
    ) == bytes.fromhex("107f4100")


def test_version_lists_every_configured_version():
    response = Responder(emulator_config()).handle(bytes.fromhex("10840000"))
    assert response == bytes.fromhex(
        "10040000 0004 0010 0011 0012 0013".replace(" ", "")
    )


@pytest.mark.parametrize(
    "sequence, expected",
    [
        pytest.param(
            ["10840000", "10e30000"],
            error(0x10, ErrorCode.UNEXPECTED_REQUEST),
            id="algorithms-before-capabilities",
        ),
        pytest.param(
            ["10840000", "10810000"],
            error(0x10, ErrorCode.UNEXPECTED_REQUEST),
            id="digests-before-capabilities",
        ),
    ],
)
def test_out_of_order_requests_get_unexpected_request(sequence, expected):
    responder = Responder(emulator_config())
    for request in sequence[:-1]:
        responder.handle(bytes.fromhex(request))
    assert responder.handle(bytes.fromhex(sequence[-1])) == expected


def test_capabilities_twice_is_unexpected():
    responder = negotiated()
    caps = m.GetCapabilities(
        version=0x12, data_transfer_size=4096, max_spdm_msg_size=4096
    )
    assert responder.handle(caps.encode()) == error(0x12, ErrorCode.UNEXPECTED_REQUEST)


def test_wrong_version_after_negotiation_is_version_mismatch():
    assert negotiated(0x12).handle(bytes.fromhex("11810000")) == error(
        0x12, ErrorCode.VERSION_MISMATCH
    )


def test_unknown_request_is_unsupported_and_named():
    assert negotiated().handle(bytes.fromhex("12ee0000")) == error(
        0x12, ErrorCode.UNSUPPORTED_REQUEST, 0xEE
    )


@pytest.mark.parametrize("index", [5, 0x0F, 0x12, 0xFC])
def test_nonexistent_measurement_index_is_invalid_request(index):
    request = m.GetMeasurements(version=0x12, operation=index).encode()
    assert negotiated().handle(request) == error(0x12, ErrorCode.INVALID_REQUEST)


def test_measurement_count_operation():
    response = m.Measurements.decode(
        negotiated().handle(m.GetMeasurements(version=0x12).encode())
    )
    assert (response.total_count, response.blocks) == (8, ())


def test_data_transfer_size_below_42_is_invalid_request():
    responder = Responder(emulator_config())
    responder.handle(m.GetVersion().encode())
    caps = m.GetCapabilities(version=0x12, data_transfer_size=41, max_spdm_msg_size=41)
    # DMTF's responder answers in the version the request named.
    assert responder.handle(caps.encode()) == bytes.fromhex("127f0100")


@pytest.mark.parametrize(
    "dts, max_size, flags",
    [
        pytest.param(4096, 2048, 0, id="above-max"),
        pytest.param(2048, 4096, 0, id="differs-without-chunk"),
    ],
)
def test_inconsistent_transfer_sizes_are_invalid_request(dts, max_size, flags):
    responder = Responder(emulator_config())
    responder.handle(m.GetVersion().encode())
    caps = m.GetCapabilities(
        version=0x12, flags=flags, data_transfer_size=dts, max_spdm_msg_size=max_size
    )
    assert responder.handle(caps.encode()) == bytes.fromhex("127f0100")


def test_different_transfer_sizes_are_fine_with_chunk():
    responder = Responder(emulator_config())
    responder.handle(m.GetVersion().encode())
    caps = m.GetCapabilities(
        version=0x12, flags=0x20000, data_transfer_size=2048, max_spdm_msg_size=4096
    )
    assert responder.handle(caps.encode())[1] == 0x61


@pytest.mark.parametrize("length", [1, 7, 100, 0x400, 0xFFFF])
def test_certificate_in_portions_of_any_length(length):
    responder = negotiated()
    responder.handle(m.GetDigests(version=0x12).encode())
    chain, offset = b"", 0
    while True:
        request = m.GetCertificate(version=0x12, slot=0, offset=offset, length=length)
        portion = m.Certificate.decode(responder.handle(request.encode()), version=0x12)
        assert len(portion.portion) == min(
            length, 0x400, len(portion.portion) + portion.remainder_length
        )
        chain += portion.portion
        offset += len(portion.portion)
        if not portion.remainder_length:
            break
    cred = emulator_config().slots[0][P384]
    assert chain == certs.build_cert_chain(cred.der_chain, SHA384)


def test_certificate_offset_past_the_end_is_invalid():
    responder = negotiated()
    request = m.GetCertificate(version=0x12, slot=0, offset=0xFFF0, length=16)
    assert responder.handle(request.encode()) == error(0x12, ErrorCode.INVALID_REQUEST)


def test_unprovisioned_slot_is_invalid():
    responder = negotiated()
    request = m.GetCertificate(version=0x12, slot=3, offset=0, length=16)
    assert responder.handle(request.encode()) == error(0x12, ErrorCode.INVALID_REQUEST)


def test_each_slot_has_its_own_chain_and_key():
    config = emulator_config(slot_count=3)
    responder = negotiated(slot_count=3)
    digests = m.Digests.decode(
        responder.handle(m.GetDigests(version=0x12).encode()), hash_size=48
    )
    assert digests.slot_mask == 0b111
    assert len(set(digests.digests)) == 3
    for slot in range(3):
        chain = config.slots[slot][P384].chain(SHA384)
        assert digests.digest_for(slot) == crypto.digest(SHA384, chain)


@pytest.mark.parametrize("slot", [0, 1, 2])
def test_attest_any_provisioned_slot(slot):
    clock = FakeClock()
    transport = LocalTransport(Responder(emulator_config(slot_count=3)), clock)
    config = requester_config(slot=slot, trust=trusted_roots(P384, SHA384, 3))
    result = attest(transport, config, clock=clock, sleep=clock.sleep)
    assert (result.status, result.slot) == ("Success", slot), result.reason


def test_challenge_with_measurement_summary_hash():
    responder = negotiated()
    request = m.Challenge(version=0x12, slot=0, summary_type=0xFF, nonce=bytes(32))
    auth = m.ChallengeAuth.decode(
        responder.handle(request.encode()),
        hash_size=48,
        signature_size=96,
        summary_hash_size=48,
    )
    assert len(auth.measurement_summary_hash) == 48 and any(
        auth.measurement_summary_hash
    )


def test_respond_if_ready_without_a_pending_request_is_unexpected():
    assert negotiated().handle(bytes.fromhex("12ff8300")) == error(
        0x12, ErrorCode.UNEXPECTED_REQUEST
    )


def test_respond_if_ready_with_the_wrong_token_is_invalid():
    responder = negotiated(faults=("not_ready=1@GET_DIGESTS",))
    not_ready = m.ErrorMessage.decode(
        responder.handle(m.GetDigests(version=0x12).encode())
    ).not_ready
    assert (not_ready.request_code, not_ready.rdtm > 1) == (0x81, True)
    wrong = m.RespondIfReady(
        version=0x12, request_code=0x81, token=not_ready.token ^ 0xFF
    )
    assert responder.handle(wrong.encode()) == error(0x12, ErrorCode.INVALID_REQUEST)
    right = m.RespondIfReady(version=0x12, request_code=0x81, token=not_ready.token)
    assert responder.handle(right.encode())[1] == 0x01


def drive(requester, responder, request):
    """Hand one request to the emulator and its answer to the requester."""
    return requester.receive(responder.handle(request))


@pytest.mark.parametrize("version", [0x10, 0x11, 0x12, 0x13])
def test_busy_to_get_measurements_resets_l1_on_both_sides(version):
    """Busy to the second GET_MEASUREMENTS of a run: the emulator resets L1
    as the requester's transcript does (an ERROR to GET_MEASUREMENTS resets
    it), so the resent request's signature verifies and covers only what
    came after the Busy."""
    faults = ("busy=1@GET_MEASUREMENTS", "busy_after=1")
    responder = Responder(emulator_config(faults=faults))
    requester = Requester(RequesterSettings(versions=frozenset({version})))
    drive(requester, responder, requester.get_version())
    drive(requester, responder, requester.get_capabilities())
    drive(requester, responder, requester.negotiate_algorithms())
    drive(requester, responder, requester.get_digests())
    while not requester.certificate_complete(0):
        drive(requester, responder, requester.get_certificate(0))
    context = bytes(8) if version >= 0x13 else b""
    unsigned = requester.get_measurements(1, signed=False, requester_context=context)
    drive(requester, responder, unsigned)
    signed = requester.get_measurements(
        2, signed=True, nonce=bytes(32), requester_context=context
    )
    with pytest.raises(ErrorResponse) as busy:
        drive(requester, responder, signed)
    assert busy.value.error_code == ErrorCode.BUSY
    drive(requester, responder, signed)
    assert [b.index for b in requester.blocks] == [2]
    assert unsigned not in requester.signed_measurements


@pytest.mark.parametrize(
    "specs, expected",
    [
        pytest.param(["wrong_key"], Faults(wrong_key=True), id="flag"),
        pytest.param(
            ["busy=3@CHALLENGE"], Faults(busy=3, busy_step="CHALLENGE"), id="busy"
        ),
        pytest.param(["busy=2"], Faults(busy=2), id="busy-any"),
        pytest.param(
            ["busy=1@GET_MEASUREMENTS", "busy_after=2"],
            Faults(busy=1, busy_step="GET_MEASUREMENTS", busy_after=2),
            id="busy-after",
        ),
        pytest.param(
            ["not_ready=2@get_measurements"],
            Faults(not_ready=2, not_ready_step="GET_MEASUREMENTS"),
            id="not-ready",
        ),
        pytest.param(["silent"], Faults(silent_all=True), id="silent"),
        pytest.param(
            ["silent@CHALLENGE"], Faults(silent_from="CHALLENGE"), id="silent-from"
        ),
        pytest.param(
            ["silent_only@GET_MEASUREMENTS"],
            Faults(silent_only="GET_MEASUREMENTS"),
            id="silent-only",
        ),
        pytest.param(
            ["slow=2.5@CHALLENGE"], Faults(slow=2.5, slow_step="CHALLENGE"), id="slow"
        ),
        pytest.param(
            ["truncate=4@GET_DIGESTS"],
            Faults(truncate=4, truncate_step="GET_DIGESTS"),
            id="truncate",
        ),
        pytest.param(
            ["oversize=9@CHALLENGE"],
            Faults(oversize=9, oversize_step="CHALLENGE"),
            id="oversize",
        ),
        pytest.param(["wrong_version"], Faults(wrong_version=True), id="wrong-version"),
        pytest.param(
            ["error=UNSPECIFIED@GET_MEASUREMENTS"],
            Faults(error_code=5, error_step="GET_MEASUREMENTS"),
            id="error-name",
        ),
        pytest.param(
            ["error=0x44@CHALLENGE"],
            Faults(error_code=0x44, error_step="CHALLENGE"),
            id="error-number",
        ),
    ],
)
def test_fault_parsing(specs, expected):
    assert Faults.parse(specs) == expected


@pytest.mark.parametrize(
    "spec, text",
    [
        pytest.param("bogus", "unknown fault 'bogus'", id="unknown"),
        pytest.param("busy=x", "is not valid", id="bad-number"),
        pytest.param("busy=1@NOPE", "is not a request name", id="bad-step"),
        pytest.param(
            "wrong_key@CHALLENGE", "takes no value or step", id="flag-with-step"
        ),
        pytest.param("error=5", "needs a code and a step", id="error-without-step"),
        pytest.param(
            "not_ready=1@GET_VERSION",
            "not allowed for GET_VERSION",
            id="not-ready-version",
        ),
        pytest.param("silent_only", "needs a step", id="silent-only-bare"),
        pytest.param(
            "busy_after=1@CHALLENGE", "needs a count and no step", id="busy-after-step"
        ),
    ],
)
def test_bad_fault_specs_are_usage_errors(spec, text):
    with pytest.raises(UsageError, match=text):
        Faults.parse([spec])
