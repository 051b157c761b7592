"""scripts/mctp-vm's own decisions, checked without building or booting."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest
from tests.mctp_vm.test_vm import load_runner


@pytest.fixture(scope="module")
def runner() -> ModuleType:
    return load_runner()


def test_config_check_names_every_missing_option(
    runner: ModuleType, tmp_path: Path
) -> None:
    """A kernel config without MCTP fails with a message naming CONFIG_MCTP=y."""
    config = tmp_path / "config"
    config.write_text(
        "\n".join(f"{name}=y" for name in runner.REQUIRED if name != "CONFIG_MCTP")
        + "\n# CONFIG_MCTP is not set\n"
    )
    with pytest.raises(runner.VmError, match=r"lacks CONFIG_MCTP=y;"):
        runner.check_config(config)
    config.write_text("\n".join(f"{name}=y" for name in runner.REQUIRED) + "\n")
    runner.check_config(config)


def test_fragment_covers_what_the_guest_needs(runner: ModuleType) -> None:
    lines = set(runner.CONFIG_FRAGMENT.splitlines())
    for name in runner.REQUIRED:
        assert f"{name}=y" in lines


def test_cache_key_follows_the_fragment(
    runner: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same inputs, same cached kernel; a changed fragment or source, a new one."""
    monkeypatch.setattr(runner, "source_version", lambda: "6.1.192-1")
    key = runner.config_key()
    assert runner.config_key() == key
    monkeypatch.setattr(
        runner, "CONFIG_FRAGMENT", runner.CONFIG_FRAGMENT + "CONFIG_IPV6=y\n"
    )
    assert runner.config_key() != key
    monkeypatch.setattr(runner, "source_version", lambda: "6.1.200-1")
    assert runner.config_key() != key


def test_missing_names_debian_packages(
    runner: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without qemu or the kernel source the reason names the package to install."""
    monkeypatch.setattr(runner.shutil, "which", lambda name: None)
    monkeypatch.setattr(
        runner, "SOURCE_TARBALL", Path("/nonexistent/linux-source-6.1.tar.xz")
    )
    problems = " ".join(runner.missing())
    assert "qemu-system-x86" in problems
    assert "linux-source-6.1" in problems
    assert "bison" in problems


def test_cache_dir_from_environment(
    runner: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SPDMD_MCTP_VM_CACHE", str(tmp_path))
    assert runner.cache_dir() == tmp_path
