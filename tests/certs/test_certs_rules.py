"""SPDM chain format and validation rules against generated PKIs: every
supported algorithm validates, and each broken rule fails with the reason a
firmware engineer needs."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from spdmd.errors import CertificateChainError
from spdmd.responder.pki import Pki, generate_pki, private_key
from spdmd.spdm import certs
from spdmd.spdm.constants import ASYM_ALGOS, HASH_ALGOS, AsymAlgo, HashAlgo

UTC = dt.UTC
NOW = dt.datetime(2026, 6, 1, tzinfo=UTC)
P256, P384 = AsymAlgo.ECDSA_P256, AsymAlgo.ECDSA_P384
SHA256 = HashAlgo.SHA_256


def check(
    pki: Pki,
    raw: bytes | None = None,
    *,
    asym=None,
    hash_algo=SHA256,
    version=0x12,
    validity=certs.ValidityPolicy.ENFORCE,
    now=NOW,
    trust=None,
) -> certs.CertificateChain:
    chain = certs.parse_cert_chain(
        raw if raw is not None else pki.spdm_chain(hash_algo), hash_algo
    )
    certs.validate_chain(
        chain,
        trust=trust or pki.trust_store(),
        asym_algo=asym if asym is not None else pki.asym_algo,
        hash_algo=hash_algo,
        version=version,
        validity=validity,
        now=now,
    )
    return chain


@pytest.fixture(scope="module")
def p256() -> Pki:
    return generate_pki(P256, SHA256)


# --- good chains -----------------------------------------------------------


@pytest.mark.parametrize(
    "asym", [pytest.param(a, id=i.name) for a, i in ASYM_ALGOS.items()]
)
@pytest.mark.parametrize("version", [0x10, 0x13], ids=["1.0", "1.3"])
def test_every_algorithm_validates(asym, version):
    """A well-formed chain for each BaseAsymAlgo passes in old and new versions."""
    pki = generate_pki(asym, HashAlgo.SHA_384)
    chain = check(pki, asym=asym, hash_algo=HashAlgo.SHA_384, version=version)
    assert chain.leaf.public_key() == pki.leaf_key.public_key()


@pytest.mark.parametrize(
    "hash_algo", [pytest.param(h, id=i.name) for h, i in HASH_ALGOS.items()]
)
def test_every_hash_for_root_hash(hash_algo, p256):
    """RootHash is computed and checked with each BaseHashAlgo."""
    chain = check(p256, hash_algo=hash_algo)
    assert len(chain.root_hash) == HASH_ALGOS[hash_algo].size


def test_long_chain():
    """Five certificates (three intermediates) validate link by link."""
    pki = generate_pki(P256, SHA256, depth=5)
    assert len(check(pki).certificates) == 5


def test_chain_starting_below_root(p256):
    """A chain whose first certificate is issued by the anchor (root not
    served) validates when RootHash is the anchor's hash."""
    raw = certs.build_cert_chain(p256.der_chain[1:], SHA256, root_der=p256.root_der)
    assert len(check(p256, raw).certificates) == 2
    wrong = certs.build_cert_chain(p256.der_chain[1:], SHA256)
    with pytest.raises(
        CertificateChainError,
        match="RootHash .* is not the hash of its root 'CN=spdmd test root CA ECDSA_P256 root,O=spdmd test PKI'",
    ):
        check(p256, wrong)


def test_leaf_key_of_other_algorithm_than_cas():
    """CAs may use another algorithm than the leaf; only the leaf must match."""
    pki = generate_pki(P384, SHA256, leaf_asym_algo=AsymAlgo.ED25519)
    check(pki, asym=AsymAlgo.ED25519)


# --- format -----------------------------------------------------------------


def test_header_length_must_equal_buffer(p256):
    raw = bytearray(p256.spdm_chain(SHA256))
    raw[0:2] = (len(raw) - 1).to_bytes(2, "little")
    with pytest.raises(
        CertificateChainError,
        match=f"header says {len(raw) - 1} bytes but the device served {len(raw)}",
    ):
        certs.parse_cert_chain(bytes(raw), SHA256)


