"""`spdmtool`: attest an SPDM responder from the command line.

    spdmtool [-v] attest --transport KIND [--host H] [--port P] [--net N]
             [--eid E] --trust-anchor PATH [--trust-anchor PATH ...]
             [--slot N] [--versions 1.0,1.1,1.2,1.3] [--json]
    spdmtool [-v] measurements (same options) [--indices 255] [--nonce HEX]

Exit status: 0 only when every step verified, 1 when the device answered
but failed verification, 2 for usage errors, 3 when the device could not be
reached or did not answer in time (see `spdmd.tool.output`). docs/spdmtool.md
has examples and the JSON keys.

Adding subcommands: a module named in `EXTRA_COMMAND_MODULES` that exists
is imported and its `register(subparsers)` called with the argparse
sub-parsers object. Each parser it adds sets `func=callable(args) -> int`
(the exit status) with `set_defaults`; `args.verbose` is the -v count. The
module must import optional dependencies (dbus) inside its functions so
that `attest` keeps working where they are missing.
"""

from __future__ import annotations

import argparse
import base64
import importlib
import importlib.util
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from spdmd.errors import SpdmError, TransportError, UsageError
from spdmd.spdm import certs
from spdmd.spdm.constants import (
    ASYM_ALGOS,
    ASYM_BY_NAME,
    HASH_ALGOS,
    HASH_BY_NAME,
    MEAS_OP_ALL,
    NONCE_SIZE,
    SUPPORTED_VERSIONS,
    version_from_string,
)
from spdmd.tool.output import (
    EXIT_BROKEN_PIPE,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    GuardedStream,
    OutputError,
    human_blocks,
    human_result,
    int_in,
    print_json,
    seconds,
)
from spdmd.transport.base import DEFAULT_EMU_PORT, DEFAULT_TCP_PORT
from spdmd.transport.mctp import MCTP_EID_RANGE

__all__ = ["EXTRA_COMMAND_MODULES", "build_parser", "main"]

EXTRA_COMMAND_MODULES: tuple[str, ...] = ("spdmd.tool.daemon_commands",)

TRANSPORT_KINDS = ("mctp", "tcp", "emu-mctp", "emu-tcp", "emu-none")
VALIDITY_CHOICES = {p.value: p for p in certs.ValidityPolicy}

# ---------------------------------------------------------------------------
# Option parsing


def _versions(text: str) -> frozenset[int]:
    try:
        found = frozenset(
            int(version_from_string(v)) for v in text.split(",") if v.strip()
        )
    except ValueError:
        supported = ",".join(f"{v >> 4}.{v & 0xF}" for v in SUPPORTED_VERSIONS)
        raise argparse.ArgumentTypeError(
            f"versions must be a comma-separated subset of {supported}, not {text!r}"
        ) from None
    if not found:
        raise argparse.ArgumentTypeError("at least one SPDM version is needed")
    return found


def _algo_mask(table: Mapping[str, int], kind: str):
    lookup = {name.upper(): bit for name, bit in table.items()}
    short = sorted(
        name for name in table if not name.startswith("TPM_ALG") and " " not in name
    )

    def parse(text: str) -> int:
        mask = 0
        for name in (n.strip() for n in text.split(",")):
            if not name:
                continue
            bit = lookup.get(name.upper()) or lookup.get(name.upper().replace("-", "_"))
            if bit is None:
                raise argparse.ArgumentTypeError(
                    f"unknown {kind} algorithm {name!r}; choose from {', '.join(short)} or their DSP0274 names"
                )
            mask |= int(bit)
        if not mask:
            raise argparse.ArgumentTypeError(f"at least one {kind} algorithm is needed")
        return mask

    return parse


def _nonce(text: str) -> bytes:
    try:
        value = bytes.fromhex(text)
    except ValueError:
        raise argparse.ArgumentTypeError("nonce must be hexadecimal") from None
    if len(value) != NONCE_SIZE:
        raise argparse.ArgumentTypeError(
            f"nonce must be {NONCE_SIZE} bytes ({2 * NONCE_SIZE} hex digits), got {len(value)}"
        )
    return value


