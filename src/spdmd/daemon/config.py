"""The static configuration file, /etc/spdmd/config.json.

Every key is optional; docs/daemon.md documents the format and
data/config/config.json is the default the layer installs. A file that
cannot be parsed stops the daemon at start (a unit that starts with a
silently ignored configuration is worse); one bad responder entry only
drops that entry, with a message, so the others are still attested.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spdmd.daemon.devices import (
    ATTACH_TYPES,
    Address,
    Sighting,
    is_attach_type,
    is_object_path,
)
from spdmd.spdm.certs import ValidityPolicy
from spdmd.transport.base import DEFAULT_EMU_PORT, DEFAULT_TCP_PORT, TRANSPORT_KINDS
from spdmd.transport.mctp import MCTP_EID_RANGE

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "Config",
    "ConfigError",
    "load_config",
    "parse_config",
]

DEFAULT_CONFIG_PATH = Path("/etc/spdmd/config.json")
DEFAULT_TRUST_ANCHORS = "/etc/spdmd/trust-anchors"
# sd-bus's default method-call timeout, which bmcweb's SPDMGetSignedMeasurements
# call uses: a measurement deadline at or above it lets bmcweb give up first,
# and the user then sees a generic timeout instead of the failing step.
SD_BUS_METHOD_TIMEOUT = 25.0

_KEYS = {
    "trust_anchors",
    "parallelism",
    "deadline_seconds",
    "measurement_deadline_seconds",
    "reattest_period_seconds",
    "certificate_validity",
    "mctp_discovery",
    "entity_manager",
    "responders",
}
_RESPONDER_KEYS = {
    "name",
    "transport",
    "host",
    "port",
    "net",
    "eid",
    "static",
    "trusted_component_type",
    "authenticating",
    "reporting",
}


class ConfigError(ValueError):
    """The configuration file cannot be used."""


@dataclass
class Config:
    trust_anchors: list[str] = field(default_factory=lambda: [DEFAULT_TRUST_ANCHORS])
    parallelism: int = 4
    deadline_seconds: float = 30.0
    # SPDMGetSignedMeasurements, counted from the call's arrival (queueing
    # behind a running attestation included); below SD_BUS_METHOD_TIMEOUT.
    measurement_deadline_seconds: float = 20.0
    reattest_period_seconds: float = 3600.0
    certificate_validity: ValidityPolicy = ValidityPolicy.IF_CLOCK_SET
    mctp_discovery: bool = True
    entity_manager: bool = True
    responders: list[Sighting] = field(default_factory=list)
    # Problems with single responder entries, reported by the daemon.
    warnings: list[str] = field(default_factory=list)


def _number(data: dict[str, Any], key: str, default: float, *, minimum: float) -> float:
    value = data.get(key, default)
    # JSON true is an int and NaN compares false with everything, so both
    # would pass a plain range check (a NaN deadline never expires).
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < minimum
    ):
        raise ConfigError(f"{key} must be a finite number >= {minimum}, not {value!r}")
    return value


def _is_int(value: Any) -> bool:
    # bool is an int in Python; JSON true must not become port 1.
    return isinstance(value, int) and not isinstance(value, bool)


def _responder(index: int, entry: Any) -> Sighting:
    where = f"responders[{index}]"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where} is not an object")
    unknown = set(entry) - _RESPONDER_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown key {min(unknown)!r}")
    kind = entry.get("transport", "emu-tcp")
    if kind not in TRANSPORT_KINDS:
        raise ConfigError(
            f"{where}: transport must be one of {', '.join(TRANSPORT_KINDS)}"
        )
    name = entry.get("name")
    if name is not None and (not isinstance(name, str) or not name):
        raise ConfigError(f"{where}: name must be a non-empty string")
    for key in ("trusted_component_type", "authenticating", "reporting"):
        if entry.get(key) is not None and not isinstance(entry[key], str):
            raise ConfigError(f"{where}: {key} must be a string")
    attach = entry.get("trusted_component_type")
    if attach and not is_attach_type(attach):
        raise ConfigError(
            f"{where}: trusted_component_type must be one of {', '.join(ATTACH_TYPES)}"
        )
    for key in ("authenticating", "reporting"):
        # Published in Associations, whose endpoints are object paths.
        if entry.get(key) and not is_object_path(entry[key]):
            raise ConfigError(
                f"{where}: {key} {entry[key]!r} is not a D-Bus object path"
            )
    common: dict[str, Any] = {
        "name": name,
        "trusted_component_type": entry.get("trusted_component_type"),
        "authenticating": entry.get("authenticating"),
        "reporting": entry.get("reporting"),
        "origin": "config",
    }
    # A key of the other kind of entry is a mistake (a TCP entry with an
    # "eid", an MCTP one with a "port"): refuse it rather than ignore it.
    foreign = ("host", "port") if kind == "mctp" else ("net", "eid", "static")
    misplaced = [key for key in foreign if key in entry]
    if misplaced:
        raise ConfigError(f"{where}: {misplaced[0]} does not apply to transport {kind}")
    if kind == "mctp":
        eid = entry.get("eid")
        net = entry.get("net")
        # The transport's one EID rule (DSP0236 section 8.2), so that an
        # entry is refused here rather than failing later at TRANSPORT.
        if not _is_int(eid) or eid not in MCTP_EID_RANGE:
            first, last = MCTP_EID_RANGE.start, MCTP_EID_RANGE.stop - 1
            raise ConfigError(
                f"{where}: mctp needs an eid {first}..{last}, not {eid!r}"
            )
        if net is not None and (not _is_int(net) or net < 0):
            raise ConfigError(f"{where}: net must be a non-negative integer")
        static = entry.get("static", False)
        if not isinstance(static, bool):
            raise ConfigError(f"{where}: static must be true or false")
        if static:
            # For systems without mctpd (or an endpoint it cannot know, such
            # as a responder on the BMC's own loopback): the entry itself
            # makes the device exist, on network 1 unless it says otherwise.
            address = Address("mctp", net=1 if net is None else net, eid=eid)
            return Sighting(address, **common)
        # Otherwise an MCTP entry names an endpoint mctpd reports; it cannot
        # make one exist, because only mctpd knows whether the route is up.
        return Sighting(Address("mctp", net=net, eid=eid), names_only=True, **common)
    host = entry.get("host")
    if not isinstance(host, str) or not host:
        raise ConfigError(f"{where}: {kind} needs a host")
    port = entry.get("port", DEFAULT_TCP_PORT if kind == "tcp" else DEFAULT_EMU_PORT)
    if not _is_int(port) or not 0 < port < 65536:
        raise ConfigError(f"{where}: port must be an integer 1..65535, not {port!r}")
    return Sighting(Address(kind, host=host, port=port), **common)


def parse_config(data: Any) -> Config:
    if not isinstance(data, dict):
        raise ConfigError("the configuration is not a JSON object")
    unknown = set(data) - _KEYS
    if unknown:
        raise ConfigError(f"unknown key {min(unknown)!r}")
    cfg = Config()
    anchors = data.get("trust_anchors", cfg.trust_anchors)
    if isinstance(anchors, str):
        anchors = [anchors]
    if not isinstance(anchors, list) or not all(isinstance(a, str) for a in anchors):
        raise ConfigError("trust_anchors must be a path or a list of paths")
    cfg.trust_anchors = anchors
    cfg.parallelism = int(_number(data, "parallelism", cfg.parallelism, minimum=1))
    cfg.deadline_seconds = _number(
        data, "deadline_seconds", cfg.deadline_seconds, minimum=0.1
    )
    cfg.measurement_deadline_seconds = _number(
        data,
        "measurement_deadline_seconds",
        cfg.measurement_deadline_seconds,
        minimum=0.1,
    )
    cfg.reattest_period_seconds = _number(
        data, "reattest_period_seconds", cfg.reattest_period_seconds, minimum=0
    )
    validity = data.get("certificate_validity", cfg.certificate_validity.value)
    try:
        cfg.certificate_validity = ValidityPolicy(validity)
    except ValueError:
        choices = ", ".join(v.value for v in ValidityPolicy)
        raise ConfigError(f"certificate_validity must be one of {choices}") from None
    for key in ("mctp_discovery", "entity_manager"):
        value = data.get(key, True)
        if not isinstance(value, bool):
            raise ConfigError(f"{key} must be true or false")
        setattr(cfg, key, value)
    responders = data.get("responders", [])
    if not isinstance(responders, list):
        raise ConfigError("responders must be a list")
    # One address is one device: a second entry for it (the same host:port
    # under emu-tcp and tcp, the same EID) would be merged away unseen.
    first: dict[tuple[object, ...], int] = {}
    for i, entry in enumerate(responders):
        try:
            sighting = _responder(i, entry)
        except ConfigError as exc:
            cfg.warnings.append(str(exc))
            continue
        address = sighting.address.key()
        if address in first:
            cfg.warnings.append(
                f"responders[{i}]: {sighting.address.describe()} has the same address as responders[{first[address]}]"
            )
            continue
        first[address] = i
        cfg.responders.append(sighting)
    return cfg


def load_config(path: Path | None) -> Config:
    """Read `path`; a missing default file means the defaults."""
    if path is None:
        path = DEFAULT_CONFIG_PATH
        if not path.exists():
            return Config()
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc}") from None
    try:
        return parse_config(data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