def test_trailing_garbage(p256):
    """Extra bytes after the leaf, even with a header covering them, fail."""
    raw = p256.spdm_chain(SHA256) + b"\x00\x01\x02"
    raw = certs.chain_header(len(raw)) + raw[4:]
    with pytest.raises(
        CertificateChainError,
        match="byte at offset .* is 0x00, not the start of a DER certificate",
    ):
        certs.parse_cert_chain(raw, SHA256)
    raw = p256.spdm_chain(SHA256) + b"\x30"
    raw = certs.chain_header(len(raw)) + raw[4:]
    with pytest.raises(CertificateChainError, match="1 stray byte"):
        certs.parse_cert_chain(raw, SHA256)


def test_truncated_chain(p256):
    raw = p256.spdm_chain(SHA256)[:-10]
    raw = certs.chain_header(len(raw)) + raw[4:]
    with pytest.raises(
        CertificateChainError, match="claims .* bytes but only .* remain"
    ):
        certs.parse_cert_chain(raw, SHA256)


def test_no_certificate_and_short_buffer():
    with pytest.raises(CertificateChainError, match="holds no certificate"):
        certs.parse_cert_chain(certs.chain_header(36) + bytes(32), SHA256)
    with pytest.raises(
        CertificateChainError, match="shorter than its header and 32-byte root hash"
    ):
        certs.parse_cert_chain(certs.chain_header(10) + bytes(6), SHA256)


def test_unparsable_certificate(p256):
    """A DER SEQUENCE that is not a certificate is named by position."""
    body = p256.spdm_chain(SHA256)[4:] + bytes([0x30, 0x03, 0x02, 0x01, 0x00])
    with pytest.raises(
        CertificateChainError,
        match="certificate 4 of the chain .* does not parse as X.509",
    ):
        certs.parse_cert_chain(certs.chain_header(len(body) + 4) + body, SHA256)


@pytest.mark.filterwarnings("ignore:Parsed a serial number which wasn't positive")
@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_parser_raises_only_chain_errors(data):
    """Arbitrary bytes raise CertificateChainError or parse; nothing else."""
    for candidate in (data, certs.chain_header(len(data) + 4) + data):
        try:
            certs.parse_cert_chain(candidate, SHA256)
        except CertificateChainError:
            pass


@pytest.mark.filterwarnings("ignore:Parsed a serial number which wasn't positive")
@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0), st.integers(min_value=1, max_value=255))
def test_any_flipped_byte_fails(p256_offset, mask):
    """Flipping any byte of a good chain never lets it through silently:
    it fails parsing or validation (or, in an unsigned field, still
    validates to the very same certificates)."""
    pki = generate_pki(P256, SHA256)
    raw = bytearray(pki.spdm_chain(SHA256))
    offset = p256_offset % len(raw)
    raw[offset] ^= mask
    try:
        chain = check(pki, bytes(raw))
    except CertificateChainError:
        return
    # Only bytes no signature and no rule covers may change: the reserved
    # header field. Everything else must have failed.
    assert offset in (2, 3), f"flipped byte {offset} was accepted"
    assert chain.der_certificates == pki.der_chain


def test_name_attribute_of_the_wrong_string_type_is_a_chain_error(p256):
    """A subject CN re-tagged from UTF8String to BIT STRING (what one flipped
    byte can do) is refused as unparsable, not raised as a bare TypeError."""
    raw = bytearray(p256.spdm_chain(SHA256))
    cn_utf8 = b"\x06\x03\x55\x04\x03\x0c"  # OID 2.5.4.3, then UTF8String
    at = raw.index(cn_utf8) + len(cn_utf8) - 1
    raw[at] = 0x03
    with pytest.raises(CertificateChainError, match="does not parse as X.509"):
        certs.parse_cert_chain(bytes(raw), SHA256)


# --- anchoring and links ----------------------------------------------------


def test_wrong_anchor(p256):
    other = generate_pki(P256, SHA256, root_label="untrusted")
    with pytest.raises(
        CertificateChainError,
        match="chain root 'CN=spdmd test root CA ECDSA_P256 untrusted,O=spdmd test PKI' is not a trust anchor",
    ) as info:
        check(other, trust=p256.trust_store())
    assert info.value.step == "CERTIFICATE_CHAIN"


def test_first_cert_not_anchored(p256):
    other = generate_pki(P256, SHA256, root_label="untrusted")
    raw = certs.build_cert_chain(other.der_chain[1:], SHA256, root_der=other.root_der)
    with pytest.raises(
        CertificateChainError,
        match="first certificate .* is neither a trust anchor nor issued by one",
    ):
        check(p256, raw)


