"""The sans-I/O requester against hand-made responses: negotiation rules,
capability rules and chunked certificate retrieval."""

from __future__ import annotations

import hashlib

import pytest

from spdmd.errors import (
    CertificateChainError,
    DigestMismatch,
    ErrorResponse,
    MalformedResponse,
    NegotiationError,
    UnexpectedResponse,
    UsageError,
)
from spdmd.spdm import messages as m
from spdmd.spdm.constants import ST1_SECONDS, CapabilityFlag, Code
from spdmd.spdm.requester import Requester, RequesterSettings

FLAGS = int(CapabilityFlag.CERT | CapabilityFlag.CHAL | CapabilityFlag.MEAS_SIG)


def negotiated(
    version: int = 0x12, flags: int = FLAGS, settings: RequesterSettings | None = None
) -> Requester:
    r = Requester(settings)
    r.get_version()
    r.receive(m.Version(entries=(version << 8,)).encode())
    r.get_capabilities()
    r.receive(
        m.Capabilities(
            version=version,
            ct_exponent=14,
            flags=flags,
            data_transfer_size=0x1200,
            max_spdm_msg_size=0x1200,
        ).encode()
    )
    return r


def algorithms(version: int = 0x12, **kw: int) -> bytes:
    fields = {
        "measurement_spec": 1,
        "measurement_hash": 0x04,
        "base_asym": 0x80,
        "base_hash": 0x02,
    }
    fields.update(kw)
    return m.Algorithms(version=version, **fields).encode()


def test_version_picks_the_highest_common() -> None:
    r = Requester(RequesterSettings(versions=frozenset({0x10, 0x11, 0x12})))
    r.get_version()
    r.receive(m.Version(entries=(0x1000, 0x1100, 0x1200, 0x1300)).encode())
    assert r.version == 0x12


def test_capabilities_keep_ct_and_choose_timeouts() -> None:
    r = negotiated()
    assert r.ct_exponent == 14
    assert r.response_time(Code.CHALLENGE) == pytest.approx((1 << 14) / 1e6)
    assert r.response_time(Code.NEGOTIATE_ALGORITHMS) == ST1_SECONDS


@pytest.mark.parametrize(
    ("dts", "mx", "flags", "text"),
    [
        (41, 41, FLAGS, "at least 42"),
        (0x1300, 0x1200, FLAGS, "exceeds MaxSPDMmsgSize"),
        (0x100, 0x1200, FLAGS, "without CHUNK_CAP"),
    ],
)
def test_capabilities_1_2_data_transfer_size_rules(
    dts: int, mx: int, flags: int, text: str
) -> None:
    r = Requester()
    r.get_version()
    r.receive(m.Version(entries=(0x1200,)).encode())
    r.get_capabilities()
    rsp = m.Capabilities(
        version=0x12, flags=flags, data_transfer_size=dts, max_spdm_msg_size=mx
    )
    with pytest.raises(MalformedResponse, match=text) as e:
        r.receive(rsp.encode())
    assert e.value.step == "GET_CAPABILITIES"


def test_chunking_responder_may_have_a_smaller_data_transfer_size() -> None:
    r = Requester()
    r.get_version()
    r.receive(m.Version(entries=(0x1200,)).encode())
    r.get_capabilities()
    flags = FLAGS | CapabilityFlag.CHUNK
    r.receive(
        m.Capabilities(
            version=0x12,
            flags=flags,
            data_transfer_size=0x100,
            max_spdm_msg_size=0x1200,
        ).encode()
    )


def test_offer_excludes_eddsa_before_1_2() -> None:
    r = negotiated(0x11)
    req = m.NegotiateAlgorithms.decode(r.negotiate_algorithms())
    assert req.base_asym & 0x400 == 0
    r = negotiated(0x12)
    assert m.NegotiateAlgorithms.decode(r.negotiate_algorithms()).base_asym & 0x400


@pytest.mark.parametrize(
    ("fields", "text"),
    [
        ({"base_asym": 0x90}, "BaseAsymSel is 0x90"),
        ({"base_asym": 0}, "BaseAsymSel is 0x0"),
        ({"base_hash": 0x03}, "BaseHashSel is 0x3"),
        ({"measurement_hash": 0x06}, "MeasurementHashAlgo"),
        ({"measurement_spec": 2}, "MeasurementSpecificationSel"),
    ],
)
def test_algorithm_selection_must_be_one_offered_bit(
    fields: dict[str, int], text: str
) -> None:
    r = negotiated()
    r.negotiate_algorithms()
    with pytest.raises(NegotiationError, match=text) as e:
        r.receive(algorithms(**fields))
    assert e.value.step == "NEGOTIATE_ALGORITHMS"


