"""Test PKI for the emulator and the tests, made with `cryptography`.

Nothing here is checked in as a blob: every run builds its root, its
intermediates and a leaf shaped like an SPDM device certificate (DSP0274
1.3 section 10.7.1): X.509 v3, basicConstraints CA:FALSE, keyUsage
digitalSignature, a critical extendedKeyUsage with the DMTF responder-auth
OID, a subjectAltName otherName of type id-DMTF-device-info
("manufacturer:product:serial"), and the DMTF SPDM extension marking a
hardware identity certificate.

API:

    pki = generate_pki(AsymAlgo.ECDSA_P384, HashAlgo.SHA_384)
    pki.root_cert, pki.root_key             # self-signed root CA
    pki.intermediate_certs, .intermediate_keys   # root's child first
    pki.leaf_cert, pki.leaf_key             # responder leaf
    pki.der_chain                           # [root DER, ..., leaf DER]
    pki.spdm_chain()                        # SPDM chain bytes (header, RootHash)
    pki.write_root(path, "pem" | "der")     # a trust anchor file
    pki.write_chain(path), pki.write_key(path)   # PEM files for --cert-chain/--key
    load_pki(chain_path, key_path)          # the reverse, for spdm-responder

Knobs of `generate_pki` (all keyword-only) shape the faults a test needs:
`depth` (certificates in the chain, >= 2), `leaf_not_before`,
`leaf_not_after`, `leaf_ca` (CA:TRUE leaf), `leaf_digital_signature`,
`leaf_basic_constraints`, `leaf_eku` ("responder", "requester", "none",
or a tuple of OIDs), `leaf_asym_algo` (a leaf key of another algorithm),
`root_label` (a different root: "untrusted" gives a chain no test trusts),
`leaf_label`, `name` (a prefix for the subjects).

Keys are cached per process by (algorithm, label) in `private_key`, so an
RSA-4096 key is generated once however many PKIs a test matrix builds; a
different `root_label` or `leaf_label` gives a different key.
"""

from __future__ import annotations

import datetime as _dt
import functools
import os
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import NameOID

from spdmd.errors import UsageError
from spdmd.spdm import certs
from spdmd.spdm.constants import ASYM_ALGOS, HASH_ALGOS, AsymAlgo, HashAlgo

__all__ = [
    "DEFAULT_NOT_AFTER",
    "DEFAULT_NOT_BEFORE",
    "Pki",
    "generate_pki",
    "load_pki",
    "private_key",
]

DEFAULT_NOT_BEFORE = _dt.datetime(2025, 1, 1, tzinfo=_dt.UTC)
DEFAULT_NOT_AFTER = _dt.datetime(2060, 1, 1, tzinfo=_dt.UTC)

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey

_CURVES: dict[str, ec.EllipticCurve] = {
    "secp256r1": ec.SECP256R1(),
    "secp384r1": ec.SECP384R1(),
    "secp521r1": ec.SECP521R1(),
}
# Certificate signatures use SHA-2 of the negotiated hash's size: X.509
# signature OIDs for RSA with SHA-3 are not universally supported, and the
# certificate hash is independent of SPDM's BaseHashAlgo.
_CertHash = hashes.SHA256 | hashes.SHA384 | hashes.SHA512
_CERT_HASH_BY_SIZE: dict[int, _CertHash] = {
    32: hashes.SHA256(),
    48: hashes.SHA384(),
    64: hashes.SHA512(),
}


def private_key(asym_algo: int, label: str = "leaf") -> PrivateKey:
    """A private key for the BaseAsymAlgo, generated once per process and
    label (RSA-4096 generation takes seconds). RSASSA and RSA-PSS of one
    size share the key of a label: the key is the same kind of object."""
    info = ASYM_ALGOS[AsymAlgo(asym_algo)]
    return _cached_key(info.key_type, info.key_bits, info.curve, label)


