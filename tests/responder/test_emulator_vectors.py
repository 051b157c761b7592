"""The recorded requests of shared/vectors/spdm-emu replayed into our
emulator: it must answer each like DMTF's spdm_responder_emu did, where
the answer does not depend on keys, nonces or certificate sizes.

Compared: version byte, response code, Param1 and Param2 of every response
(the slot masks too, with two slots provisioned as in DMTF's default); the
full length of VERSION, CAPABILITIES, ALGORITHMS, DIGESTS and CHALLENGE_AUTH;
the negotiated selections in ALGORITHMS; and the measurement block indices.
Not compared: measurement values and sizes (DMTF picks SHA-512 as the
measurement hash, the emulator the base hash) and certificate portions
beyond the emulator's shorter chains.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.spdm.vectors import MISSING_REASON, all_vector_paths

from spdmd.responder.responder import Responder, ResponderConfig
from spdmd.spdm import messages as m
from spdmd.spdm.constants import (
    ASYM_BY_NAME,
    HASH_BY_NAME,
    AsymAlgo,
    version_from_string,
)

VECTORS = all_vector_paths()
ASYM = {**ASYM_BY_NAME, "EDDSA_25519": AsymAlgo.ED25519}
FIXED_LENGTH = {0x04, 0x61, 0x63, 0x01, 0x03}


def load(path: Path) -> dict:
    return json.loads(path.read_text())


@pytest.mark.skipif(not VECTORS, reason=MISSING_REASON)
@pytest.mark.parametrize("path", VECTORS, ids=lambda p: p.stem)
def test_replayed_requests_get_answers_shaped_like_dmtfs(path):
    vector = load(path)
    version = int(version_from_string(vector["spdm_version"]))
    config = ResponderConfig.generate(
        versions=frozenset({version}),
        asym_algos=int(ASYM[vector["base_asym_algo"]]),
        hash_algos=int(HASH_BY_NAME[vector["base_hash_algo"]]),
        slot_count=2,
    )
    responder = Responder(config)
    chain_length = 0
    for exchange in vector["exchanges"]:
        request = bytes.fromhex(exchange["request"])
        theirs = bytes.fromhex(exchange["response"])
        ours = responder.handle(request)
        step = exchange["step"]
        if step == "GET_CERTIFICATE":
            offset = int.from_bytes(request[4:6], "little")
            if chain_length and offset >= chain_length:
                continue  # DMTF's chain is longer than ours.
            portion = m.Certificate.decode(ours)
            chain_length = offset + len(portion.portion) + portion.remainder_length
        assert ours[:4] == theirs[:4], (
            f"{step}: ours {ours[:4].hex()} theirs {theirs[:4].hex()}"
        )
        if theirs[1] in FIXED_LENGTH:
            assert len(ours) == len(theirs), step
        if step == "NEGOTIATE_ALGORITHMS":
            a, b = m.Algorithms.decode(ours), m.Algorithms.decode(theirs)
            assert (a.measurement_spec, a.other_params, a.base_asym, a.base_hash) == (
                b.measurement_spec,
                b.other_params,
                b.base_asym,
                b.base_hash,
            )
        if step == "GET_MEASUREMENTS" and request[3] != 0:
            decoded = []
            for data in (ours, theirs):
                size = len(data) - _unsigned_length(data)
                decoded.append(m.Measurements.decode(data, signature_size=size))
            assert [b.index for b in decoded[0].blocks] == [
                b.index for b in decoded[1].blocks
            ]


def _unsigned_length(data: bytes) -> int:
    """Length of a MEASUREMENTS message without its signature, from its fields."""
    record = int.from_bytes(data[5:8], "little")
    opaque_at = 8 + record + 32
    opaque = int.from_bytes(data[opaque_at : opaque_at + 2], "little")
    context = 8 if data[0] >= 0x13 else 0
    return opaque_at + 2 + opaque + context