def test_algorithm_outside_the_allowed_mask_is_rejected() -> None:
    r = negotiated(settings=RequesterSettings(asym_algos=0x10, hash_algos=0x01))
    r.negotiate_algorithms()
    with pytest.raises(NegotiationError, match="offered 0x10"):
        r.receive(algorithms(base_asym=0x80, base_hash=0x01))


def test_unoffered_opaque_format_is_rejected() -> None:
    r = negotiated()
    r.negotiate_algorithms()
    with pytest.raises(NegotiationError, match="opaque data format not offered"):
        r.receive(algorithms(other_params=0x01))


def test_reserved_meas_cap_is_rejected() -> None:
    flags = FLAGS | CapabilityFlag.MEAS_NO_SIG
    with pytest.raises(MalformedResponse, match="reserved value 11b"):
        negotiated(flags=int(flags))


def test_unoffered_tables_are_rejected() -> None:
    r = negotiated()
    r.negotiate_algorithms()
    data = m.Algorithms(
        version=0x12,
        measurement_spec=1,
        measurement_hash=4,
        base_asym=0x80,
        base_hash=2,
        tables=(m.AlgStruct(2, 0x10),),
    ).encode()
    with pytest.raises(UnexpectedResponse, match="not offered"):
        r.receive(data)


def _ready_for_certificates(chain: bytes, portion: int) -> Requester:
    r = negotiated(settings=RequesterSettings(portion_size=portion))
    r.negotiate_algorithms()
    r.receive(algorithms())
    r.get_digests()
    r.receive(
        m.Digests(
            version=0x12, slot_mask=0x01, digests=(hashlib.sha384(chain).digest(),)
        ).encode()
    )
    return r


def _chain(size: int) -> bytes:
    body = bytes(i & 0xFF for i in range(size - 4))
    return size.to_bytes(2, "little") + b"\0\0" + body


def _serve(r: Requester, chain: bytes, portion_cap: int) -> int:
    """Answer GET_CERTIFICATE like a responder that sends at most
    `portion_cap` bytes per response; return the request count."""
    count = 0
    while not r.certificate_complete(0):
        req = m.GetCertificate.decode(r.get_certificate(0))
        part = chain[req.offset : req.offset + min(req.length, portion_cap)]
        remainder = len(chain) - req.offset - len(part)
        r.receive(
            m.Certificate(
                version=0x12, portion=part, remainder_length=remainder
            ).encode()
        )
        count += 1
    return count


