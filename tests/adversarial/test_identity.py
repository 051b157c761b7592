"""DIGESTS and CERTIFICATE from a lying device: slot masks that disagree
with the digests, chains that do not match the digest of their slot, and
CERTIFICATE portions built to make the requester loop or grow a buffer."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from tests.adversarial.forger import (
    Forger,
    H,
    assert_failed,
    make_forger,
    requester_config,
)

from spdmd.attest import attest
from spdmd.errors import (
    CertificateChainError,
    DigestMismatch,
    MalformedResponse,
    NegotiationError,
    UnexpectedResponse,
)
from spdmd.spdm import messages as m


def run(f: Forger, trust: Any, **kw: Any) -> Any:
    return attest(f, requester_config(trust, **kw))


def digests(mask: int, *values: bytes) -> Any:
    def rule(f: Forger, req: bytes, rsp: bytes) -> bytes:
        return bytes((0x12, 0x01, 0, mask)) + b"".join(values)

    return rule


def certificate(portion: Any) -> Any:
    """A GET_CERTIFICATE rule: `portion(f, request) -> (bytes, remainder)`."""

    def rule(f: Forger, req: bytes, rsp: bytes) -> bytes:
        get = m.GetCertificate.decode(req)
        data, remainder = portion(f, get)
        return m.Certificate(
            version=0x12, slot=get.slot, portion=data, remainder_length=remainder
        ).encode()

    return rule


def test_chain_of_slot_0_with_the_digest_of_slot_1() -> None:
    """DIGESTS swaps the slot 0 and slot 1 entries; slot 0's chain no longer matches its entry."""
    f, trust = make_forger(slot_count=2)
    d0, d1 = (hashlib.sha384(f.chain(s)).digest() for s in (0, 1))
    f.rules["GET_DIGESTS"] = digests(0x03, d1, d0)
    assert_failed(run(f, trust), "CERTIFICATE_CHAIN", DigestMismatch)


def test_slot_1_chain_served_for_slot_0() -> None:
    """GET_CERTIFICATE for slot 0 gets slot 1's (trusted, self-consistent) chain."""
    f, trust = make_forger(slot_count=2)

    def rule(f: Forger, req: bytes, rsp: bytes) -> bytes:
        get = m.GetCertificate.decode(req)
        chain = f.chain(1)
        part = chain[get.offset : get.offset + get.length]
        rest = len(chain) - get.offset - len(part)
        return m.Certificate(
            version=0x12, slot=0, portion=part, remainder_length=rest
        ).encode()

    f.rules["GET_CERTIFICATE"] = rule
    assert_failed(run(f, trust), "CERTIFICATE_CHAIN", DigestMismatch)


def test_slot_mask_claims_more_slots_than_digests() -> None:
    """DIGESTS slot mask 0x03 with a single digest."""
    f, trust = make_forger()
    f.rules["GET_DIGESTS"] = digests(0x03, hashlib.sha384(f.chain(0)).digest())
    assert_failed(run(f, trust), "GET_DIGESTS", MalformedResponse)


def test_slot_mask_claims_fewer_slots_than_digests() -> None:
    """DIGESTS slot mask 0x01 followed by two digests (trailing bytes)."""
    f, trust = make_forger()
    d0 = hashlib.sha384(f.chain(0)).digest()
    f.rules["GET_DIGESTS"] = digests(0x01, d0, d0)
    assert_failed(run(f, trust), "GET_DIGESTS", MalformedResponse)


def test_slot_mask_zero() -> None:
    """DIGESTS lists no slot at all."""
    f, trust = make_forger()
    f.rules["GET_DIGESTS"] = digests(0x00)
    assert_failed(run(f, trust), "GET_DIGESTS", MalformedResponse)


def test_slot_mask_without_the_requested_slot() -> None:
    """DIGESTS provisions only slot 2; the requester wants slot 0 and must not read or trust it."""
    f, trust = make_forger()
    f.rules["GET_DIGESTS"] = digests(0x04, hashlib.sha384(f.chain(0)).digest())
    result = run(f, trust)
    assert_failed(result, "GET_CERTIFICATE", NegotiationError)
    assert "GET_CERTIFICATE" not in f.steps()


def test_digests_with_an_empty_chain_hash() -> None:
    """The slot digest is Hash(b'') and CERTIFICATE serves an empty chain."""
    f, trust = make_forger()
    f.rules["GET_DIGESTS"] = digests(0x01, hashlib.sha384(b"").digest())
    f.rules["GET_CERTIFICATE"] = certificate(lambda f, get: (b"", 0))
    assert_failed(run(f, trust), "CERTIFICATE_CHAIN", CertificateChainError)


def test_remainder_length_grows() -> None:
    """Each CERTIFICATE says more is left than the one before."""
    f, trust = make_forger()
    f.rules["GET_CERTIFICATE"] = certificate(
        lambda f, get: (
            f.chain(0)[get.offset : get.offset + 64],
            len(f.chain(0)) - 64 + (500 if get.offset else 0),
        )
    )
    result = run(f, trust, portion_size=64)
    assert_failed(result, "GET_CERTIFICATE", MalformedResponse)
    assert f.steps().count("GET_CERTIFICATE") == 2


def test_remainder_length_never_shrinks() -> None:
    """RemainderLength stays at 0xFFFF forever: the chain would never end."""
    f, trust = make_forger()
    f.rules["GET_CERTIFICATE"] = certificate(
        lambda f, get: (bytes((0xFF, 0xFF)) + bytes(min(get.length, 62) - 2), 0xFFFF)
    )
    result = run(f, trust, portion_size=64)
    assert_failed(result, "GET_CERTIFICATE", MalformedResponse)
    assert f.steps().count("GET_CERTIFICATE") == 1


