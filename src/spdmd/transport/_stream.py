"""A connected TCP stream with deadlines: the part TCP and spdm-emu share.

Every read runs against a deadline taken from the caller's timeout, so a
peer that sends half a frame and stops cannot hold a caller past it. After a
timeout the stream is out of step with the peer (the late reply would be
read as the answer to the next request), so the socket is dropped and the
next request opens a fresh connection.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

from spdmd.errors import TransportError, TransportTimeout

__all__ = ["StreamConnection"]


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
