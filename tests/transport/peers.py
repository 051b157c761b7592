"""A scripted TCP peer for the framing tests: real loopback sockets, each
connection handled by a function the test gives."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable


def recv_exact(conn: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = conn.recv(count - len(data))
        if not chunk:
            raise ConnectionError("peer closed")
        data += chunk
    return data


class ScriptedPeer:
    """Listens on 127.0.0.1:<free port>; runs `script(conn)` for each
    connection in turn. `received` collects everything read by helpers."""

    def __init__(self, script: Callable[[socket.socket], None]) -> None:
        self.script = script
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.05)
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self.errors: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._stop = False
        self._thread.start()

    def _run(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            with conn:
                conn.settimeout(5)
                try:
                    self.script(conn)
                except (OSError, ConnectionError):
                    pass
                except Exception as exc:  # noqa: BLE001 - re-raised by close()
                    self.errors.append(exc)

    def close(self) -> None:
        self._stop = True
        self._thread.join(5)
        self.listener.close()
        if self.errors:
            raise self.errors[0]
