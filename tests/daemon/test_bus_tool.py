"""`spdmtool list/show/reattest/dbus-measurements` against the real spdmd.

Each test runs the installed spdmtool as a BMC engineer would, with
DBUS_SYSTEM_BUS_ADDRESS pointing at the private bus, and checks its output
and exit status.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest
from tests.env.harness import Environment

SPDMTOOL = str(Path(sys.executable).parent / "spdmtool")


def tool(bmc: Environment, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SPDMTOOL, *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env=bmc.bus.env(),
    )


@pytest.fixture
def two(bmc: Environment) -> Environment:
    """A good device and one whose chain does not anchor, as static responders."""
    good = bmc.device("gpu0")
    bad = bmc.device("gpu1", "untrusted_root")
    bmc.write_config(
        {
            "entity_manager": False,
            "mctp_discovery": False,
            "responders": [
                {"name": d.name, "host": "127.0.0.1", "port": d.port}
                for d in (good, bad)
            ],
        }
    )
    bmc.start_daemon("--size-t", "u")
    bmc.wait_status("gpu0")
    bmc.wait_status("gpu1")
    return bmc


def test_list(two: Environment) -> None:
    """list shows every responder with status, version and, for failures, step and reason."""
    out = tool(two, "list")
    assert out.returncode == 0, out.stderr
    lines = dict(line.split(None, 1) for line in out.stdout.splitlines())
    assert lines["gpu0"].split()[:2] == ["Success", "1.3"]
    assert lines["gpu1"].startswith("Failed") and "CERTIFICATE_CHAIN:" in lines["gpu1"]
    rows = json.loads(tool(two, "list", "--json").stdout)["responders"]
    assert [(r["id"], r["status"], r["step"]) for r in rows] == [
        ("gpu0", "Success", ""),
        ("gpu1", "Failed", "CERTIFICATE_CHAIN"),
    ]


def test_show(two: Environment) -> None:
    out = tool(two, "show", "gpu0", "--json")
    assert out.returncode == 0, out.stderr
    shown = json.loads(out.stdout)
    assert (
        shown["status"] == "Success" and shown["hashing_algorithm"] == "TPM_ALG_SHA_384"
    )
    assert list(shown["certificates"]) == ["/xyz/openbmc_project/certs/devices/gpu0/0"]
    missing = tool(two, "show", "nope")
    assert missing.returncode == 2 and "no responder 'nope'" in missing.stderr


def test_reattest_waits_for_the_outcome(two: Environment) -> None:
    """reattest prints the new outcome; its exit status says whether it verified."""
    ok = tool(two, "reattest", "gpu0")
    assert (ok.returncode, ok.stdout.strip()) == (0, "gpu0: Success (SPDM 1.3)")
    bad = tool(two, "reattest", "gpu1")
    assert bad.returncode == 1 and bad.stdout.startswith(
        "gpu1: Failed at CERTIFICATE_CHAIN: "
    )


def test_dbus_measurements_uses_the_daemons_width(two: Environment) -> None:
    """dbus-measurements finds the `u` width by introspection and prints the reply."""
    nonce = "01" * 32
    out = tool(
        two, "dbus-measurements", "gpu0", "--indices", "1,2", "--nonce", nonce, "--json"
    )
    assert out.returncode == 0, out.stderr
    reply = json.loads(out.stdout)
    assert reply["version"] == "1.3"
    assert bytes.fromhex(nonce) in base64.b64decode(reply["signed_measurements"])
    # spdmd's own InvalidArgument reaches the user unchanged; slots and
    # indices are refused by spdmtool itself before the call.
    bad = tool(two, "dbus-measurements", "gpu0", "--nonce", "zz")
    assert bad.returncode == 2
    assert "gpu0: InvalidArgument: Invalid Nonce" in bad.stderr
    failed = tool(two, "dbus-measurements", "gpu1")
    assert failed.returncode == 1
    assert "InternalFailure: CERTIFICATE_CHAIN failed: " in failed.stderr


def test_no_daemon(bmc: Environment) -> None:
    """Without spdmd on the bus, the commands exit 3 and say so."""
    out = tool(bmc, "list")
    assert out.returncode == 3
    assert "ServiceUnknown" in out.stderr or "NameHasNoOwner" in out.stderr
