"""The requester against byte-exact recordings of DMTF's spdm_responder_emu.

Every recorded response is parsed, the transcripts are rebuilt by the
requester itself, both signatures are verified and the chain is validated
against the file's trust anchor. Then single flipped bytes in a signature, a
transcript and the chain must each fail with the right error and step.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from cryptography import x509
from tests.spdm.vectors import MISSING_REASON, Vector, all_vector_paths, load

from spdmd.errors import (
    CertificateChainError,
    DigestMismatch,
    SignatureError,
    SpdmError,
)
from spdmd.spdm import crypto
from spdmd.spdm.certs import TrustStore, parse_cert_chain, validate_chain
from spdmd.spdm.constants import ASYM_ALGOS
from spdmd.spdm.requester import Requester

PATHS = all_vector_paths()
pytestmark = pytest.mark.skipif(not PATHS, reason=MISSING_REASON)
IDS = [p.stem for p in PATHS]

Mutation = Callable[[int, bytes, bytes], tuple[bytes, bytes]]


def replay(vector: Vector, mutate: Mutation | None = None) -> Requester:
    """Feed the recorded requests and responses through a Requester."""
    r = Requester()
    for i, e in enumerate(vector.exchanges):
        request, response = e.request, e.response
        if mutate:
            request, response = mutate(i, request, response)
        r.send_bytes(request)
        r.receive(response)
    return r


def trust_of(vector: Vector) -> TrustStore:
    return TrustStore.from_certificates(
        [x509.load_der_x509_certificate(vector.trust_anchor_der)]
    )


def flip(data: bytes, at: int) -> bytes:
    out = bytearray(data)
    out[at] ^= 0x01
    return bytes(out)


@pytest.fixture(params=PATHS, ids=IDS)
def vector(request: pytest.FixtureRequest) -> Vector:
    return load(request.param)


def test_vector_attests(vector: Vector) -> None:
    r = replay(vector)
    assert r.version == vector.version
    assert r.asym_algo == vector.asym_algo
    assert r.hash_algo == vector.hash_algo
    chain = r.parsed_chains[vector.slot]
    digest = crypto.digest(r.hash_algo, chain.raw)
    assert digest.hex() == vector.expect["cert_chain_digest"]
    assert r.digests[vector.slot] == digest
    assert chain.leaf_subject == vector.expect["leaf_subject"]
    validate_chain(
        chain,
        trust=trust_of(vector),
        asym_algo=r.asym_algo,
        hash_algo=r.hash_algo,
        version=r.version,
    )
    last = vector.exchanges[-1]
    signed_indices = [
        b.index for b in r.blocks[-len(vector.expect["measurement_indices"]) :]
    ]
    assert signed_indices == vector.expect["measurement_indices"]
    # The Redfish SignedMeasurements value ends with the last response,
    # signature included, and for 1.2+ starts with the VCA.
    assert r.signed_measurements.endswith(last.response)
    if r.version >= 0x12:
        assert r.signed_measurements.startswith(vector.exchanges[0].request)
    else:
        assert r.signed_measurements.startswith(
            vector.exchanges[vector.index_of("GET_MEASUREMENTS")].request
        )


def test_vector_signatures_verify_from_the_file_alone(vector: Vector) -> None:
    """An oracle independent of spdmd.spdm.transcript: rebuild M1 and L1
    from the recorded bytes with the rules of DSP0274 section 15 and check
    both signatures with the leaf key, so a requester bug that happened to
    mirror a transcript bug would still be caught."""
    r = replay(vector)
    leaf = r.parsed_chains[vector.slot].leaf.public_key()
    size = _sig_size(vector)
    a = b = l1 = b""
    checked = 0
    for e in vector.exchanges:
        if e.step in ("GET_VERSION", "GET_CAPABILITIES", "NEGOTIATE_ALGORITHMS"):
            a += e.request + e.response
        elif e.step == "GET_DIGESTS":
            b = e.request + e.response
        elif e.step == "GET_CERTIFICATE":
            b += e.request + e.response
        elif e.step == "CHALLENGE":
            m1 = a + b + e.request + e.response[:-size]
            b = b""
            message = crypto.signing_input(
                r.version, b"responder-challenge_auth signing", m1, r.hash_algo
            )
            crypto.verify_signature(
                leaf, r.asym_algo, r.hash_algo, message, e.response[-size:]
            )
            checked += 1
        elif e.request[2] & 1:  # signed GET_MEASUREMENTS
            l1 += e.request + e.response[:-size]
            prefix = a if r.version >= 0x12 else b""
            message = crypto.signing_input(
                r.version, b"responder-measurements signing", prefix + l1, r.hash_algo
            )
            crypto.verify_signature(
                leaf, r.asym_algo, r.hash_algo, message, e.response[-size:]
            )
            l1 = b""
            checked += 1
        else:
            l1 += e.request + e.response
        if e.step != "GET_MEASUREMENTS":
            l1 = b""
    assert checked >= 2


def _sig_size(vector: Vector) -> int:
    return ASYM_ALGOS[vector.asym_algo].signature_size  # type: ignore[index]


def _mutate_at(index: int, request_at: int | None, response_at: int | None) -> Mutation:
    def mutate(i: int, request: bytes, response: bytes) -> tuple[bytes, bytes]:
        if i == index:
            if request_at is not None:
                request = flip(request, request_at)
            if response_at is not None:
                response = flip(response, response_at)
        return request, response

    return mutate


def _fails(vector: Vector, mutate: Mutation) -> SpdmError:
    with pytest.raises(SpdmError) as info:
        replay(vector, mutate)
    return info.value


def test_flipped_challenge_signature_fails_challenge(vector: Vector) -> None:
    at = vector.index_of("CHALLENGE")
    err = _fails(vector, _mutate_at(at, None, len(vector.exchanges[at].response) - 5))
    assert isinstance(err, SignatureError)
    assert err.step == "CHALLENGE"
    assert "signature does not verify" in str(err)


def test_flipped_measurements_signature_fails_measurements(vector: Vector) -> None:
    at = len(vector.exchanges) - 1
    err = _fails(vector, _mutate_at(at, None, len(vector.exchanges[at].response) - 1))
    assert isinstance(err, SignatureError)
    assert err.step == "GET_MEASUREMENTS"


def test_flipped_vca_byte_fails_challenge(vector: Vector) -> None:
    """VERSION's reserved byte is in transcript A only: the first signature
    that covers A must fail."""
    err = _fails(vector, _mutate_at(vector.index_of("GET_VERSION"), None, 4))
    assert isinstance(err, SignatureError)
    assert err.step == "CHALLENGE"


def test_flipped_challenge_nonce_fails_challenge(vector: Vector) -> None:
    err = _fails(vector, _mutate_at(vector.index_of("CHALLENGE"), 10, None))
    assert isinstance(err, SignatureError)
    assert err.step == "CHALLENGE"


def test_flipped_measurement_value_fails_measurements(vector: Vector) -> None:
    """The last byte of the measurement record (inside a block value) is in
    L1 and nowhere else."""
    at = len(vector.exchanges) - 1
    response = vector.exchanges[at].response
    record_end = 8 + int.from_bytes(response[5:8], "little")
    err = _fails(vector, _mutate_at(at, None, record_end - 1))
    assert isinstance(err, SignatureError)
    assert err.step == "GET_MEASUREMENTS"


def test_flipped_chain_byte_fails_digest(vector: Vector) -> None:
    at = vector.index_of("GET_CERTIFICATE", 1)
    err = _fails(vector, _mutate_at(at, None, 8 + 30))
    assert isinstance(err, DigestMismatch)
    assert err.step == "CERTIFICATE_CHAIN"
    assert f"slot {vector.slot}" in str(err)


def test_tampered_chain_with_matching_digest_fails_validation(vector: Vector) -> None:
    """A device that tampers with its chain and serves the matching digest
    still fails: the leaf's signature link no longer verifies."""
    r = replay(vector)
    raw = bytearray(r.parsed_chains[vector.slot].raw)
    # Last byte of the chain = last byte of the leaf's signature value.
    raw[-1] ^= 0x01
    chain = parse_cert_chain(bytes(raw), r.hash_algo)
    with pytest.raises(CertificateChainError) as info:
        validate_chain(
            chain,
            trust=trust_of(vector),
            asym_algo=r.asym_algo,
            hash_algo=r.hash_algo,
            version=r.version,
        )
    assert info.value.step == "CERTIFICATE_CHAIN"


