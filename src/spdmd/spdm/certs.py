"""SPDM certificate chains: the wire format, trust anchors and the SPDM rules.

A slot's chain on the wire (DSP0274 1.x section 10.6, "Certificate chain
format") is `Length(2, whole chain) reserved(2) RootHash(H)` followed by
DER certificates, the first one being the root or signed by the root, the
last one the leaf. `parse_cert_chain` splits and parses it; `validate_chain`
decides whether it proves anything.

Validation is done link by link with the issuer's public key rather than
with a TLS path builder: device certificates carry critical DMTF EKUs,
otherName SANs and DMTF extensions that a web-PKI policy rejects, and SPDM
defines its own leaf rules (DSP0274 1.2 section 10.6.1, 1.3 section
10.7.1). The checks, in the order they run (the first failure is reported):

1. The first certificate is a trust anchor (same DER) or is directly
   issued by one (name chaining and signature).
2. RootHash equals the hash of the root: the first certificate when it is
   the anchor or self-signed, otherwise the trust anchor that issued it.
3. Every certificate is directly issued by the one before it.
4. Every certificate but the leaf is a CA (basicConstraints CA:TRUE, and
   keyCertSign when keyUsage is present; pathLenConstraint honoured).
5. Leaf rules: X.509 v3; public key type and size are the negotiated
   BaseAsymAlgo; keyUsage present with digitalSignature; basicConstraints
   CA:FALSE, mandatory from 1.3 and, if present, false before; an
   extendedKeyUsage, if present, is not requester-only (see `_check_eku`).
6. Validity periods, by `ValidityPolicy` (see there).

Every error is a `CertificateChainError` with step "CERTIFICATE_CHAIN" and
a message that names the certificate (its RFC 4514 subject) and what to do.

Clock: the SPDM core reads no monotonic clock. Validity needs wall time,
so `validate_chain` reads `datetime.now(UTC)` only when the caller passes
no `now` and the policy is not IGNORE. Revocation (CRL/OCSP) is not
checked: a BMC attesting at boot usually has no network path to a CRL
distribution point; revoking means removing the anchor from the trust
store.
"""

from __future__ import annotations

import datetime as _dt
import enum
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from spdmd.errors import CertificateChainError, UsageError
from spdmd.spdm import crypto
from spdmd.spdm.constants import ASYM_ALGOS, AsymAlgo

__all__ = [
    "CLOCK_FLOOR",
    "DMTF_OID_DEVICE_INFO",
    "DMTF_OID_HARDWARE_IDENTITY",
    "DMTF_OID_MUTABLE_CERTIFICATE",
    "DMTF_OID_REQUESTER_AUTH",
    "DMTF_OID_RESPONDER_AUTH",
    "DMTF_OID_SPDM_EXTENSION",
    "CertificateChain",
    "TrustStore",
    "ValidityPolicy",
    "build_cert_chain",
    "chain_header",
    "parse_cert_chain",
    "read_credential_file",
    "validate_chain",
]

STEP = "CERTIFICATE_CHAIN"
# SPDM chain header: Length(2) + reserved(2) (DSP0274 1.x section 10.6).
CHAIN_HEADER_SIZE = 4
MAX_CHAIN_LENGTH = 0xFFFF
# Trust anchors, chains and keys are small; a larger "certificate" file is a
# wrong path (a disk image, /dev/zero), refused before it fills the memory.
MAX_CREDENTIAL_FILE = 1 << 20

# DMTF OIDs under id-DMTF-spdm 1.3.6.1.4.1.412.274 (DSP0274 1.2 section
# 10.6.1.3, 1.3 section 10.7.1.3).
DMTF_OID_DEVICE_INFO = x509.ObjectIdentifier("1.3.6.1.4.1.412.274.1")
DMTF_OID_HARDWARE_IDENTITY = x509.ObjectIdentifier("1.3.6.1.4.1.412.274.2")
DMTF_OID_RESPONDER_AUTH = x509.ObjectIdentifier("1.3.6.1.4.1.412.274.3")
DMTF_OID_REQUESTER_AUTH = x509.ObjectIdentifier("1.3.6.1.4.1.412.274.4")
DMTF_OID_MUTABLE_CERTIFICATE = x509.ObjectIdentifier("1.3.6.1.4.1.412.274.5")
DMTF_OID_SPDM_EXTENSION = x509.ObjectIdentifier("1.3.6.1.4.1.412.274.6")

