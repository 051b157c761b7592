"""Socket servers around a `Responder`: DSP0287 TCP, the spdm-emu framing,
and a bound AF_MCTP socket (for the MCTP VM).

`ResponderServer` listens on one port (0 picks a free one, read `.port`),
serves one connection at a time in a thread, and survives clients that
disconnect, time out or say CONTINUE. SHUTDOWN ends the server only when
`exit_on_shutdown` is set (the CLI sets it, like DMTF's responder). For many
devices in one process start one server per device (`start_servers`); each
has its own thread and port. Slow replies are served here: the responder
says how long to wait and the server waits, interruptibly, before sending.
"""

from __future__ import annotations

import ctypes
import socket
import struct
import threading
from collections.abc import Callable, Iterable
from typing import Any, Self

from spdmd.errors import TransportError
from spdmd.responder.responder import Responder
from spdmd.transport import emu, mctp
from spdmd.transport import tcp as dsp0287

__all__ = ["FRAMINGS", "ResponderServer", "serve_mctp", "start_servers", "stop_servers"]

FRAMINGS = ("tcp", "emu")
_POLL = 0.1
# A client that sends a frame header and then stalls is dropped after this.
_FRAME_TIMEOUT = 10.0
_MAX_FRAME = 0x10000 + 16
_MODES = frozenset(int(mode) for mode in emu.PayloadMode)


class _Closed(Exception):
    """Internal: the client went away or broke the framing."""


class ResponderServer:
    """Serve one `Responder` on a TCP port in a background thread."""

    def __init__(
        self,
        responder: Responder,
        *,
        framing: str = "tcp",
        host: str = "127.0.0.1",
        port: int = 0,
        payload_mode: emu.PayloadMode | None = None,
        exit_on_shutdown: bool = False,
        on_event: Callable[[str], None] | None = None,
    ) -> None:
        if framing not in FRAMINGS:
            raise ValueError(f"framing {framing!r}, expected one of {FRAMINGS}")
        self.responder = responder
        self.framing = framing
        self.host = host
        # With the spdm-emu framing, None accepts every payload mode and
        # answers in the mode asked; a mode restricts it like --trans does.
        self.payload_mode = payload_mode
        self.exit_on_shutdown = exit_on_shutdown
        self.connections = 0
        self.errors: list[BaseException] = []
        self._on_event = on_event or (lambda _text: None)
        self._stop = threading.Event()
        self._listener = socket.create_server((host, port), reuse_port=False)
        self._listener.settimeout(_POLL)
        self.port: int = self._listener.getsockname()[1]
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # -- life cycle -----------------------------------------------------------

    def start(self) -> ResponderServer:
        self._thread = threading.Thread(
            target=self._serve, name=f"spdm-responder:{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        self._listener.close()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the server stops (SHUTDOWN); True if it did."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def __enter__(self) -> Self:
        if self._thread is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- serving --------------------------------------------------------------

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, peer = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            self._on_event(f"connection from {peer[0]}:{peer[1]}")
            with conn:
                try:
                    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    if self.framing == "tcp":
                        self._serve_tcp(conn)
                    else:
                        self._serve_emu(conn)
                except _Closed as why:
                    self._on_event(f"connection closed: {why}")
                except OSError as exc:
                    self._on_event(f"connection closed: {exc}")
                except Exception as exc:  # noqa: BLE001 - one connection, not the server
                    # A bug in this server (not the client's doing): drop this
                    # connection, keep it in errors for tests, and go on
                    # serving; a dead thread would refuse every later client.
                    self.errors.append(exc)
                    self._on_event(f"BUG: connection handler raised {exc!r}")

    def _recv_exact(self, conn: socket.socket, count: int, first: bool) -> bytes:
        """Read `count` bytes; between frames wait indefinitely (checking
        for stop), inside a frame for at most _FRAME_TIMEOUT."""
        chunks: list[bytes] = []
        remaining = count
        waited = 0.0
        while remaining:
            if self._stop.is_set():
                raise _Closed("server stopping")
            conn.settimeout(_POLL)
            try:
                chunk = conn.recv(remaining)
            except TimeoutError:
                if not (first and remaining == count):
                    waited += _POLL
                    if waited > _FRAME_TIMEOUT:
                        raise _Closed("client stalled inside a frame") from None
                continue
            except OSError as exc:
                raise _Closed(str(exc)) from None
            if not chunk:
                raise _Closed("client disconnected")
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)

    def _respond(self, request: bytes) -> bytes | None:
        with self._lock:
            try:
                response, delay = self.responder.handle_timed(request)
            except Exception as exc:
                # A bug in the emulator: keep it for the test to see (errors),
                # say so, and drop the connection rather than the server.
                self.errors.append(exc)
                self._on_event(f"BUG: responder raised {exc!r}")
                raise _Closed("responder bug") from exc
        if delay and self._stop.wait(delay):
            return None
        return response

    def _serve_tcp(self, conn: socket.socket) -> None:
        while True:
            header = self._recv_exact(conn, dsp0287.HEADER_SIZE, first=True)
            try:
                length, message_type = dsp0287.parse_header(header)
            except TransportError as exc:
                raise _Closed(str(exc)) from None
            body = self._recv_exact(conn, length, first=False) if length else b""
            if message_type != dsp0287.MESSAGE_TYPE_SPDM:
                # DSP0287: answer a message type we do not serve with the
                # "not supported" binding error.
                conn.sendall(struct.pack("<HBB", 2, dsp0287.BINDING_VERSION, 0xC1))
                continue
            response = self._respond(body)
            if response is not None:
                conn.sendall(_tcp_frame(response))

    def _serve_emu(self, conn: socket.socket) -> None:
        while True:
            command, mode, size = emu.parse_header(
                self._recv_exact(conn, emu.HEADER_SIZE, first=True)
            )
            if size > _MAX_FRAME:
                raise _Closed(f"spdm-emu message of {size} bytes")
            payload = self._recv_exact(conn, size, first=False) if size else b""
            if command == emu.Command.TEST:
                conn.sendall(emu.encode_message(emu.Command.TEST, mode, payload))
                continue
            if command == emu.Command.CONTINUE:
                conn.sendall(emu.encode_message(emu.Command.CONTINUE, mode))
                raise _Closed("client said CONTINUE")
            if command == emu.Command.SHUTDOWN:
                conn.sendall(emu.encode_message(emu.Command.SHUTDOWN, mode))
                if self.exit_on_shutdown:
                    self._stop.set()
                raise _Closed("client said SHUTDOWN")
            if command != emu.Command.NORMAL:
                raise _Closed(f"unknown spdm-emu command 0x{command:04x}")
            if mode not in _MODES or (
                self.payload_mode is not None and mode != self.payload_mode
            ):
                raise _Closed(f"payload mode {mode} is not served")
            try:
                request = emu.unwrap_spdm(emu.PayloadMode(mode), payload, "requester")
            except TransportError as exc:
                raise _Closed(str(exc)) from None
            response = self._respond(request)
            if response is not None:
                if mode == emu.PayloadMode.TCP:
                    # The DSP0287 frame inside caps the size as on tcp.
                    response = response[: dsp0287.MAX_SPDM_SIZE]
                wrapped = emu.wrap_spdm(emu.PayloadMode(mode), response)
                conn.sendall(emu.encode_message(emu.Command.NORMAL, mode, wrapped))


