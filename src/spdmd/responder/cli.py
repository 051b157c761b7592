"""`spdm-responder`: the SPDM responder emulator as a command.

Serves one emulated device on TCP (DSP0287), the spdm-emu framing, or a
bound AF_MCTP socket, until interrupted or (spdm-emu framing) told to
SHUTDOWN. Prints one line "listening on HOST:PORT" (or "listening on
MCTP") on stdout once it accepts requests, so scripts can start it with
--port 0 and read the port. Exit status: 0 on a clean stop (signal or
SHUTDOWN), 1 when the server stopped on an error, 2 for usage errors, 3
when the socket cannot be opened. A connection whose handling fails is
closed and logged; the server goes on accepting.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from spdmd.errors import TransportError, UsageError
from spdmd.responder import pki as _pki
from spdmd.responder.faults import Faults
from spdmd.responder.responder import Responder, ResponderConfig, credential_from_pki
from spdmd.responder.server import ResponderServer, serve_mctp
from spdmd.spdm.constants import (
    ASYM_BY_NAME,
    HASH_BY_NAME,
    MAX_SLOTS,
    AsymAlgo,
    version_from_string,
)
from spdmd.tool.output import int_in
from spdmd.transport.base import DEFAULT_EMU_PORT, DEFAULT_TCP_PORT
from spdmd.transport.emu import PayloadMode

__all__ = ["build_parser", "main"]

TRANSPORTS = ("tcp", "emu", "emu-mctp", "emu-tcp", "emu-none", "mctp")
_EMU_MODES = {
    "emu": None,
    "emu-mctp": PayloadMode.MCTP,
    "emu-tcp": PayloadMode.TCP,
    "emu-none": PayloadMode.NONE,
}
# Short spellings users type, beside the DSP0274 and table names.
_ASYM_ALIASES = {"ED25519": AsymAlgo.ED25519, "EDDSA": AsymAlgo.ED25519}
DEFAULT_ASYM = "ECDSA_P384,ECDSA_P256,RSASSA_2048,RSAPSS_2048,EDDSA_25519"
DEFAULT_HASH = "SHA_384,SHA_256,SHA_512"


def _mask(text: str, table: dict[str, int], what: str) -> int:
    mask = 0
    for name in (n.strip().upper() for n in text.split(",") if n.strip()):
        bit = table.get(name)
        if bit is None:
            known = ", ".join(sorted(n for n in table if not n.startswith("TPM_ALG")))
            raise UsageError(f"unknown {what} {name!r}; known: {known}")
        mask |= int(bit)
    if not mask:
        raise UsageError(f"no {what} given")
    return mask


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="spdm-responder",
        description="Emulated SPDM responder (DSP0274 1.0-1.3) with faults to order.",
    )
    p.add_argument(
        "--transport",
        choices=TRANSPORTS,
        default="emu",
        help="framing to serve: tcp (DSP0287), emu (spdm-emu, any payload mode), emu-mctp/emu-tcp/emu-none (one mode), mctp (bound AF_MCTP socket)",
    )
    p.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    p.add_argument(
        "--port",
        type=int_in(0, 65535, "port"),
        help=f"port (default {DEFAULT_TCP_PORT} for tcp, {DEFAULT_EMU_PORT} for emu; 0 picks a free one)",
    )
    p.add_argument(
        "--net",
        type=int_in(0, 0xFFFFFFFF, "net"),
        default=0,
        help="MCTP network to bind (default: any)",
    )
    p.add_argument(
        "--versions",
        default="1.0,1.1,1.2,1.3",
        help="SPDM versions offered (default 1.0,1.1,1.2,1.3)",
    )
    p.add_argument(
        "--asym",
        default=DEFAULT_ASYM,
        help=f"signing algorithms offered (default {DEFAULT_ASYM})",
    )
    p.add_argument(
        "--hash",
        default=DEFAULT_HASH,
        help=f"hash algorithms offered (default {DEFAULT_HASH})",
    )
    p.add_argument(
        "--slot-count",
        type=int,
        default=1,
        help="certificate slots provisioned, 1..8 (default 1)",
    )
    p.add_argument(
        "--cert-chain",
        type=Path,
        help="PEM or DER chain, root first, for slot 0 (with --key)",
    )
    p.add_argument("--key", type=Path, help="the leaf's private key for --cert-chain")
    p.add_argument(
        "--write-root",
        type=Path,
        metavar="PATH",
        help="write the root certificate(s) served, PEM, as a trust anchor for spdmtool",
    )
    p.add_argument(
        "--ct-exponent",
        type=int,
        default=16,
        help="CTExponent advertised (default 16, 65 ms)",
    )
    p.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="FAULT",
        help="a fault to commit, repeatable or comma separated: wrong_key, untrusted_root, expired_leaf, tampered_chain, busy=N[@STEP], busy_after=K, not_ready=N[@STEP], silent[@STEP], silent_only@STEP, slow=SECONDS[@STEP], truncate=N@STEP, oversize=N@STEP, wrong_version[@STEP], error=CODE@STEP",
    )
    p.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="print connections and faults on stderr",
    )
    return p


def build_config(args: argparse.Namespace) -> ResponderConfig:
    try:
        versions = frozenset(
            int(version_from_string(v)) for v in args.versions.split(",") if v.strip()
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if not versions:
        raise UsageError("no SPDM version given")
    asym = _mask(args.asym, {**ASYM_BY_NAME, **_ASYM_ALIASES}, "signing algorithm")
    hash_mask = _mask(args.hash, dict(HASH_BY_NAME), "hash algorithm")
    faults = Faults.parse(
        [f for spec in args.fault for f in spec.split(",") if f.strip()]
    )
    if not 1 <= args.slot_count <= MAX_SLOTS:
        raise UsageError(
            f"--slot-count {args.slot_count} is out of range 1..{MAX_SLOTS}"
        )
    if not 0 <= args.ct_exponent <= 31:
        raise UsageError(f"--ct-exponent {args.ct_exponent} is out of range 0..31")
    if not args.host:
        # "" would listen on every address; ask for 0.0.0.0 or :: instead.
        raise UsageError("--host must not be empty (0.0.0.0 or :: listen on all)")
    if (args.cert_chain is None) != (args.key is None):
        raise UsageError("--cert-chain and --key go together")
    config = ResponderConfig.generate(
        versions=versions,
        asym_algos=asym,
        hash_algos=hash_mask,
        slot_count=args.slot_count,
        faults=faults,
        ct_exponent=args.ct_exponent,
    )
    if args.cert_chain is not None:
        loaded = _pki.load_pki(args.cert_chain, args.key)
        if not asym & loaded.asym_algo:
            raise UsageError(
                f"the key in {args.key} does not fit any algorithm in --asym {args.asym}"
            )
        # The loaded chain replaces slot 0 for its algorithm; faults still
        # apply (wrong_key signs with a spare key, tampered_chain flips a byte).
        config.slots[0][loaded.asym_algo] = credential_from_pki(loaded, faults)
    return config


def write_roots(config: ResponderConfig, path: Path) -> int:
    """Write every distinct root served as one PEM bundle; return the count."""
    from cryptography import x509

    seen: dict[bytes, bytes] = {}
    for creds in config.slots.values():
        for cred in creds.values():
            root = cred.der_chain[0]
            seen.setdefault(
                root,
                x509.load_der_x509_certificate(root).public_bytes(
                    serialization.Encoding.PEM
                ),
            )
    path.write_bytes(b"".join(seen.values()))
    return len(seen)


def _log(verbose: bool) -> Callable[[str], None]:
    def emit(text: str) -> None:
        if verbose:
            print(f"spdm-responder: {text}", file=sys.stderr, flush=True)

    return emit


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    log = _log(args.verbose)
    try:
        config = build_config(args)
    except UsageError as exc:
        print(f"spdm-responder: {exc}", file=sys.stderr)
        return 2
    if config.faults.active:
        log(f"faults in force: {', '.join(config.faults.active)}")
    responder = Responder(config)
    stop = threading.Event()

    def on_signal(_signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    def ready(where: str) -> None:
        # The root is written only once requests are accepted, so a unit or
        # script that waits for the file may connect at once.
        if args.write_root is not None:
            count = write_roots(config, args.write_root)
            log(f"wrote {count} root certificate(s) to {args.write_root}")
        print(f"listening on {where}", flush=True)

    if args.transport == "mctp":
        try:
            serve_mctp(
                responder,
                stop=stop,
                net=args.net,
                on_event=log,
                on_ready=lambda: ready("MCTP"),
            )
        except TransportError as exc:
            print(f"spdm-responder: {exc}", file=sys.stderr)
            return 3
        except OSError as exc:
            print(
                f"spdm-responder: cannot write {args.write_root}: {exc.strerror or exc}",
                file=sys.stderr,
            )
            return 2
        return 0

    framing = "tcp" if args.transport == "tcp" else "emu"
    port = args.port
    if port is None:
        port = DEFAULT_TCP_PORT if framing == "tcp" else DEFAULT_EMU_PORT
    try:
        server = ResponderServer(
            responder,
            framing=framing,
            host=args.host,
            port=port,
            payload_mode=_EMU_MODES.get(args.transport),
            exit_on_shutdown=True,
            on_event=log,
        )
    except OSError as exc:
        print(
            f"spdm-responder: cannot listen on {args.host}:{port}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 3
    server.start()
    try:
        ready(f"{args.host}:{server.port}")
    except OSError as exc:
        server.stop()
        print(
            f"spdm-responder: cannot write {args.write_root}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 2
    failed = False
    try:
        while not stop.is_set() and not server.wait(0.2):
            pass
        # Read before stop(), which marks the server stopped.
        failed = not stop.is_set() and not server.stopped
    finally:
        server.stop()
    if failed:
        # The thread ended without SHUTDOWN or a signal: not a clean stop.
        print("spdm-responder: the server stopped on an error", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
