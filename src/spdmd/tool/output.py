"""Exit codes and output formatting shared by every `spdmtool` subcommand.

Kept apart from the argument parsing so that subcommands registered from
other modules (the daemon-facing ones in `spdmd.tool.daemon_commands`)
print and exit the same way.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import Any, TextIO

__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_UNREACHABLE",
    "EXIT_USAGE",
    "MEASUREMENT_VALUE_TYPES",
    "human_blocks",
    "human_result",
    "print_json",
]

# The exit codes of issue 2 item 6, for every subcommand.
EXIT_OK = 0
EXIT_FAILED = 1  # the device answered but failed verification
EXIT_USAGE = 2  # bad options, unreadable trust anchors (argparse uses 2 too)
EXIT_UNREACHABLE = 3  # no connection, no answer, deadline passed

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
