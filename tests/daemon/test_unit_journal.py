"""spdmd.daemon.journal: structured fields and the stderr fallback."""

from __future__ import annotations

import logging

import pytest

from spdmd.daemon.journal import fields, setup_logging


@pytest.fixture(autouse=True)
def _restore_logger() -> object:
    """setup_logging configures the process-wide `spdmd` logger; undo it."""
    log = logging.getLogger("spdmd")
    saved = (list(log.handlers), log.level, log.propagate)
    yield
    log.handlers[:] = saved[0]
    log.setLevel(saved[1])
    log.propagate = saved[2]


def test_fields_only_carry_what_is_known() -> None:
    assert fields("gpu0", "CHALLENGE", "bad signature") == {
        "DEVICE": "gpu0",
        "STEP": "CHALLENGE",
        "REASON": "bad signature",
    }
    assert fields("gpu0") == {"DEVICE": "gpu0"}


def test_stderr_lines_get_priority_prefix_under_systemd(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """With stderr on the journal and no python3-systemd, lines carry sd-daemon <N> prefixes."""
    import builtins

    real_import = builtins.__import__

    def no_systemd(name: str, *args: object, **kw: object) -> object:
        if name.startswith("systemd"):
            raise ImportError(name)
        return real_import(name, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_systemd)
    log = setup_logging(False, use_journal=True)
    log.warning(
        "Failed to attest gpu0 at CHALLENGE: x", extra=fields("gpu0", "CHALLENGE")
    )
    log.debug("not shown without -v")
    err = capsys.readouterr().err
    assert err == "<4>Failed to attest gpu0 at CHALLENGE: x\n"


def test_verbose_without_journal(capsys: pytest.CaptureFixture[str]) -> None:
    log = setup_logging(True, use_journal=False)
    log.debug("Attesting gpu0 (discovered)")
    assert capsys.readouterr().err == "Attesting gpu0 (discovered)\n"
