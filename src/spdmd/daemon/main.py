"""Entry point of `spdmd` (also `python -m spdmd.daemon`).

Start-up order, so that systemd's start (Type=dbus) never waits on a device:
configuration, the root objects, the bus name, and only then discovery and
attestation, which run in the background. Exit status: 0 after SIGTERM or
SIGINT, 1 when the configuration is unusable, the name cannot be owned or
the bus connection is lost.
"""

from __future__ import annotations

import argparse
import ctypes
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from spdmd.daemon.config import Config

__all__ = ["main", "size_t_signature"]

DEFAULT_STATE_DIR = "/var/lib/spdmd"


def size_t_signature(override: str | None = None) -> str:
    """`u` where size_t is 32 bits (AST2600), `t` where it is 64 bits.

    bmcweb sends MeasurementIndices as std::vector<size_t>, so the method
    must declare the width of the machine it runs on. `override` (the
    --size-t option or SPDMD_SIZE_T) lets tests exercise both.
    """
    choice = override or os.environ.get("SPDMD_SIZE_T") or "auto"
    if choice == "auto":
        return "u" if ctypes.sizeof(ctypes.c_size_t) == 4 else "t"
    if choice not in ("u", "t"):
        raise ValueError("size_t signature must be u, t or auto")
    return choice


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="spdmd",
        description="SPDM attestation daemon: discovers responders, attests them and "
        "serves the OpenBMC ComponentIntegrity D-Bus API.",
    )
    p.add_argument(
        "--bus-address",
        help="D-Bus address to connect to (default: $DBUS_SYSTEM_BUS_ADDRESS, else the system bus)",
    )
    p.add_argument(
        "--config",
        type=Path,
        help="configuration file (default /etc/spdmd/config.json)",
    )
    p.add_argument(
        "--state-dir",
        type=Path,
        help=f"where the policy is kept (default: $STATE_DIRECTORY, else {DEFAULT_STATE_DIR})",
    )
    p.add_argument(
        "--trust-anchors",
        action="append",
        metavar="PATH",
        help="trust anchor file or directory; repeatable; replaces trust_anchors of the configuration",
    )
    p.add_argument(
        "--size-t",
        choices=("auto", "u", "t"),
        help="D-Bus type of the size arguments (default: $SPDMD_SIZE_T, else this machine's size_t)",
    )
    p.add_argument(
        "-v", "--verbose", action="store_true", help="log every step, not only outcomes"
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    from spdmd.daemon.journal import setup_logging

    log = setup_logging(args.verbose)
    from spdmd.daemon.config import SD_BUS_METHOD_TIMEOUT, ConfigError, load_config

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        log.error("Failed to load the configuration: %s", exc)
        return 1
    if config.measurement_deadline_seconds >= SD_BUS_METHOD_TIMEOUT:
        log.warning(
            "measurement_deadline_seconds is %g s: bmcweb gives up after %g s, so a slow device's SPDMGetSignedMeasurements then ends in bmcweb's timeout, not in the failing step",
            config.measurement_deadline_seconds,
            SD_BUS_METHOD_TIMEOUT,
        )
    try:
        size_sig = size_t_signature(args.size_t)
    except ValueError as exc:
        log.error("Failed to start: %s", exc)
        return 1
    state_dir = args.state_dir or Path(
        os.environ.get("STATE_DIRECTORY", "").split(":")[0] or DEFAULT_STATE_DIR
    )
    trust_anchors = args.trust_anchors or config.trust_anchors
    return run(args.bus_address, config, state_dir, size_sig, trust_anchors, log)


def run(
    address: str | None,
    config: Config,
    state_dir: Path,
    size_sig: str,
    trust_anchors: list[str],
    log: logging.Logger,
) -> int:
    import dbus
    import dbus.bus

    # Import the device-facing modules here, on the main thread and before
    # the loop runs, rather than lazily in a worker: a broken installation
    # then fails at start, and no module is compiled while threads run.
    import spdmd.attest
    import spdmd.daemon.worker
    import spdmd.transport.emu
    import spdmd.transport.mctp
    import spdmd.transport.tcp  # noqa: F401
    from spdmd.daemon.bus import MainLoop, install_signal_quit
    from spdmd.daemon.discovery import Discovery
    from spdmd.daemon.objects import BUS_NAME
    from spdmd.daemon.service import Daemon

    loop = MainLoop()
    try:
        if address is None:
            address = os.environ.get("DBUS_SYSTEM_BUS_ADDRESS")
        conn = dbus.bus.BusConnection(address) if address else dbus.SystemBus()
    except dbus.DBusException as exc:
        log.error("Failed to connect to D-Bus: %s", exc.get_dbus_message())
        return 1
    status = {"code": 0}

    def lost_bus(_conn: object) -> None:
        log.error("Lost the D-Bus connection")
        status["code"] = 1
        loop.quit()

    conn.call_on_disconnection(lost_bus)
    daemon = Daemon(
        loop,
        conn,
        config,
        state_dir,
        size_signature=size_sig,
        trust_anchors=trust_anchors,
    )
    try:
        reply = conn.request_name(BUS_NAME, dbus.bus.NAME_FLAG_DO_NOT_QUEUE)
    except dbus.DBusException as exc:
        log.error("Failed to own %s: %s", BUS_NAME, exc.get_dbus_message())
        return 1
    if reply not in (
        dbus.bus.REQUEST_NAME_REPLY_PRIMARY_OWNER,
        dbus.bus.REQUEST_NAME_REPLY_ALREADY_OWNER,
    ):
        log.error("Failed to own %s: another process owns it", BUS_NAME)
        return 1
    log.info("Started, owning %s (size_t is %s)", BUS_NAME, size_sig)

    discovery = Discovery(loop, conn, daemon, config)
    loop.call_soon_threadsafe(discovery.start)
    loop.call_soon_threadsafe(daemon.start_periodic)
    install_signal_quit(loop, loop.quit)
    loop.run()
    daemon.shutdown()
    if status["code"] == 0:
        log.info("Stopped")
    # A worker may be waiting on a silent device for up to its deadline;
    # the interpreter would join it at exit. Nothing is lost by not
    # waiting: state files are written whole on the bus thread.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status["code"])


if __name__ == "__main__":
    sys.exit(main())
