"""Chains recorded from DMTF's spdm_responder_emu validate against the
recording's trust anchor, and a flipped byte fails with the right reason."""

from __future__ import annotations

import datetime as dt

import pytest
from chain_vectors import load_recorded_chain, recorded_files

from spdmd.errors import CertificateChainError
from spdmd.spdm import certs, crypto

# The sample certificates are valid from 2023 to 2033.
NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


def _validate(rec, raw: bytes, anchor=None) -> None:
    chain = certs.parse_cert_chain(raw, rec.hash_algo)
    certs.validate_chain(
        chain,
        trust=certs.TrustStore.from_certificates([anchor or rec.anchor]),
        asym_algo=rec.asym_algo,
        hash_algo=rec.hash_algo,
        version=rec.version,
        validity=certs.ValidityPolicy.ENFORCE,
        now=NOW,
    )


@pytest.mark.parametrize("path", recorded_files())
def test_recorded_chain_validates(path):
    """A device's real chain parses, hashes to the DIGESTS entry and anchors."""
    rec = load_recorded_chain(path)
    chain = certs.parse_cert_chain(rec.raw, rec.hash_algo)
    assert chain.leaf_subject == rec.leaf_subject
    assert len(chain.certificates) == 3
    assert crypto.digest(rec.hash_algo, chain.raw) == rec.digest
    _validate(rec, rec.raw)


@pytest.mark.parametrize("path", recorded_files())
def test_recorded_chain_flipped_leaf_signature(path):
    """A flipped byte in the leaf's signature breaks the last link."""
    rec = load_recorded_chain(path)
    raw = bytearray(rec.raw)
    raw[-1] ^= 0x01
    with pytest.raises(
        CertificateChainError, match=r"signature of certificate 3 .* does not verify"
    ) as info:
        _validate(rec, bytes(raw))
    assert info.value.step == "CERTIFICATE_CHAIN"


@pytest.mark.parametrize("path", recorded_files())
def test_recorded_chain_flipped_root_hash(path):
    """A flipped RootHash byte is reported as a corrupted header."""
    rec = load_recorded_chain(path)
    raw = bytearray(rec.raw)
    raw[4] ^= 0x80
    with pytest.raises(
        CertificateChainError, match="RootHash .* is not the hash of its root"
    ):
        _validate(rec, bytes(raw))


@pytest.mark.parametrize("path", recorded_files())
def test_recorded_chain_other_anchor(path):
    """The chain does not anchor to a root the BMC was not given."""
    rec = load_recorded_chain(path)
    from spdmd.responder.pki import generate_pki
    from spdmd.spdm.constants import AsymAlgo

    stranger = generate_pki(AsymAlgo.ECDSA_P256).root_cert
    with pytest.raises(
        CertificateChainError,
        match="chain root 'CN=DMTF libspdm .*' is not a trust anchor",
    ):
        _validate(rec, rec.raw, anchor=stranger)
