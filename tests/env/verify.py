"""Checking a SignedMeasurements reply the way a Redfish client would.

Written straight from DSP0274 with `cryptography`, not with spdmd's own
verification code, so a test that passes here does not merely agree with
itself. Supports what the emulated devices sign with: ECDSA P-384 and
SHA-384.

SignedMeasurements is, for SPDM 1.2 and later, the VCA messages followed by
every GET_MEASUREMENTS request and MEASUREMENTS response, the last response
ending in the signature over all bytes before it (L2); for 1.0 and 1.1
only the measurement exchanges (L1/L2 of DSP0274 1.1 section 10.11). From
1.2 the signature covers prefix || context || hash(L2), DSP0274 1.2
section 15: "dmtf-spdm-v1.X.*" four times, then "responder-measurements
signing" left-padded with zero bytes to 36, then SHA-384 of L2. Before 1.2
it covers L2 itself.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

__all__ = ["SignatureMismatch", "verify_signed_measurements"]

P384_SIGNATURE = 96
GET_VERSION = 0x84
GET_MEASUREMENTS = 0xE0
CONTEXT = b"responder-measurements signing"


def _nonce_in_signed_request(l2: bytes, vbyte: int, nonce: bytes) -> bool:
    """True when `nonce` directly follows a GET_MEASUREMENTS header that
    asks for a signature (Param1 bit 0), the only place DSP0274 puts the
    requester's nonce; found anywhere else (an echo in a response, say) it
    proves nothing."""
    start = 0
    while (at := l2.find(nonce, start)) >= 0:
        head = l2[at - 4 : at] if at >= 4 else b""
        if (
            len(head) == 4
            and head[:2] == bytes((vbyte, GET_MEASUREMENTS))
            and head[2] & 1
        ):
            return True
        start = at + 1
    return False


class SignatureMismatch(AssertionError):
    """The signed measurements do not verify with the given certificate."""


def verify_signed_measurements(
    signed_b64: str, leaf: x509.Certificate, version: str, nonce_hex: str | None = None
) -> bytes:
    """Verify a SignedMeasurements value; return the decoded L2 bytes."""
    blob = base64.b64decode(signed_b64, validate=True)
    if len(blob) <= P384_SIGNATURE:
        raise SignatureMismatch("SignedMeasurements is too short to hold a signature")
    major, minor = (int(x) for x in version.split("."))
    vbyte = major << 4 | minor
    l2, signature = blob[:-P384_SIGNATURE], blob[-P384_SIGNATURE:]
    first = GET_VERSION if vbyte >= 0x12 else GET_MEASUREMENTS
    if l2[1] != first:
        raise SignatureMismatch(
            f"L2 starts with request code {l2[1]:#x}, not {first:#x}"
        )
    if nonce_hex is not None and not _nonce_in_signed_request(
        l2, vbyte, bytes.fromhex(nonce_hex)
    ):
        raise SignatureMismatch(
            "the caller's nonce is not in a signed GET_MEASUREMENTS request"
        )
    if vbyte >= 0x12:
        prefix = f"dmtf-spdm-v{major}.{minor}.*".encode() * 4
        message = prefix + CONTEXT.rjust(36, b"\x00") + hashlib.sha384(l2).digest()
    else:
        message = l2
    key = leaf.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise SignatureMismatch("the leaf key is not an EC key")
    r = int.from_bytes(signature[:48], "big")
    s = int.from_bytes(signature[48:], "big")
    try:
        key.verify(encode_dss_signature(r, s), message, ec.ECDSA(hashes.SHA384()))
    except InvalidSignature:
        raise SignatureMismatch("signature does not verify") from None
    return l2
