"""A private, system-bus-like dbus-daemon for tests and the demo.

The configuration copies what makes the system bus different from a session
bus: a default policy that denies owning names and sending method calls, so
every service needs a policy file punching holes for it. Our own policy file
(data/dbus/xyz.openbmc_project.spdmd.conf) is included unmodified with a
plain <include>, which makes dbus-daemon refuse to start if the file is not
valid busconfig XML. The stand-ins (mapper, mctpd, Entity Manager) and the
throw-away services of the tests get a permissive policy of their own,
modelled on OpenBMC's generated ones: root owns, anyone sends.

The daemon runs as the calling user (root here), listens on a unix socket
in a fresh temporary directory readable by everyone, so that a process that
dropped to `nobody` can connect and be refused by the policy.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Self
from xml.sax.saxutils import quoteattr

__all__ = [
    "OUR_POLICY",
    "STANDIN_NAMES",
    "TEST_NAME_PREFIX",
    "DBusDaemon",
    "DBusDaemonError",
]

REPO = Path(__file__).resolve().parents[2]
OUR_POLICY = REPO / "data" / "dbus" / "xyz.openbmc_project.spdmd.conf"

# Well-known names the stand-ins own. Not ours to police, so they are open.
STANDIN_NAMES = (
    "xyz.openbmc_project.ObjectMapper",
    "au.com.codeconstruct.MCTP1",
    "xyz.openbmc_project.EntityManager",
)
# Throw-away services created by tests (mapper tests, the demo's helpers).
TEST_NAME_PREFIX = "xyz.openbmc_project.Test"

_DOCTYPE = (
    '<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"\n'
    ' "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">\n'
)

# The default policy of Debian's /usr/share/dbus-1/system.conf, reduced to
# what a private bus needs (no activation helper, no syslog, no fork).
_BUS_CONF = """{doctype}<busconfig>
  <type>system</type>
  <auth>EXTERNAL</auth>
  <listen>unix:path={socket}</listen>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Properties"/>
    <deny send_destination="org.freedesktop.DBus"
          send_interface="org.freedesktop.DBus"
          send_member="UpdateActivationEnvironment"/>
  </policy>
  <policy user="root">
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Monitoring"/>
  </policy>
{includes}
</busconfig>
"""

_STANDIN_CONF = """{doctype}<busconfig>
  <policy user="root">
{owns}
    <allow own_prefix="{prefix}"/>
  </policy>
  <policy context="default">
{sends}
    <allow send_destination_prefix="{prefix}"/>
  </policy>
</busconfig>
"""


class DBusDaemonError(RuntimeError):
    """dbus-daemon refused the configuration or did not come up."""


class DBusDaemon:
    """One private dbus-daemon process.

    `policies` are the busconfig files included verbatim (ours by default);
    the stand-ins' policy is always added. Use as a context manager or call
    start() and stop(); `address` is the D-Bus address to connect to.
    """

    def __init__(self, policies: tuple[Path, ...] = (OUR_POLICY,)) -> None:
        self.policies = tuple(Path(p) for p in policies)
        self.tmpdir: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.address = ""

    def write_config(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        standin = directory / "standins.conf"
        owns = "\n".join(f"    <allow own={quoteattr(n)}/>" for n in STANDIN_NAMES)
        sends = "\n".join(
            f"    <allow send_destination={quoteattr(n)}/>" for n in STANDIN_NAMES
        )
        standin.write_text(
            _STANDIN_CONF.format(
                doctype=_DOCTYPE, owns=owns, sends=sends, prefix=TEST_NAME_PREFIX
            )
        )
        includes = [f"  <include>{standin}</include>"]
        includes += [f"  <include>{p}</include>" for p in self.policies]
        conf = directory / "bus.conf"
        conf.write_text(
            _BUS_CONF.format(
                doctype=_DOCTYPE,
                socket=directory / "system_bus_socket",
                includes="\n".join(includes),
            )
        )
        return conf

    def start(self, timeout: float = 10.0) -> str:
        if self.proc is not None:
            return self.address
        exe = shutil.which("dbus-daemon")
        if exe is None:
            raise DBusDaemonError("dbus-daemon is not installed (Debian dbus-daemon)")
        self.tmpdir = Path(tempfile.mkdtemp(prefix="spdmd-bus-"))
        # World-searchable so a process running as nobody reaches the socket.
        os.chmod(self.tmpdir, 0o755)
        conf = self.write_config(self.tmpdir)
        self.proc = subprocess.Popen(
            [
                exe,
                "--nofork",
                "--nopidfile",
                "--print-address=1",
                f"--config-file={conf}",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode().strip()
        if not line:
            err = self.proc.stderr.read().decode() if self.proc.stderr else ""
            self.proc.wait(timeout)
            self.proc = None
            self.cleanup_tmp()
            raise DBusDaemonError(f"dbus-daemon did not start: {err.strip()}")
        self.address = line
        socket = self.tmpdir / "system_bus_socket"
        end = time.monotonic() + timeout
        while not socket.exists():
            if time.monotonic() > end:
                self.stop()
                raise DBusDaemonError("dbus-daemon socket did not appear")
            time.sleep(0.01)
        return self.address

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
            for stream in (self.proc.stdout, self.proc.stderr):
                if stream is not None:
                    stream.close()
            self.proc = None
        self.cleanup_tmp()

    def cleanup_tmp(self) -> None:
        if self.tmpdir is not None:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = None

    def env(self) -> dict[str, str]:
        """Environment for a child process that should use this bus as system bus."""
        env = dict(os.environ)
        env["DBUS_SYSTEM_BUS_ADDRESS"] = self.address
        env.pop("DBUS_SESSION_BUS_ADDRESS", None)
        return env

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
