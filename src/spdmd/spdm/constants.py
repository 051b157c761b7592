"""SPDM codes and algorithm tables (DSP0274 1.0 to 1.3), as data.

Everything the specification enumerates lives here so that the encoders,
the parsers, the emulator and the tools share one spelling of it. Nothing in
this module does I/O or computes anything beyond table look-ups.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = [
    "AsymAlgo",
    "ASYM_ALGOS",
    "CapabilityFlag",
    "ErrorCode",
    "HashAlgo",
    "HASH_ALGOS",
    "MeasHashAlgo",
    "MEAS_HASH_ALGOS",
    "Code",
    "RESPONSE_FOR_REQUEST",
    "SpdmVersion",
    "SUPPORTED_VERSIONS",
    "NONCE_SIZE",
    "REQUESTER_CONTEXT_SIZE",
    "MEASUREMENT_SPEC_DMTF",
    "ST1_SECONDS",
    "version_from_string",
    "version_to_string",
]

NONCE_SIZE = 32
# DSP0274 1.3 section 10.8: RequesterContext in CHALLENGE and GET_MEASUREMENTS.
REQUESTER_CONTEXT_SIZE = 8
MEASUREMENT_SPEC_DMTF = 0x01
# DSP0274 section 9.1 (timing): ST1 bounds every non-cryptographic response.
ST1_SECONDS = 0.1
# Any request may be answered with at least this many bytes (1.2+ minimum
# DataTransferSize, DSP0274 1.2 section 10.4).
MIN_DATA_TRANSFER_SIZE = 42


class SpdmVersion(enum.IntEnum):
    """The SPDMVersion byte of a message header."""

    V10 = 0x10
    V11 = 0x11
    V12 = 0x12
    V13 = 0x13


SUPPORTED_VERSIONS: tuple[SpdmVersion, ...] = tuple(SpdmVersion)


def version_to_string(version: int) -> str:
    """0x12 -> "1.2"."""
    return f"{version >> 4}.{version & 0xF}"


def version_from_string(text: str) -> SpdmVersion:
    """"1.2" -> SpdmVersion.V12; raises ValueError for anything else."""
    try:
        major, minor = text.strip().split(".")
        return SpdmVersion((int(major) << 4) | int(minor))
    except ValueError:
        raise ValueError(f"unsupported SPDM version {text!r}") from None


class Code(enum.IntEnum):
    """RequestResponseCode values this project sends or expects."""

    DIGESTS = 0x01
    CERTIFICATE = 0x02
    CHALLENGE_AUTH = 0x03
    VERSION = 0x04
    MEASUREMENTS = 0x60
    CAPABILITIES = 0x61
    ALGORITHMS = 0x63
    ERROR = 0x7F

    GET_DIGESTS = 0x81
    GET_CERTIFICATE = 0x82
    CHALLENGE = 0x83
    GET_VERSION = 0x84
    GET_MEASUREMENTS = 0xE0
    GET_CAPABILITIES = 0xE1
    NEGOTIATE_ALGORITHMS = 0xE3
    RESPOND_IF_READY = 0xFF


RESPONSE_FOR_REQUEST: dict[Code, Code] = {
    Code.GET_DIGESTS: Code.DIGESTS,
    Code.GET_CERTIFICATE: Code.CERTIFICATE,
    Code.CHALLENGE: Code.CHALLENGE_AUTH,
    Code.GET_VERSION: Code.VERSION,
    Code.GET_MEASUREMENTS: Code.MEASUREMENTS,
    Code.GET_CAPABILITIES: Code.CAPABILITIES,
    Code.NEGOTIATE_ALGORITHMS: Code.ALGORITHMS,
}

# Requests whose response needs a cryptographic operation: they are allowed
# CT rather than ST1 (DSP0274 section 9.1).
CRYPTO_REQUESTS = frozenset(
    {Code.GET_DIGESTS, Code.GET_CERTIFICATE, Code.CHALLENGE, Code.GET_MEASUREMENTS}
)


class ErrorCode(enum.IntEnum):
    """ERROR Param1 values (DSP0274 table "Error code and error data")."""

    INVALID_REQUEST = 0x01
    BUSY = 0x03
    UNEXPECTED_REQUEST = 0x04
    UNSPECIFIED = 0x05
    DECRYPT_ERROR = 0x06
    UNSUPPORTED_REQUEST = 0x07
    REQUEST_IN_FLIGHT = 0x08
    INVALID_RESPONSE_CODE = 0x09
    SESSION_LIMIT_EXCEEDED = 0x0A
    SESSION_REQUIRED = 0x0B
    RESET_REQUIRED = 0x0C
    RESPONSE_TOO_LARGE = 0x0D
    REQUEST_TOO_LARGE = 0x0E
    LARGE_RESPONSE = 0x0F
    MESSAGE_LOST = 0x10
    INVALID_POLICY = 0x11
    VERSION_MISMATCH = 0x41
    RESPONSE_NOT_READY = 0x42
    REQUEST_RESYNCH = 0x43
    OPERATION_FAILED = 0x44
    NO_PENDING_REQUESTS = 0x45
    VENDOR_DEFINED = 0xFF


class CapabilityFlag(enum.IntFlag):
    """Responder CAPABILITIES flags used for attestation (DSP0274 table 11)."""

    CACHE = 0x1
    CERT = 0x2
    CHAL = 0x4
    MEAS_NO_SIG = 0x8
    MEAS_SIG = 0x10
    MEAS_FRESH = 0x20
    ENCRYPT = 0x40
    MAC = 0x80
    MUT_AUTH = 0x100
    KEY_EX = 0x200
    PSK = 0x400 | 0x800
    ENCAP = 0x1000
    HBEAT = 0x2000
    KEY_UPD = 0x4000
    HANDSHAKE_IN_THE_CLEAR = 0x8000
    PUB_KEY_ID = 0x10000
    CHUNK = 0x20000
    ALIAS_CERT = 0x40000


@dataclass(frozen=True)
class AsymInfo:
    """One BaseAsymAlgo entry.

    `key_type` is "rsa", "ec" or "ed25519"; `key_bits` the modulus or curve
    size; `padding` "pkcs1v15" or "pss" for RSA; `signature_size` the exact
    encoded signature length on the wire.
    """

    bit: int
    name: str
    redfish_name: str
    key_type: str
    key_bits: int
    signature_size: int
    padding: str = ""
    curve: str = ""


class AsymAlgo(enum.IntFlag):
    RSASSA_2048 = 0x001
    RSAPSS_2048 = 0x002
    RSASSA_3072 = 0x004
    RSAPSS_3072 = 0x008
    ECDSA_P256 = 0x010
    RSASSA_4096 = 0x020
    RSAPSS_4096 = 0x040
    ECDSA_P384 = 0x080
    ECDSA_P521 = 0x100
    ED25519 = 0x400


# Known shortcoming: SM2 signatures and the SM3 hash (added with EdDSA in
# DSP0274 1.2) have no entry here or in HASH_ALGOS, so they are never
# offered and a device that has only those fails at NEGOTIATE_ALGORITHMS.
# `cryptography` has no SM2 signatures; supporting them needs another SM2
# implementation, then entries here and the crypto and certs cases.
ASYM_ALGOS: dict[AsymAlgo, AsymInfo] = {
    a.bit: a  # type: ignore[misc]
    for a in (
        AsymInfo(0x001, "RSASSA_2048", "TPM_ALG_RSASSA_2048", "rsa", 2048, 256, "pkcs1v15"),
        AsymInfo(0x002, "RSAPSS_2048", "TPM_ALG_RSAPSS_2048", "rsa", 2048, 256, "pss"),
        AsymInfo(0x004, "RSASSA_3072", "TPM_ALG_RSASSA_3072", "rsa", 3072, 384, "pkcs1v15"),
        AsymInfo(0x008, "RSAPSS_3072", "TPM_ALG_RSAPSS_3072", "rsa", 3072, 384, "pss"),
        AsymInfo(0x010, "ECDSA_P256", "TPM_ALG_ECDSA_ECC_NIST_P256", "ec", 256, 64, curve="secp256r1"),
        AsymInfo(0x020, "RSASSA_4096", "TPM_ALG_RSASSA_4096", "rsa", 4096, 512, "pkcs1v15"),
        AsymInfo(0x040, "RSAPSS_4096", "TPM_ALG_RSAPSS_4096", "rsa", 4096, 512, "pss"),
        AsymInfo(0x080, "ECDSA_P384", "TPM_ALG_ECDSA_ECC_NIST_P384", "ec", 384, 96, curve="secp384r1"),
        AsymInfo(0x100, "ECDSA_P521", "TPM_ALG_ECDSA_ECC_NIST_P521", "ec", 521, 132, curve="secp521r1"),
        # DSP0274 1.2 added EdDSA; its Redfish/DSP0274 name has no TPM_ALG_ form.
        AsymInfo(0x400, "EDDSA_25519", "EdDSA ed25519", "ed25519", 256, 64),
    )
}


@dataclass(frozen=True)
class HashInfo:
    bit: int
    name: str
    redfish_name: str
    # The name hashlib and cryptography.hazmat.primitives.hashes use.
    hashlib_name: str
    size: int


class HashAlgo(enum.IntFlag):
    SHA_256 = 0x01
    SHA_384 = 0x02
    SHA_512 = 0x04
    SHA3_256 = 0x08
    SHA3_384 = 0x10
    SHA3_512 = 0x20


HASH_ALGOS: dict[HashAlgo, HashInfo] = {
    h.bit: h  # type: ignore[misc]
    for h in (
        HashInfo(0x01, "SHA_256", "TPM_ALG_SHA_256", "sha256", 32),
        HashInfo(0x02, "SHA_384", "TPM_ALG_SHA_384", "sha384", 48),
        HashInfo(0x04, "SHA_512", "TPM_ALG_SHA_512", "sha512", 64),
        HashInfo(0x08, "SHA3_256", "TPM_ALG_SHA3_256", "sha3_256", 32),
        HashInfo(0x10, "SHA3_384", "TPM_ALG_SHA3_384", "sha3_384", 48),
        HashInfo(0x20, "SHA3_512", "TPM_ALG_SHA3_512", "sha3_512", 64),
    )
}


class MeasHashAlgo(enum.IntFlag):
    RAW_BIT_STREAM = 0x01
    SHA_256 = 0x02
    SHA_384 = 0x04
    SHA_512 = 0x08
    SHA3_256 = 0x10
    SHA3_384 = 0x20
    SHA3_512 = 0x40


# Measurement hash bit -> digest size (0 for the raw bit stream).
MEAS_HASH_ALGOS: dict[MeasHashAlgo, int] = {
    MeasHashAlgo.RAW_BIT_STREAM: 0,
    MeasHashAlgo.SHA_256: 32,
    MeasHashAlgo.SHA_384: 48,
    MeasHashAlgo.SHA_512: 64,
    MeasHashAlgo.SHA3_256: 32,
    MeasHashAlgo.SHA3_384: 48,
    MeasHashAlgo.SHA3_512: 64,
}

# Look-ups by the names users type (CLI, policy, emulator options).
ASYM_BY_NAME: dict[str, AsymAlgo] = {
    **{info.name: AsymAlgo(bit) for bit, info in ASYM_ALGOS.items()},
    **{info.redfish_name: AsymAlgo(bit) for bit, info in ASYM_ALGOS.items()},
}
HASH_BY_NAME: dict[str, HashAlgo] = {
    **{info.name: HashAlgo(bit) for bit, info in HASH_ALGOS.items()},
    **{info.redfish_name: HashAlgo(bit) for bit, info in HASH_ALGOS.items()},
}

# CHALLENGE Param2 (MeasurementSummaryHashType).
SUMMARY_HASH_NONE = 0x00
SUMMARY_HASH_TCB = 0x01
SUMMARY_HASH_ALL = 0xFF

# GET_MEASUREMENTS Param1 attribute bits and Param2 operations.
MEAS_ATTR_GENERATE_SIGNATURE = 0x01
MEAS_ATTR_RAW_BIT_STREAM = 0x02
MEAS_ATTR_NEW_MEASUREMENT = 0x04
MEAS_OP_COUNT = 0x00
MEAS_OP_ALL = 0xFF

# CHALLENGE / GET_MEASUREMENTS slot for the provisioned public key (1.1+).
PROVISIONED_KEY_SLOT = 0xFF
# The Redfish/phosphor value that selects the provisioned public key.
REDFISH_PROVISIONED_KEY_SLOT = 15
MAX_SLOTS = 8

# DSP0274 1.2 section 15: the signing contexts.
CHALLENGE_AUTH_SIGNING_CONTEXT = b"responder-challenge_auth signing"
MEASUREMENTS_SIGNING_CONTEXT = b"responder-measurements signing"
