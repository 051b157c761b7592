"""docs/daemon.md's "By hand, on a private bus" recipe, run as written.

The block after `<!-- recipe: private-bus -->` is run with bash -e from the
top of the checkout; only the responder's port is changed to a free one,
so that the test does not depend on 2323 being free.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
from pathlib import Path

import pytest

TOP = Path(__file__).resolve().parents[2]
DOC = TOP / "docs" / "daemon.md"


def recipe() -> str:
    text = DOC.read_text()
    found = re.search(r"<!-- recipe: private-bus -->\n```sh\n(.*?)```", text, re.DOTALL)
    assert found, "docs/daemon.md lost its private-bus recipe"
    return found.group(1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_private_bus_recipe_runs_as_written() -> None:
    """The newcomer's recipe brings up spdmd, attests gpu0 and answers busctl."""
    for tool, package in (("dbus-daemon", "dbus-daemon"), ("busctl", "systemd")):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (Debian package {package})")
    if os.geteuid() != 0:
        pytest.skip(
            "the recipe runs as root: the D-Bus policy lets only root own the name"
        )
    if not (TOP / ".venv" / "bin" / "spdmd").exists():
        pytest.skip("no .venv with spdmd: run scripts/setup")
    # When a step fails, bash -e stops before the recipe's own kills: the
    # trap ends the bus, responder and daemon it started.
    cleanup = (
        "trap 'rc=$?; set +e; kill $(jobs -p) 2>/dev/null; wait;"
        ' [ -n "${W:-}" ] && rm -rf "$W"; exit $rc\' EXIT\n'
    )
    script = cleanup + recipe().replace("2323", str(free_port()))
    env = {k: v for k, v in os.environ.items() if k != "DBUS_SYSTEM_BUS_ADDRESS"}
    proc = subprocess.Popen(
        ["bash", "-e", "-c", script],
        cwd=TOP,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f"the recipe did not finish within 60 s:\n{out}")
    print(out)
    assert proc.returncode == 0, out
    assert re.search(r"^gpu0\s+Success\s+1\.3\s", out, re.MULTILINE), out
    assert "/xyz/openbmc_project/component_integrity/gpu0" in out
    assert 'osssss "/xyz/openbmc_project/certs/devices/gpu0/0"' in out
    assert "Attested gpu0 with SPDM 1.3" in out