def test_wrong_trust_anchor_fails_validation(vector: Vector) -> None:
    others = [
        load(p) for p in PATHS if load(p).trust_anchor_der != vector.trust_anchor_der
    ]
    if not others:
        pytest.skip("all vectors share one trust anchor")
    r = replay(vector)
    with pytest.raises(CertificateChainError) as info:
        validate_chain(
            r.parsed_chains[vector.slot],
            trust=trust_of(others[0]),
            asym_algo=r.asym_algo,
            hash_algo=r.hash_algo,
            version=r.version,
        )
    assert info.value.step == "CERTIFICATE_CHAIN"


def test_challenge_twice_second_signature_covers_a_and_c_only() -> None:
    path = next((p for p in PATHS if p.stem == "v11_challenge_twice"), None)
    if path is None:
        pytest.skip("v11_challenge_twice.json is not among the vectors")
    vector = load(path)
    r = replay(vector)  # both CHALLENGE_AUTH signatures verify
    first, second = (vector.index_of("CHALLENGE", n) for n in range(2))
    assert second == first + 1
    # Re-verifying the second with B included must fail: B was cleared.
    rsp = vector.exchanges[second]
    req_raw = rsp.request
    sig = rsp.response[-_sig_size(vector) :]
    a = b"".join(e.request + e.response for e in vector.exchanges[:3])
    b = b"".join(
        e.request + e.response
        for e in vector.exchanges
        if e.step in ("GET_DIGESTS", "GET_CERTIFICATE")
    )
    c = req_raw + rsp.response[: -_sig_size(vector)]
    leaf = r.parsed_chains[vector.slot].leaf.public_key()
    crypto.verify_signature(leaf, r.asym_algo, r.hash_algo, a + c, sig)
    with pytest.raises(SignatureError):
        crypto.verify_signature(leaf, r.asym_algo, r.hash_algo, a + b + c, sig)


def test_unsigned_measurements_before_signed_are_in_l1() -> None:
    path = next((p for p in PATHS if p.stem == "v12_meas_unsigned_then_signed"), None)
    if path is None:
        pytest.skip("v12_meas_unsigned_then_signed.json is not among the vectors")
    vector = load(path)
    r = replay(vector)
    meas = [e for e in vector.exchanges if e.step == "GET_MEASUREMENTS"]
    assert len(meas) == 3
    a = b"".join(e.request + e.response for e in vector.exchanges[:3])
    body = b"".join(e.request + e.response for e in meas)
    assert r.signed_measurements == a + body
    assert r.measurement_count == meas[0].response[2]


def test_vectors_cover_every_version() -> None:
    versions = {load(p).version for p in PATHS}
    assert versions == {0x10, 0x11, 0x12, 0x13}
