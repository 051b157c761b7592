"""CHALLENGE_AUTH from a device that holds the genuine leaf key but lies
about something else. Every forged response carries a signature that is
valid over the transcript named in the test, so only the check under test
can reject it (see forger.py and test_forger_positive_controls.py)."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from tests.adversarial.forger import (
    MEASUREMENTS_CONTEXT,
    Forger,
    assert_failed,
    make_forger,
    requester_config,
)

from spdmd.attest import attest
from spdmd.errors import DigestMismatch, SignatureError, UnexpectedResponse


def run(f: Forger, trust: Any, **kw: Any) -> Any:
    return attest(f, requester_config(trust, **kw))


def forge(**sign: Any) -> Any:
    """A CHALLENGE rule: the real CHALLENGE_AUTH, re-signed with `sign`."""

    def rule(f: Forger, req: bytes, rsp: bytes) -> bytes:
        return f.signed_challenge_auth(req, f.challenge_auth(req, rsp), **sign)

    return rule


def test_slot_differs_from_request() -> None:
    """CHALLENGE_AUTH claims slot 1 (its chain hash, its key) to a slot-0 CHALLENGE."""
    f, trust = make_forger(slot_count=2)

    def rule(f: Forger, req: bytes, rsp: bytes) -> bytes:
        auth = f.challenge_auth(req, rsp)
        auth.slot = 1
        auth.cert_chain_hash = hashlib.sha384(f.chain(1)).digest()
        return f.signed_challenge_auth(req, auth, key=f.key(1))

    f.rules["CHALLENGE"] = rule
    assert_failed(run(f, trust), "CHALLENGE", UnexpectedResponse)


def test_slot_differs_but_everything_else_is_slot_0() -> None:
    """Only the slot field of a correctly signed CHALLENGE_AUTH is wrong."""
    f, trust = make_forger(slot_count=2)

    def rule(f: Forger, req: bytes, rsp: bytes) -> bytes:
        auth = f.challenge_auth(req, rsp)
        auth.slot = 1
        return f.signed_challenge_auth(req, auth)

    f.rules["CHALLENGE"] = rule
    assert_failed(run(f, trust), "CHALLENGE", UnexpectedResponse)


def test_requester_context_not_echoed() -> None:
    """1.3: a signed CHALLENGE_AUTH carries a RequesterContext of its own choosing."""
    f, trust = make_forger(versions=frozenset({0x13}))

    def rule(f: Forger, req: bytes, rsp: bytes) -> bytes:
        auth = f.challenge_auth(req, rsp)
        auth.requester_context = bytes(8)
        return f.signed_challenge_auth(req, auth)

    f.rules["CHALLENGE"] = rule
    assert_failed(run(f, trust), "CHALLENGE", UnexpectedResponse)


def test_cert_chain_hash_of_another_slot() -> None:
    """CertChainHash names slot 1's (trusted) chain while slot 0's was read."""
    f, trust = make_forger(slot_count=2)

    def rule(f: Forger, req: bytes, rsp: bytes) -> bytes:
        auth = f.challenge_auth(req, rsp)
        auth.cert_chain_hash = hashlib.sha384(f.chain(1)).digest()
        return f.signed_challenge_auth(req, auth)

    f.rules["CHALLENGE"] = rule
    assert_failed(run(f, trust), "CHALLENGE", DigestMismatch)


def test_signature_with_the_key_of_another_trusted_chain() -> None:
    """Slot 0's chain anchors to a trusted root; the signature is slot 1's key (another trusted root)."""
    f, trust = make_forger(slot_count=2)
    f.rules["CHALLENGE"] = lambda f, req, rsp: f.signed_challenge_auth(
        req, f.challenge_auth(req, rsp), key=f.key(1)
    )
    assert_failed(run(f, trust), "CHALLENGE", SignatureError)


@pytest.mark.parametrize(
    "name, over",
    [
        ("omits B", lambda a, b, c: a + c),
        ("omits A", lambda a, b, c: b + c),
        ("duplicates B", lambda a, b, c: a + b + b + c),
        ("duplicates A", lambda a, b, c: a + a + b + c),
        ("C before B", lambda a, b, c: a + c + b),
        ("only C", lambda a, b, c: c),
        ("B without its DIGESTS", lambda a, b, c: a + b[4 + 4 + 48 :] + c),
    ],
)
@pytest.mark.parametrize("version", [0x10, 0x11, 0x12, 0x13])
def test_signature_over_the_wrong_transcript(
    name: str, over: Any, version: int
) -> None:
    """A genuine signature over a transcript that omits, duplicates or reorders messages."""
    f, trust = make_forger(versions=frozenset({version}))
    f.rules["CHALLENGE"] = forge(over=over)
    assert_failed(run(f, trust), "CHALLENGE", SignatureError)


@pytest.mark.parametrize("prefix_version", [0x10, 0x11, 0x13])
def test_signature_with_another_versions_prefix(prefix_version: int) -> None:
    """1.2: the signing prefix names another SPDM version."""
    f, trust = make_forger()
    f.rules["CHALLENGE"] = forge(prefix_version=prefix_version)
    assert_failed(run(f, trust), "CHALLENGE", SignatureError)


def test_signature_with_the_measurements_context() -> None:
    """1.2: CHALLENGE_AUTH signed with the MEASUREMENTS context string (cross-protocol reuse)."""
    f, trust = make_forger()
    f.rules["CHALLENGE"] = forge(context=MEASUREMENTS_CONTEXT)
    assert_failed(run(f, trust), "CHALLENGE", SignatureError)


def test_signature_without_the_1_2_signing_prefix() -> None:
    """1.2: the signature is made the 1.1 way, over the raw transcript."""
    f, trust = make_forger()

    def rule(f: Forger, req: bytes, rsp: bytes) -> bytes:
        f.version = 0x11  # the forger signs as 1.0/1.1 would
        return f.signed_challenge_auth(req, f.challenge_auth(req, rsp))

    f.rules["CHALLENGE"] = rule
    assert_failed(run(f, trust), "CHALLENGE", SignatureError)


def test_nonce_of_a_previous_challenge() -> None:
    """The device signs with the requester nonce replaced by one it saw before."""
    f, trust = make_forger()

    def rule(f: Forger, req: bytes, rsp: bytes) -> bytes:
        stale = req[:4] + bytes(32) + req[36:]
        return f.signed_challenge_auth(
            req,
            f.challenge_auth(req, rsp),
            over=lambda a, b, c: a + b + stale + c[len(req) :],
        )

    f.rules["CHALLENGE"] = rule
    assert_failed(run(f, trust), "CHALLENGE", SignatureError)


def test_trailing_bytes_after_a_valid_signature() -> None:
    """A genuine CHALLENGE_AUTH with one extra byte after the signature."""
    f, trust = make_forger()
    f.rules["CHALLENGE"] = lambda f, req, rsp: rsp + b"\x00"
    result = run(f, trust)
    assert (result.status, result.step) == ("Failed", "CHALLENGE")
    assert "expected" in result.reason


def test_1_3_challenge_auth_in_the_1_2_layout() -> None:
    """1.3 negotiated, CHALLENGE_AUTH without its RequesterContext (1.2 layout, version byte 0x13)."""
    f, trust = make_forger(versions=frozenset({0x13}))

    def rule(f: Forger, req: bytes, rsp: bytes) -> bytes:
        # Signature is the last 96 bytes; RequesterContext the 8 before.
        return rsp[: -96 - 8] + rsp[-96:]

    f.rules["CHALLENGE"] = rule
    result = run(f, trust)
    assert (result.status, result.step) == ("Failed", "CHALLENGE")
