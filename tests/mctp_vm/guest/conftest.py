"""Fixtures of the in-guest MCTP suite: real links, real kernel, emulated endpoints.

Runs only inside the VM that tests/mctp_vm/test_vm.py boots (scripts/mctp-vm
sets SPDMD_IN_MCTP_VM); the host collection ignores this directory. The
guest is root with CAP_NET_ADMIN, so the fixtures create links and
addresses through the kernel's own rtnetlink interface.

Addressing (docs/mctp-vm.md has the picture):

- mctptun0 (TUN, MTU 68): local EID 8, EIDs 20-29 routed to it, served by
  `Bus` in a thread of this process;
- lo: local EID 9, served by a responder on a bound AF_MCTP socket;
- mctpserial0 (N_MCTP on ttyS1, MTU 68), MCTP network 2: local EID 10,
  EIDs 30-31 routed to it; the endpoints run on the host, behind qemu's
  socket chardev.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import sys
import termios
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

_REPO = Path(__file__).resolve().parents[3]
if str(_REPO) not in sys.path:
    sys.path.insert(0, str(_REPO))

from tests.mctp_vm.endpoint import Bus, Endpoint, TunLink, open_tun, serve
from tests.mctp_vm.netlink import Netlink

from spdmd.responder.faults import Faults
from spdmd.responder.responder import Responder, ResponderConfig
from spdmd.responder.server import serve_mctp

if not os.environ.get("SPDMD_IN_MCTP_VM"):
    pytest.exit("the guest suite runs only inside scripts/mctp-vm", returncode=4)

TUN = "mctptun0"
SERIAL = "mctpserial0"
LOCAL_TUN, LOCAL_LO, LOCAL_SERIAL = 8, 9, 10
N_MCTP = 28
SERIAL_NET = 2

# EID -> (what the endpoint does, responder faults, endpoint options).
TUN_ENDPOINTS: dict[int, tuple[str, list[str], dict[str, object]]] = {
    20: ("good", [], {}),
    21: ("signs with the wrong key", ["wrong_key"], {}),
    22: ("chain from an untrusted root", ["untrusted_root"], {}),
    23: ("silent", [], {"silent": True}),
    24: ("repeats its previous reply first", [], {"stale": True}),
    25: ("sends wrong-tag and wrong-source replies first", [], {"mismatched": True}),
    26: ("good (late-reply scenario)", [], {}),
    27: ("good", [], {}),
    28: ("good", [], {}),
}


@dataclass
class TunBus:
    bus: Bus
    trust_anchor: Path
    untrusted_anchor: Path

    def ep(self, eid: int) -> Endpoint:
        found = self.bus.endpoint(eid)
        assert found is not None
        return found


def _root(config: ResponderConfig, path: Path) -> Path:
    (slot0,) = config.slots[0].values()
    path.write_bytes(slot0.der_chain[0])
    return path


@pytest.fixture(scope="session")
def netlink() -> Iterator[Netlink]:
    with Netlink() as nl:
        yield nl


@pytest.fixture(scope="session")
def tun_bus(
    netlink: Netlink, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TunBus]:
    """Nine emulated endpoints behind a TUN link with the baseline MTU."""
    fd = open_tun(TUN)
    netlink.set_link(TUN, up=True, mtu=68)
    netlink.add_addr(TUN, LOCAL_TUN)
    netlink.add_route(TUN, 20, extent=9)
    endpoints = []
    configs = {}
    for eid, (_what, faults, options) in TUN_ENDPOINTS.items():
        config = ResponderConfig.generate(faults=Faults.parse(faults))
        configs[eid] = config
        endpoints.append(Endpoint(eid, Responder(config), **options))  # type: ignore[arg-type]
    bus = Bus(endpoints, mtu=68)
    stop = threading.Event()
    thread = threading.Thread(target=serve, args=(TunLink(fd), bus, stop), daemon=True)
    thread.start()
    d = tmp_path_factory.mktemp("pki")
    yield TunBus(
        bus, _root(configs[20], d / "root.der"), _root(configs[22], d / "untrusted.der")
    )
    stop.set()
    thread.join(5)
    os.close(fd)


@pytest.fixture(scope="session")
def loopback(
    netlink: Netlink, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    """A responder on a bound AF_MCTP socket, reached through the local EID on lo."""
    netlink.set_link("lo", up=True)
    netlink.add_addr("lo", LOCAL_LO)
    config = ResponderConfig.generate()
    stop = threading.Event()
    thread = threading.Thread(
        target=serve_mctp, args=(Responder(config),), kwargs={"stop": stop}, daemon=True
    )
    thread.start()
    yield _root(config, tmp_path_factory.mktemp("lo") / "root.der")
    stop.set()
    thread.join(5)


@dataclass
class SerialBus:
    good: int
    silent: int
    net: int
    trust_anchor: Path


@pytest.fixture(scope="session")
def serial_bus(netlink: Netlink) -> Iterator[SerialBus]:
    """ttyS1 turned into an MCTP link with the N_MCTP line discipline."""
    anchor = os.environ.get("SPDMD_VM_SERIAL_ANCHOR")
    if not anchor:
        pytest.skip("no host-side serial endpoint (SPDMD_VM_SERIAL_ANCHOR unset)")
    fd = os.open("/dev/ttyS1", os.O_RDWR | os.O_NOCTTY)
    # Raw 8N1 at 115200: qemu's UART paces bytes by the baud rate.
    attrs = termios.tcgetattr(fd)
    attrs[0] = 0
    attrs[1] = 0
    attrs[2] = termios.CS8 | termios.CREAD | termios.CLOCAL
    attrs[3] = 0
    attrs[4] = attrs[5] = termios.B115200
    termios.tcsetattr(fd, termios.TCSANOW, attrs)
    fcntl.ioctl(fd, termios.TIOCSETD, N_MCTP.to_bytes(4, sys.byteorder))
    for _ in range(50):
        if os.path.exists(f"/sys/class/net/{SERIAL}"):
            break
        time.sleep(0.05)
    # The serial link is MCTP network 2, so requesters must name the network.
    netlink.set_link(SERIAL, net=SERIAL_NET)
    netlink.set_link(SERIAL, up=True)
    netlink.add_addr(SERIAL, LOCAL_SERIAL)
    netlink.add_route(SERIAL, 30, extent=1)
    yield SerialBus(30, 31, SERIAL_NET, Path(anchor))
    os.close(fd)


@pytest.fixture(scope="session")
def spdmtool() -> list[str]:
    found = shutil.which("spdmtool")
    return [found] if found else [sys.executable, "-m", "spdmd.tool.cli"]
