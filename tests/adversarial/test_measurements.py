"""MEASUREMENTS from a device that holds the genuine leaf key: blocks for
other indices, inconsistent record lengths, a signature over an L1 that
leaves out or repeats exchanges, the wrong context or version prefix."""

from __future__ import annotations

from typing import Any

import pytest
from tests.adversarial.forger import (
    CHALLENGE_CONTEXT,
    SIG,
    Forger,
    assert_failed,
    make_forger,
    requester_config,
)

from spdmd.attest import get_signed_measurements
from spdmd.errors import (
    MalformedResponse,
    SignatureError,
    SpdmError,
    UnexpectedResponse,
)
from spdmd.spdm import messages as m


def run(f: Forger, trust: Any, indices: tuple[int, ...] = (255,), **kw: Any) -> Any:
    return get_signed_measurements(f, requester_config(trust, **kw), indices=indices)


def signed_only(change: Any = None, **sign: Any) -> Any:
    """A GET_MEASUREMENTS rule: unsigned answers pass, the signed one is
    decoded, edited by `change` and re-signed with `sign`."""

    def rule(f: Forger, req: bytes, rsp: bytes) -> bytes:
        if not req[2] & 1:
            return rsp
        meas = f.measurements(req, rsp)
        if change is not None:
            change(meas)
        return f.signed_measurements(req, meas, **sign)

    return rule


def every(change: Any) -> Any:
    """Edit every MEASUREMENTS (signed ones re-signed correctly)."""

    def rule(f: Forger, req: bytes, rsp: bytes) -> bytes:
        meas = f.measurements(req, rsp)
        change(meas)
        if req[2] & 1:
            return f.signed_measurements(req, meas)
        meas.raw = b""
        return meas.encode()

    return rule


def test_block_for_another_index() -> None:
    """GET_MEASUREMENTS for index 1 answered (and signed) with the block of index 2."""
    f, trust = make_forger()

    def change(meas: m.Measurements) -> None:
        b = meas.blocks[0]
        meas.blocks = (m.MeasurementBlock(2, b.spec, b.value_type, b.value),)

    f.rules["GET_MEASUREMENTS"] = signed_only(change)
    assert_failed(run(f, trust, (1,)), "GET_MEASUREMENTS", UnexpectedResponse)


def test_extra_block_for_a_single_index() -> None:
    """GET_MEASUREMENTS for index 1 answered (and signed) with blocks 1 and 2."""
    f, trust = make_forger()

    def change(meas: m.Measurements) -> None:
        b = meas.blocks[0]
        meas.blocks = (b, m.MeasurementBlock(2, b.spec, b.value_type, b.value))

    f.rules["GET_MEASUREMENTS"] = signed_only(change)
    result = run(f, trust, (1,))
    assert result.status == "Failed" and result.step == "GET_MEASUREMENTS"


def test_no_block_for_the_requested_index() -> None:
    """GET_MEASUREMENTS for index 1 answered (and signed) with no block."""
    f, trust = make_forger()
    f.rules["GET_MEASUREMENTS"] = signed_only(lambda meas: setattr(meas, "blocks", ()))
    assert_failed(run(f, trust, (1,)), "GET_MEASUREMENTS", MalformedResponse)


def test_repeated_block_index_in_all() -> None:
    """'All measurements' answered with block 1 twice."""
    f, trust = make_forger()
    f.rules["GET_MEASUREMENTS"] = signed_only(
        lambda meas: setattr(meas, "blocks", meas.blocks + meas.blocks[:1])
    )
    assert_failed(run(f, trust), "GET_MEASUREMENTS", MalformedResponse)


def test_slot_differs_from_request() -> None:
    """Signed MEASUREMENTS Param2 names slot 1 for a slot-0 request."""
    f, trust = make_forger(slot_count=2)
    f.rules["GET_MEASUREMENTS"] = signed_only(
        lambda meas: setattr(meas, "param2", (meas.param2 & 0xF0) | 1)
    )
    assert_failed(run(f, trust), "GET_MEASUREMENTS", UnexpectedResponse)