def _indices(text: str) -> tuple[int, ...]:
    """The library's rule (spdmd.attest.check_indices), as the D-Bus method:
    0..254 unique, or a single 255 for all blocks. Index 0 asks only for
    the number of blocks (DSP0274 1.x GET_MEASUREMENTS Param2)."""
    from spdmd.attest import check_indices

    parse = int_in(0, MEAS_OP_ALL, "measurement index")
    values = tuple(parse(v) for v in text.split(",") if v.strip())
    if not values:
        raise argparse.ArgumentTypeError("at least one measurement index is needed")
    try:
        return check_indices(values)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _path(what: str):
    def parse(text: str) -> str:
        # An empty value would mean the current directory, or be ignored
        # (--save-chain, --host falling back to its default).
        if not text:
            raise argparse.ArgumentTypeError(f"{what} must not be empty")
        return text

    return parse


def _verbose_option(parser: argparse.ArgumentParser, default: Any) -> None:
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=default,
        help="more detail (negotiated capabilities, the chain, error classes)",
    )


def _connection_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("connection")
    group.add_argument(
        "--transport",
        required=True,
        choices=TRANSPORT_KINDS,
        help="how to reach the responder",
    )
    group.add_argument(
        "--host",
        type=_path("--host"),
        help="TCP host for tcp and emu-* (default 127.0.0.1)",
    )
    group.add_argument(
        "--port",
        type=int_in(1, 65535, "port"),
        help=f"TCP port (default {DEFAULT_TCP_PORT} for tcp, {DEFAULT_EMU_PORT} for emu-*)",
    )
    group.add_argument(
        "--net",
        type=int_in(1, 0xFFFFFFFF, "MCTP network"),
        help="MCTP network id (mctp only)",
    )
    group.add_argument(
        "--eid",
        type=int_in(MCTP_EID_RANGE[0], MCTP_EID_RANGE[-1], "MCTP endpoint id"),
        help="MCTP endpoint id (mctp only)",
    )
    verify = parser.add_argument_group("verification")
    verify.add_argument(
        "--trust-anchor",
        action="append",
        required=True,
        type=_path("--trust-anchor"),
        metavar="PATH",
        help="root CA: DER or PEM file, PEM bundle or directory (repeatable)",
    )
    verify.add_argument(
        "--slot",
        type=int_in(0, 7, "slot"),
        default=0,
        help="certificate slot (default 0)",
    )
    verify.add_argument(
        "--versions",
        type=_versions,
        default=frozenset(int(v) for v in SUPPORTED_VERSIONS),
        help="allowed SPDM versions, highest common one is used (default 1.0,1.1,1.2,1.3)",
    )
    verify.add_argument(
        "--asym",
        type=_algo_mask(ASYM_BY_NAME, "signing"),
        help="allowed signing algorithms, e.g. ECDSA_P384,RSAPSS_3072 (default all)",
    )
    verify.add_argument(
        "--hash",
        type=_algo_mask(HASH_BY_NAME, "hash"),
        help="allowed hash algorithms, e.g. SHA_384 (default all)",
    )
    verify.add_argument(
        "--validity",
        choices=sorted(VALIDITY_CHOICES),
        default=certs.ValidityPolicy.IF_CLOCK_SET.value,
        help="certificate validity periods: enforce, ignore, or if-clock-set (default; see docs/certificates.md)",
    )
    verify.add_argument(
        "--deadline",
        type=seconds,
        default=30.0,
        help="seconds for the whole exchange (default 30)",
    )
    verify.add_argument(
        "--save-chain",
        type=_path("--save-chain"),
        metavar="PATH",
        help="write the device's certificate chain (PEM, root first) to PATH, also when it fails verification",
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object instead of text"
    )
    _verbose_option(parser, argparse.SUPPRESS)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spdmtool",
        description="Attest SPDM responders and read their signed measurements.",
        epilog="exit status: 0 verified, 1 failed verification, 2 usage error, 3 unreachable",
    )
    _verbose_option(parser, 0)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    attest = sub.add_parser(
        "attest",
        help="verify the certificate chain and CHALLENGE_AUTH",
        description="Verify that the device holds the private key of a certificate chain that anchors to a trust anchor.",
    )
    _connection_options(attest)
    attest.set_defaults(func=run_attest)

    meas = sub.add_parser(
        "measurements",
        help="verify the chain, then read measurements signed with its leaf key",
        description="Verify the certificate chain, then read measurement blocks with a signature over them and verify that signature with the leaf key.",
    )
    _connection_options(meas)
    meas.add_argument(
        "--indices",
        type=_indices,
        default=(MEAS_OP_ALL,),
        help="comma-separated block indices, 255 for all (default)",
    )
    meas.add_argument(
        "--nonce",
        type=_nonce,
        help=f"{NONCE_SIZE}-byte nonce in hex for the signed request (default: fresh random)",
    )
    meas.set_defaults(func=run_measurements)

    for name in EXTRA_COMMAND_MODULES:
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name).register(sub)
    return parser


