"""VERSION, CAPABILITIES and ALGORITHMS that a buggy or malicious device
might send: versions nobody offered, selections of several bits or of
algorithms that were never offered, mixed 1.0/1.1/1.2 layouts and trailing
bytes. Each must fail at the step that received it."""

from __future__ import annotations

from typing import Any

import pytest
from tests.adversarial.forger import (
    Forger,
    assert_failed,
    make_forger,
    requester_config,
)

from spdmd.attest import attest
from spdmd.errors import (
    MalformedResponse,
    NegotiationError,
    SpdmError,
    UnexpectedResponse,
)
from spdmd.spdm import messages as m


def run(f: Forger, trust: Any, **kw: Any) -> Any:
    return attest(f, requester_config(trust, **kw))


def version_rule(*entries: int, version_byte: int = 0x10) -> Any:
    def rule(f: Forger, req: bytes, rsp: bytes) -> bytes:
        return m.Version(entries=entries, version=version_byte).encode()

    return rule


def algorithms(change: Any) -> Any:
    """Decode the real ALGORITHMS, let `change` edit it, re-encode."""

    def rule(f: Forger, req: bytes, rsp: bytes) -> bytes:
        alg = m.Algorithms.decode(rsp)
        change(alg)
        alg.raw = b""
        return alg.encode()

    return rule


def test_version_with_zero_entries() -> None:
    """VERSION lists no version at all."""
    f, trust = make_forger()
    f.rules["GET_VERSION"] = version_rule()
    assert_failed(run(f, trust), "GET_VERSION", NegotiationError)


def test_version_offering_only_unknown_versions() -> None:
    """VERSION offers only 1.4 and 2.0, which this requester does not speak."""
    f, trust = make_forger()
    f.rules["GET_VERSION"] = version_rule(0x1400, 0x2000)
    assert_failed(run(f, trust), "GET_VERSION", NegotiationError)


def test_version_outside_the_allowed_set() -> None:
    """VERSION offers 1.3 only while the policy allows 1.1 and 1.2."""
    f, trust = make_forger(versions=frozenset({0x13}))
    result = run(f, trust, versions=frozenset({0x11, 0x12}))
    assert_failed(result, "GET_VERSION", NegotiationError)
    assert f.steps() == ["GET_VERSION"]


def test_version_response_with_a_negotiated_version_byte() -> None:
    """VERSION itself carries 0x12 instead of 0x10."""
    f, trust = make_forger()
    f.rules["GET_VERSION"] = version_rule(0x1200, version_byte=0x12)
    assert_failed(run(f, trust), "GET_VERSION", UnexpectedResponse)


def test_version_entry_count_beyond_the_data() -> None:
    """VERSION says 200 entries and carries 1."""
    f, trust = make_forger()
    f.rules["GET_VERSION"] = lambda f, req, rsp: bytes(
        (0x10, 0x04, 0, 0, 0, 200, 0, 0x12)
    )
    assert_failed(run(f, trust), "GET_VERSION", MalformedResponse)


@pytest.mark.parametrize(
    "field, value",
    [
        ("base_asym", 0x80 | 0x10),  # P-384 and P-256 together
        ("base_asym", 0x0),  # nothing
        ("base_hash", 0x2 | 0x1),  # SHA-384 and SHA-256 together
        ("base_hash", 0x0),
    ],
)
def test_algorithms_selects_not_exactly_one_bit(field: str, value: int) -> None:
    """ALGORITHMS BaseAsymSel/BaseHashSel with zero or two bits set."""
    f, trust = make_forger()
    f.rules["NEGOTIATE_ALGORITHMS"] = algorithms(lambda a: setattr(a, field, value))
    assert_failed(run(f, trust), "NEGOTIATE_ALGORITHMS", NegotiationError)


@pytest.mark.parametrize(
    "field, value, allowed",
    [
        ("base_asym", 0x10, {"asym_algos": 0x80}),  # P-256 when only P-384 allowed
        ("base_hash", 0x1, {"hash_algos": 0x2}),  # SHA-256 when only SHA-384 allowed
        ("base_asym", 0x400, {}),  # Ed25519 selected in 1.1, where it is not offered
        ("base_asym", 0x800, {}),  # Ed448, never offered by this requester
        ("base_asym", 0x1000, {}),  # a reserved bit
    ],
)
def test_algorithms_selects_something_not_offered(
    field: str, value: int, allowed: dict[str, int]
) -> None:
    """ALGORITHMS selects an algorithm the requester did not offer."""
    version = 0x11 if value == 0x400 else 0x12
    f, trust = make_forger(versions=frozenset({version}))
    f.rules["NEGOTIATE_ALGORITHMS"] = algorithms(lambda a: setattr(a, field, value))
    assert_failed(run(f, trust, **allowed), "NEGOTIATE_ALGORITHMS", NegotiationError)