def _tcp_frame(response: bytes) -> bytes:
    # Oversized faults may exceed a DSP0287 frame; send what fits.
    return dsp0287.encode_frame(response[: dsp0287.MAX_SPDM_SIZE])


def start_servers(
    responders: Iterable[Responder], *, framing: str = "tcp", host: str = "127.0.0.1"
) -> list[ResponderServer]:
    """One started server per responder, each on its own free port."""
    servers: list[ResponderServer] = []
    try:
        for responder in responders:
            servers.append(
                ResponderServer(responder, framing=framing, host=host).start()
            )
    except BaseException:
        stop_servers(servers)
        raise
    return servers


def stop_servers(servers: Iterable[ResponderServer]) -> None:
    servers = list(servers)
    for server in servers:
        server._stop.set()
    for server in servers:
        server.stop()


def serve_mctp(
    responder: Responder,
    *,
    stop: threading.Event,
    net: int = mctp.MCTP_NET_ANY,
    sock: Any = None,
    libc: Any = None,
    wait: Callable[[int, float], bool] = mctp.wait_readable,
    on_event: Callable[[str], None] | None = None,
    on_ready: Callable[[], None] | None = None,
) -> None:
    """Answer SPDM requests on a bound AF_MCTP socket until `stop` is set.

    Binds (net, ANY eid, type 5): this is the responder side, where a bind is
    right, unlike the requester. Each reply goes to the sender's address with
    the tag-owner bit cleared and the same tag, so the kernel routes it to
    the requester's key. One Responder serves every peer; its state follows
    whoever sent the last GET_VERSION.
    """
    libc = libc if libc is not None else mctp.load_libc()
    sock = sock if sock is not None else mctp.open_mctp_socket()
    events = on_event or (lambda _text: None)
    fd = sock.fileno()
    local = mctp.MctpAddress(net, mctp.MCTP_ADDR_ANY, mctp.MCTP_TYPE_SPDM, 0).pack()
    if libc.bind(fd, ctypes.pointer(local), ctypes.sizeof(local)) < 0:
        err = ctypes.get_errno()
        sock.close()
        raise TransportError(f"cannot bind the MCTP responder socket: errno {err}")
    buf = ctypes.create_string_buffer(mctp.DEFAULT_MAX_MESSAGE_SIZE)
    try:
        if on_ready is not None:
            on_ready()
        while not stop.is_set():
            if not wait(fd, _POLL):
                continue
            src = mctp.SockaddrMctp()
            srclen = ctypes.c_uint32(ctypes.sizeof(src))
            rc = libc.recvfrom(
                fd,
                buf,
                len(buf),
                mctp.MSG_DONTWAIT,
                ctypes.pointer(src),
                ctypes.pointer(srclen),
            )
            if rc < 0:
                continue
            peer = mctp.MctpAddress.unpack(src)
            if peer.type != mctp.MCTP_TYPE_SPDM or not peer.tag & mctp.MCTP_TAG_OWNER:
                events(
                    f"ignored a message from eid {peer.eid} that is not an SPDM request"
                )
                continue
            try:
                response, delay = responder.handle_timed(
                    ctypes.string_at(buf, min(rc, len(buf)))
                )
            except Exception as exc:
                events(f"BUG: responder raised {exc!r}")
                raise
            if delay and stop.wait(delay):
                return
            if response is None:
                continue
            reply = mctp.MctpAddress(
                peer.net, peer.eid, mctp.MCTP_TYPE_SPDM, peer.tag & mctp.MCTP_TAG_MASK
            ).pack()
            if (
                libc.sendto(
                    fd,
                    response,
                    len(response),
                    0,
                    ctypes.pointer(reply),
                    ctypes.sizeof(reply),
                )
                < 0
            ):
                events(f"failed to reply to eid {peer.eid}: errno {ctypes.get_errno()}")
    finally:
        sock.close()
