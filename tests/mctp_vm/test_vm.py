"""Boot the MCTP VM and run the in-guest suite against the real Linux MCTP stack.

The kernel is built once per configuration (scripts/mctp-vm caches it, about
4 minutes on 2 cores the first time); each boot then costs seconds plus the
guest suite. The host side of the mctp-serial link runs here: qemu connects
the guest's ttyS1 to a Unix socket this test listens on, and emulated
endpoints answer DSP0253 frames on it. Every scenario's outcome is printed
to the log, and the test fails when any guest scenario fails.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import shutil
import socket
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from tests.mctp_vm.endpoint import Bus, Endpoint, SerialLink, serve

from spdmd.responder.responder import Responder, ResponderConfig

TOP = Path(__file__).resolve().parents[2]
GUEST = Path(__file__).resolve().parent / "guest"
SERIAL_GOOD, SERIAL_SILENT = 30, 31
# The whole boot, guest suite included; TCG Python is slow.
BOOT_TIMEOUT = 600.0


def load_runner() -> ModuleType:
    path = TOP / "scripts" / "mctp-vm"
    loader = importlib.machinery.SourceFileLoader("mctp_vm_runner", str(path))
    spec = importlib.util.spec_from_loader("mctp_vm_runner", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def runner() -> ModuleType:
    module = load_runner()
    problems = module.missing()
    if problems:
        pytest.skip(
            "MCTP VM needs " + "; ".join(problems) + " (scripts/setup installs them)"
        )
    return module


class SerialHost:
    """The host end of the guest's mctp-serial link: a listener qemu connects to."""

    def __init__(self, share: Path) -> None:
        self.path = share / "serial.sock"
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(self.path))
        self.listener.listen(1)
        self.listener.settimeout(BOOT_TIMEOUT)
        config = ResponderConfig.generate()
        (cred,) = config.slots[0].values()
        self.anchor = share / "serial-root.der"
        self.anchor.write_bytes(cred.der_chain[0])
        self.bus = Bus(
            [
                Endpoint(SERIAL_GOOD, Responder(config)),
                Endpoint(SERIAL_SILENT, silent=True),
            ]
        )
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except OSError as exc:
            self.error = exc
            return
        link = SerialLink(conn)
        try:
            serve(link, self.bus, self.stop)
        except OSError as exc:
            self.error = exc
        finally:
            link.close()

    def close(self) -> None:
        self.stop.set()
        self.listener.close()
        self.thread.join(5)


@pytest.fixture
def share(runner: ModuleType) -> Iterator[Path]:
    """A host directory the guest can read: not under /tmp, which the guest
    covers with its own tmpfs."""
    base = runner.cache_dir() / "runs"
    base.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(dir=base, prefix="share-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def scenario_lines(junit: Path) -> tuple[list[str], int]:
    """One line per guest scenario and how many did not pass."""
    lines, bad = [], 0
    for case in ET.parse(junit).getroot().iter("testcase"):
        name = case.get("name", "?")
        seconds = float(case.get("time", "0"))
        outcome = "PASSED"
        for tag, word in (
            ("failure", "FAILED"),
            ("error", "ERROR"),
            ("skipped", "SKIPPED"),
        ):
            found = case.find(tag)
            if found is not None:
                outcome = word
                detail = (found.get("message") or "").splitlines()[:1]
                if detail:
                    outcome += f" ({detail[0][:160]})"
                break
        if outcome.startswith(("FAILED", "ERROR")):
            bad += 1
        lines.append(
            f"  {outcome.split(' ')[0]:8} {name} [{seconds:.1f} s]{outcome[len(outcome.split(' ')[0]) :]}"
        )
    return lines, bad


def test_guest_suite_over_real_kernel_mctp(
    runner: ModuleType, share: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The in-guest scenarios (TUN, mctp-serial, loopback) pass against Linux's MCTP stack."""
    started = time.monotonic()
    try:
        image = runner.build_kernel()
    except runner.VmError as exc:
        pytest.fail(f"could not build the MCTP kernel: {exc}")
    built = time.monotonic() - started
    serial_host = SerialHost(share)
    results = share / "results"
    env = runner.default_env()
    env["SPDMD_VM_SERIAL_ANCHOR"] = str(serial_host.anchor)
    python = TOP / ".venv" / "bin" / "python"
    command = " ".join(
        [
            str(python if python.exists() else "python3"),
            "-m pytest -c /dev/null -p no:cacheprovider",
            f"--rootdir={GUEST} --confcutdir={GUEST}",
            "-o python_files=guest_test_*.py -v -rA -s",
            "--junitxml=$MCTP_VM_RESULTS/guest.xml",
            str(GUEST),
        ]
    )
    started = time.monotonic()
    try:
        rc, output, _console = runner.run(
            command,
            timeout=BOOT_TIMEOUT,
            env=env,
            cwd=TOP,
            serial_socket=str(serial_host.path),
            keep=results,
        )
    except runner.VmError as exc:
        pytest.fail(str(exc))
    finally:
        serial_host.close()
    booted = time.monotonic() - started
    junit = results / "guest.xml"
    lines, bad = scenario_lines(junit) if junit.exists() else ([], 0)
    with capsys.disabled():
        print(
            f"\nMCTP VM: kernel {image} ready in {built:.0f} s; "
            f"boot and guest suite {booted:.0f} s; scenarios (real Linux MCTP stack):"
        )
        print("\n".join(lines) if lines else "  (no results recorded)")
    assert lines, f"the guest suite recorded no results (exit {rc}):\n{output}"
    assert rc == 0 and bad == 0, f"guest suite exit {rc}, {bad} failed:\n{output}"
    if os.environ.get("SPDMD_MCTP_VM_VERBOSE"):
        with capsys.disabled():
            print(output)
