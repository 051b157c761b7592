"""The wheel the recipe builds, installed with only what the recipe declares.

python3-spdmd builds the wheel with python_setuptools_build_meta and installs
it with its RDEPENDS and nothing else. Here the wheel is built offline from a
copy of the working tree, installed into a venv with no site packages, and
given only the modules the recipe's third-party RDEPENDS stand for
(cryptography with cffi, as oe-core's python3-cryptography brings them, and
Debian's dbus-python for python3-dbus). Standard-library modules come in
separate python3-* packages on the target; the table below, read from
oe-core's python3-manifest.json (wrynose), keeps RDEPENDS equal to what
src/spdmd imports.
"""

from __future__ import annotations

import ast
import importlib.util
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from tests.layer.conftest import RECIPE, REPO, recipe_variable

# Standard-library top-level modules -> the oe-core package holding them
# (python3-manifest.json). "core" is python3-core, which the class adds.
STDLIB_PACKAGE = {
    "__future__": "core",
    "argparse": "core",
    "base64": "netclient",
    "collections": "core",
    "concurrent": "asyncio",
    "contextlib": "core",
    "ctypes": "ctypes",
    "dataclasses": "core",
    "datetime": "datetime",
    "enum": "core",
    "errno": "core",
    "functools": "core",
    "hashlib": "crypt",
    "hmac": "netclient",
    "importlib": "core",
    "io": "core",
    "itertools": "core",
    "json": "json",
    "logging": "logging",
    "math": "core",
    "os": "core",
    "pathlib": "core",
    "queue": "threading",
    "re": "core",
    "secrets": "netclient",
    "select": "core",
    "selectors": "core",
    "signal": "core",
    "socket": "io",
    "stat": "core",
    "string": "stringold",
    "struct": "core",
    "sys": "core",
    "tempfile": "io",
    "textwrap": "core",
    "threading": "core",
    "time": "core",
    "types": "core",
    "typing": "core",
    "warnings": "core",
    "weakref": "core",
    "xml": "xml",
}
# Imports that pull in another package's modules at run time.
STDLIB_INDIRECT = {"concurrent": {"threading"}}  # ThreadPoolExecutor uses queue
# Third-party top-level modules -> recipe package; the host modules that
# stand for it in the clean venv.
THIRD_PARTY = {
    "cryptography": ("python3-cryptography", ("cryptography", "cffi", "_cffi_backend")),
    "dbus": ("python3-dbus", ("dbus", "_dbus_bindings", "_dbus_glib_bindings")),
}
# Imported only inside a try/except ImportError: recommended, not required.
OPTIONAL = {"systemd": "python3-systemd"}

ENTRY_POINTS = ("spdmd", "spdmtool", "spdm-responder")


def _imports() -> dict[str, set[str]]:
    """Top-level modules imported anywhere in src/spdmd -> files importing them."""
    found: dict[str, set[str]] = {}
    for path in (REPO / "src" / "spdmd").rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top != "spdmd":
                    found.setdefault(top, set()).add(str(path.relative_to(REPO)))
    return found


def test_rdepends_match_what_the_code_imports() -> None:
    """Every module src/spdmd imports is covered by RDEPENDS:${PN}, and every
    RDEPENDS entry is needed by some import (nothing bitbake detects itself)."""
    imports = _imports()
    unknown = sorted(set(imports) - set(STDLIB_PACKAGE) - set(THIRD_PARTY) - set(OPTIONAL))
    assert not unknown, (
        f"add these imports to STDLIB_PACKAGE or THIRD_PARTY (and the recipe): "
        f"{ {m: sorted(imports[m]) for m in unknown} }"
    )
    needed = set()
    for module in imports:
        if module in THIRD_PARTY:
            needed.add(THIRD_PARTY[module][0])
        elif module in STDLIB_PACKAGE:
            for pkg in {STDLIB_PACKAGE[module], *STDLIB_INDIRECT.get(module, ())}:
                if pkg != "core":
                    needed.add(f"python3-{pkg}")
    declared = set(recipe_variable(RECIPE.read_text(), "RDEPENDS:${PN}"))
    assert sorted(needed - declared) == [], "imported but not in RDEPENDS:${PN}"
    assert sorted(declared - needed) == [], "in RDEPENDS:${PN} but imported nowhere"
    recommends = set(recipe_variable(RECIPE.read_text(), "RRECOMMENDS:${PN}"))
    assert {OPTIONAL[m] for m in imports if m in OPTIONAL} <= recommends


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built offline from a copy of what the recipe's source has."""
    work = tmp_path_factory.mktemp("wheel")
    src = work / "tree"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(
        REPO / "src",
        src / "src",
        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"),
    )
    dist = work / "dist"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--no-index", "-q", "-w", str(dist), str(src)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    wheels = list(dist.glob("spdmd-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def _host_module_paths(names: tuple[str, ...]) -> list[Path]:
    paths = []
    for name in names:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            pytest.skip(f"{name} is not importable here, so the clean venv cannot get it")
        origin = Path(spec.origin)
        paths.append(origin.parent if origin.name == "__init__.py" else origin)
    return paths


