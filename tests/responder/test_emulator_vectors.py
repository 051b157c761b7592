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
from spdmd.spdm import crypto
from spdmd.spdm import messages as m
from spdmd.spdm.constants import (
    ASYM_ALGOS,
    ASYM_BY_NAME,
    CHALLENGE_AUTH_SIGNING_CONTEXT,
    HASH_BY_NAME,
    MEASUREMENTS_SIGNING_CONTEXT,
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


@pytest.mark.skipif(not VECTORS, reason=MISSING_REASON)
@pytest.mark.parametrize("path", VECTORS, ids=lambda p: p.stem)
def test_replayed_signatures_cover_the_transcripts_the_notes_define(path):
    """The emulator's own bookkeeping, checked independently of the
    requester: CHALLENGE_AUTH signs A + B + C (B and C cleared after each
    CHALLENGE, so a second one signs A + C), MEASUREMENTS signs L1 (from
    1.2 prefixed by A; every measurement exchange since the last other
    request)."""
    vector = load(path)
    version = int(version_from_string(vector["spdm_version"]))
    asym = int(ASYM[vector["base_asym_algo"]])
    hash_algo = int(HASH_BY_NAME[vector["base_hash_algo"]])
    config = ResponderConfig.generate(
        versions=frozenset({version}),
        asym_algos=asym,
        hash_algos=hash_algo,
        slot_count=2,
    )
    responder = Responder(config)
    signature_size = ASYM_ALGOS[AsymAlgo(asym)].signature_size
    a = b = l1 = b""
    verified = []
    for exchange in vector["exchanges"]:
        request = bytes.fromhex(exchange["request"])
        response = responder.handle(request)
        if response[1] == 0x7F:
            continue  # beyond our chain; errors enter no transcript
        code = request[1]
        if code in (0x84, 0xE1, 0xE3):
            a = (b"" if code == 0x84 else a) + request + response
        elif code == 0x81:
            b = request + response
        elif code == 0x82:
            b += request + response
        if code != 0xE0:
            l1 = b""
        if code == 0x83:
            unsigned, signature = response[:-signature_size], response[-signature_size:]
            key = config.slots[request[2]][asym].key.public_key()
            message = crypto.signing_input(
                version,
                CHALLENGE_AUTH_SIGNING_CONTEXT,
                a + b + request + unsigned,
                hash_algo,
            )
            crypto.verify_signature(key, asym, hash_algo, message, signature)
            verified.append("CHALLENGE")
            b = b""
        if code == 0xE0:
            signed = bool(request[2] & 1)
            if not l1 and version >= 0x12:
                l1 = a
            if not signed:
                l1 += request + response
                continue
            unsigned, signature = response[:-signature_size], response[-signature_size:]
            slot = request[36] if version >= 0x11 else 0
            key = config.slots[slot][asym].key.public_key()
            message = crypto.signing_input(
                version,
                MEASUREMENTS_SIGNING_CONTEXT,
                l1 + request + unsigned,
                hash_algo,
            )
            crypto.verify_signature(key, asym, hash_algo, message, signature)
            verified.append("GET_MEASUREMENTS")
            l1 = b""
    expected = [e["step"] for e in vector["exchanges"] if e["step"] == "CHALLENGE"]
    assert verified == [*expected, "GET_MEASUREMENTS"]


def _unsigned_length(data: bytes) -> int:
    """Length of a MEASUREMENTS message without its signature, from its fields."""
    record = int.from_bytes(data[5:8], "little")
    opaque_at = 8 + record + 32
    opaque = int.from_bytes(data[opaque_at : opaque_at + 2], "little")
    context = 8 if data[0] >= 0x13 else 0
    return opaque_at + 2 + opaque + context
