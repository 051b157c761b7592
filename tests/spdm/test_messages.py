"""Golden (object, bytes) tables for every SPDM message, both directions.

Each golden entry is decoded whole, with one trailing byte (an error: every
length is computed from the fields), and truncated at every length (an
error, never an IndexError). The bytes are written out by hand from the
DSP0274 layouts, not produced by `encode()`.
"""

from __future__ import annotations

from typing import Any

import pytest

from spdmd.errors import (
    ErrorResponse,
    MalformedRequest,
    MalformedResponse,
    SpdmError,
    UnexpectedResponse,
)
from spdmd.spdm import messages as m
from spdmd.spdm.constants import Code, ErrorCode

H32 = bytes(range(32))
H48 = bytes(range(48))
NONCE = bytes(range(0x40, 0x60))
CTX = bytes.fromhex("0102030405060708")
SIG64 = bytes(range(0x80, 0xC0))

Golden = tuple[m.Message, str, dict[str, Any]]

GOLDEN: list[Any] = [
    # --- requests ---
    pytest.param(m.GetVersion(), "10840000", {}, id="GET_VERSION"),
    pytest.param(m.GetCapabilities(version=0x10), "10e10000", {}, id="GET_CAPS-1.0"),
    pytest.param(
        m.GetCapabilities(version=0x11, ct_exponent=12, flags=0x6),
        "11e10000000c000006000000",
        {},
        id="GET_CAPS-1.1",
    ),
    pytest.param(
        m.GetCapabilities(
            version=0x12,
            ct_exponent=0,
            flags=0,
            data_transfer_size=0x1200,
            max_spdm_msg_size=0x1200,
        ),
        "12e1000000000000000000000012000000120000",
        {},
        id="GET_CAPS-1.2",
    ),
    pytest.param(
        m.NegotiateAlgorithms(
            version=0x11, measurement_spec=1, base_asym=0x10, base_hash=0x01
        ),
        "11e3000020000100100000000100000000000000000000000000000000000000",
        {},
        id="NEGOTIATE_ALGORITHMS-1.1",
    ),
    pytest.param(
        m.NegotiateAlgorithms(
            version=0x12,
            measurement_spec=1,
            other_params=0x02,
            base_asym=0x80,
            base_hash=0x02,
            ext_asym=(0xAABBCCDD,),
            tables=(m.AlgStruct(2, 0x0010),),
        ),
        "12e3010028000102800000000200000000000000000000000000000001000000"
        "ddccbbaa"
        "02201000",
        {},
        id="NEGOTIATE_ALGORITHMS-1.2-ext-table",
    ),
    pytest.param(m.GetDigests(version=0x12), "12810000", {}, id="GET_DIGESTS"),
    pytest.param(
        m.GetCertificate(version=0x11, slot=1, offset=0x400, length=0x400),
        "1182010000040004",
        {},
        id="GET_CERTIFICATE",
    ),
    pytest.param(
        m.Challenge(version=0x12, slot=0, summary_type=0xFF, nonce=NONCE),
        "128300ff" + NONCE.hex(),
        {},
        id="CHALLENGE-1.2",
    ),
    pytest.param(
        m.Challenge(
            version=0x13, slot=3, summary_type=0, nonce=NONCE, requester_context=CTX
        ),
        "13830300" + NONCE.hex() + CTX.hex(),
        {},
        id="CHALLENGE-1.3",
    ),
    pytest.param(
        m.GetMeasurements(version=0x10, attributes=0, operation=0),
        "10e00000",
        {},
        id="GET_MEASUREMENTS-1.0-count",
    ),
    pytest.param(
        m.GetMeasurements(version=0x10, attributes=1, operation=0xFF, nonce=NONCE),
        "10e001ff" + NONCE.hex(),
        {},
        id="GET_MEASUREMENTS-1.0-signed",
    ),
    pytest.param(
        m.GetMeasurements(version=0x11, attributes=1, operation=3, nonce=NONCE, slot=2),
        "11e00103" + NONCE.hex() + "02",
        {},
        id="GET_MEASUREMENTS-1.1-signed",
    ),
    pytest.param(
        m.GetMeasurements(
            version=0x13, attributes=0, operation=5, requester_context=CTX
        ),
        "13e00005" + CTX.hex(),
        {},
        id="GET_MEASUREMENTS-1.3-unsigned",
    ),
    pytest.param(
        m.RespondIfReady(version=0x12, request_code=0x83, token=7),
        "12ff8307",
        {},
        id="RESPOND_IF_READY",
    ),
    # --- responses ---
    pytest.param(
        m.Version(entries=(0x1000, 0x1100, 0x1200)),
        "100400000003001000110012",
        {},
        id="VERSION",
    ),
    pytest.param(
        m.Capabilities(version=0x11, ct_exponent=14, flags=0x37),
        "11610000000e000037000000",
        {},
        id="CAPABILITIES-1.1",
    ),
    pytest.param(
        m.Capabilities(
            version=0x13,
            ct_exponent=0,
            flags=0x399AFBF7,
            data_transfer_size=0x1280,
            max_spdm_msg_size=0x28000,
        ),
        "1361000000000000f7fb9a398012000000800200",
        {},
        id="CAPABILITIES-1.3",
    ),
    pytest.param(
        m.Algorithms(
            version=0x10,
            measurement_spec=1,
            measurement_hash=0x08,
            base_asym=0x10,
            base_hash=0x01,
        ),
        "106300002400010008000000100000000100000000000000000000000000000000000000",
        {},
        id="ALGORITHMS-1.0",
    ),
    pytest.param(
        m.Algorithms(
            version=0x13,
            measurement_spec=1,
            other_params=2,
            measurement_hash=0x08,
            base_asym=0x80,
            base_hash=0x02,
            mel_spec=1,
            tables=(m.AlgStruct(3, 0x0001), m.AlgStruct(4, 0x0002, external=(9,))),
        ),
        "13630200"
        "3000"
        "0102"
        "08000000"
        "80000000"
        "02000000"
        "0000000000000000000000"
        "01"
        "00"
        "00"
        "0000"
        "03200100"
        "042102"
        "00"
        "09000000",
        {},
        id="ALGORITHMS-1.3-tables",
    ),
    pytest.param(
        m.Digests(version=0x11, slot_mask=0x05, digests=(H32, H32[::-1])),
        "11010005" + H32.hex() + H32[::-1].hex(),
        {"hash_size": 32},
        id="DIGESTS-two-slots",
    ),
    pytest.param(
        m.Digests(
            version=0x13, slot_mask=0x01, digests=(H48,), supported_slot_mask=0x03
        ),
        "13010301" + H48.hex(),
        {"hash_size": 48},
        id="DIGESTS-1.3",
    ),
    pytest.param(
        m.Certificate(
            version=0x12, slot=1, portion=b"\xaa\xbb\xcc", remainder_length=9
        ),
        "1202010003000900aabbcc",
        {},
        id="CERTIFICATE",
    ),
    pytest.param(
        m.ChallengeAuth(
            version=0x12,
            slot=0,
            slot_mask=0x01,
            cert_chain_hash=H32,
            nonce=NONCE,
            measurement_summary_hash=H32[::-1],
            opaque=b"\x01\x02",
            signature=SIG64,
        ),
        "12030001"
        + H32.hex()
        + NONCE.hex()
        + H32[::-1].hex()
        + "0200"
        + "0102"
        + SIG64.hex(),
        {"hash_size": 32, "signature_size": 64, "summary_hash_size": 32},
        id="CHALLENGE_AUTH-1.2",
    ),
    pytest.param(
        m.ChallengeAuth(
            version=0x13,
            slot=2,
            slot_mask=0x04,
            cert_chain_hash=H32,
            nonce=NONCE,
            requester_context=CTX,
            signature=SIG64,
        ),
        "13030204" + H32.hex() + NONCE.hex() + "0000" + CTX.hex() + SIG64.hex(),
        {"hash_size": 32, "signature_size": 64},
        id="CHALLENGE_AUTH-1.3",
    ),
    pytest.param(
        m.Measurements(version=0x11, total_count=4, nonce=NONCE),
        "1160040000000000" + NONCE.hex() + "0000",
        {},
        id="MEASUREMENTS-count",
    ),
    pytest.param(
        m.Measurements(
            version=0x12,
            param2=0x01,
            blocks=(
                m.MeasurementBlock(1, 1, 0x00, b"\x11" * 4),
                m.MeasurementBlock(0xFD, 1, 0x85, b"raw"),
            ),
            nonce=NONCE,
            opaque=b"\xee",
            signature=SIG64,
        ),
        "12600001"
        "02"
        "150000"
        "01010700"
        "00"
        "0400"
        "11111111"
        "fd010600"
        "85"
        "0300"
        "726177" + NONCE.hex() + "0100" + "ee" + SIG64.hex(),
        {"signature_size": 64},
        id="MEASUREMENTS-1.2-signed",
    ),
    pytest.param(
        m.Measurements(
            version=0x13,
            blocks=(m.MeasurementBlock(2, 1, 0x01, b""),),
            nonce=NONCE,
            requester_context=CTX,
        ),
        "136000000107000002010300010000" + NONCE.hex() + "0000" + CTX.hex(),
        {},
        id="MEASUREMENTS-1.3-unsigned",
    ),
    pytest.param(
        m.ErrorMessage(version=0x12, error_code=ErrorCode.BUSY, error_data=0),
        "127f0300",
        {},
        id="ERROR-Busy",
    ),
    pytest.param(
        m.ErrorMessage(
            version=0x12,
            error_code=ErrorCode.RESPONSE_NOT_READY,
            extended=bytes((10, 0x83, 5, 2)),
        ),
        "127f42000a830502",
        {},
        id="ERROR-ResponseNotReady",
    ),
]


