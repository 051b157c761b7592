"""What an emulated device is: versions, algorithms, slots with their
chains and keys, measurement blocks, timing and faults.

`ResponderConfig.generate()` builds the credentials with
`spdmd.responder.pki` (keys cached per process) and applies the PKI faults
there: untrusted_root picks another root family, expired_leaf a leaf valid
only in 2020-2021, wrong_key a spare signing key, tampered_chain a flipped
byte in the served chain. The Responder reads a config and never changes it.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any

from spdmd.errors import UsageError
from spdmd.responder import pki as _pki
from spdmd.responder.faults import Faults
from spdmd.spdm import certs
from spdmd.spdm.constants import MAX_SLOTS, AsymAlgo, CapabilityFlag, HashAlgo

__all__ = [
    "ASYM_PREFERENCE",
    "DEFAULT_MEASUREMENTS",
    "HASH_PREFERENCE",
    "RESPONDER_FLAGS",
    "Credential",
    "MeasurementSpec",
    "ResponderConfig",
    "credential_from_pki",
    "generate_slot_pki",
]

# The responder's own order of preference when the requester offers several.
ASYM_PREFERENCE: tuple[AsymAlgo, ...] = (
    AsymAlgo.ECDSA_P384,
    AsymAlgo.ECDSA_P256,
    AsymAlgo.ECDSA_P521,
    AsymAlgo.RSAPSS_3072,
    AsymAlgo.RSASSA_3072,
    AsymAlgo.RSAPSS_2048,
    AsymAlgo.RSASSA_2048,
    AsymAlgo.RSAPSS_4096,
    AsymAlgo.RSASSA_4096,
    AsymAlgo.ED25519,
)
HASH_PREFERENCE: tuple[HashAlgo, ...] = (
    HashAlgo.SHA_384,
    HashAlgo.SHA_256,
    HashAlgo.SHA_512,
    HashAlgo.SHA3_384,
    HashAlgo.SHA3_256,
    HashAlgo.SHA3_512,
)
# The capabilities attestation needs (DSP0274 table 11): certificates,
# CHALLENGE and signed measurements.
RESPONDER_FLAGS = CapabilityFlag.CERT | CapabilityFlag.CHAL | CapabilityFlag.MEAS_SIG


@dataclass
class Credential:
    """One slot's chain (DER, root first) and the leaf's private key.

    `signing_key` is the key actually used; it differs from `key` only when
    the wrong_key fault is in force.
    """

    der_chain: list[bytes]
    key: Any
    signing_key: Any = None
    tamper: bool = False
    _chains: dict[int, bytes] = field(default_factory=dict, repr=False)

    def chain(self, hash_algo: int) -> bytes:
        """The SPDM chain bytes for the negotiated hash (cached)."""
        if hash_algo not in self._chains:
            raw = bytearray(certs.build_cert_chain(self.der_chain, hash_algo))
            if self.tamper:
                # The last byte lies in the leaf's signature value: the DER
                # still parses, but the leaf no longer verifies.
                raw[-1] ^= 0x01
            self._chains[hash_algo] = bytes(raw)
        return self._chains[hash_algo]


@dataclass(frozen=True)
class MeasurementSpec:
    """One measurement block: DMTF value type and the content measured.
    Digest blocks carry the hash of `content` with the negotiated
    measurement hash; raw blocks carry `content` itself."""

    value_type: int
    content: bytes
    digest: bool = True


# Indices like DMTF's reference responder: four digests, two raw values,
# a manifest and the device mode (DSP0274 table "DMTFSpecMeasurementValueType").
DEFAULT_MEASUREMENTS: dict[int, MeasurementSpec] = {
    1: MeasurementSpec(0x00, b"spdmd emulator immutable ROM"),
    2: MeasurementSpec(0x01, b"spdmd emulator mutable firmware"),
    3: MeasurementSpec(0x02, b"spdmd emulator hardware configuration"),
    4: MeasurementSpec(0x03, b"spdmd emulator firmware configuration"),
    0x10: MeasurementSpec(0x06, b"spdmd-emulator-1.0.0", digest=False),
    0x11: MeasurementSpec(0x07, (1).to_bytes(8, "little"), digest=False),
    0xFD: MeasurementSpec(0x04, b"spdmd emulator measurement manifest", digest=False),
    0xFE: MeasurementSpec(0x05, bytes(16), digest=False),
}


@dataclass
class ResponderConfig:
    versions: frozenset[int] = frozenset({0x10, 0x11, 0x12, 0x13})
    asym_algos: int = int(AsymAlgo.ECDSA_P384)
    hash_algos: int = int(HashAlgo.SHA_384)
    # slot -> BaseAsymAlgo bit -> credential
    slots: dict[int, dict[int, Credential]] = field(default_factory=dict)
    measurements: dict[int, MeasurementSpec] = field(
        default_factory=lambda: dict(DEFAULT_MEASUREMENTS)
    )
    capabilities: int = int(RESPONDER_FLAGS)
    ct_exponent: int = 16
    data_transfer_size: int = 0x1200
    max_cert_portion: int = 0x400
    faults: Faults = field(default_factory=Faults)

    @classmethod
    def generate(
        cls,
        *,
        versions: frozenset[int] | None = None,
        asym_algos: int = int(AsymAlgo.ECDSA_P384),
        hash_algos: int = int(HashAlgo.SHA_384),
        slot_count: int = 1,
        faults: Faults | None = None,
        name: str = "spdmd emulator",
        **kwargs: Any,
    ) -> ResponderConfig:
        """A configuration with generated PKI for every slot and every
        signing algorithm in `asym_algos` (keys cached per process)."""
        faults = faults or Faults()
        if not 1 <= slot_count <= MAX_SLOTS:
            raise UsageError(f"slot count {slot_count} is out of range 1..{MAX_SLOTS}")
        slots: dict[int, dict[int, Credential]] = {}
        chain_hash = first_bit(hash_algos, HASH_PREFERENCE) or HashAlgo.SHA_384
        for slot in range(slot_count):
            slots[slot] = {}
            for asym in bits(asym_algos):
                slots[slot][asym] = credential_from_pki(
                    generate_slot_pki(asym, chain_hash, slot, faults, name=name),
                    faults,
                )
        return cls(
            versions=versions
            if versions is not None
            else frozenset({0x10, 0x11, 0x12, 0x13}),
            asym_algos=asym_algos,
            hash_algos=hash_algos,
            slots=slots,
            faults=faults,
            **kwargs,
        )


def generate_slot_pki(
    asym: int,
    hash_algo: int,
    slot: int,
    faults: Faults,
    *,
    name: str = "spdmd emulator",
) -> _pki.Pki:
    """The PKI of one slot: a root per slot like DMTF's responder, or the
    "untrusted" root family under the untrusted_root fault."""
    family = "untrusted" if faults.untrusted_root else "root"
    root_label = family if slot == 0 else f"{family}-slot{slot}"
    options: dict[str, Any] = {}
    if faults.expired_leaf:
        options["leaf_not_before"] = _dt.datetime(2020, 1, 1, tzinfo=_dt.UTC)
        options["leaf_not_after"] = _dt.datetime(2021, 1, 1, tzinfo=_dt.UTC)
    return _pki.generate_pki(
        asym,
        hash_algo,
        root_label=root_label,
        leaf_label="leaf" if slot == 0 else f"leaf-slot{slot}",
        name=name,
        **options,
    )


def credential_from_pki(pki: _pki.Pki, faults: Faults) -> Credential:
    signing = pki.leaf_key
    if faults.wrong_key:
        signing = _pki.private_key(pki.asym_algo, "wrong-key")
    return Credential(
        pki.der_chain, pki.leaf_key, signing, tamper=faults.tampered_chain
    )


def bits(mask: int) -> list[int]:
    return [1 << i for i in range(mask.bit_length()) if mask & (1 << i)]


def first_bit(mask: int, preference: tuple[int, ...]) -> int:
    for bit in preference:
        if mask & bit:
            return int(bit)
    return 0