# ---------------------------------------------------------------------------
# Running


def _config(args: argparse.Namespace) -> Any:
    from spdmd.attest import RequesterConfig

    trust = certs.TrustStore.from_paths(args.trust_anchor)
    asym = args.asym if args.asym is not None else sum(int(b) for b in ASYM_ALGOS)
    hash_algos = args.hash if args.hash is not None else sum(int(b) for b in HASH_ALGOS)
    return RequesterConfig(
        trust=trust,
        versions=args.versions,
        asym_algos=asym,
        hash_algos=hash_algos,
        slot=args.slot,
        validity=VALIDITY_CHOICES[args.validity],
        deadline=args.deadline,
    )


def _open(args: argparse.Namespace) -> Any:
    from spdmd.transport.base import open_transport

    return open_transport(
        args.transport, host=args.host, port=args.port, net=args.net, eid=args.eid
    )


def _device_name(args: argparse.Namespace) -> str:
    if args.transport == "mctp":
        net = f"net {args.net} " if args.net is not None else ""
        return f"mctp {net}eid {args.eid}"
    host = args.host or "127.0.0.1"
    port = args.port
    if port is None:
        port = DEFAULT_TCP_PORT if args.transport == "tcp" else DEFAULT_EMU_PORT
    return f"{args.transport} {host}:{port}"


def _unreachable(args: argparse.Namespace, error: SpdmError) -> dict[str, Any]:
    """The --json object (issue 2 item 6) of an attestation that could not
    even start (connection refused): the result's keys, the rest None."""
    from spdmd.attest import AttestationResult

    return AttestationResult(
        step=error.step or "TRANSPORT", reason=str(error), slot=args.slot
    ).to_dict()


def _exit_for(args: argparse.Namespace, result: Any) -> int:
    if result.status == "Success":
        # The device verified, but the chain asked for was not written.
        return EXIT_USAGE if getattr(args, "save_failed", False) else EXIT_OK
    return EXIT_UNREACHABLE if getattr(result, "unreachable", False) else EXIT_FAILED


def _verbose_lines(result: Any) -> list[str]:
    lines = []
    caps = getattr(result, "capabilities", None)
    if caps is not None:
        lines.append(f"  responder capabilities: 0x{int(caps):08x}")
    if getattr(result, "slot_mask", None) is not None:
        lines.append(f"  provisioned slots: 0x{int(result.slot_mask):02x}")
    chain = getattr(result, "cert_chain", None)
    if chain is not None:
        for position, cert in enumerate(chain.certificates, start=1):
            lines.append(f"  chain[{position}]: {cert.subject.rfc4514_string()}")
    error = getattr(result, "error", None)
    if error is not None:
        lines.append(f"  error: {type(error).__name__}")
    return lines


def _check_save_chain(args: argparse.Namespace) -> None:
    """Refuse an unwritable --save-chain before any traffic. The file is
    opened for writing without truncating it; one created here is removed
    again so a failed run leaves nothing behind."""
    path = args.save_chain
    if not path:
        return
    existed = os.path.lexists(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NONBLOCK, 0o644)
    except OSError as exc:
        raise UsageError(f"cannot write --save-chain {path}: {exc.strerror}") from None
    os.close(fd)
    if not existed:
        os.unlink(path)


