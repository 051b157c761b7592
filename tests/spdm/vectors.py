"""Loading the recorded spdm-emu exchanges of ../shared/vectors/spdm-emu.

Provenance: see that directory's README.md (DMTF spdm_responder_emu,
spdm-emu 85436d5 with libspdm 1e16c60, public sample keys). The directory is
looked for beside the repository (`<repo>/../shared/vectors`, as CI lays it
out) and then at /work/shared/vectors.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spdmd.spdm.constants import (
    ASYM_BY_NAME,
    HASH_BY_NAME,
    version_from_string,
)

_REPO = Path(__file__).resolve().parents[2]
_CANDIDATES = (_REPO.parent / "shared" / "vectors", Path("/work/shared/vectors"))


def vectors_dir() -> Path | None:
    for base in _CANDIDATES:
        if (base / "spdm-emu").is_dir():
            return base / "spdm-emu"
    return None


MISSING_REASON = (
    "recorded SPDM vectors not found: expected shared/vectors/spdm-emu beside "
    "the repository or at /work/shared/vectors"
)


@dataclass
class Exchange:
    step: str
    request: bytes
    response: bytes


@dataclass
class Vector:
    name: str
    path: Path
    version: int
    asym_algo: int
    hash_algo: int
    slot: int
    trust_anchor_der: bytes
    exchanges: list[Exchange]
    expect: dict[str, Any]

    def index_of(self, step: str, nth: int = 0) -> int:
        hits = [i for i, e in enumerate(self.exchanges) if e.step == step]
        return hits[nth]


def load(path: Path) -> Vector:
    doc = json.loads(path.read_text())
    return Vector(
        name=doc["name"],
        path=path,
        version=version_from_string(doc["spdm_version"]),
        asym_algo=int(ASYM_BY_NAME[doc["base_asym_algo"]]),
        hash_algo=int(HASH_BY_NAME[doc["base_hash_algo"]]),
        slot=doc["slot_id"],
        trust_anchor_der=base64.b64decode(doc["trust_anchor_der_b64"]),
        exchanges=[
            Exchange(
                e["step"], bytes.fromhex(e["request"]), bytes.fromhex(e["response"])
            )
            for e in doc["exchanges"]
        ],
        expect=doc["expect"],
    )


def all_vector_paths() -> list[Path]:
    base = vectors_dir()
    return sorted(base.glob("*.json")) if base else []
