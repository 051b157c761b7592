"""scripts/check-layer without an OpenBMC checkout says what it needs.

The real run (bitbake parse, graph, plan) needs an openbmc/openbmc
checkout and several minutes; it is not part of CI here. Point
SPDM_OPENBMC_CHECKOUT at one to also compile-check the oeqa cases
against that tree's oeqa framework.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.layer.conftest import LAYER, REPO

SCRIPT = REPO / "scripts" / "check-layer"


def test_missing_checkout_is_explained(tmp_path: Path) -> None:
    """A directory that is not an OpenBMC tree: exit 2, naming the missing file."""
    result = subprocess.run([str(SCRIPT), str(tmp_path)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2
    assert "is not an openbmc/openbmc checkout" in result.stderr
    assert "git clone https://github.com/openbmc/openbmc" in result.stderr


def test_absent_path_is_explained(tmp_path: Path) -> None:
    """A path that does not exist: exit 2 and the clone command."""
    result = subprocess.run([str(SCRIPT), str(tmp_path / "nowhere")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "no directory" in result.stderr


def test_oeqa_cases_import_with_oe_core() -> None:
    """The layer's oeqa runtime cases import against oe-core's oeqa."""
    checkout = os.environ.get("SPDM_OPENBMC_CHECKOUT")
    if not checkout:
        pytest.skip("SPDM_OPENBMC_CHECKOUT is not set (path of an openbmc/openbmc checkout)")
    lib = Path(checkout) / "meta" / "lib"
    if not (lib / "oeqa").is_dir():
        pytest.skip(f"{lib}/oeqa does not exist")
    code = (
        "import sys; sys.path[:0] = [sys.argv[1], sys.argv[2]];"
        "import oeqa.runtime.cases.spdmd as m; print(m.SpdmdTest.__name__)"
    )
    # oeqa is a namespace spread over layers (addpylib): ours goes first.
    result = subprocess.run(
        [sys.executable, "-c", code, str(lib), str(LAYER / "lib")],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
