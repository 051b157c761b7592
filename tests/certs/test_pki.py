"""The test PKI looks like a DMTF device chain, round-trips through files
for `spdm-responder --cert-chain/--key`, and caches its keys."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from spdmd.errors import UsageError
from spdmd.responder import pki
from spdmd.spdm import certs
from spdmd.spdm.constants import AsymAlgo, HashAlgo


def test_leaf_carries_dmtf_fields():
    """Critical responder EKU, DMTF otherName SAN, SPDM extension with the
    hardware-identity OID, keyUsage digitalSignature, CA:FALSE."""
    leaf = pki.generate_pki(AsymAlgo.ECDSA_P256, HashAlgo.SHA_256).leaf_cert
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert eku.critical and list(eku.value) == [certs.DMTF_OID_RESPONDER_AUTH]
    (other,) = leaf.extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    ).value
    assert (
        isinstance(other, x509.OtherName)
        and other.type_id == certs.DMTF_OID_DEVICE_INFO
    )
    assert other.value == b"\x0c\x13spdmd:emulator:0001"  # UTF8String
    ext = leaf.extensions.get_extension_for_oid(certs.DMTF_OID_SPDM_EXTENSION).value
    assert (
        b"\x06\x0a\x2b\x06\x01\x04\x01\x83\x1c\x82\x12\x02" in ext.value
    )  # OID .274.2
    assert leaf.extensions.get_extension_for_class(
        x509.KeyUsage
    ).value.digital_signature
    assert (
        leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    )
    assert leaf.version == x509.Version.v3


def test_depth_and_chain_order():
    p = pki.generate_pki(AsymAlgo.ED25519, HashAlgo.SHA_512, depth=4)
    assert len(p.der_chain) == 4 and len(p.intermediate_certs) == 2
    assert p.der_chain[0] == p.root_der and p.certificates[-1] == p.leaf_cert
    raw = p.spdm_chain()
    assert int.from_bytes(raw[:2], "little") == len(raw)
    with pytest.raises(UsageError):
        pki.generate_pki(AsymAlgo.ED25519, depth=1)


def test_keys_cached_per_label():
    """Same algorithm and label: same key; another label: another key."""
    a = pki.private_key(AsymAlgo.RSASSA_2048, "cache-test")
    assert pki.private_key(AsymAlgo.RSASSA_2048, "cache-test") is a
    assert pki.private_key(AsymAlgo.RSASSA_2048, "cache-test-2") is not a


@pytest.mark.parametrize("leaf_first", [False, True], ids=["root-first", "leaf-first"])
def test_load_round_trip(tmp_path, leaf_first):
    """Files written by the PKI load back as the same chain and key."""
    p = pki.generate_pki(AsymAlgo.ECDSA_P384, HashAlgo.SHA_384)
    chain_file = p.write_chain(tmp_path / "chain.pem")
    if leaf_first:
        pems = [
            c.public_bytes(serialization.Encoding.PEM) for c in reversed(p.certificates)
        ]
        chain_file.write_bytes(b"".join(pems))
    loaded = pki.load_pki(chain_file, p.write_key(tmp_path / "key.pem"))
    assert loaded.der_chain == p.der_chain
    assert loaded.asym_algo == AsymAlgo.ECDSA_P384
    assert loaded.leaf_key.public_key() == p.leaf_key.public_key()
    assert oct((tmp_path / "key.pem").stat().st_mode & 0o777) == "0o600"


def test_load_der_chain_and_key(tmp_path):
    p = pki.generate_pki(AsymAlgo.RSASSA_2048, HashAlgo.SHA_256)
    (tmp_path / "chain.der").write_bytes(b"".join(p.der_chain))
    (tmp_path / "key.der").write_bytes(
        p.leaf_key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    loaded = pki.load_pki(tmp_path / "chain.der", tmp_path / "key.der")
    assert loaded.der_chain == p.der_chain and loaded.asym_algo == AsymAlgo.RSASSA_2048


def test_load_rejects_foreign_key_and_bad_files(tmp_path):
    p = pki.generate_pki(AsymAlgo.ECDSA_P256, HashAlgo.SHA_256)
    other = pki.generate_pki(
        AsymAlgo.ECDSA_P256, HashAlgo.SHA_256, leaf_label="someone-else"
    )
    chain = p.write_chain(tmp_path / "chain.pem")
    foreign = other.write_key(tmp_path / "other.pem")
    with pytest.raises(UsageError, match="does not belong to the leaf certificate"):
        pki.load_pki(chain, foreign)
    assert pki.load_pki(chain, foreign, check_key=False).leaf_key is not None
    (tmp_path / "junk").write_bytes(b"junk")
    with pytest.raises(UsageError, match="is not PEM or DER certificates"):
        pki.load_pki(tmp_path / "junk", foreign)
    with pytest.raises(UsageError, match="cannot be loaded"):
        pki.load_pki(chain, tmp_path / "junk")
    with pytest.raises(UsageError, match="cannot read certificate chain"):
        pki.load_pki(tmp_path / "missing", foreign)
