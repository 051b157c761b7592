"""The requester against the emulator for every version and every
algorithm pair, in process (the sans-I/O path; sockets are covered by
test_emulator_sockets.py)."""

from __future__ import annotations

import pytest
from tests.responder.harness import (
    ASYMS,
    HASHES,
    MEASUREMENT_INDICES,
    VERSIONS,
    FakeClock,
    LocalTransport,
    emulator_config,
    requester_config,
    vid,
)

from spdmd.attest import attest, get_signed_measurements
from spdmd.responder.responder import Responder
from spdmd.spdm import crypto
from spdmd.spdm.constants import ASYM_ALGOS, HASH_ALGOS, AsymAlgo

CASES = [
    pytest.param(v, a, h, id=f"{vid(v)}-{ASYM_ALGOS[a].name}-{HASH_ALGOS[h].name}")
    for v in VERSIONS
    for a in ASYMS
    for h in HASHES
]


def run(fn, version, asym, hash_algo, **kwargs):
    clock = FakeClock()
    transport = LocalTransport(
        Responder(emulator_config(int(asym), int(hash_algo))), clock
    )
    config = requester_config(version, int(asym), int(hash_algo))
    return fn(transport, config, clock=clock, sleep=clock.sleep, **kwargs)


@pytest.mark.parametrize("version, asym, hash_algo", CASES)
def test_attest_every_version_and_algorithm_pair(version, asym, hash_algo):
    """Identity and CHALLENGE succeed with exactly what was allowed."""
    result = run(attest, version, asym, hash_algo)
    if asym == AsymAlgo.ED25519 and version < 0x12:
        # DSP0274 1.2 introduced EdDSA: nothing to negotiate before that.
        assert result.status == "Failed"
        assert result.step == "NEGOTIATE_ALGORITHMS"
        return
    assert (result.status, result.step, result.reason) == (
        "Success",
        None,
        result.reason,
    )
    assert result.version == version
    assert result.asym_algo == asym
    assert result.hash_algo == hash_algo
    assert "responder" in result.leaf_subject
    assert result.cert_chain_digest == crypto.digest(hash_algo, result.cert_chain.raw)
    summary = result.to_dict()
    assert summary["version"] == vid(version)
    assert summary["signing_algorithm"] == ASYM_ALGOS[asym].redfish_name
    assert summary["hashing_algorithm"] == HASH_ALGOS[hash_algo].redfish_name


@pytest.mark.parametrize("version, asym, hash_algo", CASES)
def test_signed_measurements_every_version_and_algorithm_pair(version, asym, hash_algo):
    """All eight DMTF-style blocks come back, signed and verified."""
    result = run(get_signed_measurements, version, asym, hash_algo)
    if asym == AsymAlgo.ED25519 and version < 0x12:
        assert (result.status, result.step) == ("Failed", "NEGOTIATE_ALGORITHMS")
        return
    assert (result.status, result.step) == ("Success", None), result.reason
    assert [b.index for b in result.blocks] == MEASUREMENT_INDICES
    digest_size = crypto.hash_size(hash_algo)
    assert [len(b.value) for b in result.blocks[:4]] == [digest_size] * 4
    # The Redfish value: the measurement exchanges (1.2+ after VCA), ending
    # with the signed response.
    signature_size = ASYM_ALGOS[asym].signature_size
    assert len(result.signed_measurements) > signature_size
    assert result.to_dict()["signed_measurements"]
