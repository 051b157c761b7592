"""A real systemd-journald for one process tree, in a private mount namespace.

The container has no journald, and starting one for the whole machine
would take over /run/systemd/journal for everyone. Instead

    unshare -m --propagation private python -m tests.env.journal --dir D -- CMD...

mounts a fresh tmpfs on /run (visible only inside the namespace), binds D
on /run/log, starts Debian's /lib/systemd/systemd-journald there (it then
writes D/journal/<machine-id>/system.journal), runs CMD, forwards SIGTERM
and SIGINT to it, and stops journald when CMD ends. Everything CMD sends
to /run/systemd/journal/socket (python3-systemd's JournalHandler does) is
recorded by the real journald; `read_journal(D)` reads it back with the
real journalctl. The bus socket of tests.env.dbus_daemon lives under /tmp,
so CMD still reaches the private bus.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["JOURNALD", "journal_unavailable", "read_journal", "wrapper"]

JOURNALD = "/lib/systemd/systemd-journald"
SOCKET = "/run/systemd/journal/socket"
_PR_SET_PDEATHSIG = 1


def journal_unavailable() -> str | None:
    """Why a private journald cannot run here, or None when it can."""
    if not Path(JOURNALD).exists():
        return f"{JOURNALD} is missing (Debian package systemd)"
    if shutil.which("journalctl") is None:
        return "journalctl is missing (Debian package systemd)"
    try:
        import systemd.journal  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        return "python3-systemd is not installed (Debian package python3-systemd)"
    if shutil.which("unshare") is None:
        return "unshare is missing (Debian package util-linux)"
    probe = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "true"],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0:
        return f"cannot make a private mount namespace: {probe.stderr.strip()}"
    return None


def wrapper(directory: Path) -> list[str]:
    """The command prefix that runs a command under a private journald."""
    return [
        "unshare",
        "-m",
        "--propagation",
        "private",
        sys.executable,
        "-m",
        "tests.env.journal",
        "--dir",
        str(directory),
        "--",
    ]


def read_journal(directory: Path, *matches: str) -> list[dict[str, Any]]:
    """Entries recorded under directory, journalctl FIELD=value matches applied."""
    out = subprocess.run(
        [
            "journalctl",
            f"--directory={directory / 'journal'}",
            "--output=json",
            "--no-pager",
            *matches,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def _die_with_parent() -> None:
    # journald must not outlive this helper, even when it is SIGKILLed.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dir", required=True, type=Path, help="where the journal goes"
    )
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given")
    args.dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", "/run"], check=True)
    os.makedirs("/run/systemd")
    os.makedirs("/run/log")
    subprocess.run(["mount", "--bind", str(args.dir), "/run/log"], check=True)
    # This helper runs no threads, so preexec_fn is safe here.
    journald = subprocess.Popen([JOURNALD], preexec_fn=_die_with_parent)  # noqa: PLW1509
    end = time.monotonic() + 10
    while not os.path.exists(SOCKET):
        if journald.poll() is not None or time.monotonic() > end:
            print("tests.env.journal: journald did not start", file=sys.stderr)
            journald.kill()
            return 1
        time.sleep(0.02)
    child = subprocess.Popen(command, preexec_fn=_die_with_parent)  # noqa: PLW1509

    def forward(signum: int, _frame: object) -> None:
        child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    code = child.wait()
    journald.terminate()
    try:
        journald.wait(5)
    except subprocess.TimeoutExpired:
        journald.kill()
        journald.wait()
    return code


if __name__ == "__main__":
    sys.exit(main())