def _save_chain(args: argparse.Namespace, result: Any) -> str | None:
    """Write the chain the device served, so an engineer can inspect it or
    provision its root; returns a line for the human output. A write that
    fails although the check before the traffic passed (a full disk) sets
    args.save_failed."""
    if not args.save_chain:
        return None
    chain = getattr(result, "cert_chain", None)
    if chain is None:
        print(
            f"spdmtool: no certificate chain was read; nothing written to {args.save_chain}",
            file=sys.stderr,
        )
        return None
    pems = b"".join(
        c.public_bytes(serialization.Encoding.PEM) for c in chain.certificates
    )
    try:
        Path(args.save_chain).write_bytes(pems)
    except OSError as exc:
        print(
            f"spdmtool: cannot write {args.save_chain}: {exc.strerror}", file=sys.stderr
        )
        args.save_failed = True
        return None
    return (
        f"  chain ({len(chain.certificates)} certificates) saved to {args.save_chain}"
    )


def _report(
    args: argparse.Namespace, result: Any, device: str, extra: list[str] | None = None
) -> None:
    saved = _save_chain(args, result)
    if args.json:
        d = result.to_dict()
        d.setdefault("device", device)
        print_json(d)
        return
    success = (
        "signed its measurements"
        if args.command == "measurements"
        else "proved its identity"
    )
    lines = human_result(
        result.to_dict(), device=device, verbose=args.verbose, success=success
    )
    if args.verbose:
        lines += _verbose_lines(result)
    lines += extra or []
    if saved:
        lines.append(saved)
    print("\n".join(lines))


def _report_unreachable(args: argparse.Namespace, error: SpdmError, device: str) -> int:
    if args.save_chain:
        print(
            f"spdmtool: no certificate chain was read; nothing written to {args.save_chain}",
            file=sys.stderr,
        )
    d = _unreachable(args, error)
    if args.json:
        d["device"] = device
        print_json(d)
    else:
        print("\n".join(human_result(d, device=device, verbose=args.verbose)))
    return EXIT_UNREACHABLE


def _on_device(args: argparse.Namespace, operation: Any) -> tuple[Any, str] | int:
    """Open the transport, run `operation(transport, config)`, close it.

    Returns (result, device name), or the exit code when the device could
    not be reached at all (already reported).
    """
    config = _config(args)
    _check_save_chain(args)
    device = _device_name(args)
    try:
        transport = _open(args)
    except TransportError as exc:
        return _report_unreachable(args, exc, device)
    try:
        device = getattr(transport, "name", device)
        return operation(transport, config), device
    finally:
        transport.close()


def run_attest(args: argparse.Namespace) -> int:
    from spdmd.attest import attest

    outcome = _on_device(args, attest)
    if isinstance(outcome, int):
        return outcome
    result, device = outcome
    _report(args, result, device)
    return _exit_for(args, result)


def run_measurements(args: argparse.Namespace) -> int:
    from spdmd.attest import get_signed_measurements

    outcome = _on_device(
        args,
        lambda transport, config: get_signed_measurements(
            transport, config, indices=args.indices, nonce=args.nonce, slot=args.slot
        ),
    )
    if isinstance(outcome, int):
        return outcome
    result, device = outcome
    extra: list[str] = []
    if not args.json and result.status == "Success":
        blocks = result.to_dict().get("blocks") or []
        extra.append(f"  {len(blocks)} measurement block(s), signature verified:")
        extra += human_blocks(blocks, verbose=args.verbose)
        if args.verbose:
            signed = base64.b64encode(result.signed_measurements).decode()
            extra.append(f"  signed measurements (base64): {signed}")
    _report(args, result, device, extra)
    return _exit_for(args, result)


def _run(argv: Sequence[str] | None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        # --help (0) or an argparse usage error (2).
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        return int(args.func(args))
    except UsageError as exc:
        print(f"spdmtool: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


def _discard_stdout(stream: Any) -> None:
    """Point stdout's descriptor at /dev/null, so that the interpreter's
    last flush of what is still buffered cannot fail a second time."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def main(argv: Sequence[str] | None = None) -> int:
    real_stdout = sys.stdout
    if real_stdout is not None:  # None when started with stdout closed
        sys.stdout = GuardedStream(real_stdout)
    try:
        code = _run(argv)
        if sys.stdout is not None:
            sys.stdout.flush()
        return code
    except OutputError as exc:
        _discard_stdout(real_stdout)
        if isinstance(exc.cause, BrokenPipeError):
            return EXIT_BROKEN_PIPE
        print(f"spdmtool: cannot write the output: {exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        sys.stdout = real_stdout


if __name__ == "__main__":
    sys.exit(main())