@pytest.mark.parametrize(
    ("portion", "cap"), [(0x400, 0x400), (100, 0x400), (0x400, 7), (1, 1)]
)
def test_chunked_certificate_of_any_portion_size(portion: int, cap: int) -> None:
    """The chain is assembled whatever the portion size asked for or served.

    The made-up chain is not X.509, so parsing fails after assembly: that
    proves the digest matched and the whole chain was handed on."""
    chain = _chain(600)
    r = _ready_for_certificates(chain, portion)
    with pytest.raises(CertificateChainError):
        _serve(r, chain, cap)
    assert r.transcript.b.count(b"\x12\x82") == -(-600 // min(portion, cap))


def test_certificate_header_length_must_match_portions() -> None:
    chain = _chain(600)
    bad = (700).to_bytes(2, "little") + chain[2:]
    r = _ready_for_certificates(bad, 0x400)
    with pytest.raises(MalformedResponse, match="header Length is 700"):
        _serve(r, bad, 0x400)


def test_certificate_total_must_stay_consistent() -> None:
    chain = _chain(600)
    r = _ready_for_certificates(chain, 100)
    r.get_certificate(0)
    r.receive(
        m.Certificate(version=0x12, portion=chain[:100], remainder_length=500).encode()
    )
    r.get_certificate(0)
    with pytest.raises(MalformedResponse, match="earlier portions said 600"):
        r.receive(
            m.Certificate(
                version=0x12, portion=chain[100:200], remainder_length=10
            ).encode()
        )


def test_certificate_empty_portion_with_remainder_is_rejected() -> None:
    chain = _chain(600)
    r = _ready_for_certificates(chain, 100)
    r.get_certificate(0)
    with pytest.raises(MalformedResponse, match="empty portion"):
        r.receive(
            m.Certificate(version=0x12, portion=b"", remainder_length=600).encode()
        )


def test_certificate_portion_larger_than_asked_is_rejected() -> None:
    chain = _chain(600)
    r = _ready_for_certificates(chain, 100)
    r.get_certificate(0)
    with pytest.raises(MalformedResponse, match="more than the 100 bytes"):
        r.receive(
            m.Certificate(
                version=0x12, portion=chain[:101], remainder_length=499
            ).encode()
        )


def test_certificate_for_another_slot_is_rejected() -> None:
    chain = _chain(600)
    r = _ready_for_certificates(chain, 0x400)
    r.get_certificate(0)
    with pytest.raises(UnexpectedResponse, match="slot 1, expected 0"):
        r.receive(
            m.Certificate(
                version=0x12, slot=1, portion=chain, remainder_length=0
            ).encode()
        )


def test_chain_not_matching_its_digest_is_rejected() -> None:
    chain = _chain(600)
    r = _ready_for_certificates(chain, 0x400)
    other = chain[:-1] + b"\x00"
    with pytest.raises(DigestMismatch, match="DIGESTS entry") as e:
        _serve(r, other, 0x400)
    assert e.value.step == "CERTIFICATE_CHAIN"


def test_unprovisioned_slot_and_missing_capabilities() -> None:
    chain = _chain(600)
    r = _ready_for_certificates(chain, 0x400)
    with pytest.raises(NegotiationError, match="slot 3 holds no certificate chain"):
        r.get_certificate(3)
    r = negotiated(flags=int(CapabilityFlag.CERT))
    with pytest.raises(NegotiationError, match="CHAL_CAP"):
        r.challenge(0, bytes(32))
    with pytest.raises(NegotiationError, match="MEAS_CAP"):
        r.get_measurements(0xFF, signed=True, nonce=bytes(32))


def test_receive_without_a_request_is_a_bug() -> None:
    with pytest.raises(UsageError, match="BUG"):
        Requester().receive(b"\x10\x04\x00\x00\x00\x00")


def test_error_keeps_the_request_pending() -> None:
    """After Busy the same request may be resent and its answer accepted."""
    r = Requester()
    r.get_version()
    with pytest.raises(ErrorResponse, match="BUSY"):
        r.receive(b"\x10\x7f\x03\x00")
    r.receive(m.Version(entries=(0x1100,)).encode())
    assert r.version == 0x11


@pytest.mark.parametrize(
    "meas_hash, value_type, size, accepted",
    [
        pytest.param(0x04, 0x00, 48, True, id="sha384-digest"),
        pytest.param(0x04, 0x00, 32, False, id="sha384-short-digest"),
        pytest.param(0x04, 0x80, 5, True, id="sha384-raw"),
        pytest.param(0x01, 0x00, 48, False, id="raw-only-digest"),
        pytest.param(0x01, 0x80, 48, True, id="raw-only-raw"),
    ],
)
def test_digest_blocks_have_the_measurement_hash_size(
    meas_hash: int, value_type: int, size: int, accepted: bool
) -> None:
    """A block with ValueType bit 7 clear holds one MeasurementHashAlgo digest;
    with "raw bit stream only" negotiated there is no digest size at all."""
    r = negotiated()
    r.negotiate_algorithms()
    r.receive(algorithms(measurement_hash=meas_hash))
    r.get_measurements(1, signed=False)
    block = m.MeasurementBlock(1, 1, value_type, bytes(size))
    response = m.Measurements(version=0x12, blocks=(block,)).encode()
    if accepted:
        assert r.receive(response).blocks == (block,)
    else:
        with pytest.raises(MalformedResponse, match="MEASUREMENTS block 1"):
            r.receive(response)


def test_a_multi_key_connection_is_refused_with_a_reason() -> None:
    """1.3 ALGORITHMS selecting MULTI_KEY_CONN (never offered): a clear
    NegotiationError rather than a DIGESTS that fails to decode later."""
    r = negotiated(0x13)
    request = m.NegotiateAlgorithms.decode(r.negotiate_algorithms())
    assert not request.other_params & 0x10
    with pytest.raises(NegotiationError, match="multi-key connection") as e:
        r.receive(algorithms(0x13, other_params=0x12))
    assert e.value.step == "NEGOTIATE_ALGORITHMS"
    r = negotiated(0x13)
    r.negotiate_algorithms()
    assert r.receive(algorithms(0x13, other_params=0x02)).other_params == 0x02
