"""Logging set-up: the journal with structured fields, or stderr.

Messages are short sentences that start with the outcome ("Failed to
attest gpu0 at CHALLENGE: ..."). The device id, step and reason also travel
as journal fields DEVICE, STEP and REASON (pass `extra=fields(...)`), so
`journalctl -u xyz.openbmc_project.spdmd DEVICE=gpu0` works. python3-systemd
is optional: without it, lines go to stderr, and when stderr is the journal
(systemd sets JOURNAL_STREAM) each line gets the sd-daemon "<N>" priority
prefix so journald still records the right priority.
"""

from __future__ import annotations

import logging
import os
import sys

__all__ = ["LOGGER_NAME", "fields", "setup_logging"]

LOGGER_NAME = "spdmd"

_SD_PRIORITY = {
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}


def fields(
    device: str | None = None, step: str | None = None, reason: str | None = None
) -> dict[str, str]:
    """`extra=` for a log call: upper-case journal fields, only those given."""
    out: dict[str, str] = {}
    if device:
        out["DEVICE"] = device
    if step:
        out["STEP"] = step
    if reason:
        out["REASON"] = reason
    return out


class _StderrFormatter(logging.Formatter):
    def __init__(self, prefix: bool) -> None:
        super().__init__("%(message)s")
        self._prefix = prefix

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if self._prefix:
            level = _SD_PRIORITY.get(record.levelno, 6)
            text = "\n".join(f"<{level}>{line}" for line in text.splitlines())
        return text


def setup_logging(verbose: bool, *, use_journal: bool | None = None) -> logging.Logger:
    """Configure the `spdmd` logger once; -v adds DEBUG messages."""
    log = logging.getLogger(LOGGER_NAME)
    log.handlers.clear()
    log.propagate = False
    log.setLevel(logging.DEBUG if verbose else logging.INFO)
    handler: logging.Handler | None = None
    if use_journal is None:
        use_journal = bool(os.environ.get("JOURNAL_STREAM"))
    if use_journal:
        try:
            from systemd.journal import JournalHandler  # type: ignore[import-not-found]

            handler = JournalHandler(SYSLOG_IDENTIFIER="spdmd")
        except ImportError:
            handler = None
    if handler is None:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_StderrFormatter(prefix=use_journal))
    log.addHandler(handler)
    return log
