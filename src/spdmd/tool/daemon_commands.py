"""`spdmtool` subcommands that talk to a running spdmd over D-Bus.

    spdmtool list [--json]                      responders and their status
    spdmtool show ID [--json]                   every property of one responder
    spdmtool reattest ID [--no-wait]            attest again, wait for the outcome
    spdmtool dbus-measurements ID [--indices 1,2] [--nonce HEX] [--slot N]

All take --bus-address (default $DBUS_SYSTEM_BUS_ADDRESS, else the system
bus). Exit status as for the other subcommands: 0 success, 1 the device
failed verification (status Failed, InternalFailure naming a verification
step), 2 usage (bad options, unknown id, a malformed bus address,
InvalidArgument), 3 unreachable: the bus or the daemon cannot be reached,
the device did not answer (InternalFailure naming TRANSPORT or DEADLINE,
or a "no response"/"no connection" reason), or spdmd will not talk to it
(responder or SPDM disabled, not present). `_exit_for_error` is that
mapping; docs/spdmtool.md has the table.

dbus-measurements reads the method's argument types from introspection,
as any client must: the size arguments are `u` on 32-bit BMCs and `t` on
64-bit ones.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import xml.etree.ElementTree as ET
from typing import Any

from spdmd.tool.output import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    int_in,
    print_json,
    seconds,
)

__all__ = ["register"]

BUS_NAME = "xyz.openbmc_project.spdmd"
CI_ROOT = "/xyz/openbmc_project/component_integrity"
CI_IFACE = "xyz.openbmc_project.Attestation.ComponentIntegrity"
IA_IFACE = "xyz.openbmc_project.Attestation.IdentityAuthentication"
MS_IFACE = "xyz.openbmc_project.Attestation.MeasurementSet"
RESPONDER_IFACE = "xyz.openbmc_project.spdmd.Responder1"
ASSOC_IFACE = "xyz.openbmc_project.Association.Definitions"
CERT_IFACE = "xyz.openbmc_project.Certs.Certificate"
OM_IFACE = "org.freedesktop.DBus.ObjectManager"
PROPS_IFACE = "org.freedesktop.DBus.Properties"
ROOT = "/xyz/openbmc_project"

_USAGE_ERRORS = {
    "xyz.openbmc_project.Common.Error.InvalidArgument",
    "org.freedesktop.DBus.Error.UnknownObject",
    "org.freedesktop.DBus.Error.UnknownMethod",
    "org.freedesktop.DBus.Error.InvalidArgs",
    "org.freedesktop.DBus.Error.BadAddress",
}
_UNREACHABLE_ERRORS = {
    "org.freedesktop.DBus.Error.ServiceUnknown",
    "org.freedesktop.DBus.Error.NameHasNoOwner",
    "org.freedesktop.DBus.Error.NoReply",
    "org.freedesktop.DBus.Error.Timeout",
    "org.freedesktop.DBus.Error.TimedOut",
    "org.freedesktop.DBus.Error.NoServer",
    "org.freedesktop.DBus.Error.FileNotFound",
    "org.freedesktop.DBus.Error.Disconnected",
    "org.freedesktop.DBus.Error.NoNetwork",
    # spdmd refuses to talk to the device: a disabled responder or policy,
    # or one not present (xyz.openbmc_project.spdmd, docs/dbus-api.md).
    "xyz.openbmc_project.Common.Error.NotAllowed",
    "xyz.openbmc_project.Common.Error.Unavailable",
}
_NO_OBJECT_ERRORS = {
    "org.freedesktop.DBus.Error.UnknownObject",
    "org.freedesktop.DBus.Error.UnknownMethod",
}
_CONNECT_ERRORS = {
    f"org.freedesktop.DBus.Error.{n}"
    for n in ("BadAddress", "NoServer", "FileNotFound", "Disconnected", "NoNetwork")
}
_INTERNAL_FAILURE = "xyz.openbmc_project.Common.Error.InternalFailure"
# InternalFailure texts of spdmd (spdmd.daemon.dbuserrors) that say the
# device was not talked to, and the steps and reasons of a device that did
# not answer: the message is "STEP failed: reason".
_NOT_TALKED_TO = {
    "Responder is disabled",
    "SPDM is disabled by policy",
    "Responder is not present",
}
_UNREACHABLE_STEPS = ("TRANSPORT", "DEADLINE")
_UNREACHABLE_REASONS = ("no response", "no connection", "deadline", "timed out")


def _short(enum_value: str) -> str:
    return enum_value.rsplit(".", 1)[-1] if enum_value else ""


def _connect(args: argparse.Namespace) -> Any:
    import dbus
    import dbus.bus

    address = args.bus_address
    if address is None:
        address = os.environ.get("DBUS_SYSTEM_BUS_ADDRESS")
    return dbus.bus.BusConnection(address) if address else dbus.SystemBus()


def _plain(value: Any) -> Any:
    import dbus

    if isinstance(value, dbus.Boolean):
        return bool(value)
    if isinstance(value, (dbus.String, dbus.ObjectPath)):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _exit_for_error(name: str, message: str) -> int:
    """The exit status for a D-Bus error (see the module doc)."""
    if name in _UNREACHABLE_ERRORS:
        return EXIT_UNREACHABLE
    if name in _USAGE_ERRORS:
        return EXIT_USAGE
    if name == _INTERNAL_FAILURE:
        step, sep, reason = message.partition(" failed: ")
        if message in _NOT_TALKED_TO or (sep and step in _UNREACHABLE_STEPS):
            return EXIT_UNREACHABLE
        if sep and any(r in reason.lower() for r in _UNREACHABLE_REASONS):
            return EXIT_UNREACHABLE
    return EXIT_FAILED


def _fail(exc: Any, args: argparse.Namespace, ident: str | None = None) -> int:
    name = exc.get_dbus_name() or ""
    message = exc.get_dbus_message() or ""
    if name in _NO_OBJECT_ERRORS and ident is not None:
        return _no_responder(ident)
    where = f"{ident}: " if ident is not None else ""
    if name in _CONNECT_ERRORS:
        where = "cannot connect to the bus: "
    # The last part of the error name (InvalidArgument, InternalFailure,
    # ServiceUnknown) is what docs/dbus-api.md lists; -v gives it in full.
    short = name.rsplit(".", 1)[-1] if name else "error"
    print(f"spdmtool: {where}{short}: {message}", file=sys.stderr)
    if getattr(args, "verbose", 0):
        print(f"spdmtool: D-Bus error {name}", file=sys.stderr)
    return _exit_for_error(name, message)


def _no_responder(ident: str) -> int:
    print(f"spdmtool: no responder {ident!r}", file=sys.stderr)
    return EXIT_USAGE


def _responders(conn: Any) -> dict[str, dict[str, dict[str, Any]]]:
    objs = conn.call_blocking(BUS_NAME, CI_ROOT, OM_IFACE, "GetManagedObjects", "", ())
    return {
        str(path).rsplit("/", 1)[-1]: _plain(ifaces)
        for path, ifaces in objs.items()
        if CI_IFACE in ifaces
    }


def _summary(ident: str, ifaces: dict[str, dict[str, Any]]) -> dict[str, Any]:
    ci = ifaces.get(CI_IFACE, {})
    own = ifaces.get(RESPONDER_IFACE, {})
    return {
        "id": ident,
        "status": _short(
            ifaces.get(IA_IFACE, {}).get("ResponderVerificationStatus", "")
        ),
        "version": ci.get("TypeVersion", ""),
        "enabled": ci.get("Enabled", False),
        "last_updated_ms": ci.get("LastUpdated", 0),
        "transport": own.get("Transport", ""),
        "connectivity": own.get("Connectivity", ""),
        "attesting": own.get("Attesting", False),
        "step": own.get("FailedStep", ""),
        "reason": own.get("FailureReason", ""),
        "hashing_algorithm": own.get("HashingAlgorithm", ""),
        "signing_algorithm": own.get("SigningAlgorithm", ""),
        "leaf_subject": own.get("LeafSubject", ""),
    }


def run_list(args: argparse.Namespace) -> int:
    import dbus

    try:
        conn = _connect(args)
        rows = [_summary(i, f) for i, f in sorted(_responders(conn).items())]
    except dbus.DBusException as exc:
        return _fail(exc, args)
    if args.json:
        print_json({"responders": rows})
        return EXIT_OK
    if not rows:
        print("no responders")
        return EXIT_OK
    width = max(len(r["id"]) for r in rows)
    for r in rows:
        status = r["status"] + (" (attesting)" if r["attesting"] else "")
        if not r["enabled"]:
            status += " (disabled)"
        line = f"{r['id']:<{width}}  {status:<20} {r['version'] or '-':<4} {r['transport']}"
        if r["status"] == "Failed":
            line += f"  {r['step']}: {r['reason']}"
        print(line)
    return EXIT_OK


def _get_all(conn: Any, path: str) -> dict[str, dict[str, Any]]:
    objs = conn.call_blocking(BUS_NAME, ROOT, OM_IFACE, "GetManagedObjects", "", ())
    for p, ifaces in objs.items():
        if str(p) == path:
            return _plain(ifaces)
    return {}


def run_show(args: argparse.Namespace) -> int:
    import dbus

    try:
        conn = _connect(args)
        path = f"{CI_ROOT}/{args.id}"
        ifaces = _get_all(conn, path)
        if CI_IFACE not in ifaces:
            return _no_responder(args.id)
        certs = {}
        for forward, _reverse, endpoint in ifaces.get(ASSOC_IFACE, {}).get(
            "Associations", []
        ):
            if forward == "responder_identitified_by":
                certs[endpoint] = _get_all(conn, endpoint).get(CERT_IFACE, {})
    except dbus.DBusException as exc:
        return _fail(exc, args, args.id)
    summary = _summary(args.id, ifaces)
    summary["associations"] = ifaces.get(ASSOC_IFACE, {}).get("Associations", [])
    summary["certificates"] = {
        p: {k: v for k, v in c.items() if k != "CertificateString"}
        for p, c in certs.items()
    }
    if args.json:
        print_json(summary)
        return EXIT_OK
    for key in (
        "status",
        "version",
        "enabled",
        "transport",
        "connectivity",
        "attesting",
    ):
        print(f"{key}: {summary[key]}")
    if summary["status"] == "Failed":
        print(f"failed step: {summary['step']}")
        print(f"reason: {summary['reason']}")
    for key in ("hashing_algorithm", "signing_algorithm", "leaf_subject"):
        if summary[key]:
            print(f"{key.replace('_', ' ')}: {summary[key]}")
    if summary["last_updated_ms"]:
        stamp = time.strftime(
            "%Y-%m-%d %H:%M:%S UTC", time.gmtime(summary["last_updated_ms"] / 1000)
        )
        print(f"last updated: {stamp}")
    for forward, _reverse, endpoint in summary["associations"]:
        print(f"{forward}: {endpoint}")
    for p, c in summary["certificates"].items():
        print(
            f"certificate {p}: subject {c.get('Subject', '')}, issuer {c.get('Issuer', '')}"
        )
    return EXIT_OK


def run_reattest(args: argparse.Namespace) -> int:
    import dbus

    path = f"{CI_ROOT}/{args.id}"
    try:
        conn = _connect(args)
        # The same message as show for an id spdmd does not serve, instead
        # of the bus's UnknownMethod for Get on a missing object.
        if CI_IFACE not in _get_all(conn, path):
            return _no_responder(args.id)
        before = int(
            conn.call_blocking(
                BUS_NAME, path, PROPS_IFACE, "Get", "ss", (CI_IFACE, "LastUpdated")
            )
        )
        conn.call_blocking(BUS_NAME, path, RESPONDER_IFACE, "Reattest", "", ())
        if args.no_wait:
            print(f"{args.id}: re-attestation started")
            return EXIT_OK
        end = time.monotonic() + args.timeout
        while True:
            ifaces = _get_all(conn, path)
            summary = _summary(args.id, ifaces)
            if summary["last_updated_ms"] != before and not summary["attesting"]:
                break
            if time.monotonic() > end:
                print(
                    f"spdmtool: {args.id}: no outcome within {args.timeout} s",
                    file=sys.stderr,
                )
                return EXIT_UNREACHABLE
            time.sleep(0.1)
    except dbus.DBusException as exc:
        return _fail(exc, args, args.id)
    if summary["status"] == "Success":
        print(f"{args.id}: Success (SPDM {summary['version']})")
        return EXIT_OK
    print(f"{args.id}: Failed at {summary['step']}: {summary['reason']}")
    # The same rule as for dbus-measurements: a device that did not answer
    # is unreachable (3), not failed (1).
    return _exit_for_error(
        _INTERNAL_FAILURE, f"{summary['step']} failed: {summary['reason']}"
    )


def _size_signature(conn: Any, path: str) -> str:
    xml = conn.call_blocking(
        BUS_NAME, path, "org.freedesktop.DBus.Introspectable", "Introspect", "", ()
    )
    root = ET.fromstring(str(xml))
    for iface in root.findall("interface"):
        if iface.get("name") != MS_IFACE:
            continue
        for method in iface.findall("method"):
            if method.get("name") == "SPDMGetSignedMeasurements":
                ins = [
                    a.get("type", "")
                    for a in method.findall("arg")
                    if a.get("direction", "in") == "in"
                ]
                return "".join(ins)
    return ""


def _index_list(text: str) -> list[int]:
    """spdmd's rule (and spdmd.attest's): 0..254 unique, or a single 255;
    empty means all. Checked here so that a value the D-Bus type cannot
    carry (-1, 2**70) is a usage error, not a failed call."""
    from spdmd.attest import check_indices
    from spdmd.errors import UsageError

    if not text.strip():
        return []
    try:
        values = [int(x, 0) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"indices are comma-separated integers 0..255, not {text!r}"
        ) from None
    try:
        return list(check_indices(values))
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _bus_address(text: str) -> str:
    if not text:
        raise argparse.ArgumentTypeError("--bus-address must not be empty")
    return text


def run_dbus_measurements(args: argparse.Namespace) -> int:
    import dbus

    path = f"{CI_ROOT}/{args.id}"
    try:
        conn = _connect(args)
        signature = _size_signature(conn, path)
        if not signature:
            return _no_responder(args.id)
        reply = conn.call_blocking(
            BUS_NAME,
            path,
            MS_IFACE,
            "SPDMGetSignedMeasurements",
            signature,
            (args.indices, args.nonce, args.slot),
            timeout=args.timeout,
        )
    except dbus.DBusException as exc:
        return _fail(exc, args, args.id)
    keys = (
        "certificate",
        "hashing_algorithm",
        "public_key",
        "signed_measurements",
        "signing_algorithm",
        "version",
    )
    result = dict(zip(keys, (str(v) for v in reply)))
    if args.json:
        print_json(result)
    else:
        for key in keys:
            if result[key]:
                print(f"{key.replace('_', ' ')}: {result[key]}")
    return EXIT_OK


def _common(p: argparse.ArgumentParser, *, json: bool = True) -> None:
    p.add_argument(
        "--bus-address",
        type=_bus_address,
        help="D-Bus address (default: $DBUS_SYSTEM_BUS_ADDRESS, else the system bus)",
    )
    if json:
        p.add_argument("--json", action="store_true", help="print one JSON object")


def register(sub: Any) -> None:
    """Add the daemon-facing subcommands to spdmtool's sub-parsers."""
    p = sub.add_parser(
        "list", help="list the responders spdmd knows, with their status"
    )
    _common(p)
    p.set_defaults(func=run_list)

    p = sub.add_parser("show", help="show one responder of spdmd in full")
    p.add_argument("id", help="responder id (last element of its object path)")
    _common(p)
    p.set_defaults(func=run_show)

    p = sub.add_parser("reattest", help="ask spdmd to attest a responder again")
    p.add_argument("id", help="responder id")
    p.add_argument(
        "--no-wait", action="store_true", help="return once the request is accepted"
    )
    p.add_argument(
        "--timeout",
        type=seconds,
        default=60.0,
        help="seconds to wait for the outcome (default 60)",
    )
    _common(p, json=False)
    p.set_defaults(func=run_reattest)

    p = sub.add_parser(
        "dbus-measurements",
        help="fetch signed measurements through spdmd (SPDMGetSignedMeasurements)",
    )
    p.add_argument("id", help="responder id")
    p.add_argument(
        "--indices",
        type=_index_list,
        default=[],
        help="comma-separated indices 0..254, or 255 for all; empty means all",
    )
    p.add_argument(
        "--nonce", default="", help="64 hex characters; default: spdmd makes one"
    )
    p.add_argument(
        "--slot",
        # SlotId 15 (a provisioned public key) is in the Redfish range, but
        # spdmd refuses it, so it is not offered here.
        type=int_in(0, 7, "slot"),
        default=0,
        help="certificate slot 0-7 (default 0)",
    )
    p.add_argument(
        "--timeout",
        type=seconds,
        default=120.0,
        help="seconds to wait for the reply (default 120)",
    )
    _common(p)
    p.set_defaults(func=run_dbus_measurements)
