"""A connected TCP stream with deadlines: the part TCP and spdm-emu share.

Every read runs against a deadline taken from the caller's timeout, so a
peer that sends half a frame and stops cannot hold a caller past it. After a
timeout the stream is out of step with the peer (the late reply would be
read as the answer to the next request), so the socket is dropped and the
next request opens a fresh connection.

SPDM is strict request/response with small messages, which is the worst
case for Nagle's algorithm meeting delayed ACKs: a peer that writes one
frame in several send() calls (DMTF's spdm_responder_emu writes the
spdm-emu header fields and the payload separately, without TCP_NODELAY)
holds back the rest of the frame until our kernel ACKs the first segment,
and a delayed ACK waits about 40 ms because we have no data to send back.
So every connection sets TCP_NODELAY (our own requests leave at once) and,
on Linux, TCP_QUICKACK after every receive: the option is not sticky (the
kernel drops back to delayed ACKs on its own), so it is set again each
time, which also sends any ACK the kernel is holding. Elsewhere the option
does not exist and only TCP_NODELAY applies. docs/benchmarks.md has the
numbers against spdm_responder_emu.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

from spdmd.errors import TransportError, TransportTimeout

__all__ = ["StreamConnection"]

# Linux only (see the module docstring); None where the platform lacks it.
_TCP_QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)


def _ack_now(sock: socket.socket) -> None:
    """Ask the kernel to ACK received data at once rather than delay it."""
    if _TCP_QUICKACK is None:
        return
    try:
        sock.setsockopt(socket.IPPROTO_TCP, _TCP_QUICKACK, 1)
    except OSError:
        # Only a latency hint: a socket that refuses it still works.
        pass


class StreamConnection:
    def __init__(
        self,
        host: str,
        port: int,
        *,
        connect_timeout: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.host = host
        self.port = port
        self.connect_timeout = connect_timeout
        self._clock = clock
        self._sock: socket.socket | None = None
        self.connect()

    @property
    def connected(self) -> bool:
        return self._sock is not None

    def connect(self) -> None:
        try:
            self._sock = socket.create_connection(
                (self.host, self.port), timeout=self.connect_timeout
            )
        except TimeoutError:
            raise TransportTimeout(
                f"no connection to {self.host}:{self.port} within {self.connect_timeout:g} s"
            ) from None
        except OSError as exc:
            raise TransportError(
                f"cannot connect to {self.host}:{self.port}: {exc.strerror or exc}"
            ) from None
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        _ack_now(self._sock)

    def ensure_connected(self) -> None:
        if self._sock is None:
            self.connect()

    def send(self, data: bytes, deadline: float) -> None:
        sock = self._require()
        try:
            sock.settimeout(max(deadline - self._clock(), 0.001))
            sock.sendall(data)
        except TimeoutError:
            self.drop()
            raise TransportTimeout(
                f"sending to {self.host}:{self.port} timed out"
            ) from None
        except OSError as exc:
            self.drop()
            raise TransportError(
                f"connection to {self.host}:{self.port} failed: {exc.strerror or exc}"
            ) from None

    def recv_exact(self, count: int, deadline: float) -> bytes:
        """Read exactly `count` bytes before `deadline` (a clock value)."""
        sock = self._require()
        chunks: list[bytes] = []
        remaining = count
        while remaining:
            left = deadline - self._clock()
            if left <= 0:
                self.drop()
                raise TransportTimeout(
                    f"no response from {self.host}:{self.port} in time"
                )
            try:
                sock.settimeout(left)
                chunk = sock.recv(min(remaining, 65536))
            except TimeoutError:
                self.drop()
                raise TransportTimeout(
                    f"no response from {self.host}:{self.port} in time"
                ) from None
            except OSError as exc:
                self.drop()
                raise TransportError(
                    f"connection to {self.host}:{self.port} failed: {exc.strerror or exc}"
                ) from None
            if not chunk:
                self.drop()
                raise TransportError(f"{self.host}:{self.port} closed the connection")
            _ack_now(sock)
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)

    def drop(self) -> None:
        """Close the socket without any goodbye."""
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None

    def _require(self) -> socket.socket:
        if self._sock is None:
            raise TransportError(f"connection to {self.host}:{self.port} is closed")
        return self._sock
