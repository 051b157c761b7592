"""Every kas file validates against the schema shipped inside the installed
kas package, carries the schema modeline and a header version, and the base
configuration holds what an evb-ast2600 flash image needs."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from tests.layer.conftest import LAYER, REPO

jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is not installed")
yaml = pytest.importorskip("yaml", reason="PyYAML is not installed")
kas = pytest.importorskip("kas", reason="kas is not installed (pip install -e '.[layer]')")

KAS_FILES = sorted((REPO / "kas").glob("*.yml"))
MODELINE = re.compile(
    r"^# yaml-language-server: \$schema=https://raw\.githubusercontent\.com/siemens/kas/[^/]+/kas/schema-kas\.json$"
)


def _schema() -> dict[str, Any]:
    return json.loads((resources.files("kas") / "schema-kas.json").read_text())


def _load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), f"{path.name} is not a mapping"
    return data


def test_there_are_kas_files() -> None:
    """The base, its lock file and the fragments exist."""
    names = {p.name for p in KAS_FILES}
    assert {"evb-ast2600.yml", "evb-ast2600.lock.yml", "test-image.yml", "local-dev.yml"} <= names


@pytest.mark.parametrize("path", KAS_FILES, ids=lambda p: p.name)
def test_kas_file_validates_against_the_kas_schema(path: Path) -> None:
    """kas would accept the file: the packaged schema validates it."""
    jsonschema.validate(_load(path), _schema())


@pytest.mark.parametrize("path", KAS_FILES, ids=lambda p: p.name)
def test_kas_file_has_modeline_and_header_version(path: Path) -> None:
    """Editors find the schema, kas finds the format version."""
    first = path.read_text().splitlines()[0]
    assert MODELINE.match(first), f"{path.name}: first line is {first!r}"
    assert isinstance(_load(path)["header"]["version"], int)


def test_the_schema_rejects_a_broken_config() -> None:
    """The validation can fail: a misspelt top-level key is refused."""
    data = _load(REPO / "kas" / "evb-ast2600.yml")
    data["machnie"] = data.pop("machine")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, _schema())


def test_base_config_builds_the_flash_image() -> None:
    """Machine, distro, target, the pinned openbmc repository with its layers,
    the machine template's require line and the opt-in are all there."""
    base = _load(REPO / "kas" / "evb-ast2600.yml")
    assert base["machine"] == "evb-ast2600"
    assert base["distro"] == "openbmc-phosphor"
    assert base["target"] == "obmc-phosphor-image"
    openbmc = base["repos"]["openbmc"]
    assert openbmc["url"] == "https://github.com/openbmc/openbmc.git"
    assert re.fullmatch(r"[0-9a-f]{40}", openbmc["commit"])
    assert {"meta", "meta-phosphor", "meta-aspeed",
            "meta-evb/meta-evb-aspeed/meta-evb-ast2600"} <= set(openbmc["layers"])
    ours = base["repos"]["meta-spdm-python"]
    assert "url" not in ours, "the layer's own repository is the one holding the config"
    assert (REPO / next(iter(ours["layers"])) / "conf" / "layer.conf").is_file()
    local_conf = "\n".join(base["local_conf_header"].values())
    assert "require conf/machine/include/obmc-bsp-common.inc" in local_conf
    assert 'MACHINE_FEATURES:append = " spdm-python"' in local_conf


def test_lock_file_pins_the_same_commit() -> None:
    """kas reads evb-ast2600.lock.yml next to the base; both name one commit."""
    base = _load(REPO / "kas" / "evb-ast2600.yml")
    lock = _load(REPO / "kas" / "evb-ast2600.lock.yml")
    assert lock["overrides"]["repos"]["openbmc"]["commit"] == base["repos"]["openbmc"]["commit"]


def test_test_image_fragment_installs_the_test_responder() -> None:
    """The test image adds the package that a recipe of the layer provides."""
    fragment = "\n".join(_load(REPO / "kas" / "test-image.yml")["local_conf_header"].values())
    assert "spdmd-test-responder" in fragment
    assert list(LAYER.glob("recipes-tests/*/spdmd-test-responder_*.bb"))


def test_local_dev_fragment_points_externalsrc_at_this_checkout() -> None:
    """EXTERNALSRC derives the tree from the layer.conf variable it sets."""
    fragment = "\n".join(_load(REPO / "kas" / "local-dev.yml")["local_conf_header"].values())
    assert "EXTERNALSRC:pn-python3-spdmd" in fragment
    assert "SPDM_PYTHON_LAYERDIR :=" in (LAYER / "conf" / "layer.conf").read_text()


def test_kas_merges_base_fragments_and_lock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """kas's own include handler (what "kas build a.yml:b.yml" runs before any
    clone) reads the base with its lock file and every fragment, needs no
    repository it lacks, and the lock's pin survives the merge."""
    import argparse

    from kas.context import create_global_context
    from kas.includehandler import IncludeHandler

    monkeypatch.setenv("KAS_WORK_DIR", str(tmp_path))
    create_global_context(argparse.Namespace(no_color=True))
    files = [REPO / "kas" / n for n in
             ("evb-ast2600.yml", "test-image.yml", "local-dev.yml", "ptest.yml")]
    handler = IncludeHandler([str(f) for f in files], use_lock=True)
    config, missing = handler.get_config()
    assert missing == []
    loaded = [Path(f.filename).name for f in handler.config_files]
    assert "evb-ast2600.lock.yml" in loaded
    pinned = config["overrides"]["repos"]["openbmc"]["commit"]
    assert pinned == config["repos"]["openbmc"]["commit"]
    assert {"openbmc-template", "spdm-python", "spdm-python-test-image",
            "spdm-python-local-dev", "spdm-python-ptest"} <= set(config["local_conf_header"])