@pytest.fixture(scope="module")
def clean_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv without site packages: the wheel plus the declared dependencies."""
    venv = tmp_path_factory.mktemp("venv") / "clean"
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q",
         "--no-deps", "--no-index", str(wheel)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    site = Path(subprocess.check_output(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        text=True,
    ).strip())
    declared = set(recipe_variable(RECIPE.read_text(), "RDEPENDS:${PN}"))
    for package, modules in THIRD_PARTY.values():
        assert package in declared
        for path in _host_module_paths(modules):
            (site / path.name).symlink_to(path)
    return venv


def _run(venv: Path, *args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "LANG": "C.UTF-8"}
    return subprocess.run(args, capture_output=True, text=True, timeout=60, env=env,
                          cwd=venv, **kw)  # type: ignore[call-overload]


def test_wheel_has_the_entry_points_and_the_responder_package(wheel: Path) -> None:
    """The three commands exist, and spdmd/responder is a separate directory
    (FILES:${PN}-responder splits it off); no tests are shipped."""
    names = zipfile.ZipFile(wheel).namelist()
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    for command in ENTRY_POINTS:
        assert f"{command} = " in text
    assert "spdmd/responder/cli.py" in names
    assert not [n for n in names if n.startswith("tests/")]


def test_clean_venv_is_isolated(clean_venv: Path) -> None:
    """The clean venv cannot see undeclared packages of the test venv."""
    result = _run(clean_venv, "python", "-c", "import yaml")
    assert result.returncode != 0 and "ModuleNotFoundError" in result.stderr


@pytest.mark.parametrize("command", ENTRY_POINTS)
def test_entry_point_starts(clean_venv: Path, command: str) -> None:
    """Each installed command prints its usage with only the declared modules."""
    result = _run(clean_venv, command, "--help")
    assert result.returncode == 0, result.stderr
    assert f"usage: {command}" in result.stdout


def test_every_module_imports(clean_venv: Path) -> None:
    """No module of the package needs an undeclared third-party module."""
    code = (
        "import importlib, pkgutil, spdmd\n"
        "for m in pkgutil.walk_packages(spdmd.__path__, 'spdmd.'):\n"
        "    if m.name.endswith('__main__'):\n"
        "        continue\n"
        "    importlib.import_module(m.name)\n"
    )
    result = _run(clean_venv, "python", "-c", code)
    assert result.returncode == 0, result.stderr


def test_daemon_takes_its_bus_name(  # type: ignore[no-untyped-def]
    clean_venv: Path, bus_address: str, bus_connection, tmp_path: Path
) -> None:
    """The installed spdmd, with no devices configured, owns
    xyz.openbmc_project.spdmd on a private bus and stops cleanly on SIGTERM."""
    config = tmp_path / "config.json"
    config.write_text('{"mctp_discovery": false, "entity_manager": false, "responders": []}')
    anchors = tmp_path / "anchors"
    anchors.mkdir()
    proc = subprocess.Popen(
        [str(clean_venv / "bin" / "spdmd"), "--bus-address", bus_address,
         "--config", str(config), "--state-dir", str(tmp_path / "state"),
         "--trust-anchors", str(anchors)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={"PATH": f"{clean_venv / 'bin'}:/usr/bin:/bin", "LANG": "C.UTF-8"},
    )
    try:
        owned = False
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            if bus_connection.name_has_owner("xyz.openbmc_project.spdmd"):
                owned = True
                break
            time.sleep(0.1)
        assert owned, f"spdmd did not take its name; exit {proc.poll()}"
    finally:
        proc.terminate()
        try:
            out, _ = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
    assert proc.returncode == 0, out