def test_requester_context_not_echoed() -> None:
    """1.3: signed MEASUREMENTS with a RequesterContext of its own."""
    f, trust = make_forger(versions=frozenset({0x13}))
    f.rules["GET_MEASUREMENTS"] = signed_only(
        lambda meas: setattr(meas, "requester_context", b"\xaa" * 8)
    )
    assert_failed(run(f, trust), "GET_MEASUREMENTS", UnexpectedResponse)


def test_unsigned_answer_reports_a_content_change() -> None:
    """1.2: an unsigned MEASUREMENTS in the run sets the content-changed bits."""
    f, trust = make_forger()

    def rule(f: Forger, req: bytes, rsp: bytes) -> bytes:
        if req[2] & 1:
            return f.signed_measurements(req, f.measurements(req, rsp))
        out = bytearray(rsp)
        out[3] |= 0x10
        return bytes(out)

    f.rules["GET_MEASUREMENTS"] = rule
    assert_failed(run(f, trust, (1, 2)), "GET_MEASUREMENTS", MalformedResponse)


@pytest.mark.parametrize(
    "name, over",
    [
        ("omits the earlier unsigned exchange", lambda a, l1, this: a + this),
        ("omits A (1.2 puts VCA in L1)", lambda a, l1, this: l1 + this),
        ("repeats the earlier exchange", lambda a, l1, this: a + l1 + l1 + this),
        ("repeats A", lambda a, l1, this: a + a + l1 + this),
        ("reorders L1", lambda a, l1, this: a + this + l1),
    ],
)
def test_signature_over_the_wrong_l1(name: str, over: Any) -> None:
    """A genuine MEASUREMENTS signature over an L1 that omits, repeats or reorders messages."""
    f, trust = make_forger()
    f.rules["GET_MEASUREMENTS"] = signed_only(over=over)
    assert_failed(run(f, trust, (1, 2)), "GET_MEASUREMENTS", SignatureError)


def test_1_1_signature_that_includes_a() -> None:
    """1.1: the device signs A + L1, but 1.1's L1 does not include VCA."""
    f, trust = make_forger(versions=frozenset({0x11}))
    f.rules["GET_MEASUREMENTS"] = signed_only(over=lambda a, l1, this: a + l1 + this)
    assert_failed(run(f, trust, (1, 2)), "GET_MEASUREMENTS", SignatureError)


def test_signature_with_the_challenge_context() -> None:
    """1.2: MEASUREMENTS signed with the CHALLENGE_AUTH context string."""
    f, trust = make_forger()
    f.rules["GET_MEASUREMENTS"] = signed_only(context=CHALLENGE_CONTEXT)
    assert_failed(run(f, trust), "GET_MEASUREMENTS", SignatureError)


@pytest.mark.parametrize("version, prefix", [(0x12, 0x13), (0x13, 0x12), (0x12, 0x11)])
def test_signature_with_another_versions_prefix(version: int, prefix: int) -> None:
    """MEASUREMENTS signed with the signing prefix of another SPDM version."""
    f, trust = make_forger(versions=frozenset({version}))
    f.rules["GET_MEASUREMENTS"] = signed_only(prefix_version=prefix)
    assert_failed(run(f, trust), "GET_MEASUREMENTS", SignatureError)


def test_signature_over_the_caller_nonce_replaced() -> None:
    """The device signs a GET_MEASUREMENTS with a nonce other than the caller's."""
    f, trust = make_forger()

    def over(a: bytes, l1: bytes, this: bytes) -> bytes:
        return a + l1 + this[:4] + bytes(32) + this[36:]

    f.rules["GET_MEASUREMENTS"] = signed_only(over=over)
    assert_failed(run(f, trust), "GET_MEASUREMENTS", SignatureError)


