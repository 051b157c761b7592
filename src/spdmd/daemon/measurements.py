"""SPDMGetSignedMeasurements arguments and reply, Redfish rules as data.

The Redfish ComponentIntegrity v1.4 action says: MeasurementIndices holds
unique values 0..254 or a single 255, and absent (here: empty) means [255];
Nonce is 64 hex characters (32 bytes), absent (empty) means the requester
makes one; SlotId is an SPDM slot (0..7, DSP0274 1.2 section 10.6) or 15
for the provisioned public key. Everything is checked before the request
reaches a worker, so a bad argument never costs a device exchange.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

from spdmd.daemon import dbuserrors
from spdmd.spdm.constants import (
    ASYM_ALGOS,
    HASH_ALGOS,
    MAX_SLOTS,
    REDFISH_PROVISIONED_KEY_SLOT,
    version_to_string,
)

__all__ = ["MeasurementArgs", "algorithm_names", "encode_signed", "parse_args"]

ALL_INDICES = 255
MAX_INDEX = 254
_NONCE = re.compile(r"^[0-9a-fA-F]{64}$")


@dataclass(frozen=True)
class MeasurementArgs:
    indices: tuple[int, ...]
    nonce: bytes | None
    slot: int


def parse_args(indices: list[int], nonce: str, slot: int) -> MeasurementArgs:
    """Check the D-Bus arguments; raise InvalidArgument with a fixed text."""
    if not indices:
        indices = [ALL_INDICES]
    if indices != [ALL_INDICES] and (
        len(set(indices)) != len(indices)
        or any(not 0 <= i <= MAX_INDEX for i in indices)
    ):
        raise dbuserrors.InvalidArgument(dbuserrors.TEXT_BAD_INDICES)
    if nonce and not _NONCE.match(nonce):
        raise dbuserrors.InvalidArgument(dbuserrors.TEXT_BAD_NONCE)
    if not (0 <= slot < MAX_SLOTS or slot == REDFISH_PROVISIONED_KEY_SLOT):
        raise dbuserrors.InvalidArgument(dbuserrors.TEXT_BAD_SLOT)
    return MeasurementArgs(
        tuple(indices), bytes.fromhex(nonce) if nonce else None, slot
    )


def algorithm_names(hash_algo: int, asym_algo: int) -> tuple[str, str]:
    """DSP0274 names for the reply; "OEM" for an extended algorithm."""
    h = HASH_ALGOS.get(hash_algo)  # type: ignore[call-overload]
    a = ASYM_ALGOS.get(asym_algo)  # type: ignore[call-overload]
    return (h.redfish_name if h else "OEM", a.redfish_name if a else "OEM")


def encode_signed(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def version_name(version: int) -> str:
    return version_to_string(version) if version else ""
