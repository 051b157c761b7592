"""oelint-adv over every recipe and append of the layer, with the checked-in
configuration (.oelint.cfg, .oelint-constants.json for OpenBMC's variables)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from tests.layer.conftest import LAYER, RECIPE, REPO, tool


def _recipes() -> list[str]:
    files = sorted(
        str(p.relative_to(REPO))
        for p in LAYER.rglob("*")
        if p.suffix in (".bb", ".bbappend")
    )
    assert files, "no recipes found in meta-spdm-python"
    return files


def _oelint(*args: str, cwd: Path = REPO, config: bool = True) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("OELINT_CONFIG", None)
    if not config:
        env["OELINT_SKIP_CONFIG"] = "1"
    return subprocess.run(
        [tool("oelint-adv"), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_every_recipe_and_append_is_clean() -> None:
    """oelint-adv reports nothing, at any severity, for the whole layer."""
    files = _recipes()
    result = _oelint(*files)
    findings = (result.stdout + result.stderr).strip()
    assert result.returncode == 0 and not findings, findings


def test_the_constants_declare_openbmc_variables() -> None:
    """Without .oelint-constants.json, OpenBMC's OBMC_IMAGE_EXTRA_INSTALL is
    flagged: the checked-in declarations are what make the append clean."""
    append = "meta-spdm-python/recipes-phosphor/images/obmc-phosphor-image.bbappend"
    result = _oelint("--release", "wrynose", "--quiet", append, config=False)
    assert "OBMC_IMAGE_EXTRA_INSTALL' is unknown" in result.stderr + result.stdout


def test_a_broken_recipe_is_reported(tmp_path: Path) -> None:
    """The configuration does not silence real findings: a copy of the recipe
    with PV after SRC_URI and no LICENSE fails the lint."""
    text = RECIPE.read_text()
    lines = [
        line
        for line in text.splitlines()
        if not line.startswith(("LICENSE =", "PV =", "LIC_FILES_CHKSUM ="))
    ]
    lines.append('PV = "0.1.0+git"')
    broken = tmp_path / RECIPE.name
    broken.write_text("\n".join(lines) + "\n")
    shutil.copy(REPO / ".oelint.cfg", tmp_path)
    shutil.copy(REPO / ".oelint-constants.json", tmp_path)
    result = _oelint(str(broken), cwd=tmp_path)
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert "oelint.var.mandatoryvar.LICENSE" in out
    assert "oelint.var.order.PV" in out
