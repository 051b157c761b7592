"""scripts/demo's body, run as README runs it (minus the set-up step)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.env.fixtures import require_dbus, require_spdmd
from tests.env.processes import REPO, child_env


def test_demo_reports_each_device_and_leaves_nothing() -> None:
    """The demo prints the four expected outcomes, a verified signature, and cleans up."""
    require_dbus()
    require_spdmd()
    proc = subprocess.run(
        [sys.executable, "-m", "tests.env.demo"],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env=child_env(""),
    )
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    assert re.search(r"^gpu0 +Success +1\.3 ", out, re.MULTILINE)
    assert re.search(r"^nic_wrong_key +Failed +\S+ +CHALLENGE ", out, re.MULTILINE)
    assert re.search(
        r"^ssd_untrusted_root +Failed +\S+ +CERTIFICATE_CHAIN ", out, re.MULTILINE
    )
    assert re.search(r"^fpga_silent +Failed ", out, re.MULTILINE)
    assert "signature VERIFIED" in out
    # The private bus is gone: its socket directory was removed on exit.
    socket = re.search(r"unix:path=([^,\s]+)", out)
    assert socket is not None and not Path(socket.group(1)).exists()