def test_largest_possible_chain_ends() -> None:
    """A 65535-byte garbage chain whose header agrees: read to its end, then rejected."""
    f, trust = make_forger()
    total = 0xFFFF
    blob = total.to_bytes(2, "little") + bytes(total - 2)
    f.rules["GET_CERTIFICATE"] = certificate(
        lambda f, get: (
            blob[get.offset : get.offset + get.length],
            total - get.offset - len(blob[get.offset : get.offset + get.length]),
        )
    )
    result = run(f, trust)
    assert_failed(result, "CERTIFICATE_CHAIN", DigestMismatch)
    assert f.steps().count("GET_CERTIFICATE") == 64


def test_chain_beyond_the_spdm_maximum() -> None:
    """The first CERTIFICATE implies a chain longer than a u16 Length can describe."""
    f, trust = make_forger()
    f.rules["GET_CERTIFICATE"] = certificate(lambda f, get: (bytes(get.length), 0xFFFF))
    assert_failed(run(f, trust), "GET_CERTIFICATE", MalformedResponse)


def test_portion_length_zero_with_bytes_remaining() -> None:
    """PortionLength 0 while RemainderLength says the chain goes on (would loop forever)."""
    f, trust = make_forger()
    f.rules["GET_CERTIFICATE"] = certificate(
        lambda f, get: (b"", len(f.chain(0)) - get.offset)
    )
    result = run(f, trust)
    assert_failed(result, "GET_CERTIFICATE", MalformedResponse)
    assert f.steps().count("GET_CERTIFICATE") == 1


def test_portion_longer_than_asked() -> None:
    """CERTIFICATE returns more bytes than the Length of GET_CERTIFICATE."""
    f, trust = make_forger()
    chain = f.chain(0)
    f.rules["GET_CERTIFICATE"] = certificate(
        lambda f, get: (
            chain[get.offset : get.offset + get.length + 1],
            max(0, len(chain) - get.offset - get.length - 1),
        )
    )
    assert_failed(run(f, trust, portion_size=256), "GET_CERTIFICATE", MalformedResponse)


def test_chain_header_length_larger_than_served() -> None:
    """The chain's own Length says 100 bytes more than the portions deliver."""
    f, trust = make_forger()
    chain = bytearray(f.chain(0))
    chain[0:2] = (len(chain) + 100).to_bytes(2, "little")
    f.rules["GET_CERTIFICATE"] = certificate(
        lambda f, get: (
            bytes(chain[get.offset : get.offset + get.length]),
            len(chain) - get.offset - len(chain[get.offset : get.offset + get.length]),
        )
    )
    assert_failed(run(f, trust), "CERTIFICATE_CHAIN", MalformedResponse)


def test_certificate_for_another_slot() -> None:
    """CERTIFICATE Param1 names slot 1 in answer to slot 0."""
    f, trust = make_forger(slot_count=2)

    def rule(f: Forger, req: bytes, rsp: bytes) -> bytes:
        out = bytearray(rsp)
        out[2] = 1
        return bytes(out)

    f.rules["GET_CERTIFICATE"] = rule
    assert_failed(run(f, trust), "GET_CERTIFICATE", UnexpectedResponse)


def test_chain_skips_bytes_between_portions() -> None:
    """The second CERTIFICATE serves the bytes after an offset it made up."""
    f, trust = make_forger()
    chain = f.chain(0)

    def portion(f: Forger, get: Any) -> tuple[bytes, int]:
        start = get.offset + (16 if get.offset else 0)
        part = chain[start : start + get.length]
        return part, max(0, len(chain) - get.offset - len(part))

    f.rules["GET_CERTIFICATE"] = certificate(portion)
    result = run(f, trust, portion_size=256)
    assert result.status == "Failed"
    assert result.step in ("GET_CERTIFICATE", "CERTIFICATE_CHAIN"), result.reason


@pytest.mark.parametrize("step", ["GET_DIGESTS", "GET_CERTIFICATE"])
def test_trailing_bytes(step: str) -> None:
    """A genuine DIGESTS or CERTIFICATE with one byte appended."""
    f, trust = make_forger()
    f.rules[step] = lambda f, req, rsp: rsp + b"\x00"
    assert_failed(run(f, trust), step, MalformedResponse)


def test_digest_entry_shorter_than_the_hash() -> None:
    """DIGESTS carries a SHA-256-sized entry after SHA-384 was negotiated."""
    f, trust = make_forger()
    f.rules["GET_DIGESTS"] = digests(0x01, hashlib.sha256(f.chain(0)).digest())
    assert_failed(run(f, trust), "GET_DIGESTS", MalformedResponse)
    assert H == 48


def test_1_3_provisioned_slot_not_supported() -> None:
    """1.3 DIGESTS provisions slot 0 while its SupportedSlotMask says slot 0 does not exist."""
    f, trust = make_forger(versions=frozenset({0x13}))

    def rule(f: Forger, req: bytes, rsp: bytes) -> bytes:
        return bytes((0x13, 0x01, 0x02, 0x01)) + hashlib.sha384(f.chain(0)).digest()

    f.rules["GET_DIGESTS"] = rule
    assert_failed(run(f, trust), "GET_DIGESTS", MalformedResponse)