# A wall clock earlier than this is taken as "never set" (a BMC without a
# battery-backed RTC boots at the epoch or at a build timestamp). Nothing
# this project ships or verifies was made before it.
CLOCK_FLOOR = _dt.datetime(2025, 1, 1, tzinfo=_dt.UTC)


class ValidityPolicy(enum.Enum):
    """What to do with notBefore/notAfter.

    - IGNORE: never compare with the clock (what libspdm does).
    - ENFORCE: every certificate must be valid at `now`.
    - IF_CLOCK_SET (default): enforce only when `now` is at or after
      `CLOCK_FLOOR`; a BMC whose clock reads 1970 (unset RTC) still attests
      instead of failing every device, while a BMC with a set clock rejects
      expired and not-yet-valid certificates.
    """

    IGNORE = "ignore"
    ENFORCE = "enforce"
    IF_CLOCK_SET = "if-clock-set"


def _subject(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string() or "(empty subject)"


def _describe_key(key: object) -> str:
    if isinstance(key, rsa.RSAPublicKey):
        return f"an RSA {key.key_size}-bit key"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"an EC {key.curve.name} key"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "an Ed25519 key"
    if isinstance(key, ed448.Ed448PublicKey):
        return "an Ed448 key"
    if isinstance(key, dsa.DSAPublicKey):
        return f"a DSA {key.key_size}-bit key"
    return f"a {type(key).__name__}"


def _error(message: str) -> CertificateChainError:
    return CertificateChainError(message, step=STEP)


# ---------------------------------------------------------------------------
# Trust anchors


@dataclass
class TrustStore:
    """The provisioned roots (or intermediates) a chain must anchor to.

    `sources` maps each anchor's DER to the file it came from, so errors can
    say which file to fix.
    """

    certificates: list[x509.Certificate] = field(default_factory=list)
    sources: dict[bytes, str] = field(default_factory=dict)

    @classmethod
    def from_certificates(cls, certs: Iterable[x509.Certificate]) -> TrustStore:
        store = cls()
        for cert in certs:
            store._add(cert, "(in memory)")
        return store

    @classmethod
    def from_paths(cls, paths: Iterable[str | os.PathLike[str]]) -> TrustStore:
        """Load anchors from DER or PEM files (PEM may bundle several
        certificates) and from directories of such files (not recursive;
        dot files are skipped).

        Raises UsageError for a missing or unreadable path, a file that
        holds no certificate, or when nothing at all was found: a
        misconfigured trust store must not silently trust nothing or
        everything.
        """
        store = cls()
        given = []
        for p in paths:
            # Path("") is the current directory: an empty option value must
            # not quietly trust whatever certificates lie there.
            if not os.fspath(p):
                raise UsageError("empty trust anchor path")
            given.append(Path(p))
        if not given:
            raise UsageError(
                "no trust anchor given: pass at least one DER or PEM file or directory"
            )
        for path in given:
            if path.is_dir():
                try:
                    entries = sorted(path.iterdir())
                except OSError as exc:
                    raise UsageError(
                        f"cannot read trust anchor directory {path}: {exc.strerror}"
                    ) from None
                # is_file() follows links and is False for FIFOs and devices,
                # which would block or never end.
                files = [
                    e for e in entries if not e.name.startswith(".") and e.is_file()
                ]
                if not files:
                    raise UsageError(
                        f"trust anchor directory {path} holds no certificate files"
                    )
                for entry in files:
                    store._load_file(entry)
            else:
                store._load_file(path)
        if not store.certificates:
            raise UsageError(
                "no trust anchor certificates found in " + ", ".join(map(str, given))
            )
        return store

    def _load_file(self, path: Path) -> None:
        data = read_credential_file(path, "trust anchor")
        try:
            if b"-----BEGIN" in data:
                certs = x509.load_pem_x509_certificates(data)
            else:
                certs = [x509.load_der_x509_certificate(data)]
        except ValueError:
            raise UsageError(
                f"trust anchor {path} is not a DER or PEM X.509 certificate"
            ) from None
        for cert in certs:
            self._add(cert, str(path))

    def _add(self, cert: x509.Certificate, source: str) -> None:
        der = cert.public_bytes(serialization.Encoding.DER)
        if der not in self.sources:
            self.certificates.append(cert)
            self.sources[der] = source

    def contains(self, cert: x509.Certificate) -> bool:
        return cert.public_bytes(serialization.Encoding.DER) in self.sources

    def issuers_of(self, cert: x509.Certificate) -> list[x509.Certificate]:
        """Anchors that directly issued `cert` (name and signature)."""
        return [a for a in self.certificates if _issued_by(cert, a)]


# ---------------------------------------------------------------------------
# The SPDM chain format


@dataclass
class CertificateChain:
    """One slot's chain as the device served it (header included)."""

    raw: bytes
    root_hash: bytes
    certificates: list[x509.Certificate]
    der_certificates: list[bytes] = field(default_factory=list)

    @property
    def leaf(self) -> x509.Certificate:
        return self.certificates[-1]

    @property
    def leaf_subject(self) -> str:
        return self.leaf.subject.rfc4514_string()


def read_credential_file(path: str | os.PathLike[str], what: str) -> bytes:
    """The bytes of a certificate or key file; UsageError naming `what`
    unless `path` is a regular file of at most MAX_CREDENTIAL_FILE bytes.

    The file is opened without blocking and checked with fstat before any
    read, so a FIFO, a device or a huge file is refused at once instead of
    hanging past a deadline or exhausting memory.
    """
    if not os.fspath(path):
        raise UsageError(f"empty {what} path")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise UsageError(f"cannot read {what} {path}: {exc.strerror}") from None
    try:
        # fstat before fdopen, which refuses a directory with its own error.
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UsageError(f"{what} {path} is not a regular file")
        if info.st_size > MAX_CREDENTIAL_FILE:
            raise UsageError(
                f"{what} {path} is {info.st_size} bytes, more than the {MAX_CREDENTIAL_FILE} a certificate or key file may have"
            )
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(MAX_CREDENTIAL_FILE + 1)
    except OSError as exc:
        raise UsageError(f"cannot read {what} {path}: {exc.strerror}") from None
    finally:
        os.close(fd)
    if len(data) > MAX_CREDENTIAL_FILE:
        raise UsageError(
            f"{what} {path} is more than the {MAX_CREDENTIAL_FILE} bytes a certificate or key file may have"
        )
    return data


def chain_header(total_length: int) -> bytes:
    return total_length.to_bytes(2, "little") + b"\x00\x00"


def build_cert_chain(
    der_certs: Iterable[bytes], hash_algo: int, root_der: bytes | None = None
) -> bytes:
    """The SPDM chain bytes for DER certificates given root first.

    RootHash is the hash of `root_der`, by default the first certificate
    (the emulator and tests use this; a device whose chain starts below
    the root passes the root separately).
    """
    ders = list(der_certs)
    root = ders[0] if root_der is None else root_der
    body = crypto.digest(hash_algo, root) + b"".join(ders)
    total = CHAIN_HEADER_SIZE + len(body)
    if total > MAX_CHAIN_LENGTH:
        raise UsageError(
            f"certificate chain of {total} bytes exceeds the SPDM limit of {MAX_CHAIN_LENGTH}"
        )
    return chain_header(total) + body


def _der_length(data: bytes, offset: int) -> int:
    """Total size of the DER SEQUENCE starting at `offset` (tag and length
    included), checked against the buffer; raises on anything else."""
    remaining = len(data) - offset
    if remaining < 2:
        raise _error(
            f"certificate chain has {remaining} stray byte(s) at offset {offset} after the last certificate"
        )
    if data[offset] != 0x30:
        raise _error(
            f"certificate chain byte at offset {offset} is 0x{data[offset]:02x}, not the start of a DER certificate (0x30)"
        )
    first = data[offset + 1]
    if first < 0x80:
        header, length = 2, first
    else:
        count = first & 0x7F
        # DER allows no indefinite length; 4 length bytes already exceed
        # any SPDM chain (at most 65535 bytes).
        if count == 0 or count > 3 or remaining < 2 + count:
            raise _error(
                f"certificate at chain offset {offset} has an invalid DER length field"
            )
        header = 2 + count
        length = int.from_bytes(data[offset + 2 : offset + header], "big")
    total = header + length
    if total > remaining:
        raise _error(
            f"certificate at chain offset {offset} claims {total} bytes but only {remaining} remain in the chain"
        )
    return total


def _parse_fully(cert: x509.Certificate, der: bytes) -> None:
    """Touch every field now: `cryptography` decodes names, extensions and
    keys lazily, and a malformed one must fail here, as a chain error,
    rather than later as a bare ValueError."""
    _ = (cert.version, cert.serial_number, cert.subject, cert.issuer)
    _ = (
        cert.not_valid_before_utc,
        cert.not_valid_after_utc,
        cert.signature_algorithm_oid,
    )
    _ = (cert.extensions, cert.public_key(), cert.tbs_certificate_bytes)
    # The signature BIT STRING ends the certificate; its unused-bits octet
    # must be 0 (X.690 section 11.2). `cryptography` ignores it, so an
    # altered chain would otherwise still verify.
    if der[-len(cert.signature) - 1] != 0:
        raise ValueError("the signature BIT STRING has unused bits")


def parse_cert_chain(data: bytes, hash_algo: int) -> CertificateChain:
    """Split and parse an SPDM certificate chain.

    The header's Length must equal the buffer (the requester assembled it
    from CERTIFICATE portions), the DER certificates must tile the rest
    exactly, and each must parse as X.509.
    """
    hsize = crypto.hash_size(hash_algo)
    minimum = CHAIN_HEADER_SIZE + hsize
    if len(data) < minimum:
        raise _error(
            f"certificate chain is {len(data)} bytes, shorter than its header and {hsize}-byte root hash ({minimum} bytes)"
        )
    length = int.from_bytes(data[0:2], "little")
    if length != len(data):
        raise _error(
            f"certificate chain header says {length} bytes but the device served {len(data)}"
        )
    root_hash = data[CHAIN_HEADER_SIZE:minimum]
    offset = minimum
    ders: list[bytes] = []
    certs: list[x509.Certificate] = []
    while offset < len(data):
        size = _der_length(data, offset)
        der = data[offset : offset + size]
        try:
            cert = x509.load_der_x509_certificate(der)
            _parse_fully(cert, der)
        except (
            ValueError,
            UnsupportedAlgorithm,
            x509.InvalidVersion,
            x509.DuplicateExtension,
            # Valid DER names (x400Address, ediPartyName) cryptography cannot
            # represent; it raises this, which is not a ValueError.
            x509.UnsupportedGeneralNameType,
            # A name attribute whose string type its OID does not allow (a
            # BIT STRING outside x500UniqueIdentifier): cryptography's
            # NameAttribute raises TypeError for device bytes here.
            TypeError,
        ) as exc:
            raise _error(
                f"certificate {len(certs) + 1} of the chain (offset {offset}) does not parse as X.509: {exc}"
            ) from None
        ders.append(der)
        certs.append(cert)
        offset += size
    if not certs:
        raise _error("certificate chain holds no certificate after its root hash")
    return CertificateChain(
        raw=bytes(data), root_hash=root_hash, certificates=certs, der_certificates=ders
    )


# ---------------------------------------------------------------------------
# Validation


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _check_link(
    cert: x509.Certificate, issuer: x509.Certificate, position: int
) -> None:
    try:
        cert.verify_directly_issued_by(issuer)
    except ValueError as exc:
        if cert.issuer != issuer.subject:
            raise _error(
                f"certificate {position} '{_subject(cert)}' names issuer '{cert.issuer.rfc4514_string()}' but follows '{_subject(issuer)}' in the chain; the device serves its certificates out of order or from different chains"
            ) from None
        raise _error(
            f"certificate {position} '{_subject(cert)}' cannot be checked against '{_subject(issuer)}': {exc}"
        ) from None
    except (TypeError, UnsupportedAlgorithm) as exc:
        raise _error(
            f"certificate {position} '{_subject(cert)}' uses a signature algorithm that cannot be verified: {exc}"
        ) from None
    except InvalidSignature:
        raise _error(
            f"signature of certificate {position} '{_subject(cert)}' does not verify with the key of '{_subject(issuer)}'; the chain is corrupted or was not issued by that CA"
        ) from None


def _ext(cert: x509.Certificate, ext_type: type) -> object | None:
    try:
        return cert.extensions.get_extension_for_class(ext_type).value
    except x509.ExtensionNotFound:
        return None
    except ValueError as exc:
        raise _error(
            f"certificate '{_subject(cert)}' has a malformed extension: {exc}"
        ) from None


def _check_ca(cert: x509.Certificate, position: int, below: int) -> None:
    """`below` counts the non-leaf certificates after this one (for
    pathLenConstraint, RFC 5280 section 4.2.1.9)."""
    bc = _ext(cert, x509.BasicConstraints)
    if not isinstance(bc, x509.BasicConstraints) or not bc.ca:
        raise _error(
            f"certificate {position} '{_subject(cert)}' signs another certificate in the chain but is not a CA (basicConstraints CA:TRUE missing)"
        )
    if bc.path_length is not None and below > bc.path_length:
        raise _error(
            f"certificate {position} '{_subject(cert)}' allows {bc.path_length} intermediate CA(s) below it (pathLenConstraint) but the chain has {below}"
        )
    ku = _ext(cert, x509.KeyUsage)
    if isinstance(ku, x509.KeyUsage) and not ku.key_cert_sign:
        raise _error(
            f"certificate {position} '{_subject(cert)}' signs another certificate but its keyUsage lacks keyCertSign"
        )


def _check_eku(leaf: x509.Certificate) -> None:
    """DSP0274 1.2 section 10.6.1.3: a leaf whose EKU carries the DMTF
    requester-auth OID but not responder-auth authenticates a requester,
    not a responder. Decision: TLS EKUs (serverAuth, clientAuth, ...) are
    not judged, because SPDM gives them no meaning and real device
    certificates (libspdm's samples among them) carry TLS EKU mixes; a
    clientAuth-only leaf is therefore accepted."""
    eku = _ext(leaf, x509.ExtendedKeyUsage)
    if not isinstance(eku, x509.ExtendedKeyUsage):
        return
    usages = set(eku)
    if ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in usages:
        return
    if DMTF_OID_REQUESTER_AUTH in usages and DMTF_OID_RESPONDER_AUTH not in usages:
        raise _error(
            f"leaf certificate '{_subject(leaf)}' is a requester certificate: its extendedKeyUsage has the DMTF requester-auth OID 1.3.6.1.4.1.412.274.4 without responder-auth 1.3.6.1.4.1.412.274.3"
        )


def _check_leaf(leaf: x509.Certificate, asym_algo: int, version: int) -> None:
    name = _subject(leaf)
    if leaf.version != x509.Version.v3:
        raise _error(
            f"leaf certificate '{name}' is X.509 {leaf.version.name}, SPDM requires v3"
        )
    info = ASYM_ALGOS[AsymAlgo(asym_algo)]
    key = leaf.public_key()
    if not crypto.key_matches_algorithm(key, asym_algo):
        raise _error(
            f"leaf certificate '{name}' has {_describe_key(key)}, but the negotiated signing algorithm is {info.redfish_name}; the device offered an algorithm its certificate cannot sign with"
        )
    ku = _ext(leaf, x509.KeyUsage)
    if not isinstance(ku, x509.KeyUsage):
        raise _error(
            f"leaf certificate '{name}' has no keyUsage extension; SPDM requires keyUsage with digitalSignature"
        )
    if not ku.digital_signature:
        raise _error(
            f"leaf certificate '{name}' keyUsage lacks digitalSignature, so it may not sign SPDM responses"
        )
    bc = _ext(leaf, x509.BasicConstraints)
    if isinstance(bc, x509.BasicConstraints):
        if bc.ca:
            raise _error(
                f"leaf certificate '{name}' is a CA certificate (basicConstraints CA:TRUE); an SPDM leaf must be CA:FALSE"
            )
    elif version >= 0x13:
        # DSP0274 1.3 section 10.7.1: basicConstraints is mandatory in the leaf.
        raise _error(
            f"leaf certificate '{name}' has no basicConstraints extension, which SPDM 1.3 requires (CA:FALSE)"
        )
    _check_eku(leaf)


def _check_validity(
    chain: list[tuple[int, x509.Certificate]], now: _dt.datetime, leaf_pos: int
) -> None:
    for position, cert in chain:
        role = "leaf certificate" if position == leaf_pos else f"certificate {position}"
        if now < cert.not_valid_before_utc:
            raise _error(
                f"{role} '{_subject(cert)}' is not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M:%SZ} (clock reads {now:%Y-%m-%d %H:%M:%SZ}); check the BMC clock"
            )
        if now > cert.not_valid_after_utc:
            raise _error(
                f"{role} '{_subject(cert)}' expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M:%SZ} (clock reads {now:%Y-%m-%d %H:%M:%SZ}); the device needs a new certificate"
            )


def validate_chain(
    chain: CertificateChain,
    *,
    trust: TrustStore,
    asym_algo: int,
    hash_algo: int,
    version: int,
    validity: ValidityPolicy = ValidityPolicy.IF_CLOCK_SET,
    now: _dt.datetime | None = None,
) -> None:
    """Check the chain against the trust anchors and the SPDM rules (see the
    module docstring for the order). Raises CertificateChainError."""
    certs = chain.certificates
    if not certs:
        raise _error("certificate chain holds no certificate")
    if not trust.certificates:
        raise _error(
            "no trust anchors are provisioned; add the device vendor's root CA to the trust store"
        )
    first = certs[0]
    first_der = (
        chain.der_certificates[0]
        if chain.der_certificates
        else first.public_bytes(serialization.Encoding.DER)
    )

    # Step 1. A first certificate that is an anchor, or self-signed and
    # issued by one (a re-issued root with the anchor's name and key), is
    # the root itself; otherwise the anchor that issued it is the root.
    if trust.contains(first):
        roots = [first_der]
    else:
        self_signed = first.issuer == first.subject and _issued_by(first, first)
        issuers = trust.issuers_of(first)
        if not issuers:
            if self_signed and any(
                a.subject == first.subject for a in trust.certificates
            ):
                # Same name, other key: the usual sign of a re-generated
                # root or of a device from another (test) PKI.
                raise _error(
                    f"chain root '{_subject(first)}' is not a trust anchor: an anchor with that name is provisioned but has a different key; the root was re-generated or the device belongs to another PKI"
                )
            if self_signed:
                raise _error(
                    f"chain root '{_subject(first)}' is not a trust anchor; provision this root or check that the device belongs here"
                )
            raise _error(
                f"first certificate '{_subject(first)}' (issuer '{first.issuer.rfc4514_string()}') is neither a trust anchor nor issued by one; provision the issuing root or check that the device belongs here"
            )
        roots = (
            [first_der]
            if self_signed
            else [a.public_bytes(serialization.Encoding.DER) for a in issuers]
        )

    # Step 2 (DSP0274 1.x section 10.6: RootHash is the digest of the root).
    if chain.root_hash not in {crypto.digest(hash_algo, der) for der in roots}:
        root_name = _subject(x509.load_der_x509_certificate(roots[0]))
        raise _error(
            f"certificate chain RootHash {chain.root_hash.hex()} is not the hash of its root '{root_name}'; the chain header is corrupted"
        )

    # Steps 3 and 4: link by link, each issuer a CA.
    leaf_pos = len(certs)
    for index in range(1, len(certs)):
        _check_link(certs[index], certs[index - 1], index + 1)
    for index in range(len(certs) - 1):
        _check_ca(certs[index], index + 1, below=len(certs) - index - 2)

    # Step 5.
    _check_leaf(certs[-1], asym_algo, version)

    # Step 6.
    if validity is ValidityPolicy.IGNORE:
        return
    if now is None:
        now = _dt.datetime.now(_dt.UTC)
    elif now.tzinfo is None:
        now = now.replace(tzinfo=_dt.UTC)
    if validity is ValidityPolicy.IF_CLOCK_SET and now < CLOCK_FLOOR:
        return
    _check_validity(list(enumerate(certs, start=1)), now, leaf_pos)
