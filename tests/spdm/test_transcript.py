"""Transcript reset rules (DSP0274 1.x section 15), one rule per test."""

from __future__ import annotations

from spdmd.spdm.transcript import Transcript


def _vca(t: Transcript) -> bytes:
    t.start_vca(b"V1", b"V2")
    t.add_vca(b"C1", b"C2")
    t.add_vca(b"N1", b"N2")
    return b"V1V2C1C2N1N2"


def test_m1_is_a_b_c() -> None:
    t = Transcript(0x12)
    a = _vca(t)
    t.start_digests(b"D1", b"D2")
    t.add_certificate(b"G1", b"R1")
    t.add_certificate(b"G2", b"R2")
    assert t.challenge(b"CH", b"AUTH") == a + b"D1D2G1R1G2R2" + b"CHAUTH"


def test_get_digests_restarts_b() -> None:
    t = Transcript(0x11)
    a = _vca(t)
    t.start_digests(b"D1", b"D2")
    t.add_certificate(b"G1", b"R1")
    t.start_digests(b"d1", b"d2")
    assert t.challenge(b"CH", b"AUTH") == a + b"d1d2CHAUTH"


def test_second_challenge_signs_a_and_c_only() -> None:
    t = Transcript(0x11)
    a = _vca(t)
    t.start_digests(b"D1", b"D2")
    t.challenge(b"CH", b"AUTH")
    assert t.challenge(b"ch", b"auth") == a + b"chauth"


def test_error_to_challenge_keeps_b() -> None:
    """Busy or another ERROR produced no CHALLENGE_AUTH: the retry signs B."""
    t = Transcript(0x11)
    a = _vca(t)
    t.start_digests(b"D1", b"D2")
    t.challenge_failed()
    assert t.challenge(b"CH", b"AUTH") == a + b"D1D2CHAUTH"


def test_get_version_voids_everything() -> None:
    t = Transcript(0x12)
    _vca(t)
    t.start_digests(b"D1", b"D2")
    t.measurements(b"M1", b"m1", signed=False)
    t.start_vca(b"X1", b"X2")
    assert bytes(t.a) == b"X1X2"
    assert not t.b and not t.c and not t.l1


def test_l1_from_1_2_is_prefixed_by_a() -> None:
    t = Transcript(0x12)
    a = _vca(t)
    assert t.measurements(b"M1", b"m1", signed=True) == a + b"M1m1"


def test_l1_before_1_2_is_the_measurements_alone() -> None:
    t = Transcript(0x11)
    _vca(t)
    assert t.measurements(b"M1", b"m1", signed=True) == b"M1m1"


def test_unsigned_exchanges_before_the_signed_one_are_included() -> None:
    t = Transcript(0x10)
    t.measurements(b"M0", b"m0", signed=False)
    t.measurements(b"M1", b"m1", signed=False)
    assert t.measurements(b"M2", b"m2", signed=True) == b"M0m0M1m1M2m2"


def test_signed_measurements_reset_l1() -> None:
    t = Transcript(0x10)
    t.measurements(b"M0", b"m0", signed=True)
    assert t.measurements(b"M1", b"m1", signed=True) == b"M1m1"


def test_other_request_resets_l1() -> None:
    t = Transcript(0x10)
    t.measurements(b"M0", b"m0", signed=False)
    t.other_request()
    assert t.measurements(b"M1", b"m1", signed=True) == b"M1m1"
    t.measurements(b"M0", b"m0", signed=False)
    t.start_digests(b"D1", b"D2")
    assert t.measurements(b"M1", b"m1", signed=True) == b"M1m1"


def test_error_to_get_measurements_resets_l1() -> None:
    t = Transcript(0x10)
    t.measurements(b"M0", b"m0", signed=False)
    t.measurements_failed()
    assert t.measurements(b"M1", b"m1", signed=True) == b"M1m1"
