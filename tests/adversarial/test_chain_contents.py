"""Certificate chains whose contents a device chooses: parsing them must
end in a Failed result at CERTIFICATE_CHAIN, never in an exception that
escapes `attest()` (the daemon and spdmtool only expect spdmd.errors)."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtensionOID, NameOID
from tests.adversarial.forger import (
    SHA384,
    Forger,
    assert_failed,
    make_forger,
    requester_config,
)

from spdmd.attest import attest
from spdmd.errors import CertificateChainError
from spdmd.spdm import messages as m
from spdmd.spdm.certs import build_cert_chain

_NAME = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "attacker device")])
# GeneralNames holding one ediPartyName ([5]) or x400Address ([3]): valid
# DER that `cryptography` refuses with UnsupportedGeneralNameType, which is
# not a ValueError.
_EDI_PARTY = bytes([0x30, 0x07, 0xA5, 0x05, 0xA1, 0x03, 0x0C, 0x01, 0x41])
_X400 = bytes([0x30, 0x04, 0xA3, 0x02, 0x30, 0x00])


def self_signed(key: Any, extension: x509.ExtensionType) -> bytes:
    cert = (
        x509.CertificateBuilder()
        .subject_name(_NAME)
        .issuer_name(_NAME)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(dt.datetime(2024, 1, 1))
        .not_valid_after(dt.datetime(2040, 1, 1))
        .add_extension(extension, critical=False)
        .sign(key, hashes.SHA384())
    )
    return cert.public_bytes(serialization.Encoding.DER)


def serve_chain(f: Forger, chain: bytes) -> None:
    """DIGESTS names `chain` for slot 0 and CERTIFICATE serves it."""
    digest = hashlib.sha384(chain).digest()
    f.rules["GET_DIGESTS"] = lambda f, req, rsp: bytes((req[0], 0x01, 0, 0x01)) + digest

    def cert(f: Forger, req: bytes, rsp: bytes) -> bytes:
        get = m.GetCertificate.decode(req)
        part = chain[get.offset : get.offset + get.length]
        return m.Certificate(
            version=req[0],
            slot=0,
            portion=part,
            remainder_length=len(chain) - get.offset - len(part),
        ).encode()

    f.rules["GET_CERTIFICATE"] = cert


@pytest.mark.parametrize(
    "oid, value",
    [
        (ExtensionOID.SUBJECT_ALTERNATIVE_NAME, _EDI_PARTY),
        (ExtensionOID.SUBJECT_ALTERNATIVE_NAME, _X400),
        (ExtensionOID.ISSUER_ALTERNATIVE_NAME, _EDI_PARTY),
    ],
    ids=["san-edi-party", "san-x400", "ian-edi-party"],
)
@pytest.mark.parametrize("verify", [True, False])
def test_general_name_cryptography_cannot_represent(
    oid: Any, value: bytes, verify: bool
) -> None:
    """The device's certificate carries an ediPartyName/x400Address name: Failed, not an exception."""
    f, trust = make_forger()
    key = ec.generate_private_key(ec.SECP384R1())
    der = self_signed(key, x509.UnrecognizedExtension(oid, value))
    serve_chain(f, build_cert_chain([der], SHA384))
    result = attest(f, requester_config(trust, verify_certificate=verify))
    assert_failed(result, "CERTIFICATE_CHAIN", CertificateChainError)


def test_self_made_chain_with_matching_digest() -> None:
    """The device serves its own self-signed chain with a DIGESTS entry that matches it."""
    f, trust = make_forger()
    key = ec.generate_private_key(ec.SECP384R1())
    der = self_signed(key, x509.BasicConstraints(ca=False, path_length=None))
    serve_chain(f, build_cert_chain([der], SHA384))
    assert_failed(
        attest(f, requester_config(trust)), "CERTIFICATE_CHAIN", CertificateChainError
    )
