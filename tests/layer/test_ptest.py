"""The ptest package's layout is self-contained.

do_install_ptest copies SPDMD_PTEST_DIRS and tests/conftest.py into
${PTEST_PATH}; run-ptest runs pytest there. Here the same copy is made in a
temporary directory and pytest collects it (outside this repository, with
the installed spdmd importable): every test module's imports resolve with
only the copied directories, so nothing on the target reaches for a file
that was left behind.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.layer.conftest import RECIPE, REPO

RUN_PTEST = RECIPE.parent / "files" / "run-ptest"


def _ptest_dirs() -> list[str]:
    match = re.search(r'^SPDMD_PTEST_DIRS \?= "([^"]*)"', RECIPE.read_text(), re.MULTILINE)
    assert match, "SPDMD_PTEST_DIRS is not set in the recipe"
    return match.group(1).split()


def test_ptest_layout_collects(tmp_path: Path) -> None:
    """pytest collects the copied tests with no import error, and finds tests."""
    ptest = tmp_path / "ptest"
    for rel in _ptest_dirs():
        assert (REPO / rel).is_dir(), f"{rel} in SPDMD_PTEST_DIRS does not exist"
        shutil.copytree(REPO / rel, ptest / rel,
                        ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "tests" / "conftest.py", ptest / "tests" / "conftest.py")
    shutil.copy(RUN_PTEST, ptest / "run-ptest")
    assert "pytest --automake" in RUN_PTEST.read_text()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
         "tests"],
        cwd=ptest, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    collected = re.search(r"(\d+) tests? collected", result.stdout)
    assert collected and int(collected.group(1)) > 0, result.stdout[-2000:]