def test_record_length_larger_than_the_blocks() -> None:
    """MeasurementRecordLength counts 4 bytes more than the blocks hold."""
    f, trust = make_forger()

    def rule(f: Forger, req: bytes, rsp: bytes) -> bytes:
        out = bytearray(rsp)
        length = int.from_bytes(out[5:8], "little") + 4
        out[5:8] = length.to_bytes(3, "little")
        return bytes(out)

    f.rules["GET_MEASUREMENTS"] = rule
    assert_failed(run(f, trust), "GET_MEASUREMENTS", MalformedResponse)


def test_record_length_smaller_than_the_blocks() -> None:
    """MeasurementRecordLength cuts the last block short."""
    f, trust = make_forger()

    def rule(f: Forger, req: bytes, rsp: bytes) -> bytes:
        out = bytearray(rsp)
        length = int.from_bytes(out[5:8], "little") - 1
        out[5:8] = length.to_bytes(3, "little")
        return bytes(out)

    f.rules["GET_MEASUREMENTS"] = rule
    assert_failed(run(f, trust), "GET_MEASUREMENTS", MalformedResponse)


def test_record_length_beyond_the_message() -> None:
    """MeasurementRecordLength 0xFFFFFF in a short message."""
    f, trust = make_forger()

    def rule(f: Forger, req: bytes, rsp: bytes) -> bytes:
        return rsp[:5] + b"\xff\xff\xff" + rsp[8:]

    f.rules["GET_MEASUREMENTS"] = rule
    assert_failed(run(f, trust), "GET_MEASUREMENTS", MalformedResponse)


@pytest.mark.parametrize("delta", [-1, 1])
def test_number_of_blocks_disagrees_with_the_record(delta: int) -> None:
    """NumberOfBlocks is one less or one more than the record holds."""
    f, trust = make_forger()

    def rule(f: Forger, req: bytes, rsp: bytes) -> bytes:
        out = bytearray(rsp)
        out[4] = (out[4] + delta) & 0xFF
        return bytes(out)

    f.rules["GET_MEASUREMENTS"] = rule
    assert_failed(run(f, trust), "GET_MEASUREMENTS", MalformedResponse)


def test_dmtf_value_size_disagrees_with_measurement_size() -> None:
    """A block's DMTF ValueSize is one more than its MeasurementSize allows."""
    f, trust = make_forger()

    def rule(f: Forger, req: bytes, rsp: bytes) -> bytes:
        out = bytearray(rsp)
        # first block: Index, Spec, MeasurementSize(2), ValueType, ValueSize(2)
        size = int.from_bytes(out[8 + 5 : 8 + 7], "little") + 1
        out[8 + 5 : 8 + 7] = size.to_bytes(2, "little")
        return bytes(out)

    f.rules["GET_MEASUREMENTS"] = rule
    assert_failed(run(f, trust), "GET_MEASUREMENTS", MalformedResponse)


def test_block_of_another_measurement_specification() -> None:
    """A correctly signed block whose MeasurementSpecification is not the negotiated DMTF."""
    f, trust = make_forger()

    def change(meas: m.Measurements) -> None:
        b = meas.blocks[0]
        meas.blocks = (m.MeasurementBlock(b.index, 0x02, 0, b.value),) + meas.blocks[1:]

    f.rules["GET_MEASUREMENTS"] = signed_only(change)
    assert_failed(run(f, trust), "GET_MEASUREMENTS", MalformedResponse)


def test_count_request_answered_with_blocks() -> None:
    """Index 0 (count only) answered, and signed, with a block."""
    f, trust = make_forger()

    def change(meas: m.Measurements) -> None:
        meas.blocks = (m.MeasurementBlock(1, 0x01, 0, b"x"),)

    f.rules["GET_MEASUREMENTS"] = signed_only(change)
    assert_failed(run(f, trust, (0,)), "GET_MEASUREMENTS", MalformedResponse)


