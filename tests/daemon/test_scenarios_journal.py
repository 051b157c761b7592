"""Failures reach the real journal with DEVICE, STEP and REASON fields.

The daemon runs as under systemd with python3-systemd installed: stderr
is announced as the journal (JOURNAL_STREAM), so it logs through
systemd.journal.JournalHandler to /run/systemd/journal/socket. Here that
socket belongs to a real systemd-journald in a private mount namespace
(tests.env.journal), and the entries are read back with journalctl, as
`journalctl -u xyz.openbmc_project.spdmd DEVICE=...` would on a BMC.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.env.harness import Environment
from tests.env.journal import journal_unavailable, read_journal, wrapper
from tests.env.processes import wait_for


@pytest.fixture
def journal_dir(tmp_path: Path) -> Path:
    missing = journal_unavailable()
    if missing:
        pytest.skip(f"no private journald: {missing}")
    return tmp_path / "journal-root"


def test_failure_is_a_journal_entry_with_fields(
    bmc: Environment, journal_dir: Path
) -> None:
    """A device with the wrong key gives a warning entry: DEVICE, STEP, REASON set."""
    bad = bmc.device("rogue", "wrong_key")
    good = bmc.device("honest")
    bmc.start_entity_manager(
        [
            {
                "Name": "Tray",
                "Type": "Board",
                "Exposes": [bad.em_record(), good.em_record()],
            }
        ]
    )
    # systemd sets JOURNAL_STREAM to stderr's device:inode; its presence is
    # what tells the daemon that stderr is the journal.
    bmc.start_daemon(extra_env={"JOURNAL_STREAM": "0:0"}, wrap=wrapper(journal_dir))
    assert bmc.wait_status("rogue")["status"] == "Failed"
    assert bmc.wait_status("honest")["status"] == "Success"

    def entries(*matches: str) -> list[dict[str, Any]]:
        return read_journal(journal_dir, "SYSLOG_IDENTIFIER=spdmd", *matches)

    found = wait_for(lambda: entries("DEVICE=rogue", "STEP=CHALLENGE"), 10)
    entry = found[-1]
    assert entry["MESSAGE"].startswith("Failed to attest rogue at CHALLENGE: ")
    assert entry["REASON"] and entry["REASON"] in entry["MESSAGE"]
    assert entry["PRIORITY"] == "4"  # warning
    # The good device is in the journal too, without a STEP.
    ok = wait_for(lambda: entries("DEVICE=honest"), 10)
    assert any(e["MESSAGE"] == "Attested honest with SPDM 1.3" for e in ok)
    assert not [e for e in ok if "STEP" in e]
    # Nothing went to stderr: the journal handler took every line.
    assert bmc.daemon is not None and bmc.daemon.log() == ""
