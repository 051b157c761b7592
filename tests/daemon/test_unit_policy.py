"""spdmd.daemon.policy: validation, effect on negotiation, persistence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spdmd.daemon import policy as pol
from spdmd.spdm.constants import AsymAlgo, HashAlgo


def test_defaults_match_the_interface_yaml() -> None:
    """A fresh policy holds the phosphor-dbus-interfaces defaults."""
    p = pol.Policy()
    assert (
        p.Enabled,
        p.SecureSessionEnabled,
        p.VerifyCertificate,
        p.AllowExtendedAlgorithms,
    ) == (
        True,
        False,
        True,
        False,
    )
    for name in pol.SET_PROPERTIES:
        assert getattr(p, name) == ["ALL"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        pytest.param("AllowedVersions", ["1.1", "1.2"], id="versions"),
        pytest.param("AllowedVersions", ["NONE"], id="none"),
        pytest.param("AllowedVersions", [pol.SPECIAL_PREFIX + "ALL"], id="enum-string"),
        pytest.param("AllowedVersions", [], id="empty"),
        pytest.param(
            "AllowedAlgorithmsBaseHash", ["TPM_ALG_SHA_384", "SHA_256"], id="hash-names"
        ),
        pytest.param(
            "AllowedAlgorithmsBaseAsym", ["TPM_ALG_ECDSA_ECC_NIST_P384"], id="asym"
        ),
        pytest.param("AllowedAlgorithmsAEAD", ["AES_256_GCM"], id="aead"),
        pytest.param("VerifyCertificate", False, id="verify-off"),
        pytest.param("Enabled", False, id="disabled"),
    ],
)
def test_valid_values_are_kept(name: str, value: object) -> None:
    assert pol.validate(name, value) == value


@pytest.mark.parametrize(
    ("name", "value", "match"),
    [
        pytest.param(
            "AllowedVersions", ["9.9"], "not an SPDM version", id="bad-version"
        ),
        pytest.param("AllowedVersions", ["1.2", "ALL"], "stand alone", id="all-mixed"),
        pytest.param(
            "AllowedVersions", ["NONE", "1.2"], "stand alone", id="none-mixed"
        ),
        pytest.param(
            "AllowedAlgorithmsBaseHash", ["MD5"], "unknown hash", id="bad-hash"
        ),
        pytest.param(
            "AllowedAlgorithmsBaseAsym", ["DSA"], "unknown signature", id="bad-asym"
        ),
        pytest.param("AllowedAlgorithmsAEAD", ["ROT13"], "unknown AEAD", id="bad-aead"),
        pytest.param("Enabled", "yes", "boolean", id="bool-type"),
        pytest.param("Nope", True, "unknown policy", id="unknown"),
    ],
)
def test_invalid_values_are_refused(name: str, value: object, match: str) -> None:
    with pytest.raises(pol.PolicyError, match=match) as e:
        pol.validate(name, value)
    assert not e.value.unsupported


@pytest.mark.parametrize("name", ["SecureSessionEnabled", "AllowExtendedAlgorithms"])
def test_unimplemented_features_cannot_be_switched_on(name: str) -> None:
    """Sessions and extended algorithms are refused as unsupported, not stored and ignored."""
    with pytest.raises(pol.PolicyError) as e:
        pol.validate(name, True)
    assert e.value.unsupported
    assert pol.validate(name, False) is False


def test_limits_follow_the_sets() -> None:
    """The allowed sets become the version set and algorithm masks of RequesterConfig."""
    p = pol.Policy(
        AllowedVersions=["1.1", "1.2"],
        AllowedAlgorithmsBaseHash=["TPM_ALG_SHA_384"],
        AllowedAlgorithmsBaseAsym=["ECDSA_P256", "TPM_ALG_ECDSA_ECC_NIST_P384"],
    )
    limits = pol.negotiation_limits(p)
    assert limits.versions == frozenset({0x11, 0x12})
    assert limits.hash_algos == int(HashAlgo.SHA_384)
    assert limits.asym_algos == int(AsymAlgo.ECDSA_P256 | AsymAlgo.ECDSA_P384)


def test_limits_all_and_none() -> None:
    everything = pol.negotiation_limits(pol.Policy())
    assert everything.versions == frozenset({0x10, 0x11, 0x12, 0x13})
    assert everything.hash_algos & int(HashAlgo.SHA_256)
    nothing = pol.negotiation_limits(
        pol.Policy(
            AllowedVersions=["NONE"],
            AllowedAlgorithmsBaseHash=[],
            AllowedAlgorithmsBaseAsym=["NONE"],
        )
    )
    assert (nothing.versions, nothing.hash_algos, nothing.asym_algos) == (
        frozenset(),
        0,
        0,
    )


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    """A saved policy is restored exactly, and no temporary file is left behind."""
    p = pol.Policy(Enabled=False, AllowedVersions=["1.2"], VerifyCertificate=False)
    pol.save_policy(tmp_path, p)
    assert sorted(f.name for f in tmp_path.iterdir()) == ["policy.json"]
    loaded, problems = pol.load_policy(tmp_path)
    assert problems == []
    assert loaded == p


def test_missing_file_means_defaults(tmp_path: Path) -> None:
    assert pol.load_policy(tmp_path) == (pol.Policy(), [])


def test_bad_entry_keeps_default_for_it_only(tmp_path: Path) -> None:
    """One invalid saved value is reported and defaulted; the others still apply."""
    (tmp_path / "policy.json").write_text(
        json.dumps(
            {"Enabled": False, "AllowedVersions": ["7.7"], "SecureSessionEnabled": True}
        )
    )
    loaded, problems = pol.load_policy(tmp_path)
    assert loaded.Enabled is False
    assert loaded.AllowedVersions == ["ALL"]
    assert loaded.SecureSessionEnabled is False
    assert len(problems) == 2


def test_corrupt_file_means_defaults_and_a_problem(tmp_path: Path) -> None:
    (tmp_path / "policy.json").write_text("{not json")
    loaded, problems = pol.load_policy(tmp_path)
    assert loaded == pol.Policy()
    assert problems and "cannot read" in problems[0]


def test_failed_write_leaves_the_old_file(tmp_path: Path) -> None:
    """A write that fails half-way leaves the previous file intact and no temp file."""
    pol.save_policy(tmp_path, pol.Policy(AllowedVersions=["1.1"]))
    before = (tmp_path / "policy.json").read_text()
    with pytest.raises(TypeError):
        pol.atomic_write_json(tmp_path / "policy.json", {"x": object()})
    assert (tmp_path / "policy.json").read_text() == before
    assert sorted(f.name for f in tmp_path.iterdir()) == ["policy.json"]
