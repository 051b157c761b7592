"""Paths and helpers shared by the layer checks (tests/layer).

These checks need no OpenBMC tree and no network: oelint-adv, the kas schema
inside the installed kas package, robot --dryrun and a wheel built from the
working tree. The bitbake parse against a real tree is scripts/check-layer.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LAYER = REPO / "meta-spdm-python"
RECIPE = LAYER / "recipes-phosphor" / "spdmd" / "python3-spdmd_git.bb"
VENV_BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    """A console script of the venv running the tests, or skip naming it."""
    path = VENV_BIN / name
    if not path.exists():
        pytest.skip(f"{name} is not installed in {VENV_BIN} (pip install -e '.[layer]')")
    return str(path)


def recipe_variable(text: str, name: str) -> list[str]:
    """Words of `NAME = "..."` in a recipe, continuation lines joined."""
    joined = text.replace("\\\n", " ")
    match = re.search(rf'^{re.escape(name)}\s*=\s*"([^"]*)"', joined, re.MULTILINE)
    if match is None:
        raise AssertionError(f"{name} is not assigned in the recipe")
    return match.group(1).split()
