"""Finding responders on the bus: mctpd (through the mapper), Entity Manager.

Every call here is asynchronous: the bus thread never waits for another
service, so a slow or absent mapper, mctpd or Entity Manager cannot stall
our own objects. Each source's findings go to `Daemon.update_source` as a
complete list, so an update is always "this is everything source X sees".

- MCTP endpoints: the mapper's GetSubTree("/", 0, [MCTP.Endpoint]), keeping
  endpoints whose SupportedMessageTypes contains 5 (SPDM, DSP0239).
  ResourceNotFound means none yet; ServiceUnknown means the mapper is not
  up yet, and its NameOwnerChanged triggers the query. mctpd's own
  ObjectManager is read as well (at start and after every mctpd restart),
  because a freshly started mapper may not have introspected mctpd yet.
  InterfacesAdded/Removed and Connectivity changes from mctpd follow.
- Entity Manager: GetManagedObjects on its ObjectManager, then its
  InterfacesAdded/Removed; SpdmTcpResponder records make TCP devices,
  SpdmMctpRequester records name and link MCTP endpoints.
One malformed endpoint or record is logged and skipped; the rest stand.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import dbus

from spdmd.daemon.bus import MainLoop, from_dbus
from spdmd.daemon.devices import (
    ATTACH_TYPES,
    Address,
    Sighting,
    is_attach_type,
    is_object_path,
)
from spdmd.transport.base import DEFAULT_EMU_PORT, DEFAULT_TCP_PORT, TRANSPORT_KINDS
from spdmd.transport.mctp import MCTP_EID_RANGE

if TYPE_CHECKING:
    from spdmd.daemon.config import Config
    from spdmd.daemon.service import Daemon

__all__ = ["Discovery", "endpoint_sighting", "parse_em_objects"]

_log = logging.getLogger("spdmd")

MAPPER = "xyz.openbmc_project.ObjectMapper"
MAPPER_PATH = "/xyz/openbmc_project/object_mapper"
MAPPER_IFACE = "xyz.openbmc_project.ObjectMapper"
MCTPD = "au.com.codeconstruct.MCTP1"
MCTPD_ROOT = "/au/com/codeconstruct/mctp1"
EP_IFACE = "xyz.openbmc_project.MCTP.Endpoint"
EP1_IFACE = "au.com.codeconstruct.MCTP.Endpoint1"
EM = "xyz.openbmc_project.EntityManager"
EM_ROOT = "/xyz/openbmc_project/inventory"
TCP_CFG = "xyz.openbmc_project.Configuration.SpdmTcpResponder"
MCTP_CFG = "xyz.openbmc_project.Configuration.SpdmMctpRequester"
OM_IFACE = "org.freedesktop.DBus.ObjectManager"
PROPS_IFACE = "org.freedesktop.DBus.Properties"

SPDM_MESSAGE_TYPE = 5
# Entity Manager's SpdmTcpResponder speaks what OpenBMC's TCP path speaks:
# the spdm-emu socket framing around the DSP0287 TCP binding. A record may
# set Transport to any open_transport kind ("tcp" for plain DSP0287).
DEFAULT_TCP_RESPONDER_TRANSPORT = "emu-tcp"
RETRY_SECONDS = 5.0
# The transport's one EID rule (DSP0236 section 8.2: 0 null, 1..7 reserved,
# 255 broadcast): an endpoint outside it could only fail at TRANSPORT.
_EID_TEXT = f"{MCTP_EID_RANGE.start}..{MCTP_EID_RANGE.stop - 1}"

_NOT_UP = {
    "org.freedesktop.DBus.Error.ServiceUnknown",
    "org.freedesktop.DBus.Error.NameHasNoOwner",
}
_NONE_YET = "xyz.openbmc_project.Common.Error.ResourceNotFound"


def endpoint_sighting(path: str, ifaces: dict[str, dict[str, Any]]) -> Sighting | None:
    """An mctpd object's interfaces -> a Sighting, or None when not SPDM.

    Raises ValueError for an endpoint whose properties are malformed.
    """
    ep = ifaces.get(EP_IFACE)
    if ep is None:
        return None
    types = ep.get("SupportedMessageTypes")
    if not isinstance(types, (list, bytes)):
        raise ValueError("SupportedMessageTypes is missing")  # noqa: TRY004 (a bad record)
    if SPDM_MESSAGE_TYPE not in list(types):
        return None
    net, eid = ep.get("NetworkId"), ep.get("EID")
    if not isinstance(net, int) or not isinstance(eid, int):
        raise ValueError("NetworkId or EID is missing")  # noqa: TRY004 (a bad record)
    if eid not in MCTP_EID_RANGE:
        raise ValueError(f"EID {eid} is out of range {_EID_TEXT}")
    connectivity = ifaces.get(EP1_IFACE, {}).get("Connectivity", "Available")
    return Sighting(
        Address("mctp", net=net, eid=eid),
        connectivity=str(connectivity),
        origin=f"mctp:{path}",
    )


def _parent(path: str) -> str | None:
    parent = path.rsplit("/", 1)[0]
    return parent if parent.startswith(EM_ROOT + "/") else None


def _type_name(value: Any) -> str:
    return "boolean" if isinstance(value, bool) else type(value).__name__


def _str(props: dict[str, Any], key: str) -> str | None:
    """A string property; absent or "" -> None; another type -> ValueError."""
    value = props.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        # ValueError, as for every malformed record: the caller skips it.
        raise ValueError(f"{key} has the wrong type {_type_name(value)}, not a string")  # noqa: TRY004
    return value or None


def _int(props: dict[str, Any], key: str, default: int | None = None) -> int | None:
    """An integer property (Entity Manager types JSON numbers t, x or d)."""
    value = props.get(key, default)
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(  # noqa: TRY004
            f"{key} has the wrong type {_type_name(value)}, not an integer"
        )
    return value


def _link(props: dict[str, Any], key: str, notes: list[str]) -> str | None:
    """An inventory path for an association; one that is not a D-Bus object
    path would make the Associations property unsendable, so it is left out
    and noted rather than published."""
    value = props.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, str) and is_object_path(value):
        return value
    notes.append(
        f"{key} {value!r} is not a D-Bus object path; no {key.lower()} association"
    )
    return None


def em_sighting(
    path: str, iface: str, props: dict[str, Any], notes: list[str] | None = None
) -> Sighting:
    """One Entity Manager configuration record -> Sighting; ValueError if bad.

    Authenticating defaults to the record's parent object, the inventory
    item (board) whose configuration declared the responder. A property of
    the wrong type skips the record (ValueError); a malformed association
    path only drops that association, noted in `notes`.
    """
    notes = [] if notes is None else notes
    authenticating = _link(props, "Authenticating", notes)
    if props.get("Authenticating") in (None, ""):
        authenticating = _parent(path)
    attach = _str(props, "TrustedComponentType")
    if attach is not None and not is_attach_type(attach):
        notes.append(
            f"TrustedComponentType {attach!r} is not one of {', '.join(ATTACH_TYPES)}; Unknown is published"
        )
        attach = None
    common = {
        "name": _str(props, "Name"),
        "trusted_component_type": attach,
        "authenticating": authenticating,
        "reporting": _link(props, "Reporting", notes),
        "origin": f"em:{path}",
    }
    if iface == TCP_CFG:
        host = _str(props, "Hostname")
        if host is None:
            raise ValueError("Hostname is missing")
        kind = _str(props, "Transport") or DEFAULT_TCP_RESPONDER_TRANSPORT
        if kind not in TRANSPORT_KINDS or kind == "mctp":
            raise ValueError(f"Transport {kind!r} is not a TCP transport")
        default = DEFAULT_TCP_PORT if kind == "tcp" else DEFAULT_EMU_PORT
        port = _int(props, "Port", default)
        if port is None or not 0 < port < 65536:
            raise ValueError(f"Port {port} is out of range 1..65535")
        return Sighting(Address(kind, host=host, port=port), **common)  # type: ignore[arg-type]
    eid = _int(props, "EID")
    if eid is None:
        raise ValueError("EID is missing")
    if eid not in MCTP_EID_RANGE:
        raise ValueError(f"EID {eid} is out of range {_EID_TEXT}")
    net = _int(props, "NetworkId")
    if net is not None and net < 0:
        raise ValueError(f"NetworkId {net} is negative")
    return Sighting(Address("mctp", net=net, eid=eid), names_only=True, **common)  # type: ignore[arg-type]


def parse_em_objects(
    objects: dict[str, dict[str, dict[str, Any]]],
    notes: list[str] | None = None,
) -> tuple[list[Sighting], list[str]]:
    """Entity Manager's managed objects -> sightings and skipped records.

    Records kept with a part left out are described in `notes`.
    """
    sightings: list[Sighting] = []
    problems: list[str] = []
    for path in sorted(objects):
        for iface in (TCP_CFG, MCTP_CFG):
            if iface in objects[path]:
                found: list[str] = []
                try:
                    sightings.append(
                        em_sighting(path, iface, objects[path][iface], found)
                    )
                except ValueError as exc:
                    problems.append(f"{path}: {exc}")
                    continue
                if notes is not None:
                    notes.extend(f"{path}: {note}" for note in found)
    return sightings, problems


class Discovery:
    """Follows the mapper, mctpd and Entity Manager for one daemon."""

    def __init__(
        self,
        loop: MainLoop,
        conn: dbus.bus.BusConnection,
        daemon: Daemon,
        config: Config,
    ) -> None:
        self.loop = loop
        self.conn = conn
        self.daemon = daemon
        self.config = config
        # (service, path) -> Sighting for every SPDM-capable endpoint seen.
        self._endpoints: dict[tuple[str, str], Sighting] = {}
        # (service, path) -> raw interfaces, to apply property changes.
        self._raw: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
        self._owners: dict[str, str] = {}
        self._seen: set[str] = set()
        self._em_objects: dict[str, dict[str, dict[str, Any]]] = {}

    def start(self) -> None:
        for problem in self.config.warnings:
            _log.warning("Skipped a responder in the configuration file: %s", problem)
        self.daemon.update_source("config", list(self.config.responders))
        if self.config.mctp_discovery:
            self.conn.add_signal_receiver(
                self._mctp_added,
                "InterfacesAdded",
                OM_IFACE,
                bus_name=MCTPD,
                sender_keyword="sender",
            )
            self.conn.add_signal_receiver(
                self._mctp_removed,
                "InterfacesRemoved",
                OM_IFACE,
                bus_name=MCTPD,
                sender_keyword="sender",
            )
            self.conn.add_signal_receiver(
                self._mctp_props,
                "PropertiesChanged",
                PROPS_IFACE,
                bus_name=MCTPD,
                path_keyword="path",
                sender_keyword="sender",
            )
            self.conn.watch_name_owner(
                MAPPER, lambda owner: self._owner_changed(MAPPER, owner)
            )
            self.conn.watch_name_owner(
                MCTPD, lambda owner: self._owner_changed(MCTPD, owner)
            )
        if self.config.entity_manager:
            self.conn.add_signal_receiver(
                self._em_added, "InterfacesAdded", OM_IFACE, bus_name=EM
            )
            self.conn.add_signal_receiver(
                self._em_removed, "InterfacesRemoved", OM_IFACE, bus_name=EM
            )
            self.conn.watch_name_owner(EM, lambda owner: self._owner_changed(EM, owner))

    # --- name owners -----------------------------------------------------

    def _owner_changed(self, name: str, owner: str) -> None:
        previous = self._owners.get(name)
        self._owners[name] = str(owner)
        if not owner:
            if previous:
                _log.info("Lost %s from the bus", name)
            return
        # A new owner after an earlier one (gone in between or not) is a
        # restart; the very first owner is not.
        restarted = name in self._seen and previous != owner
        self._seen.add(name)
        if name == MAPPER:
            self.query_mapper()
        elif name == MCTPD:
            self.query_mctpd(restarted=restarted)
        elif name == EM:
            self.query_em()

    # --- mapper and mctpd --------------------------------------------------

    def query_mapper(self) -> None:
        self.conn.call_async(
            MAPPER,
            MAPPER_PATH,
            MAPPER_IFACE,
            "GetSubTree",
            "sias",
            ("/", 0, [EP_IFACE]),
            self._subtree_reply,
            self._subtree_error,
        )

    def _subtree_reply(self, tree: dict[str, dict[str, list[str]]]) -> None:
        found = 0
        for path, services in from_dbus(tree).items():
            for service, ifaces in services.items():
                found += 1
                self._fetch_endpoint(service, path, ifaces)
        _log.debug("Mapper lists %d MCTP endpoint objects", found)

    def _subtree_error(self, exc: dbus.DBusException) -> None:
        name = exc.get_dbus_name()
        if name == _NONE_YET:
            _log.debug("Mapper lists no MCTP endpoints yet")
        elif name in _NOT_UP:
            _log.info("Waiting for the object mapper")
        else:
            _log.warning(
                "Failed to query the object mapper: %s", exc.get_dbus_message()
            )
            self.loop.call_later(RETRY_SECONDS, self.query_mapper)

    def _fetch_endpoint(self, service: str, path: str, ifaces: list[str]) -> None:
        collected: dict[str, dict[str, Any]] = {}
        wanted = [i for i in (EP_IFACE, EP1_IFACE) if i in ifaces]

        def got(iface: str, props: Any) -> None:
            collected[iface] = from_dbus(props)
            if len(collected) == len(wanted):
                self._set_endpoint(service, path, collected)

        def failed(exc: dbus.DBusException) -> None:
            _log.warning("Skipped MCTP endpoint %s: %s", path, exc.get_dbus_message())

        for iface in wanted:
            self.conn.call_async(
                service,
                path,
                PROPS_IFACE,
                "GetAll",
                "s",
                (iface,),
                lambda props, i=iface: got(i, props),
                failed,
            )

    def query_mctpd(self, restarted: bool = False) -> None:
        def reply(objects: Any) -> None:
            plain = from_dbus(objects)
            sender = self._owners.get(MCTPD, MCTPD)
            for key in [k for k in self._endpoints if k[0] in (MCTPD, sender)]:
                if key[1] not in plain:
                    self._endpoints.pop(key, None)
                    self._raw.pop(key, None)
            for path, ifaces in plain.items():
                self._set_endpoint(MCTPD, path, ifaces, publish=False)
            self._publish_mctp()
            if restarted:
                _log.info("Re-attesting MCTP responders after an mctpd restart")
                for ident, dev in list(self.daemon.registry.devices.items()):
                    if dev.address.is_mctp:
                        self.daemon.schedule(ident, "mctpd restarted")

        def error(exc: dbus.DBusException) -> None:
            _log.warning("Failed to read mctpd's endpoints: %s", exc.get_dbus_message())

        self.conn.call_async(
            MCTPD, MCTPD_ROOT, OM_IFACE, "GetManagedObjects", "", (), reply, error
        )

    def _key(self, service: str) -> str:
        # Endpoints from mctpd are keyed by its well-known name whether they
        # came through the mapper (which names the well-known name) or
        # from a signal (which carries the unique name).
        if service == self._owners.get(MCTPD):
            return MCTPD
        return service

    def _set_endpoint(
        self,
        service: str,
        path: str,
        ifaces: dict[str, dict[str, Any]],
        publish: bool = True,
    ) -> None:
        key = (self._key(service), path)
        merged = dict(self._raw.get(key, {}))
        merged.update(ifaces)
        try:
            sighting = endpoint_sighting(path, merged)
        except ValueError as exc:
            _log.warning("Skipped MCTP endpoint %s: %s", path, exc)
            return
        if sighting is None:
            if EP_IFACE in merged:
                _log.debug("Skipped MCTP endpoint %s: no SPDM support", path)
            return
        self._raw[key] = merged
        self._endpoints[key] = sighting
        if publish:
            self._publish_mctp()

    def _publish_mctp(self) -> None:
        self.daemon.update_source("mctp", list(self._endpoints.values()))

    def _mctp_added(self, path: str, ifaces: Any, sender: str | None = None) -> None:
        self._set_endpoint(MCTPD, str(path), from_dbus(ifaces))

    def _mctp_removed(self, path: str, ifaces: Any, sender: str | None = None) -> None:
        key = (MCTPD, str(path))
        if key in self._endpoints and EP_IFACE in [str(i) for i in ifaces]:
            self._endpoints.pop(key)
            self._raw.pop(key, None)
            self._publish_mctp()

    def _mctp_props(
        self,
        iface: str,
        changed: Any,
        invalidated: Any,
        path: str | None = None,
        sender: str | None = None,
    ) -> None:
        key = (MCTPD, str(path))
        if key not in self._raw or str(iface) not in (EP_IFACE, EP1_IFACE):
            return
        self._raw[key].setdefault(str(iface), {}).update(from_dbus(changed))
        self._set_endpoint(MCTPD, str(path), {})

    # --- Entity Manager ----------------------------------------------------

    def query_em(self) -> None:
        def reply(objects: Any) -> None:
            self._em_objects = from_dbus(objects)
            self._publish_em()

        def error(exc: dbus.DBusException) -> None:
            _log.warning(
                "Failed to read Entity Manager configurations: %s",
                exc.get_dbus_message(),
            )

        self.conn.call_async(
            EM, EM_ROOT, OM_IFACE, "GetManagedObjects", "", (), reply, error
        )

    def _publish_em(self) -> None:
        notes: list[str] = []
        sightings, problems = parse_em_objects(self._em_objects, notes)
        for problem in problems:
            _log.warning("Skipped an Entity Manager SPDM configuration: %s", problem)
        for note in notes:
            _log.warning(
                "Skipped part of an Entity Manager SPDM configuration: %s", note
            )
        self.daemon.update_source("entity-manager", sightings)

    def _em_added(self, path: str, ifaces: Any) -> None:
        plain = from_dbus(ifaces)
        if TCP_CFG in plain or MCTP_CFG in plain:
            self._em_objects.setdefault(str(path), {}).update(plain)
            self._publish_em()

    def _em_removed(self, path: str, ifaces: Any) -> None:
        obj = self._em_objects.get(str(path))
        if obj is None:
            return
        for iface in ifaces:
            obj.pop(str(iface), None)
        if not obj:
            del self._em_objects[str(path)]
        self._publish_em()