def test_algorithms_measurement_hash_with_two_bits() -> None:
    """ALGORITHMS MeasurementHashAlgo selects SHA-256 and SHA-384 at once."""
    f, trust = make_forger()
    f.rules["NEGOTIATE_ALGORITHMS"] = algorithms(
        lambda a: setattr(a, "measurement_hash", 0x2 | 0x4)
    )
    assert_failed(run(f, trust), "NEGOTIATE_ALGORITHMS", NegotiationError)


def test_algorithms_length_field_lies() -> None:
    """ALGORITHMS Length is 4 more than the message."""
    f, trust = make_forger()

    def rule(f: Forger, req: bytes, rsp: bytes) -> bytes:
        out = bytearray(rsp)
        out[4:6] = (len(rsp) + 4).to_bytes(2, "little")
        return bytes(out)

    f.rules["NEGOTIATE_ALGORITHMS"] = rule
    assert_failed(run(f, trust), "NEGOTIATE_ALGORITHMS", MalformedResponse)


def test_capabilities_in_the_1_1_layout_after_1_2() -> None:
    """1.2 negotiated; CAPABILITIES is the 12-byte 1.1 layout with version byte 0x12."""
    f, trust = make_forger()
    f.rules["GET_CAPABILITIES"] = lambda f, req, rsp: rsp[:12]
    assert_failed(run(f, trust), "GET_CAPABILITIES", MalformedResponse)


def test_capabilities_in_the_1_2_layout_after_1_1() -> None:
    """1.1 negotiated; CAPABILITIES carries the 1.2 size fields (8 trailing bytes)."""
    f, trust = make_forger(versions=frozenset({0x11}))
    f.rules["GET_CAPABILITIES"] = lambda f, req, rsp: (
        rsp + (0x1200).to_bytes(4, "little") * 2
    )
    assert_failed(run(f, trust), "GET_CAPABILITIES", MalformedResponse)


@pytest.mark.parametrize(
    "step", ["GET_CAPABILITIES", "NEGOTIATE_ALGORITHMS", "GET_DIGESTS", "CHALLENGE"]
)
def test_response_in_another_version(step: str) -> None:
    """1.2 negotiated; one response carries version byte 0x11 (layout otherwise 1.2)."""
    f, trust = make_forger()
    f.rules[step] = lambda f, req, rsp: bytes((0x11,)) + rsp[1:]
    assert_failed(run(f, trust), step, UnexpectedResponse)


@pytest.mark.parametrize(
    "step", ["GET_VERSION", "GET_CAPABILITIES", "NEGOTIATE_ALGORITHMS"]
)
def test_trailing_bytes(step: str) -> None:
    """A genuine VERSION, CAPABILITIES or ALGORITHMS with one byte appended."""
    f, trust = make_forger()
    f.rules[step] = lambda f, req, rsp: rsp + b"\x00"
    assert_failed(run(f, trust), step, MalformedResponse)


@pytest.mark.parametrize(
    "step",
    [
        "GET_VERSION",
        "GET_CAPABILITIES",
        "NEGOTIATE_ALGORITHMS",
        "GET_DIGESTS",
        "GET_CERTIFICATE",
        "CHALLENGE",
    ],
)
def test_response_with_the_wrong_code(step: str) -> None:
    """The device answers with a well-formed response to another request (DIGESTS or VERSION)."""
    f, trust = make_forger()
    other = b"\x12\x04\x00\x00\x00\x01\x00\x12" if step == "GET_DIGESTS" else None

    def rule(f: Forger, req: bytes, rsp: bytes) -> bytes:
        if other is not None:
            return other
        return bytes((rsp[0], 0x01, 0, 0x01)) + bytes(48)

    f.rules[step] = rule
    result = run(f, trust)
    assert_failed(result, step, SpdmError)
    assert isinstance(result.error, UnexpectedResponse | MalformedResponse)
