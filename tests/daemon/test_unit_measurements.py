"""SPDMGetSignedMeasurements argument rules (Redfish ComponentIntegrity v1.4)."""

from __future__ import annotations

import pytest

pytest.importorskip("dbus", reason="dbus-python is not installed (python3-dbus)")

from spdmd.daemon import dbuserrors
from spdmd.daemon.measurements import algorithm_names, parse_args

NONCE = "ab" * 32


@pytest.mark.parametrize(
    ("indices", "expected"),
    [
        pytest.param([], (255,), id="empty-means-all"),
        pytest.param([255], (255,), id="all"),
        pytest.param([1], (1,), id="one"),
        pytest.param([1, 2], (1, 2), id="two"),
        pytest.param([0, 254], (0, 254), id="bounds"),
    ],
)
def test_valid_indices(indices: list[int], expected: tuple[int, ...]) -> None:
    assert parse_args(indices, "", 0).indices == expected


@pytest.mark.parametrize(
    "indices",
    [
        pytest.param([1, 1], id="repeat"),
        pytest.param([1, 255], id="all-mixed"),
        pytest.param([255, 255], id="all-twice"),
        pytest.param([256], id="too-big"),
        pytest.param([2**32 - 1], id="huge"),
    ],
)
def test_invalid_indices(indices: list[int]) -> None:
    with pytest.raises(dbuserrors.InvalidArgument) as e:
        parse_args(indices, "", 0)
    assert e.value.get_dbus_message() == dbuserrors.TEXT_BAD_INDICES


@pytest.mark.parametrize(
    "nonce",
    [
        pytest.param("ab" * 31, id="short"),
        pytest.param("ab" * 33, id="long"),
        pytest.param("zz" * 32, id="not-hex"),
        pytest.param(" " + "ab" * 32, id="space"),
    ],
)
def test_invalid_nonce(nonce: str) -> None:
    with pytest.raises(dbuserrors.InvalidArgument) as e:
        parse_args([], nonce, 0)
    assert e.value.get_dbus_name() == "xyz.openbmc_project.Common.Error.InvalidArgument"
    assert e.value.get_dbus_message() == dbuserrors.TEXT_BAD_NONCE


def test_nonce_given_or_generated_later() -> None:
    assert parse_args([], NONCE.upper(), 0).nonce == bytes.fromhex(NONCE)
    assert parse_args([], "", 0).nonce is None


@pytest.mark.parametrize("slot", [0, 7, 15])
def test_valid_slots(slot: int) -> None:
    assert parse_args([], "", slot).slot == slot


@pytest.mark.parametrize("slot", [8, 14, 16, 255, 2**64 - 1])
def test_invalid_slots(slot: int) -> None:
    with pytest.raises(dbuserrors.InvalidArgument) as e:
        parse_args([], "", slot)
    assert e.value.get_dbus_message() == dbuserrors.TEXT_BAD_SLOT


def test_algorithm_names_are_dsp0274_names() -> None:
    assert algorithm_names(0x02, 0x80) == (
        "TPM_ALG_SHA_384",
        "TPM_ALG_ECDSA_ECC_NIST_P384",
    )
    assert algorithm_names(0x40, 0x800) == ("OEM", "OEM")
