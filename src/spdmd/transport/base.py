"""The one interface every transport implements, and the factory for them.

A transport moves one bare SPDM message to a device and brings one bare SPDM
message back; framing, addressing and matching are its business and nobody
else's. `exchange` always has a timeout: no call here can block forever.
Transports are not thread-safe; one attestation owns one transport.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from spdmd.errors import UsageError

__all__ = [
    "DEFAULT_EMU_PORT",
    "DEFAULT_HOST",
    "DEFAULT_TCP_PORT",
    "TRANSPORT_KINDS",
    "Transport",
    "open_transport",
]

# DSP0287 and the DMTF spdm-emu tools use these ports by default.
DEFAULT_TCP_PORT = 4194
DEFAULT_EMU_PORT = 2323
# With no --host the tools talk to an emulator on this machine.
DEFAULT_HOST = "127.0.0.1"
DEFAULT_CONNECT_TIMEOUT = 5.0

TRANSPORT_KINDS = ("mctp", "tcp", "emu-mctp", "emu-tcp", "emu-none")


@runtime_checkable
class Transport(Protocol):
    """One connection to one responder."""

    name: str

    def exchange(self, request: bytes, timeout: float) -> bytes:
        """Send one SPDM request, return one SPDM response.

        Raises TransportTimeout when nothing valid arrives within `timeout`
        seconds and TransportError when the peer cannot be reached or closed.
        """
        ...

    def close(self) -> None:
        """Release the connection; safe to call twice."""
        ...


def open_transport(
    kind: str,
    *,
    host: str | None = None,
    port: int | None = None,
    net: int | None = None,
    eid: int | None = None,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    max_message_size: int | None = None,
) -> Transport:
    """Open a transport of `kind` ("mctp", "tcp", "emu-mctp", "emu-tcp",
    "emu-none").

    MCTP takes `eid` (required) and `net` (default: the kernel's default
    network); the others take `host` (default 127.0.0.1) and `port` (4194 for
    tcp, 2323 for the emu kinds). Options that do not belong to the kind
    raise UsageError, as do out-of-range values; nothing is opened then.
    TCP kinds connect here, so an unreachable peer raises TransportError.
    """
    if kind not in TRANSPORT_KINDS:
        raise UsageError(
            f"unknown transport {kind!r}, expected one of {', '.join(TRANSPORT_KINDS)}"
        )
    if connect_timeout <= 0:
        raise UsageError("connect timeout must be positive")
    if kind == "mctp":
        if host is not None or port is not None:
            raise UsageError("--host and --port do not apply to the mctp transport")
        if eid is None:
            raise UsageError("the mctp transport needs an endpoint id (--eid)")
        from spdmd.transport.mctp import DEFAULT_MAX_MESSAGE_SIZE as MCTP_MAX
        from spdmd.transport.mctp import MctpTransport

        return MctpTransport(
            eid=eid, net=net, max_message_size=max_message_size or MCTP_MAX
        )

    if net is not None or eid is not None:
        raise UsageError(
            f"--net and --eid apply only to the mctp transport, not {kind}"
        )
    host = DEFAULT_HOST if host is None else host
    if not host:
        raise UsageError("empty host name")
    if port is None:
        port = DEFAULT_TCP_PORT if kind == "tcp" else DEFAULT_EMU_PORT
    if not 0 < port < 65536:
        raise UsageError(f"port {port} is out of range 1..65535")
    if kind == "tcp":
        from spdmd.transport.tcp import MAX_SPDM_SIZE, TcpTransport

        return TcpTransport(
            host,
            port,
            connect_timeout=connect_timeout,
            max_message_size=max_message_size or MAX_SPDM_SIZE,
        )
    from spdmd.transport.emu import DEFAULT_MAX_MESSAGE_SIZE, EmuTransport, PayloadMode

    mode = {
        "emu-mctp": PayloadMode.MCTP,
        "emu-tcp": PayloadMode.TCP,
        "emu-none": PayloadMode.NONE,
    }[kind]
    return EmuTransport(
        host,
        port,
        mode,
        connect_timeout=connect_timeout,
        max_message_size=max_message_size or DEFAULT_MAX_MESSAGE_SIZE,
    )
