"""The SPDM policy: values, validation, effect on negotiation, persistence.

This module knows nothing about D-Bus; `objects.PolicyInterface` publishes a
`Policy` as xyz.openbmc_project.Control.Security.SPDM.Policy and calls
`validate` on every Set. Each property has an effect (docs/daemon.md):

- Enabled: false stops all attestation and measurement requests.
- AllowedVersions / AllowedAlgorithmsBaseHash / AllowedAlgorithmsBaseAsym:
  restrict what GET_VERSION and NEGOTIATE_ALGORITHMS may settle on
  (`negotiation_limits`).
- VerifyCertificate: false skips the trust-anchor check of the chain; the
  CHALLENGE signature is still verified against the leaf key.
- SecureSessionEnabled, AllowExtendedAlgorithms: this requester implements
  neither secure sessions nor extended algorithms, so only false is
  accepted; Set to true fails with UnsupportedRequest instead of being
  stored and ignored.
- AllowedAlgorithmsAEAD: validated and stored; AEAD is only used inside
  secure sessions, which are never established, so no message is ever
  encrypted with an algorithm outside the set.

Set semantics: ["ALL"] allows everything, ["NONE"] or [] nothing; "ALL" and
"NONE" cannot be combined with other entries. Both the bare value and the
enum string `...Policy.SpecialSetValues.ALL` are accepted.

The state file is written to a temporary file in the same directory,
fsync'ed and renamed, so a power cut leaves the old or the new file and
never half of one (upstream's /var/lib/spdm scheme, in our state directory).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from spdmd.spdm.constants import (
    ASYM_BY_NAME,
    HASH_BY_NAME,
    SUPPORTED_VERSIONS,
    version_from_string,
)

__all__ = [
    "POLICY_FILE",
    "POLICY_IFACE",
    "NegotiationLimits",
    "Policy",
    "PolicyError",
    "load_policy",
    "negotiation_limits",
    "save_policy",
    "validate",
]

POLICY_IFACE = "xyz.openbmc_project.Control.Security.SPDM.Policy"
SPECIAL_PREFIX = POLICY_IFACE + ".SpecialSetValues."
POLICY_FILE = "policy.json"

# DSP0274 1.2 section 10.4 (AEADCipherSuite in the algorithm structure).
AEAD_NAMES = frozenset(
    {"AES_128_GCM", "AES_256_GCM", "CHACHA20_POLY1305", "AEAD_SM4_GCM"}
)

SET_PROPERTIES = (
    "AllowedVersions",
    "AllowedAlgorithmsAEAD",
    "AllowedAlgorithmsBaseHash",
    "AllowedAlgorithmsBaseAsym",
)
BOOL_PROPERTIES = (
    "Enabled",
    "SecureSessionEnabled",
    "VerifyCertificate",
    "AllowExtendedAlgorithms",
)


class PolicyError(ValueError):
    """A value the policy cannot hold; `unsupported` when it is valid SPDM
    but this daemon does not implement it."""

    def __init__(self, message: str, *, unsupported: bool = False) -> None:
        super().__init__(message)
        self.unsupported = unsupported


def _all() -> list[str]:
    return ["ALL"]


@dataclass
class Policy:
    Enabled: bool = True
    SecureSessionEnabled: bool = False
    VerifyCertificate: bool = True
    AllowExtendedAlgorithms: bool = False
    AllowedVersions: list[str] = field(default_factory=_all)
    AllowedAlgorithmsAEAD: list[str] = field(default_factory=_all)
    AllowedAlgorithmsBaseHash: list[str] = field(default_factory=_all)
    AllowedAlgorithmsBaseAsym: list[str] = field(default_factory=_all)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _special(entry: str) -> str | None:
    entry = entry.removeprefix(SPECIAL_PREFIX)
    return entry if entry in ("ALL", "NONE") else None


def _check_member(name: str, entry: str) -> None:
    if name == "AllowedVersions":
        try:
            version_from_string(entry)
        except ValueError:
            raise PolicyError(
                f'{name}: {entry!r} is not an SPDM version like "1.2"'
            ) from None
    elif name == "AllowedAlgorithmsBaseHash":
        if entry not in HASH_BY_NAME:
            raise PolicyError(f"{name}: unknown hash algorithm {entry!r}")
    elif name == "AllowedAlgorithmsBaseAsym":
        if entry not in ASYM_BY_NAME:
            raise PolicyError(f"{name}: unknown signature algorithm {entry!r}")
    elif name == "AllowedAlgorithmsAEAD" and entry not in AEAD_NAMES:
        raise PolicyError(f"{name}: unknown AEAD algorithm {entry!r}")


def validate(name: str, value: Any) -> Any:
    """Check one property value; return it as stored, or raise PolicyError."""
    if name in BOOL_PROPERTIES:
        if not isinstance(value, bool):
            raise PolicyError(f"{name} must be a boolean")
        if value and name == "SecureSessionEnabled":
            raise PolicyError("secure sessions are not supported", unsupported=True)
        if value and name == "AllowExtendedAlgorithms":
            raise PolicyError("extended algorithms are not supported", unsupported=True)
        return value
    if name in SET_PROPERTIES:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise PolicyError(f"{name} must be a list of strings")
        specials = [_special(v) for v in value]
        if any(specials) and len(value) > 1:
            raise PolicyError(f"{name}: ALL and NONE stand alone")
        if not any(specials):
            for entry in value:
                _check_member(name, entry)
        return list(value)
    raise PolicyError(f"unknown policy property {name}")


@dataclass(frozen=True)
class NegotiationLimits:
    """What RequesterConfig gets from the policy."""

    versions: frozenset[int]
    hash_algos: int
    asym_algos: int


def _resolve(value: list[str], table: dict[str, int], every: int) -> int:
    if not value:
        return 0
    special = _special(value[0])
    if special == "ALL":
        return every
    if special == "NONE":
        return 0
    mask = 0
    for entry in value:
        mask |= int(table[entry])
    return mask


def negotiation_limits(policy: Policy) -> NegotiationLimits:
    """The version set and algorithm masks the policy allows."""
    all_hash = 0
    for hash_bit in HASH_BY_NAME.values():
        all_hash |= int(hash_bit)
    all_asym = 0
    for asym_bit in ASYM_BY_NAME.values():
        all_asym |= int(asym_bit)
    allowed = policy.AllowedVersions
    special = _special(allowed[0]) if allowed else "NONE"
    if special == "ALL":
        versions = frozenset(int(v) for v in SUPPORTED_VERSIONS)
    elif special == "NONE":
        versions = frozenset()
    else:
        versions = frozenset(int(version_from_string(v)) for v in allowed)
    return NegotiationLimits(
        versions=versions,
        hash_algos=_resolve(
            policy.AllowedAlgorithmsBaseHash, dict(HASH_BY_NAME), all_hash
        ),
        asym_algos=_resolve(
            policy.AllowedAlgorithmsBaseAsym, dict(ASYM_BY_NAME), all_asym
        ),
    )


def load_policy(state_dir: Path) -> tuple[Policy, list[str]]:
    """The persisted policy, or the defaults; second item: problems found.

    A missing file is normal (first boot). A file that cannot be parsed or
    holds an invalid value keeps the default for that property and reports
    it, so one bad entry neither stops the daemon nor resets the rest.
    """
    policy = Policy()
    problems: list[str] = []
    path = state_dir / POLICY_FILE
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return policy, problems
    except (OSError, ValueError) as exc:
        return policy, [f"cannot read {path}: {exc}"]
    if not isinstance(data, dict):
        return policy, [f"{path} does not hold a JSON object"]
    for name, value in data.items():
        try:
            setattr(policy, name, validate(name, value))
        except PolicyError as exc:
            problems.append(f"{path}: {exc}")
    return policy, problems


def atomic_write_json(path: Path, data: Any) -> None:
    """Write JSON to `path` so that a crash leaves the old or the new file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + path.name + ".", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2, sort_keys=True)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    # The rename is durable only once the directory entry is on disk.
    dfd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def save_policy(state_dir: Path, policy: Policy) -> None:
    atomic_write_json(state_dir / POLICY_FILE, policy.to_json())
