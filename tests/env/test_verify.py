"""tests/env/verify.py rejects what a Redfish client must reject.

The daemon scenarios use this verifier as their proof that SignedMeasurements
is genuine; a verifier that accepted anything would make them pass with a
broken daemon. Fed from spdmd.attest against the real responder emulator.
"""

from __future__ import annotations

import base64
import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from tests.env.verify import (
    SignatureMismatch,
    _nonce_in_signed_request,
    verify_signed_measurements,
)
from tests.spdm.conftest import make_device

from spdmd.attest import RequesterConfig, get_signed_measurements

NONCE = bytes(range(32))


def measured(version: int, **kw: object) -> tuple[str, object, str]:
    e = make_device(versions=frozenset({version}), **kw)  # type: ignore[arg-type]
    cfg = RequesterConfig(trust=e.trust)
    result = get_signed_measurements(
        e.device, cfg, nonce=NONCE, clock=e.clock, sleep=e.clock.sleep
    )
    assert result.status == "Success", result.reason
    d = result.to_dict()
    return d["signed_measurements"], result.cert_chain.leaf, d["version"]


def other_leaf() -> x509.Certificate:
    """A P-384 certificate with a key no emulated device holds."""
    key = ec.generate_private_key(ec.SECP384R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "other device")])
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA384())
    )


@pytest.mark.parametrize("version", [0x11, 0x12, 0x13], ids=["1.1", "1.2", "1.3"])
def test_genuine_reply_verifies(version: int) -> None:
    """A reply as spdmd returns it verifies, with its nonce inside."""
    signed, leaf, name = measured(version)
    l2 = verify_signed_measurements(signed, leaf, name, NONCE.hex())
    assert NONCE in l2


@pytest.mark.parametrize("version", [0x11, 0x12], ids=["1.1", "1.2"])
def test_altered_byte_is_rejected(version: int) -> None:
    """One flipped bit anywhere in the signed bytes fails the signature."""
    signed, leaf, name = measured(version)
    blob = bytearray(base64.b64decode(signed))
    blob[len(blob) // 2] ^= 0x01
    with pytest.raises(SignatureMismatch, match="does not verify"):
        verify_signed_measurements(base64.b64encode(blob).decode(), leaf, name)


def test_other_devices_leaf_is_rejected() -> None:
    """The signature must come from the leaf the reply names, not any leaf."""
    signed, _, name = measured(0x12)
    with pytest.raises(SignatureMismatch, match="does not verify"):
        verify_signed_measurements(signed, other_leaf(), name)


def test_wrong_nonce_is_rejected() -> None:
    """A reply that does not carry the caller's nonce is a replay."""
    signed, leaf, name = measured(0x12)
    with pytest.raises(SignatureMismatch, match="nonce"):
        verify_signed_measurements(signed, leaf, name, "ff" * 32)


def test_nonce_counts_only_inside_a_signed_get_measurements() -> None:
    """The nonce must be the one a signature-requesting GET_MEASUREMENTS sent."""
    nonce = bytes(range(32))
    signed_request = bytes((0x12, 0xE0, 0x01, 0xFF)) + nonce + b"\x00"
    unsigned_request = bytes((0x12, 0xE0, 0x00, 0xFF)) + nonce
    echoed_in_response = bytes((0x12, 0x60, 0x00, 0x00, 0x00)) + nonce
    assert _nonce_in_signed_request(b"\x12\x84" + signed_request, 0x12, nonce)
    assert not _nonce_in_signed_request(unsigned_request, 0x12, nonce)
    assert not _nonce_in_signed_request(echoed_in_response, 0x12, nonce)
    # A 1.1 request's header does not count for a 1.2 transcript.
    assert not _nonce_in_signed_request(
        bytes((0x11, 0xE0, 0x01, 0xFF)) + nonce, 0x12, nonce
    )