@pytest.mark.parametrize("signed", [False, True])
def test_trailing_bytes(signed: bool) -> None:
    """A genuine unsigned or signed MEASUREMENTS with one byte appended."""
    f, trust = make_forger()

    def rule(f: Forger, req: bytes, rsp: bytes) -> bytes:
        return rsp + b"\x00" if bool(req[2] & 1) == signed else rsp

    f.rules["GET_MEASUREMENTS"] = rule
    assert_failed(run(f, trust, (1, 2)), "GET_MEASUREMENTS", MalformedResponse)


def test_signature_missing() -> None:
    """A signed request answered by an unsigned-layout MEASUREMENTS (no signature)."""
    f, trust = make_forger()
    f.rules["GET_MEASUREMENTS"] = lambda f, req, rsp: rsp[:-SIG] if req[2] & 1 else rsp
    assert_failed(run(f, trust), "GET_MEASUREMENTS", MalformedResponse)


def test_signature_on_an_unsigned_exchange_only() -> None:
    """The device signs the first (unsigned) answer and leaves the signed one unsigned."""
    f, trust = make_forger()

    def rule(f: Forger, req: bytes, rsp: bytes) -> bytes:
        if req[2] & 1:
            return rsp[:-SIG]
        return rsp + bytes(SIG)

    f.rules["GET_MEASUREMENTS"] = rule
    assert_failed(run(f, trust, (1, 2)), "GET_MEASUREMENTS", MalformedResponse)


def test_1_3_measurements_in_the_1_2_layout() -> None:
    """1.3 negotiated; MEASUREMENTS without RequesterContext (version byte 0x13)."""
    f, trust = make_forger(versions=frozenset({0x13}))
    f.rules["GET_MEASUREMENTS"] = lambda f, req, rsp: rsp[: -SIG - 8] + rsp[-SIG:]
    assert_failed(run(f, trust), "GET_MEASUREMENTS", SpdmError)


def test_opaque_length_beyond_the_message() -> None:
    """OpaqueLength 0xFFFF in a signed MEASUREMENTS."""
    f, trust = make_forger()

    def rule(f: Forger, req: bytes, rsp: bytes) -> bytes:
        meas = f.measurements(req, rsp)
        out = bytearray(rsp)
        at = 8 + len(b"".join(b.encode() for b in meas.blocks)) + 32
        out[at : at + 2] = b"\xff\xff"
        return bytes(out)

    f.rules["GET_MEASUREMENTS"] = rule
    assert_failed(run(f, trust), "GET_MEASUREMENTS", MalformedResponse)


@pytest.mark.parametrize("size", [0, 1, 47, 49, 64])
def test_digest_block_of_the_wrong_size(size: int) -> None:
    """A correctly signed digest block (not raw) whose value is not one SHA-384 (the negotiated MeasurementHashAlgo) digest."""
    f, trust = make_forger()

    def change(meas: m.Measurements) -> None:
        b = meas.blocks[0]
        assert not b.raw_bit_stream and len(b.value) == 48
        meas.blocks = (m.MeasurementBlock(b.index, b.spec, b.value_type, bytes(size)),)

    f.rules["GET_MEASUREMENTS"] = signed_only(change)
    result = run(f, trust, (1,))
    assert_failed(result, "GET_MEASUREMENTS", MalformedResponse)
    assert f"digest is {size} bytes, expected 48" in result.reason


def test_raw_block_of_any_size_is_accepted() -> None:
    """Control: the same block marked raw bit stream (ValueType bit 7) may hold any number of bytes."""
    f, trust = make_forger()

    def change(meas: m.Measurements) -> None:
        b = meas.blocks[0]
        meas.blocks = (
            m.MeasurementBlock(b.index, b.spec, b.value_type | 0x80, b"\x01"),
        )

    f.rules["GET_MEASUREMENTS"] = signed_only(change)
    result = run(f, trust, (1,))
    assert result.status == "Success", result.reason
    assert [(b.raw_bit_stream, b.value) for b in result.blocks] == [(True, b"\x01")]