@pytest.mark.parametrize(("obj", "hexdata", "params"), GOLDEN)
def test_encode_golden(obj: m.Message, hexdata: str, params: dict[str, Any]) -> None:
    assert obj.encode().hex() == hexdata  # type: ignore[attr-defined]


@pytest.mark.parametrize(("obj", "hexdata", "params"), GOLDEN)
def test_decode_golden(obj: m.Message, hexdata: str, params: dict[str, Any]) -> None:
    data = bytes.fromhex(hexdata)
    got = type(obj).decode(data, **params)  # type: ignore[attr-defined]
    assert got == obj
    assert got.raw == data


def _error_class(obj: m.Message) -> type[SpdmError]:
    return MalformedRequest if obj.IS_REQUEST else MalformedResponse


# ERROR extended data other than ResponseNotReady has no size field, so
# trailing bytes there are extended data, not an error (test below).
SIZED = [
    p
    for p in GOLDEN
    if not (isinstance(p.values[0], m.ErrorMessage) and p.values[0].not_ready is None)
]


@pytest.mark.parametrize(("obj", "hexdata", "params"), SIZED)
def test_trailing_byte_is_rejected(
    obj: m.Message, hexdata: str, params: dict[str, Any]
) -> None:
    data = bytes.fromhex(hexdata) + b"\x00"
    with pytest.raises(_error_class(obj), match="expected"):
        type(obj).decode(data, **params)  # type: ignore[attr-defined]


