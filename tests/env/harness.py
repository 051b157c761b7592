"""The whole test environment in one object: bus, stand-ins, devices, daemon.

`Environment` is what the scenario tests, scripts/demo and
scripts/bench-daemon build on. It owns a work directory (configuration,
state, trust anchors, the SPDMD_TEST_MCTP_MAP file, the daemon's log) and
everything it starts; close() stops all of it, in reverse order.

The daemon is the installed `spdmd` console script, run as a child with
--bus-address, --config, --state-dir and --trust-anchors, and -v so its
log says what it did.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Self

from tests.env.client import Client, DBusCallError
from tests.env.dbus_daemon import DBusDaemon
from tests.env.devices import Device, write_trust_anchor
from tests.env.processes import StandIn, child_env, wait_for

__all__ = ["BUS_NAME", "CI_ROOT", "DaemonProcess", "Environment", "spdmd_executable"]

BUS_NAME = "xyz.openbmc_project.spdmd"
CI_ROOT = "/xyz/openbmc_project/component_integrity"
CI = "xyz.openbmc_project.Attestation.ComponentIntegrity"
IA = "xyz.openbmc_project.Attestation.IdentityAuthentication"
RESPONDER = "xyz.openbmc_project.spdmd.Responder1"
STATUS = IA + ".VerificationStatus."


def spdmd_executable() -> str:
    """The spdmd console script of this environment."""
    exe = Path(sys.executable).parent / "spdmd"
    return str(exe) if exe.exists() else "spdmd"


class DaemonProcess:
    """One spdmd child process; its stderr goes to a log file."""

    def __init__(
        self,
        env: Environment,
        extra_args: tuple[str, ...] = (),
        extra_env: dict[str, str] | None = None,
        wrap: list[str] | None = None,
    ) -> None:
        self.env = env
        self.log_path = env.workdir / f"spdmd-{env.daemon_runs}.log"
        env.daemon_runs += 1
        args = [
            # A command prefix, e.g. tests.env.journal's private journald.
            *(wrap or []),
            spdmd_executable(),
            "--bus-address",
            env.bus.address,
            "--config",
            str(env.config_path),
            "--state-dir",
            str(env.state_dir),
            "--trust-anchors",
            str(env.trust_dir),
            "-v",
            *extra_args,
        ]
        variables = {"SPDMD_TEST_MCTP_MAP": str(env.mctp_map_path)}
        variables.update(extra_env or {})
        self.log_file = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
            env=child_env(env.bus.address, variables),
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        self.log_file.flush()
        return self.log_path.read_text(errors="replace")

    def running(self) -> bool:
        return self.proc.poll() is None

    def wait_owned(self, timeout: float = 10.0) -> float:
        """Wait until the daemon owns its name; seconds since the process start."""

        def owned() -> bool:
            if not self.running():
                raise RuntimeError(
                    f"spdmd exited ({self.proc.returncode}):\n{self.log()}"
                )
            return self.env.client.name_has_owner(BUS_NAME)

        wait_for(owned, timeout, interval=0.005)
        return time.monotonic() - self.started

    def stop(self, timeout: float = 10.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
        self.log_file.close()
        return self.proc.returncode


class Environment:
    """Bus, stand-ins, devices and daemon for one test module or one demo run."""

    def __init__(self, workdir: Path, *, config: dict[str, Any] | None = None) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.bus = DBusDaemon()
        self.bus.start()
        self.client = Client(self.bus.address)
        self.trust_dir = workdir / "trust-anchors"
        write_trust_anchor(self.trust_dir)
        self.state_dir = workdir / "state"
        self.state_dir.mkdir(exist_ok=True)
        self.config_path = workdir / "config.json"
        self.mctp_map_path = workdir / "mctp-map.json"
        self.mctp_map: dict[str, Any] = {}
        self.write_mctp_map()
        self.write_config(config or {})
        self.devices: list[Device] = []
        self.standins: dict[str, StandIn] = {}
        self.daemon: DaemonProcess | None = None
        self.daemon_runs = 0

    # configuration

    def write_config(self, config: dict[str, Any]) -> None:
        """The daemon's configuration file; short deadlines suit tests."""
        merged = {
            "deadline_seconds": 5,
            "parallelism": 8,
            "reattest_period_seconds": 3600,
        }
        merged.update(config)
        self.config_path.write_text(json.dumps(merged, indent=2))

    def write_mctp_map(self) -> None:
        tmp = self.mctp_map_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.mctp_map, indent=2))
        os.replace(tmp, self.mctp_map_path)

    def map_mctp(self, net: int, eid: int, device: Device | None) -> None:
        """Point (net, eid) at device (None: leave it unmapped, unreachable)."""
        key = f"{net}/{eid}"
        if device is None:
            self.mctp_map.pop(key, None)
        else:
            self.mctp_map[key] = device.mctp_target()
        self.write_mctp_map()

    # parts

    def device(self, name: str, *faults: str, **kwargs: Any) -> Device:
        dev = Device(name, faults, **kwargs)
        self.devices.append(dev)
        return dev

    def start_standin(self, module: str, *args: str) -> StandIn:
        self.stop_standin(module)
        proc = StandIn(module, self.bus.address, *args).start()
        self.standins[module] = proc
        return proc

    def stop_standin(self, module: str) -> None:
        proc = self.standins.pop(module, None)
        if proc is not None:
            proc.stop()

    def start_mapper(self, settle: bool = True) -> StandIn:
        mapper = self.start_standin("mapper")
        if settle:
            wait_for(lambda: not mapper.command("busy")["busy"], 10)
        return mapper

    def start_mctpd(self, endpoints: list[dict[str, Any]] | None = None) -> StandIn:
        return self.start_standin("mctpd", "--endpoints", json.dumps(endpoints or []))

    def start_entity_manager(self, boards: list[dict[str, Any]]) -> StandIn:
        path = self.workdir / "entity-manager.json"
        path.write_text(json.dumps(boards, indent=2))
        return self.start_standin("entity_manager", "--config", str(path))

    def start_daemon(
        self,
        *extra_args: str,
        wait: bool = True,
        extra_env: dict[str, str] | None = None,
        wrap: list[str] | None = None,
    ) -> DaemonProcess:
        if self.daemon is not None:
            self.daemon.stop()
        self.daemon = DaemonProcess(self, extra_args, extra_env, wrap)
        if wait:
            self.daemon.wait_owned()
        return self.daemon

    def wait_mapper_introspected(
        self, name: str = BUS_NAME, timeout: float = 20.0
    ) -> None:
        """Wait until the mapper has finished introspecting name's current owner.

        Its IntrospectionComplete moment: before it, the mapper's view of
        the daemon is partial (a GetSubTreePaths under component_integrity
        may even be ResourceNotFound), as on a BMC just after boot.
        """
        owner = str(self.client.conn.get_name_owner(name))
        mapper = self.standins["mapper"]
        wait_for(
            lambda: mapper.command("introspected")["introspected"].get(name) == owner,
            timeout,
        )

    def wait_mapper(
        self, query: Callable[[], Any], expected: Any, timeout: float = 10.0
    ) -> None:
        """Poll a mapper query until it answers `expected`.

        The mapper learns from signals and introspection, so it trails the
        daemon; an error answer (ResourceNotFound while it has not seen a
        path yet) counts as "not yet".
        """
        last: list[Any] = [None]

        def check() -> bool:
            try:
                last[0] = query()
            except DBusCallError as exc:
                last[0] = exc
            return bool(last[0] == expected)

        try:
            wait_for(check, timeout)
        except TimeoutError:
            raise AssertionError(
                f"the mapper still answers {last[0]!r}, expected {expected!r}"
            ) from None

    def stop_daemon(self) -> int | None:
        if self.daemon is None:
            return None
        code = self.daemon.stop()
        self.daemon = None
        return code

    # what a user sees

    def responder_path(self, ident: str) -> str:
        return f"{CI_ROOT}/{ident}"

    def responder_ids(self) -> list[str]:
        objects = self.client.managed_objects(BUS_NAME, CI_ROOT)
        return sorted(p.rsplit("/", 1)[1] for p, i in objects.items() if CI in i)

    def status(self, ident: str) -> dict[str, Any]:
        """Everything a BMC engineer checks about one responder."""
        path = self.responder_path(ident)
        ci = self.client.get_all(BUS_NAME, path, CI)
        ia = self.client.get_all(BUS_NAME, path, IA)
        try:
            extra = self.client.get_all(BUS_NAME, path, RESPONDER)
        except DBusCallError:
            extra = {}
        status = ia["ResponderVerificationStatus"]
        return {
            "status": status.removeprefix(STATUS),
            **ci,
            **extra,
        }

    def wait_status(
        self, ident: str, timeout: float = 20.0, since: int = 0
    ) -> dict[str, Any]:
        """Wait for a finished attestation (newer than `since` ms) and return it."""

        def done() -> dict[str, Any] | None:
            try:
                st = self.status(ident)
            except DBusCallError:
                return None
            if st["status"] == "Unknown" or st.get("Attesting"):
                return None
            if st["LastUpdated"] <= since:
                return None
            return st

        result: dict[str, Any] = wait_for(done, timeout, interval=0.05)
        return result

    def wait_gone(self, ident: str, timeout: float = 10.0) -> None:
        wait_for(lambda: ident not in self.responder_ids(), timeout)

    def close(self) -> None:
        self.stop_daemon()
        for module in list(self.standins)[::-1]:
            self.stop_standin(module)
        for dev in self.devices:
            dev.stop()
        self.devices.clear()
        self.client.close()
        self.bus.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