def test_broken_link(p256):
    """A leaf whose issuer name matches but which another key signed."""
    other = generate_pki(P256, SHA256, root_label="untrusted")
    ders = p256.der_chain[:2] + other.der_chain[2:]
    assert other.leaf_cert.issuer == p256.intermediate_certs[0].subject
    with pytest.raises(
        CertificateChainError,
        match="signature of certificate 3 .* does not verify with the key of 'CN=spdmd test intermediate CA 1 ECDSA_P256,O=spdmd test PKI'",
    ):
        check(p256, certs.build_cert_chain(ders, SHA256))


def test_out_of_order(p256):
    ders = [p256.der_chain[0], p256.der_chain[2], p256.der_chain[1]]
    with pytest.raises(
        CertificateChainError, match="certificate 2 .* names issuer .* but follows"
    ):
        check(p256, certs.build_cert_chain(ders, SHA256))


def test_tampered_intermediate(p256):
    """A byte changed inside a signed certificate body breaks its link."""
    raw = bytearray(p256.spdm_chain(SHA256))
    name = b"intermediate CA 1"
    at = raw.index(name, 4 + 32 + len(p256.der_chain[0]))
    raw[at] ^= 0x20  # "intermediate" -> "Intermediate"
    with pytest.raises(CertificateChainError, match="does not verify"):
        check(p256, bytes(raw))


def test_wrong_root_hash(p256):
    raw = bytearray(p256.spdm_chain(SHA256))
    raw[10] ^= 0x01
    with pytest.raises(
        CertificateChainError,
        match="RootHash .* is not the hash of its root .*the chain header is corrupted",
    ):
        check(p256, bytes(raw))


def test_intermediate_must_be_ca(p256):
    """A certificate issued by the (CA:FALSE) leaf cannot extend the chain."""
    key = private_key(P256, "child")
    child = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "child")]))
        .issuer_name(p256.leaf_cert.subject)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(dt.datetime(2025, 1, 1, tzinfo=UTC))
        .not_valid_after(dt.datetime(2030, 1, 1, tzinfo=UTC))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(p256.leaf_key, hashes.SHA256())
    )
    from cryptography.hazmat.primitives.serialization import Encoding

    raw = certs.build_cert_chain(
        p256.der_chain + [child.public_bytes(Encoding.DER)], SHA256
    )
    with pytest.raises(
        CertificateChainError,
        match="certificate 3 'CN=spdmd test responder ECDSA_P256,O=spdmd test PKI' signs another certificate in the chain but is not a CA",
    ):
        check(p256, raw)


# --- leaf rules -------------------------------------------------------------


def test_leaf_ca_true():
    pki = generate_pki(P256, SHA256, leaf_ca=True)
    with pytest.raises(
        CertificateChainError,
        match="leaf certificate .* is a CA certificate \\(basicConstraints CA:TRUE\\)",
    ):
        check(pki)


def test_leaf_without_digital_signature():
    pki = generate_pki(P256, SHA256, leaf_digital_signature=False)
    with pytest.raises(CertificateChainError, match="keyUsage lacks digitalSignature"):
        check(pki)


def test_leaf_requester_only_eku():
    pki = generate_pki(P256, SHA256, leaf_eku="requester")
    with pytest.raises(CertificateChainError, match="is a requester certificate"):
        check(pki)


@pytest.mark.parametrize(
    "ekus",
    [
        pytest.param(
            (certs.DMTF_OID_REQUESTER_AUTH, certs.DMTF_OID_RESPONDER_AUTH),
            id="both-dmtf",
        ),
        pytest.param((ExtendedKeyUsageOID.CLIENT_AUTH,), id="clientAuth-only"),
        pytest.param(
            (ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH),
            id="tls-mix",
        ),
        pytest.param("none", id="no-eku"),
    ],
)
def test_leaf_eku_accepted(ekus):
    """Only a DMTF requester-only EKU is rejected (decision in docs/certificates.md)."""
    check(generate_pki(P256, SHA256, leaf_eku=ekus))


def test_leaf_basic_constraints_mandatory_from_1_3():
    pki = generate_pki(P256, SHA256, leaf_basic_constraints=False)
    check(pki, version=0x12)
    with pytest.raises(
        CertificateChainError,
        match="no basicConstraints extension, which SPDM 1.3 requires",
    ):
        check(pki, version=0x13)