@pytest.mark.parametrize(("obj", "hexdata", "params"), GOLDEN)
def test_every_truncation_is_rejected(
    obj: m.Message, hexdata: str, params: dict[str, Any]
) -> None:
    data = bytes.fromhex(hexdata)
    for cut in range(len(data)):
        with pytest.raises(_error_class(obj)):
            type(obj).decode(data[:cut], **params)  # type: ignore[attr-defined]


@pytest.mark.parametrize(("obj", "hexdata", "params"), GOLDEN)
def test_fed_byte_by_byte_only_the_whole_message_decodes(
    obj: m.Message, hexdata: str, params: dict[str, Any]
) -> None:
    """A streaming caller that retries with one more byte each time gets an
    error until the message is complete, then the object."""
    data = bytes.fromhex(hexdata)
    decoded = []
    for end in range(1, len(data) + 1):
        try:
            decoded.append((end, type(obj).decode(data[:end], **params)))  # type: ignore[attr-defined]
        except SpdmError:
            pass
    if isinstance(obj, m.ErrorMessage) and obj.not_ready is None:
        assert decoded[-1][0] == len(data)
    else:
        assert [end for end, _ in decoded] == [len(data)]
    assert decoded[-1][1] == obj


def test_algorithms_length_field_must_match_parsed_size() -> None:
    data = bytearray(
        bytes.fromhex(
            "106300002400010008000000100000000100000000000000000000000000000000000000"
        )
    )
    data[4] = 0x28
    with pytest.raises(MalformedResponse, match="Length field is 40, expected 36"):
        m.Algorithms.decode(bytes(data))


def test_measurement_record_must_hold_exactly_the_blocks() -> None:
    # NumberOfBlocks says 2 but the record holds one block.
    data = bytes.fromhex("12600000020800000101040000010011") + NONCE + b"\0\0"
    with pytest.raises(MalformedResponse, match="block 1"):
        m.Measurements.decode(data)
    # A DMTF value size that disagrees with MeasurementSize.
    data = bytes.fromhex("12600000010800000101040000020011") + NONCE + b"\0\0"
    with pytest.raises(MalformedResponse, match="DMTF value size"):
        m.Measurements.decode(data)


