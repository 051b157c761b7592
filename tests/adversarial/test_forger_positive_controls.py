"""Positive controls: the forger's re-signed responses are accepted when
nothing else is changed. Without these, every "Failed" in this directory
could come from a broken forger rather than from the check under test."""

from __future__ import annotations

import pytest
from tests.adversarial.forger import Forger, make_forger, requester_config

from spdmd.attest import attest, get_signed_measurements


def resign_challenge(f: Forger, req: bytes, rsp: bytes) -> bytes:
    return f.signed_challenge_auth(req, f.challenge_auth(req, rsp))


def resign_measurements(f: Forger, req: bytes, rsp: bytes) -> bytes:
    if not req[2] & 1:
        return rsp
    return f.signed_measurements(req, f.measurements(req, rsp))


@pytest.mark.parametrize("version", [0x10, 0x11, 0x12, 0x13])
def test_resigned_challenge_auth_is_accepted(version: int) -> None:
    """Control: a CHALLENGE_AUTH re-signed by the forger verifies."""
    f, trust = make_forger(versions=frozenset({version}))
    f.rules["CHALLENGE"] = resign_challenge
    result = attest(f, requester_config(trust))
    assert result.status == "Success", result.reason
    assert result.version == version


@pytest.mark.parametrize("version", [0x10, 0x11, 0x12, 0x13])
@pytest.mark.parametrize("indices", [(1, 2, 0x10), (255,)])
def test_resigned_measurements_are_accepted(
    version: int, indices: tuple[int, ...]
) -> None:
    """Control: MEASUREMENTS re-signed over (A +) L1 verify."""
    f, trust = make_forger(versions=frozenset({version}))
    f.rules["GET_MEASUREMENTS"] = resign_measurements
    result = get_signed_measurements(f, requester_config(trust), indices=indices)
    assert result.status == "Success", result.reason
    assert result.blocks
