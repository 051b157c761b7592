"""Which responders exist, what they are called, and how their ids are made.

Discovery sources (mctpd via the mapper, Entity Manager, the static
configuration file) each report a list of `Sighting`s; `Registry` merges
them into one `Device` per transport address and tells the daemon what was
added, removed or changed. Nothing here touches D-Bus or a device.

Ids: the configured `Name` when one names the device, else derived from the
address (`mctp_<net>_<eid>`, `tcp_<host>_<port>`), reduced to [A-Za-z0-9_]
so they are valid D-Bus path elements and Redfish member ids, and stable
across restarts because they depend only on configuration and address.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

__all__ = [
    "ATTACH_TYPES",
    "Address",
    "Changes",
    "Device",
    "Registry",
    "Sighting",
    "is_attach_type",
    "is_object_path",
    "sanitize_id",
]

ATTACH_TYPES = ("Discrete", "Integrated", "Unknown")
_TC_PREFIX = "xyz.openbmc_project.Inventory.Item.TrustedComponent.ComponentAttachType."
_BAD = re.compile(r"[^A-Za-z0-9_]")
# The D-Bus specification's object path grammar ("Valid Object Paths").
_OBJECT_PATH = re.compile(r"/|(/[A-Za-z0-9_]+)+")


def sanitize_id(text: str) -> str:
    """Map any text to a non-empty [A-Za-z0-9_] id."""
    out = _BAD.sub("_", text.strip())
    return out or "_"


def is_object_path(text: str) -> bool:
    """Whether `text` may be sent as a D-Bus object path (`o`)."""
    return _OBJECT_PATH.fullmatch(text) is not None


def is_attach_type(value: str) -> bool:
    """Whether `value` is Discrete, Integrated, Unknown or the full enum string."""
    return value.removeprefix(_TC_PREFIX) in ATTACH_TYPES


def attach_type(value: str | None) -> str:
    """ "Discrete", or the full enum string, -> the full enum string."""
    if not value:
        return _TC_PREFIX + "Unknown"
    short = value.removeprefix(_TC_PREFIX)
    return _TC_PREFIX + (short if short in ATTACH_TYPES else "Unknown")


@dataclass(frozen=True)
class Address:
    """How to reach a responder; `kind` is a `open_transport` kind."""

    kind: str
    host: str | None = None
    port: int | None = None
    net: int | None = None
    eid: int | None = None

    @property
    def is_mctp(self) -> bool:
        return self.kind == "mctp"

    def key(self) -> tuple[object, ...]:
        if self.is_mctp:
            return ("mctp", self.net, self.eid)
        return ("ip", self.host, self.port)

    def derived_id(self) -> str:
        if self.is_mctp:
            return sanitize_id(f"mctp_{self.net}_{self.eid}")
        return sanitize_id(f"tcp_{self.host}_{self.port}")

    def describe(self) -> str:
        if self.is_mctp:
            return f"mctp net {self.net} eid {self.eid}"
        return f"{self.kind} {self.host}:{self.port}"

    def transport_args(self) -> dict[str, object]:
        if self.is_mctp:
            return {"net": self.net, "eid": self.eid}
        return {"host": self.host, "port": self.port}


@dataclass(frozen=True)
class Sighting:
    """One source's view of one responder.

    `names_only` sightings (Entity Manager's SpdmMctpRequester, an mctp
    entry in the static file) do not make a device exist; they name and
    link an MCTP endpoint that mctpd reports. `net` None in such a
    sighting's address matches the EID on any network.
    """

    address: Address
    name: str | None = None
    trusted_component_type: str | None = None
    authenticating: str | None = None
    reporting: str | None = None
    connectivity: str = "Available"
    names_only: bool = False
    origin: str = ""


@dataclass
class Device:
    """The merged view the daemon publishes."""

    id: str
    address: Address
    name: str | None = None
    trusted_component_type: str = _TC_PREFIX + "Unknown"
    authenticating: str | None = None
    reporting: str | None = None
    connectivity: str = "Available"
    origins: tuple[str, ...] = ()

    @property
    def available(self) -> bool:
        return self.connectivity == "Available"


@dataclass
class Changes:
    added: list[Device] = field(default_factory=list)
    removed: list[Device] = field(default_factory=list)
    # (old, new) for devices whose links, connectivity or naming data changed.
    changed: list[tuple[Device, Device]] = field(default_factory=list)


class Registry:
    """All sightings by source, merged into devices by address."""

    def __init__(self) -> None:
        self._sources: dict[str, list[Sighting]] = {}
        self.devices: dict[str, Device] = {}

    def update(self, source: str, sightings: list[Sighting]) -> Changes:
        """Replace everything `source` reported with `sightings`."""
        if sightings:
            self._sources[source] = list(sightings)
        else:
            self._sources.pop(source, None)
        return self._recompute()

    def sightings(self, source: str) -> list[Sighting]:
        return list(self._sources.get(source, []))

    def _recompute(self) -> Changes:
        present: dict[tuple[object, ...], list[Sighting]] = {}
        naming: list[Sighting] = []
        for source in sorted(self._sources):
            for s in self._sources[source]:
                if s.names_only:
                    naming.append(s)
                else:
                    present.setdefault(s.address.key(), []).append(s)

        merged: list[Device] = []
        for key in sorted(present, key=repr):
            group = present[key]
            mctp = group[0].address
            extra = [
                n
                for n in naming
                if mctp.is_mctp
                and n.address.eid == mctp.eid
                and (n.address.net is None or n.address.net == mctp.net)
            ]
            merged.append(_merge(group + extra))

        new: dict[str, Device] = {}
        for dev in merged:
            ident = sanitize_id(dev.name) if dev.name else dev.address.derived_id()
            if ident in new:
                # Two configurations chose one name: the address-derived id
                # keeps both devices visible instead of hiding one.
                ident = dev.address.derived_id()
            new[ident] = replace(dev, id=ident)

        changes = Changes()
        for ident, dev in new.items():
            old = self.devices.get(ident)
            if old is None:
                changes.added.append(dev)
            elif old != dev:
                changes.changed.append((old, dev))
        for ident, dev in self.devices.items():
            if ident not in new:
                changes.removed.append(dev)
        self.devices = new
        return changes


def _first(values: list[str | None]) -> str | None:
    for v in values:
        if v:
            return v
    return None


def _merge(group: list[Sighting]) -> Device:
    # Configuration (names_only, Entity Manager, static) wins over mctpd for
    # naming; mctpd's Connectivity is the only liveness source for MCTP.
    ordered = sorted(group, key=lambda s: (not s.names_only, s.name is None))
    address = next(s.address for s in group if not s.names_only)
    conn = [s.connectivity for s in group if not s.names_only]
    return Device(
        id="",
        address=address,
        name=_first([s.name for s in ordered]),
        trusted_component_type=attach_type(
            _first([s.trusted_component_type for s in ordered])
        ),
        authenticating=_first([s.authenticating for s in ordered]),
        reporting=_first([s.reporting for s in ordered]),
        connectivity="Available"
        if "Available" in conn
        else (conn[0] if conn else "Available"),
        origins=tuple(sorted({s.origin for s in group if s.origin})),
    )