def test_digests_lookup_by_slot() -> None:
    d = m.Digests(version=0x11, slot_mask=0x05, digests=(b"a" * 32, b"b" * 32))
    assert d.digest_for(0) == b"a" * 32
    assert d.digest_for(1) is None
    assert d.digest_for(2) == b"b" * 32


@pytest.mark.parametrize(
    "version, supported, provisioned, ok",
    [
        pytest.param(0x13, 0x03, 0x01, True, id="1.3-inside"),
        pytest.param(0x13, 0x02, 0x01, False, id="1.3-outside"),
        pytest.param(0x13, 0x00, 0x01, False, id="1.3-none-supported"),
        pytest.param(0x12, 0x00, 0x01, True, id="1.2-param1-reserved"),
    ],
)
def test_digests_provisioned_slots_are_supported_slots(
    version: int, supported: int, provisioned: int, ok: bool
) -> None:
    """1.3: ProvisionedSlotMask (Param2) lies inside SupportedSlotMask (Param1)."""
    data = bytes((version, 0x01, supported, provisioned)) + bytes(32)
    if ok:
        assert m.Digests.decode(data, hash_size=32).slot_mask == provisioned
    else:
        with pytest.raises(MalformedResponse, match="outside its SupportedSlotMask"):
            m.Digests.decode(data, hash_size=32)


def test_error_keeps_unsized_extended_data() -> None:
    e = m.ErrorMessage.decode(bytes.fromhex("127f0f0005"))
    assert (e.error_code, e.extended) == (0x0F, b"\x05")


def test_response_not_ready_data() -> None:
    e = m.ErrorMessage.decode(bytes.fromhex("127f42000a830502"))
    assert e.not_ready == m.ResponseNotReadyData(10, 0x83, 5, 2)


# --- the response validator -------------------------------------------------


def test_validator_short_response() -> None:
    with pytest.raises(
        MalformedResponse, match="response to GET_DIGESTS is 3 bytes"
    ) as e:
        m.decode_response(Code.GET_DIGESTS, b"\x12\x01\x00", version=0x12, hash_size=32)
    assert e.value.step == "GET_DIGESTS"


def test_validator_checks_version_before_code() -> None:
    with pytest.raises(UnexpectedResponse, match="version byte 0x11, expected 0x12"):
        m.decode_response(
            Code.GET_DIGESTS, b"\x11\x7f\x01\x00", version=0x12, hash_size=32
        )


def test_validator_error_carries_request_and_error_code() -> None:
    with pytest.raises(ErrorResponse, match="CHALLENGE answered with ERROR") as e:
        m.decode_response(
            Code.CHALLENGE,
            b"\x12\x7f\x04\x00",
            version=0x12,
            hash_size=32,
            signature_size=64,
        )
    assert e.value.request_code == Code.CHALLENGE
    assert e.value.error_code == ErrorCode.UNEXPECTED_REQUEST
    assert e.value.step == "CHALLENGE"


def test_validator_error_keeps_not_ready_extended_data() -> None:
    with pytest.raises(ErrorResponse) as e:
        m.decode_response(
            Code.GET_MEASUREMENTS, bytes.fromhex("127f42000ae00502"), version=0x12
        )
    assert e.value.error_code == ErrorCode.RESPONSE_NOT_READY
    assert e.value.extended == bytes.fromhex("0ae00502")


def test_validator_wrong_response_code() -> None:
    with pytest.raises(
        UnexpectedResponse, match="has code CERTIFICATE .*expected DIGESTS"
    ):
        m.decode_response(
            Code.GET_DIGESTS, b"\x12\x02\x00\x00", version=0x12, hash_size=32
        )


def test_validator_full_length_last() -> None:
    data = bytes.fromhex("12010001") + H32 + b"\x00"
    with pytest.raises(MalformedResponse, match="is 37 bytes, expected 36") as e:
        m.decode_response(Code.GET_DIGESTS, data, version=0x12, hash_size=32)
    assert e.value.step == "GET_DIGESTS"


def test_version_response_must_carry_0x10() -> None:
    with pytest.raises(UnexpectedResponse, match="expected 0x10"):
        m.decode_response(Code.GET_VERSION, bytes.fromhex("110400000000"), version=0x10)


def test_decode_request_dispatches_and_rejects_unknown() -> None:
    assert isinstance(m.decode_request(bytes.fromhex("12810000")), m.GetDigests)
    with pytest.raises(MalformedRequest, match="0x99"):
        m.decode_request(bytes.fromhex("12990000"))
    with pytest.raises(MalformedRequest, match="unsupported version byte 0x20"):
        m.decode_request(bytes.fromhex("20810000"))
