"""`spdmtool` subcommands that talk to a running spdmd over D-Bus.

    spdmtool list [--json]                      responders and their status
    spdmtool show ID [--json]                   every property of one responder
    spdmtool reattest ID [--no-wait]            attest again, wait for the outcome
    spdmtool dbus-measurements ID [--indices 1,2] [--nonce HEX] [--slot N]

All take --bus-address (default $DBUS_SYSTEM_BUS_ADDRESS, else the system
bus). Exit status as for the other subcommands: 0 success, 1 the device
failed (status Failed, InternalFailure), 2 usage (unknown id,
InvalidArgument), 3 the daemon is not on the bus or did not answer.

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
    print_json,
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
    "xyz.openbmc_project.Common.Error.NotAllowed",
}
_UNREACHABLE_ERRORS = {
    "org.freedesktop.DBus.Error.ServiceUnknown",
    "org.freedesktop.DBus.Error.NameHasNoOwner",
    "org.freedesktop.DBus.Error.NoReply",
    "org.freedesktop.DBus.Error.Timeout",
}


def _short(enum_value: str) -> str:
    return enum_value.rsplit(".", 1)[-1] if enum_value else ""


def _connect(args: argparse.Namespace) -> Any:
    import dbus
    import dbus.bus

    address = args.bus_address or os.environ.get("DBUS_SYSTEM_BUS_ADDRESS")
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


def _fail(exc: Any) -> int:
    name = exc.get_dbus_name()
    print(f"spdmtool: {name}: {exc.get_dbus_message()}", file=sys.stderr)
    if name in _UNREACHABLE_ERRORS:
        return EXIT_UNREACHABLE
    if name in _USAGE_ERRORS:
        return EXIT_USAGE
    return EXIT_FAILED


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
        return _fail(exc)
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
        if not ifaces:
            print(f"spdmtool: no responder {args.id!r}", file=sys.stderr)
            return EXIT_USAGE
        certs = {}
        for forward, _reverse, endpoint in ifaces.get(ASSOC_IFACE, {}).get(
            "Associations", []
        ):
            if forward == "responder_identitified_by":
                certs[endpoint] = _get_all(conn, endpoint).get(CERT_IFACE, {})
    except dbus.DBusException as exc:
        return _fail(exc)
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
        return _fail(exc)
    if summary["status"] == "Success":
        print(f"{args.id}: Success (SPDM {summary['version']})")
        return EXIT_OK
    print(f"{args.id}: Failed at {summary['step']}: {summary['reason']}")
    return EXIT_FAILED


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
    if not text:
        return []
    try:
        return [int(x, 0) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            "indices are comma-separated integers"
        ) from None


def run_dbus_measurements(args: argparse.Namespace) -> int:
    import dbus

    path = f"{CI_ROOT}/{args.id}"
    try:
        conn = _connect(args)
        signature = _size_signature(conn, path)
        if not signature:
            print(f"spdmtool: no responder {args.id!r}", file=sys.stderr)
            return EXIT_USAGE
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
        return _fail(exc)
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
        type=float,
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
        help="comma-separated indices; empty means 255 (all)",
    )
    p.add_argument(
        "--nonce", default="", help="64 hex characters; default: spdmd makes one"
    )
    p.add_argument(
        "--slot",
        type=int,
        default=0,
        help="certificate slot 0-7, or 15 for a provisioned key",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        help="seconds to wait for the reply (default 120)",
    )
    _common(p)
    p.set_defaults(func=run_dbus_measurements)