@functools.cache
def _cached_key(key_type: str, bits: int, curve: str, label: str) -> PrivateKey:
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=bits)
    if key_type == "ec":
        return ec.generate_private_key(_CURVES[curve])
    return ed25519.Ed25519PrivateKey.generate()


def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _der(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + _der_length(len(body)) + body


def _der_oid(oid: x509.ObjectIdentifier) -> bytes:
    arcs = [int(a) for a in oid.dotted_string.split(".")]
    body = bytearray([40 * arcs[0] + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        body.extend(reversed(chunk))
    return _der(0x06, bytes(body))


def _spdm_extension_hardware_identity() -> bytes:
    # DSP0274 1.3 section 10.7.1.3: SEQUENCE OF SPDMExtension { id OID,
    # critical BOOLEAN DEFAULT FALSE, value OCTET STRING }; the
    # hardware-identity id marks a certificate bound to the device itself.
    entry = _der(0x30, _der_oid(certs.DMTF_OID_HARDWARE_IDENTITY) + _der(0x04, b""))
    return _der(0x30, entry)


def _cert_hash(hash_algo: int) -> _CertHash:
    return _CERT_HASH_BY_SIZE[HASH_ALGOS[HashAlgo(hash_algo)].size]


def _sign(
    builder: x509.CertificateBuilder, key: PrivateKey, signer_algo: int, hash_algo: int
) -> x509.Certificate:
    info = ASYM_ALGOS[AsymAlgo(signer_algo)]
    if info.key_type == "ed25519":
        return builder.sign(key, None)
    algorithm = _cert_hash(hash_algo)
    if info.padding == "pss":
        pss = padding.PSS(
            mgf=padding.MGF1(algorithm), salt_length=algorithm.digest_size
        )
        return builder.sign(key, algorithm, rsa_padding=pss)
    return builder.sign(key, algorithm)


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "spdmd test PKI"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _ca_extensions(
    builder: x509.CertificateBuilder, key: PrivateKey, issuer_key: PrivateKey
) -> x509.CertificateBuilder:
    usage = x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )
    return (
        builder.add_extension(
            x509.BasicConstraints(ca=True, path_length=None), critical=True
        )
        .add_extension(usage, critical=True)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    )


@dataclass
class Pki:
    """A chain and its keys. Keys other than the leaf's may be None for a
    chain loaded from files."""

    asym_algo: int
    hash_algo: int
    root_cert: x509.Certificate
    root_key: PrivateKey | None
    leaf_cert: x509.Certificate
    leaf_key: PrivateKey
    intermediate_certs: list[x509.Certificate] = field(default_factory=list)
    intermediate_keys: list[PrivateKey | None] = field(default_factory=list)

    @property
    def certificates(self) -> list[x509.Certificate]:
        """Root first, leaf last."""
        return [self.root_cert, *self.intermediate_certs, self.leaf_cert]

    @property
    def der_chain(self) -> list[bytes]:
        return [c.public_bytes(serialization.Encoding.DER) for c in self.certificates]

    @property
    def root_der(self) -> bytes:
        return self.root_cert.public_bytes(serialization.Encoding.DER)

    @property
    def root_pem(self) -> bytes:
        return self.root_cert.public_bytes(serialization.Encoding.PEM)

    def spdm_chain(self, hash_algo: int | None = None) -> bytes:
        """The SPDM certificate chain (DSP0274 section 10.6) for a slot."""
        return certs.build_cert_chain(self.der_chain, hash_algo or self.hash_algo)

    def trust_store(self) -> certs.TrustStore:
        return certs.TrustStore.from_certificates([self.root_cert])

    def write_root(self, path: str | os.PathLike[str], encoding: str = "pem") -> Path:
        out = Path(path)
        out.write_bytes(self.root_pem if encoding == "pem" else self.root_der)
        return out

    def write_chain(self, path: str | os.PathLike[str]) -> Path:
        """A PEM bundle, root first, as `load_pki` reads it."""
        out = Path(path)
        out.write_bytes(
            b"".join(
                c.public_bytes(serialization.Encoding.PEM) for c in self.certificates
            )
        )
        return out

    def write_key(self, path: str | os.PathLike[str]) -> Path:
        out = Path(path)
        out.write_bytes(
            self.leaf_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        out.chmod(0o600)
        return out


_EKU_PRESETS: dict[str, tuple[x509.ObjectIdentifier, ...]] = {
    "responder": (certs.DMTF_OID_RESPONDER_AUTH,),
    "requester": (certs.DMTF_OID_REQUESTER_AUTH,),
    "none": (),
}


def generate_pki(
    asym_algo: int,
    hash_algo: int = HashAlgo.SHA_384,
    *,
    depth: int = 3,
    leaf_not_before: _dt.datetime | None = None,
    leaf_not_after: _dt.datetime | None = None,
    leaf_ca: bool = False,
    leaf_digital_signature: bool = True,
    leaf_basic_constraints: bool = True,
    leaf_eku: str | tuple[x509.ObjectIdentifier, ...] = "responder",
    leaf_asym_algo: int | None = None,
    root_label: str = "root",
    leaf_label: str = "leaf",
    name: str = "spdmd test",
    serial_number: str = "0001",
) -> Pki:
    """Build root, depth-2 intermediates and a responder leaf (see module
    docstring). All CA keys use `asym_algo`; the leaf uses `leaf_asym_algo`
    (default `asym_algo`)."""
    if depth < 2:
        raise UsageError(
            f"a chain needs at least a root and a leaf, depth {depth} given"
        )
    algo_name = ASYM_ALGOS[AsymAlgo(asym_algo)].name
    leaf_algo = leaf_asym_algo if leaf_asym_algo is not None else asym_algo

    root_key = private_key(asym_algo, root_label)
    root_name = _name(f"{name} root CA {algo_name} {root_label}")
    builder = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(DEFAULT_NOT_BEFORE)
        .not_valid_after(DEFAULT_NOT_AFTER)
    )
    root = _sign(
        _ca_extensions(builder, root_key, root_key), root_key, asym_algo, hash_algo
    )

    issuer_cert, issuer_key = root, root_key
    inter_certs: list[x509.Certificate] = []
    inter_keys: list[PrivateKey | None] = []
    for level in range(1, depth - 1):
        key = private_key(asym_algo, f"{root_label}/intermediate{level}")
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(f"{name} intermediate CA {level} {algo_name}"))
            .issuer_name(issuer_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(DEFAULT_NOT_BEFORE)
            .not_valid_after(DEFAULT_NOT_AFTER)
        )
        cert = _sign(
            _ca_extensions(builder, key, issuer_key), issuer_key, asym_algo, hash_algo
        )
        inter_certs.append(cert)
        inter_keys.append(key)
        issuer_cert, issuer_key = cert, key

    leaf_key = private_key(leaf_algo, leaf_label)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(f"{name} responder {ASYM_ALGOS[AsymAlgo(leaf_algo)].name}"))
        .issuer_name(issuer_cert.subject)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(leaf_not_before or DEFAULT_NOT_BEFORE)
        .not_valid_after(leaf_not_after or DEFAULT_NOT_AFTER)
    )
    if leaf_basic_constraints:
        builder = builder.add_extension(
            x509.BasicConstraints(ca=leaf_ca, path_length=None), critical=True
        )
    builder = builder.add_extension(
        x509.KeyUsage(
            digital_signature=leaf_digital_signature,
            content_commitment=False,
            key_encipherment=not leaf_digital_signature,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=leaf_ca,
            crl_sign=False,
            encipher_only=False,
            decipher_only=False,
        ),
        critical=True,
    )
    ekus = _EKU_PRESETS[leaf_eku] if isinstance(leaf_eku, str) else leaf_eku
    if ekus:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage(list(ekus)), critical=True
        )
    device_info = f"spdmd:emulator:{serial_number}".encode()
    builder = (
        builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.OtherName(certs.DMTF_OID_DEVICE_INFO, _der(0x0C, device_info))]
            ),
            critical=False,
        )
        .add_extension(
            x509.UnrecognizedExtension(
                certs.DMTF_OID_SPDM_EXTENSION, _spdm_extension_hardware_identity()
            ),
            critical=False,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    )
    leaf = _sign(builder, issuer_key, asym_algo, hash_algo)
    return Pki(
        asym_algo=leaf_algo,
        hash_algo=hash_algo,
        root_cert=root,
        root_key=root_key,
        leaf_cert=leaf,
        leaf_key=leaf_key,
        intermediate_certs=inter_certs,
        intermediate_keys=inter_keys,
    )


