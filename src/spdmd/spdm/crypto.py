"""Hashes and signatures as SPDM encodes them (DSP0274 section 15).

The wire formats differ from what `cryptography` expects: ECDSA signatures
are raw big-endian `r || s`, not DER; 1.2 and later sign a prefixed message
(`signing_input`). This module is the one place that converts, for both the
requester (verify) and the emulator (sign).
"""

from __future__ import annotations

import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from spdmd.errors import SignatureError
from spdmd.spdm.constants import ASYM_ALGOS, HASH_ALGOS, AsymAlgo, HashAlgo

__all__ = [
    "digest",
    "hash_size",
    "signing_input",
    "verify_signature",
    "sign",
    "key_matches_algorithm",
]

_CRYPTOGRAPHY_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
    "sha3_256": hashes.SHA3_256,
    "sha3_384": hashes.SHA3_384,
    "sha3_512": hashes.SHA3_512,
}


def hash_size(hash_algo: int) -> int:
    return HASH_ALGOS[HashAlgo(hash_algo)].size


def digest(hash_algo: int, data: bytes) -> bytes:
    """Hash `data` with the negotiated BaseHashAlgo."""
    return hashlib.new(HASH_ALGOS[HashAlgo(hash_algo)].hashlib_name, data).digest()


def _hash_object(hash_algo: int) -> hashes.HashAlgorithm:
    return _CRYPTOGRAPHY_HASHES[HASH_ALGOS[HashAlgo(hash_algo)].hashlib_name]()


def signing_input(version: int, context: bytes, transcript: bytes, hash_algo: int) -> bytes:
    """The bytes a signature covers, before the signature algorithm's own hash.

    1.0 and 1.1 sign the transcript itself. From 1.2 (DSP0274 1.2 section
    15) the signed message is a 64-byte prefix ("dmtf-spdm-v1.X.*" four
    times), the context left-padded with zeros to 36 bytes, and the hash of
    the transcript.
    """
    if version < 0x12:
        return transcript
    prefix = f"dmtf-spdm-v{version >> 4}.{version & 0xF}.*".encode() * 4
    return prefix + context.rjust(36, b"\x00") + digest(hash_algo, transcript)


def key_matches_algorithm(public_key: object, asym_algo: int) -> bool:
    """True when the key's type and size are those of the BaseAsymAlgo."""
    info = ASYM_ALGOS[AsymAlgo(asym_algo)]
    if info.key_type == "rsa":
        return isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size == info.key_bits
    if info.key_type == "ec":
        return isinstance(public_key, ec.EllipticCurvePublicKey) and public_key.curve.name == info.curve
    return isinstance(public_key, ed25519.Ed25519PublicKey)


def verify_signature(
    public_key: object,
    asym_algo: int,
    hash_algo: int,
    message: bytes,
    signature: bytes,
) -> None:
    """Verify an SPDM-encoded signature over `message` (see `signing_input`).

    Raises SignatureError on any mismatch, including a key that does not fit
    the algorithm or a signature of the wrong size.
    """
    info = ASYM_ALGOS[AsymAlgo(asym_algo)]
    if not key_matches_algorithm(public_key, asym_algo):
        raise SignatureError(f"public key does not match {info.name}")
    if len(signature) != info.signature_size:
        raise SignatureError(
            f"{info.name} signature is {len(signature)} bytes, expected {info.signature_size}"
        )
    try:
        if info.key_type == "rsa":
            assert isinstance(public_key, rsa.RSAPublicKey)
            public_key.verify(signature, message, _rsa_padding(info.padding, hash_algo), _hash_object(hash_algo))
        elif info.key_type == "ec":
            assert isinstance(public_key, ec.EllipticCurvePublicKey)
            half = info.signature_size // 2
            r = int.from_bytes(signature[:half], "big")
            s = int.from_bytes(signature[half:], "big")
            public_key.verify(encode_dss_signature(r, s), message, ec.ECDSA(_hash_object(hash_algo)))
        else:
            assert isinstance(public_key, ed25519.Ed25519PublicKey)
            public_key.verify(signature, message)
    except InvalidSignature:
        raise SignatureError(f"{info.name} signature does not verify") from None


def sign(private_key: object, asym_algo: int, hash_algo: int, message: bytes) -> bytes:
    """Sign `message` and return the SPDM wire encoding (emulator side)."""
    info = ASYM_ALGOS[AsymAlgo(asym_algo)]
    if info.key_type == "rsa":
        assert isinstance(private_key, rsa.RSAPrivateKey)
        raw = private_key.sign(message, _rsa_padding(info.padding, hash_algo), _hash_object(hash_algo))
        # The wire size is the algorithm's, even if a fault swapped in a key
        # of another size: pad or cut so framing stays well-formed.
        return raw.rjust(info.signature_size, b"\x00")[-info.signature_size :]
    if info.key_type == "ec":
        assert isinstance(private_key, ec.EllipticCurvePrivateKey)
        r, s = decode_dss_signature(private_key.sign(message, ec.ECDSA(_hash_object(hash_algo))))
        half = info.signature_size // 2
        return r.to_bytes(half, "big") + s.to_bytes(half, "big")
    assert isinstance(private_key, ed25519.Ed25519PrivateKey)
    return private_key.sign(message)


def _rsa_padding(kind: str, hash_algo: int) -> padding.AsymmetricPadding:
    if kind == "pss":
        # DSP0274 section 15: MGF1 with the same hash, salt length = hash length.
        return padding.PSS(mgf=padding.MGF1(_hash_object(hash_algo)), salt_length=hash_size(hash_algo))
    return padding.PKCS1v15()
