"""Exit codes, output formatting and option types shared by every
`spdmtool` subcommand.

Kept apart from the argument parsing so that subcommands registered from
other modules (the daemon-facing ones in `spdmd.tool.daemon_commands`)
print, parse and exit the same way.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import sys
from collections.abc import Callable, Mapping
from typing import Any, TextIO

__all__ = [
    "EXIT_BROKEN_PIPE",
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_UNREACHABLE",
    "EXIT_USAGE",
    "MAX_SECONDS",
    "MEASUREMENT_VALUE_TYPES",
    "GuardedStream",
    "OutputError",
    "human_blocks",
    "human_result",
    "int_in",
    "print_json",
    "seconds",
]

# The exit codes of issue 2 item 6, for every subcommand.
EXIT_OK = 0
EXIT_FAILED = 1  # the device answered but failed verification
EXIT_USAGE = 2  # bad options, unreadable trust anchors (argparse uses 2 too)
EXIT_UNREACHABLE = 3  # no connection, no answer, deadline passed
# stdout was closed by the reader (`| head`): what a shell reports for a
# command killed by SIGPIPE, without a message, as other tools behave.
EXIT_BROKEN_PIPE = 128 + 13

# Longest wait an option may ask for: a day. D-Bus timeouts are 32-bit
# milliseconds and socket timeouts overflow on absurd values.
MAX_SECONDS = 86400.0


def int_in(low: int, high: int, what: str) -> Callable[[str], int]:
    """argparse type: an integer (decimal, 0x.., 0o..) in low..high."""

    def parse(text: str) -> int:
        try:
            value = int(text, 0)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{what} must be a number, not {text!r}"
            ) from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(
                f"{what} {value} is out of range {low}..{high}"
            )
        return value

    return parse


def seconds(text: str) -> float:
    """argparse type for --deadline and --timeout: finite, > 0, at most a day."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"seconds must be a number, not {text!r}"
        ) from None
    if math.isnan(value) or not 0 < value <= MAX_SECONDS:
        raise argparse.ArgumentTypeError(
            f"seconds must be more than 0 and at most {MAX_SECONDS:g}, not {text}"
        )
    return value


class OutputError(Exception):
    """Writing to stdout failed; `cause` is the OSError."""

    def __init__(self, cause: OSError) -> None:
        super().__init__(cause.strerror or str(cause))
        self.cause = cause


class GuardedStream(io.TextIOBase):
    """stdout whose write errors become OutputError, so `main` can tell a
    full disk or a closed pipe from any other OSError of the run."""

    def __init__(self, inner: TextIO) -> None:
        self._inner = inner

    def write(self, text: str) -> int:
        try:
            return self._inner.write(text)
        except OSError as exc:
            raise OutputError(exc) from None

    def flush(self) -> None:
        try:
            self._inner.flush()
        except OSError as exc:
            raise OutputError(exc) from None

    def fileno(self) -> int:
        return self._inner.fileno()

    def isatty(self) -> bool:
        return self._inner.isatty()


# DMTFSpecMeasurementValueType bits 6:0 (DSP0274 1.3 table
# "DMTF measurement specification format"); bit 7 marks a raw bit stream.
MEASUREMENT_VALUE_TYPES: dict[int, str] = {
    0x00: "immutable ROM",
    0x01: "mutable firmware",
    0x02: "hardware configuration",
    0x03: "firmware configuration",
    0x04: "measurement manifest",
    0x05: "structured device mode",
    0x06: "mutable firmware version",
    0x07: "mutable firmware security version",
    0x08: "hash-extended measurement",
    0x09: "informational",
    0x0A: "structured measurement manifest",
}


def print_json(obj: Mapping[str, Any], stream: TextIO | None = None) -> None:
    """One JSON object, indented, on stdout (or `stream`)."""
    out = stream or sys.stdout
    json.dump(obj, out, indent=2, sort_keys=False)
    out.write("\n")


def human_result(
    d: Mapping[str, Any],
    *,
    device: str,
    verbose: int = 0,
    success: str = "proved its identity",
) -> list[str]:
    """Short lines for a result dict (the `--json` object); `success` ends
    the first line when the status is Success."""
    lines: list[str] = []
    if d.get("status") == "Success":
        lines.append(f"Success: {device} {success}")
    else:
        lines.append(f"Failed at {d.get('step') or 'unknown step'}: {d.get('reason')}")
        lines.append(f"  device: {device}")
    negotiated = []
    if d.get("version"):
        negotiated.append(f"SPDM {d['version']}")
    if d.get("signing_algorithm"):
        negotiated.append(str(d["signing_algorithm"]))
    if d.get("hashing_algorithm"):
        negotiated.append(str(d["hashing_algorithm"]))
    if negotiated:
        slot = d.get("slot")
        tail = f", slot {slot}" if slot is not None else ""
        lines.append("  " + ", ".join(negotiated) + tail)
    if d.get("leaf_subject"):
        lines.append(f"  leaf: {d['leaf_subject']}")
    if d.get("cert_chain_digest") and (verbose or d.get("status") == "Success"):
        lines.append(f"  chain digest: {d['cert_chain_digest']}")
    return lines


def human_blocks(blocks: list[Mapping[str, Any]], *, verbose: int = 0) -> list[str]:
    """One line per measurement block: index, type and value (cut short
    unless verbose)."""
    lines = []
    for block in blocks:
        value_type = block.get("value_type")
        if isinstance(value_type, int):
            kind = MEASUREMENT_VALUE_TYPES.get(
                value_type & 0x7F, f"type 0x{value_type:02x}"
            )
            raw = bool(value_type & 0x80)
        else:
            kind, raw = str(value_type), bool(block.get("raw_bit_stream"))
        value = str(block.get("value", ""))
        if not verbose and len(value) > 64:
            value = value[:64] + "..."
        form = "raw" if raw or block.get("raw_bit_stream") else "digest"
        lines.append(f"  [{block.get('index')}] {kind} ({form}): {value}")
    return lines
