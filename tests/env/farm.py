"""Many emulated devices in a process of their own (for scripts/bench-daemon).

Signing in 64 responders costs CPU and the GIL; in a separate process it
does not slow the process that measures D-Bus latency. Prints one JSON
line {"ports": {name: port}} when every device listens, then serves until
stdin closes.

    python -m tests.env.farm --count 64 --silent mute --trust-dir DIR
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tests.env.devices import Device, write_trust_anchor


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=64, help="genuine devices")
    parser.add_argument("--prefix", default="dev", help="name prefix")
    parser.add_argument(
        "--silent",
        action="append",
        default=[],
        help="name of a device that never answers (repeatable)",
    )
    parser.add_argument(
        "--trust-dir",
        type=Path,
        required=True,
        help="where to write the root the devices chain to",
    )
    args = parser.parse_args(argv)
    # Emulator keys are made per process, so the anchor must come from here.
    write_trust_anchor(args.trust_dir)
    devices = [Device(f"{args.prefix}{i:02d}") for i in range(args.count)]
    devices += [Device(name, ("silent",)) for name in args.silent]
    print(json.dumps({"ports": {d.name: d.port for d in devices}}), flush=True)
    sys.stdin.read()
    for d in devices:
        d.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