@pytest.mark.parametrize(
    ("cert_algo", "negotiated", "message"),
    [
        pytest.param(
            P384,
            P256,
            "has an EC secp384r1 key, but the negotiated signing algorithm is TPM_ALG_ECDSA_ECC_NIST_P256",
            id="curve",
        ),
        pytest.param(
            AsymAlgo.RSASSA_2048,
            AsymAlgo.RSASSA_3072,
            "has an RSA 2048-bit key, but .* TPM_ALG_RSASSA_3072",
            id="rsa-size",
        ),
        pytest.param(
            P256,
            AsymAlgo.RSAPSS_2048,
            "has an EC secp256r1 key, but .* TPM_ALG_RSAPSS_2048",
            id="type",
        ),
        pytest.param(AsymAlgo.ED25519, P256, "has an Ed25519 key", id="eddsa"),
    ],
)
def test_leaf_key_must_match_negotiated_algorithm(cert_algo, negotiated, message):
    pki = generate_pki(cert_algo, SHA256)
    with pytest.raises(CertificateChainError, match=message):
        check(pki, asym=negotiated)


# --- validity ---------------------------------------------------------------


@pytest.fixture(scope="module")
def expired() -> Pki:
    return generate_pki(
        P256, SHA256, leaf_not_after=dt.datetime(2025, 6, 1, tzinfo=UTC)
    )


def test_expired_leaf_enforced(expired):
    with pytest.raises(
        CertificateChainError,
        match="leaf certificate '.*' expired on 2025-06-01 00:00:00Z \\(clock reads 2026-06-01",
    ):
        check(expired, validity=certs.ValidityPolicy.ENFORCE)


def test_expired_leaf_if_clock_set(expired):
    """With the default policy an unset clock (1970) cannot judge validity
    and the chain passes; a set clock rejects it."""
    unset = dt.datetime(1970, 1, 1, 0, 5, tzinfo=UTC)
    check(expired, validity=certs.ValidityPolicy.IF_CLOCK_SET, now=unset)
    with pytest.raises(CertificateChainError, match="expired on 2025-06-01"):
        check(expired, validity=certs.ValidityPolicy.IF_CLOCK_SET, now=NOW)
    with pytest.raises(CertificateChainError, match="not valid before 2025-01-01"):
        check(expired, validity=certs.ValidityPolicy.ENFORCE, now=unset)


def test_expired_leaf_ignored(expired):
    check(expired, validity=certs.ValidityPolicy.IGNORE)


def test_not_yet_valid_leaf():
    pki = generate_pki(
        P256, SHA256, leaf_not_before=dt.datetime(2031, 1, 1, tzinfo=UTC)
    )
    with pytest.raises(
        CertificateChainError,
        match="leaf certificate .* is not valid before 2031-01-01",
    ):
        check(pki)


def test_default_policy_uses_wall_clock(expired):
    """Without `now` the default policy reads the real clock, which is set
    on this machine, so the expired leaf fails."""
    chain = certs.parse_cert_chain(expired.spdm_chain(SHA256), SHA256)
    if dt.datetime.now(UTC) < certs.CLOCK_FLOOR:
        pytest.skip(
            "this machine's clock is before 2025; the default policy would ignore validity"
        )
    with pytest.raises(CertificateChainError, match="expired"):
        certs.validate_chain(
            chain,
            trust=expired.trust_store(),
            asym_algo=P256,
            hash_algo=SHA256,
            version=0x12,
        )


def test_same_name_other_key(p256):
    """A root re-generated under the anchor's name (new key) is named as such."""
    from cryptography.hazmat.primitives.serialization import Encoding

    key = private_key(P256, "regenerated-root")
    subject = p256.root_cert.subject
    fake_root = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(dt.datetime(2025, 1, 1, tzinfo=UTC))
        .not_valid_after(dt.datetime(2030, 1, 1, tzinfo=UTC))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    raw = certs.build_cert_chain(
        [fake_root.public_bytes(Encoding.DER), *p256.der_chain[1:]], SHA256
    )
    with pytest.raises(
        CertificateChainError,
        match="an anchor with that name is provisioned but has a different key",
    ):
        check(p256, raw)