def _infer_asym(key: object) -> int:
    for bit, info in ASYM_ALGOS.items():
        # RSA keys fit both RSASSA and RSAPSS; RSASSA (the lower bit) wins.
        if info.padding != "pss" and _key_fits(key, bit):
            return int(bit)
    raise UsageError(
        f"private key of type {type(key).__name__} fits no SPDM signing algorithm"
    )


def _key_fits(key: object, asym_algo: int) -> bool:
    from spdmd.spdm.crypto import key_matches_algorithm

    public = key.public_key() if hasattr(key, "public_key") else key
    return key_matches_algorithm(public, asym_algo)


def load_pki(
    chain_path: str | os.PathLike[str],
    key_path: str | os.PathLike[str],
    *,
    asym_algo: int | None = None,
    hash_algo: int = HashAlgo.SHA_384,
    check_key: bool = True,
) -> Pki:
    """Load a chain (PEM bundle or concatenated DER; root first, a
    leaf-first bundle is turned round) and the leaf's private key (PEM or
    DER, unencrypted). Raises UsageError with the file at fault."""
    data = certs.read_credential_file(chain_path, "certificate chain")
    try:
        if b"-----BEGIN" in data:
            chain = x509.load_pem_x509_certificates(data)
        else:
            chain = []
            offset = 0
            while offset < len(data):
                size = certs._der_length(data, offset)
                chain.append(
                    x509.load_der_x509_certificate(data[offset : offset + size])
                )
                offset += size
    except (ValueError, certs.CertificateChainError) as exc:
        raise UsageError(
            f"certificate chain {chain_path} is not PEM or DER certificates: {exc}"
        ) from None
    if len(chain) < 2:
        raise UsageError(
            f"certificate chain {chain_path} holds {len(chain)} certificate(s); a root and a leaf at least are needed"
        )
    if (
        len(chain) > 1
        and chain[-1].issuer == chain[-1].subject
        and chain[0].issuer != chain[0].subject
    ):
        chain.reverse()
    raw_key = certs.read_credential_file(key_path, "private key")
    try:
        if b"-----BEGIN" in raw_key:
            key = serialization.load_pem_private_key(raw_key, password=None)
        else:
            key = serialization.load_der_private_key(raw_key, password=None)
    except (ValueError, TypeError) as exc:
        raise UsageError(
            f"private key {key_path} cannot be loaded (unencrypted PEM or DER expected): {exc}"
        ) from None
    if not isinstance(
        key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey)
    ):
        raise UsageError(
            f"private key {key_path} is a {type(key).__name__}, which SPDM cannot sign with here"
        )
    algo = asym_algo if asym_algo is not None else _infer_asym(key)
    leaf = chain[-1]
    if check_key and leaf.public_key() != key.public_key():
        raise UsageError(
            f"private key {key_path} does not belong to the leaf certificate '{leaf.subject.rfc4514_string()}' of {chain_path}"
        )
    return Pki(
        asym_algo=algo,
        hash_algo=hash_algo,
        root_cert=chain[0],
        root_key=None,
        leaf_cert=leaf,
        leaf_key=key,
        intermediate_certs=chain[1:-1],
        intermediate_keys=[None] * max(0, len(chain) - 2),
    )
