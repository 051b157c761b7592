"""The Robot Framework suites of recipes-tests pass "robot --dryrun": every
keyword resolves, arguments match, resource files load. Running them needs a
booted image (scripts/qemu-bmc --robot) or Renode (renode-test)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.layer.conftest import LAYER, tool

HERE = Path(__file__).resolve().parent
SUITES = {
    "qemu": (LAYER / "recipes-tests" / "robot", []),
    # renode-test provides Renode's keywords through ${RENODEKEYWORDS}.
    "renode": (
        LAYER / "recipes-tests" / "renode",
        ["--variable", f"RENODEKEYWORDS:{HERE / 'renode-keywords-dryrun.resource'}"],
    ),
}


def _dryrun(path: Path, extra: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("robot"), "--dryrun", "--outputdir", str(tmp_path), "--output", "NONE",
         "--report", "NONE", "--log", "NONE", "--console", "dotted", *extra, str(path)],
        capture_output=True, text=True, timeout=120,
    )


@pytest.mark.parametrize("name", sorted(SUITES))
def test_suite_passes_dryrun(name: str, tmp_path: Path) -> None:
    """Every test of the suite resolves in a dry run, and there are tests."""
    path, extra = SUITES[name]
    assert list(path.glob("*.robot")), f"no .robot suite in {path}"
    result = _dryrun(path, extra, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " 0 failed" in result.stdout and " passed" in result.stdout


def test_dryrun_catches_an_unknown_keyword(tmp_path: Path) -> None:
    """The dry run can fail: a suite calling a misspelt keyword is refused."""
    suite = tmp_path / "broken.robot"
    resource = LAYER / "recipes-tests" / "robot" / "bmc.resource"
    suite.write_text(
        "*** Settings ***\n"
        f"Resource    {resource}\n\n"
        "*** Test Cases ***\n"
        "Broken\n"
        "    BMC Runn    true\n"
    )
    result = _dryrun(suite, [], tmp_path)
    assert result.returncode != 0
    assert "No keyword with name 'BMC Runn' found" in result.stdout + result.stderr


def test_qemu_script_skips_without_an_image(tmp_path: Path) -> None:
    """scripts/qemu-bmc says what it needs and exits 77 when there is no image."""
    script = LAYER.parent / "scripts" / "qemu-bmc"
    result = subprocess.run(
        [str(script), "--image", str(tmp_path / "none.static.mtd")],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 77, result.stdout + result.stderr
    assert "SKIP: no image at" in result.stderr
    assert "kas build kas/evb-ast2600.yml:kas/test-image.yml" in result.stderr
