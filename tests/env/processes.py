"""Running the stand-ins as child processes and talking to their control pipe.

Every stand-in is `python -m tests.env.<name> --address <bus>` with its
control pipe on stdin/stdout (see tests.env.service.ControlPipe). It prints
{"ready": true} once it owns its name. Closing stdin ends it; stop() also
terminates and, if it must, kills it, so a failing test leaves nothing behind.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Self

__all__ = ["REPO", "StandIn", "StandInError", "child_env", "wait_for"]

REPO = Path(__file__).resolve().parents[2]


class StandInError(RuntimeError):
    """A stand-in did not start, or refused a command."""


def child_env(address: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for a child on the private bus that can import tests.env."""
    env = dict(os.environ)
    env["DBUS_SYSTEM_BUS_ADDRESS"] = address
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    paths = [str(REPO), str(REPO / "src")]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["PYTHONUNBUFFERED"] = "1"
    if extra:
        env.update(extra)
    return env


def wait_for(predicate: Any, timeout: float, interval: float = 0.02) -> Any:
    """Poll predicate() until it returns something truthy, or raise TimeoutError."""
    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > end:
            raise TimeoutError(f"condition not met within {timeout} s")
        time.sleep(interval)


class StandIn:
    """One stand-in process (module name under tests.env) and its pipe."""

    def __init__(self, module: str, address: str, *args: str) -> None:
        self.module = module
        self.address = address
        self.args = args
        self.proc: subprocess.Popen[str] | None = None
        self._buffer = ""

    def start(self, timeout: float = 10.0) -> Self:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                f"tests.env.{self.module}",
                "--address",
                self.address,
                *self.args,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=None,
            text=True,
            cwd=REPO,
            env=child_env(self.address),
        )
        reply = self._read_line(timeout)
        if not reply.get("ready"):
            self.stop()
            raise StandInError(f"{self.module} did not start: {reply}")
        return self

    def _read_line(self, timeout: float) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        end = time.monotonic() + timeout
        while "\n" not in self._buffer:
            left = end - time.monotonic()
            if left <= 0:
                raise StandInError(f"{self.module} did not answer within {timeout} s")
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 65536).decode()
                if not chunk:
                    code = self.proc.poll()
                    raise StandInError(f"{self.module} exited (status {code})")
                self._buffer += chunk
        line, self._buffer = self._buffer.split("\n", 1)
        result: dict[str, Any] = json.loads(line)
        return result

    def command(self, cmd: str, timeout: float = 10.0, **args: Any) -> dict[str, Any]:
        """Send one command, return its reply; raise StandInError if it failed."""
        if self.proc is None or self.proc.stdin is None:
            raise StandInError(f"{self.module} is not running")
        self.proc.stdin.write(json.dumps({"cmd": cmd, **args}) + "\n")
        self.proc.stdin.flush()
        reply = self._read_line(timeout)
        if not reply.get("ok"):
            raise StandInError(f"{self.module} refused {cmd}: {reply.get('error')}")
        return reply

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 5.0) -> None:
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        try:
            if proc.stdin is not None:
                proc.stdin.close()
        except BrokenPipeError:
            pass
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
        if proc.stdout is not None:
            proc.stdout.close()
        self._buffer = ""

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
