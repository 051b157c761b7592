"""Helpers for certificate chain tests: the recorded spdm-emu chains and
their provenance (see ../shared/vectors/README.md)."""

from __future__ import annotations

import base64
import json
import struct
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509

from spdmd.spdm.constants import ASYM_BY_NAME, HASH_BY_NAME, version_from_string

REPO = Path(__file__).resolve().parents[2]


def vectors_dir() -> Path | None:
    """`<repo>/../shared/vectors/spdm-emu`, else /work/shared/vectors/spdm-emu."""
    for base in (REPO.parent / "shared" / "vectors", Path("/work/shared/vectors")):
        if (base / "spdm-emu").is_dir():
            return base / "spdm-emu"
    return None


@dataclass
class RecordedChain:
    """The chain of one recorded spdm-emu run, assembled from its
    CERTIFICATE portions, with what the recording says about it."""

    name: str
    raw: bytes
    anchor: x509.Certificate
    asym_algo: int
    hash_algo: int
    version: int
    leaf_subject: str
    digest: bytes


def load_recorded_chain(path: Path) -> RecordedChain:
    data = json.loads(path.read_text())
    chain = b""
    for exchange in data["exchanges"]:
        if exchange["step"] == "GET_CERTIFICATE":
            response = bytes.fromhex(exchange["response"])
            # CERTIFICATE: header(4) PortionLength(2) RemainderLength(2) portion.
            (portion,) = struct.unpack_from("<H", response, 4)
            chain += response[8 : 8 + portion]
    return RecordedChain(
        name=data["name"],
        raw=chain,
        anchor=x509.load_der_x509_certificate(
            base64.b64decode(data["trust_anchor_der_b64"])
        ),
        asym_algo=int(ASYM_BY_NAME[data["base_asym_algo"]]),
        hash_algo=int(HASH_BY_NAME[data["base_hash_algo"]]),
        version=int(version_from_string(data["spdm_version"])),
        leaf_subject=data["expect"]["leaf_subject"],
        digest=bytes.fromhex(data["expect"]["cert_chain_digest"]),
    )


def recorded_files() -> list:
    found = vectors_dir()
    if found is None:
        return [
            pytest.param(
                None,
                marks=pytest.mark.skip(
                    reason="spdm-emu vectors missing: neither ../shared/vectors nor /work/shared/vectors exists"
                ),
                id="no-vectors",
            )
        ]
    return [pytest.param(p, id=p.stem) for p in sorted(found.glob("*.json"))]
