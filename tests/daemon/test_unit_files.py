"""The systemd unit and D-Bus policy the layer installs, checked by the real tools.

`systemd-analyze verify` refuses a unit whose ExecStart binary does not
exist, and /usr/bin/spdmd exists only on the target. The tests therefore
verify a temporary copy whose ExecStart names the `spdmd` console script of
this environment (the same entry point, installed by scripts/setup), and
nothing else changes. Parse errors are only warnings for systemd, so the
tests also require an empty stderr.

The policy is loaded into a real dbus-daemon by tests.env.dbus_daemon,
which includes the file verbatim; ownership is tried as root and as
`nobody` in a child process that drops its uid.
"""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from tests.env.dbus_daemon import OUR_POLICY, DBusDaemon, DBusDaemonError
from tests.env.fixtures import require_dbus

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "data" / "systemd" / "xyz.openbmc_project.spdmd.service"
BUS_NAME = "xyz.openbmc_project.spdmd"


def spdmd_entry_point() -> str:
    exe = Path(sys.prefix) / "bin" / "spdmd"
    if exe.exists():
        return str(exe)
    found = shutil.which("spdmd")
    if found is None:
        pytest.skip("the spdmd console script is not installed (run scripts/setup)")
    return found


needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="needs root to own the name and to setuid to nobody"
)


def systemd_analyze(*args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("systemd-analyze")
    if exe is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd)")
    return subprocess.run(
        [exe, *args], check=False, capture_output=True, text=True, timeout=60
    )


def unit_copy(tmp_path: Path, text: str | None = None) -> Path:
    text = UNIT.read_text() if text is None else text
    assert "ExecStart=/usr/bin/spdmd\n" in text
    copy = tmp_path / UNIT.name
    copy.write_text(
        text.replace("ExecStart=/usr/bin/spdmd", f"ExecStart={spdmd_entry_point()}")
    )
    return copy


def unit_values(key: str) -> list[str]:
    values = []
    for line in UNIT.read_text().splitlines():
        if line.startswith(f"{key}="):
            values.append(line.split("=", 1)[1])
    return values


def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    """systemd-analyze verify accepts the unit with no warning at all."""
    copy = unit_copy(tmp_path)
    r = systemd_analyze("verify", str(copy))
    assert r.returncode == 0, r.stderr
    assert r.stderr.strip() == ""


def test_verify_would_catch_a_broken_unit(tmp_path: Path) -> None:
    """The verify check notices a misspelt address family (so AF_MCTP is known)."""
    copy = unit_copy(tmp_path, UNIT.read_text().replace("AF_MCTP", "AF_MCPT"))
    r = systemd_analyze("verify", str(copy))
    assert "AF_MCPT" in r.stderr


def test_unit_sandboxing_exposure_is_low(tmp_path: Path) -> None:
    """systemd-analyze security rates the unit's exposure below 3.0 (OK)."""
    copy = unit_copy(tmp_path)
    r = systemd_analyze("security", "--offline=true", "--threshold=30", str(copy))
    assert r.returncode == 0, r.stdout[-2000:]


def test_unit_is_a_dbus_service_for_our_name() -> None:
    """The unit is Type=dbus for the name our policy lets root own, restarts always."""
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text())
    service = parser["Service"]
    assert service["Type"] == "dbus"
    assert service["BusName"] == BUS_NAME
    assert service["Restart"] == "always"
    assert service["StateDirectory"] == "spdmd"
    assert unit_values("ExecStart") == ["/usr/bin/spdmd"]
    assert "AF_MCTP" in service["RestrictAddressFamilies"].split()
    assert service["CapabilityBoundingSet"].split() == ["CAP_NET_RAW"]
    assert parser["Install"]["WantedBy"] == "multi-user.target"
    assert f'<allow own="{BUS_NAME}"/>' in OUR_POLICY.read_text()


# A child that drops to nobody, then tries to own the name and to call Set
# and Get on it; it prints one result word per attempt.
_AS_NOBODY = textwrap.dedent(
    """
    import os, sys
    import dbus
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)
    bus = dbus.bus.BusConnection(sys.argv[1])
    try:
        bus.request_name("xyz.openbmc_project.spdmd")
        print("own:ok")
    except dbus.DBusException as e:
        print("own:" + e.get_dbus_name())
    for method, args in (("Get", ("a.b", "c")), ("Set", ("a.b", "c", dbus.Boolean(True)))):
        try:
            bus.call_blocking("xyz.openbmc_project.spdmd", "/",
                              "org.freedesktop.DBus.Properties", method,
                              "ss" if method == "Get" else "ssv", args, timeout=0.5)
            print(method + ":ok")
        except dbus.DBusException as e:
            print(method + ":" + e.get_dbus_name())
    """
)


@needs_root
def test_policy_root_owns_nobody_refused(dbus_daemon: DBusDaemon) -> None:
    """Root may own the name; nobody may not, but may still call Get and Set."""
    import dbus

    root = dbus.bus.BusConnection(dbus_daemon.address)
    try:
        assert root.request_name(BUS_NAME) == dbus.bus.REQUEST_NAME_REPLY_PRIMARY_OWNER
        r = subprocess.run(
            [sys.executable, "-c", _AS_NOBODY, dbus_daemon.address],
            check=False,
            capture_output=True,
            text=True,
            timeout=30,
        )
    finally:
        root.close()
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split()
    assert lines[0] == "own:org.freedesktop.DBus.Error.AccessDenied"
    # The calls pass the policy and reach the owner, which never answers here.
    assert lines[1] == "Get:org.freedesktop.DBus.Error.NoReply"
    assert lines[2] == "Set:org.freedesktop.DBus.Error.NoReply"


@needs_root
def test_policy_other_names_stay_closed(dbus_daemon: DBusDaemon) -> None:
    """The included policy opens only our name: root still cannot own a foreign one."""
    import dbus

    root = dbus.bus.BusConnection(dbus_daemon.address)
    try:
        with pytest.raises(dbus.DBusException) as exc:
            root.request_name("xyz.openbmc_project.Other")
    finally:
        root.close()
    assert exc.value.get_dbus_name() == "org.freedesktop.DBus.Error.AccessDenied"


def test_dbus_daemon_refuses_invalid_policy(tmp_path: Path) -> None:
    """A policy file that is not valid busconfig XML stops dbus-daemon (so ours loaded)."""
    require_dbus()
    broken = tmp_path / "broken.conf"
    broken.write_text(OUR_POLICY.read_text().replace("</busconfig>", ""))
    with pytest.raises(DBusDaemonError):
        DBusDaemon(policies=(broken,)).start()
