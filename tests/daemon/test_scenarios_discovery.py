"""End-to-end discovery scenarios: mctpd's endpoints, the mapper, many devices.

MCTP endpoints come from the mctpd stand-in; the daemon reaches each one's
emulator through the SPDMD_TEST_MCTP_MAP test hook (docs/testing.md), since
this host has no AF_MCTP.
"""

from __future__ import annotations

import time

from tests.env.client import DBusCallError
from tests.env.harness import BUS_NAME, CI_ROOT, Environment
from tests.env.processes import wait_for

CI = "xyz.openbmc_project.Attestation.ComponentIntegrity"
POLICY = "xyz.openbmc_project.Control.Security.SPDM.Policy"


def mctp(bmc: Environment, eids: list[int], *faults: str) -> None:
    """Emulators behind MCTP endpoints 1/eid, reachable through the hook."""
    for eid in eids:
        bmc.map_mctp(1, eid, bmc.device(f"mctp{eid}", *faults))


def test_boot_with_no_endpoints(bmc: Environment) -> None:
    """With no endpoints and no Entity Manager the daemon stays up and serves the policy."""
    bmc.start_mctpd([])
    daemon = bmc.start_daemon()
    time.sleep(1.0)
    assert daemon.running()
    assert bmc.client.name_has_owner(BUS_NAME)
    assert bmc.responder_ids() == []
    assert bmc.client.get(BUS_NAME, CI_ROOT, POLICY, "Enabled") is True
    # The mapper answers an empty search from "/" with an empty result.
    assert bmc.client.subtree("/", 0, ("xyz.openbmc_project.MCTP.Endpoint",)) == {}

    # bmcweb's collection query finds the daemon's root through introspection
    # (so no ResourceNotFound) and no members.
    def root_object() -> object:
        try:
            return bmc.client.get_object(CI_ROOT, (POLICY,))
        except DBusCallError:
            return None

    wait_for(root_object, 10)
    assert POLICY in root_object()[BUS_NAME]  # type: ignore[index]
    assert "org.freedesktop.DBus.ObjectManager" in root_object()[BUS_NAME]  # type: ignore[index]
    assert bmc.client.subtree_paths(CI_ROOT, 0, (CI,)) == []


def test_mapper_appears_late(bmc: Environment) -> None:
    """Started before the mapper, the daemon waits for it and is then found through it."""
    bmc.stop_standin("mapper")
    mctp(bmc, [20])
    bmc.start_mctpd([{"net": 1, "eid": 20, "types": [0, 5]}])
    daemon = bmc.start_daemon()
    time.sleep(0.5)
    assert daemon.running()
    bmc.start_mapper()
    assert bmc.wait_status("mctp_1_20")["status"] == "Success"
    bmc.wait_mapper_introspected()
    bmc.wait_mapper(
        lambda: bmc.client.subtree_paths(CI_ROOT, 0, (CI,)), [f"{CI_ROOT}/mctp_1_20"]
    )


def test_two_and_many_endpoints_at_once(bmc: Environment) -> None:
    """Sixteen MCTP endpoints and two TCP devices at once are all attested."""
    eids = list(range(20, 36))
    mctp(bmc, eids)
    tcp = [bmc.device("tcp_a"), bmc.device("tcp_b")]
    bmc.start_mctpd([{"net": 1, "eid": e, "types": [0, 5]} for e in eids])
    bmc.start_entity_manager(
        [{"Name": "Tray", "Type": "Board", "Exposes": [d.em_record() for d in tcp]}]
    )
    bmc.start_daemon()
    idents = [f"mctp_1_{e}" for e in eids] + ["tcp_a", "tcp_b"]
    for ident in idents:
        assert bmc.wait_status(ident, timeout=60)["status"] == "Success", ident
    assert bmc.responder_ids() == sorted(idents)


def test_non_spdm_endpoint_skipped(bmc: Environment) -> None:
    """An endpoint without message type 5 gets no responder object; the SPDM one does."""
    mctp(bmc, [21])
    bmc.start_mctpd(
        [{"net": 1, "eid": 20, "types": [0, 1]}, {"net": 1, "eid": 21, "types": [0, 5]}]
    )
    bmc.start_daemon()
    assert bmc.wait_status("mctp_1_21")["status"] == "Success"
    assert bmc.responder_ids() == ["mctp_1_21"]


def test_hotplug_add_and_remove(bmc: Environment) -> None:
    """An endpoint added later is attested; a removed one's objects disappear."""
    mctpd = bmc.start_mctpd([])
    bmc.start_daemon()
    mctp(bmc, [30])
    mctpd.command("add", net=1, eid=30, types=[0, 5])
    assert bmc.wait_status("mctp_1_30")["status"] == "Success"
    mctpd.command("remove", net=1, eid=30)
    bmc.wait_gone("mctp_1_30")
    # Under load the mapper may still be introspecting the daemon: until it
    # is done, the removal can drop component_integrity itself from its
    # tree (ResourceNotFound), as phosphor-objmgr's would.
    bmc.wait_mapper_introspected()
    bmc.wait_mapper(lambda: bmc.client.subtree_paths(CI_ROOT, 0, (CI,)), [])


def test_mctpd_restart(bmc: Environment) -> None:
    """After mctpd restarts, endpoints it still has are re-attested, the others go."""
    dev40 = bmc.device("mctp40")
    bmc.map_mctp(1, 40, dev40)
    mctp(bmc, [41])
    both = [{"net": 1, "eid": e, "types": [0, 5]} for e in (40, 41)]
    bmc.start_mctpd(both)
    bmc.start_daemon()
    assert bmc.wait_status("mctp_1_40")["status"] == "Success"
    assert bmc.wait_status("mctp_1_41")["status"] == "Success"
    bmc.stop_standin("mctpd")
    # With mctpd gone nothing else schedules an attestation, so once none
    # runs, a newer result and a new connection can only be the restart's.
    before = bmc.wait_status("mctp_1_40")
    served = dev40.server.connections
    bmc.start_mctpd(both[:1])
    again = bmc.wait_status("mctp_1_40", since=before["LastUpdated"])
    assert again["status"] == "Success"
    assert dev40.server.connections > served
    bmc.wait_gone("mctp_1_41")


def test_unreachable_device_fails_while_others_succeed(bmc: Environment) -> None:
    """A silent device fails at its deadline; the bus answers meanwhile; others pass."""
    silent = bmc.device("mute", "silent")
    good = [bmc.device(f"ok{i}") for i in range(3)]
    bmc.map_mctp(1, 50, None)  # announced by mctpd, but nothing answers
    bmc.start_mctpd([{"net": 1, "eid": 50, "types": [0, 5]}])
    bmc.start_entity_manager(
        [
            {
                "Name": "Tray",
                "Type": "Board",
                "Exposes": [d.em_record() for d in [silent, *good]],
            }
        ]
    )
    bmc.start_daemon()
    for dev in good:
        assert bmc.wait_status(dev.name)["status"] == "Success"
    # Whether or not the silent device is still pending, the bus answers.
    assert bmc.status("mute")["status"] in ("Unknown", "Failed")
    assert isinstance(bmc.client.subtree_paths("/", 0, (CI,)), list)
    failed = bmc.wait_status("mute", timeout=20)
    assert failed["status"] == "Failed"
    assert failed["FailedStep"] in ("GET_VERSION", "DEADLINE")
    unrouted = bmc.wait_status("mctp_1_50")
    assert (unrouted["status"], unrouted["FailedStep"]) == ("Failed", "TRANSPORT")


def test_reattest_when_connectivity_returns(bmc: Environment) -> None:
    """Connectivity Degraded then Available re-attests an MCTP endpoint that recovered."""
    dev = bmc.device("mctp60", "silent")
    bmc.map_mctp(1, 60, dev)
    mctpd = bmc.start_mctpd([{"net": 1, "eid": 60, "types": [0, 5]}])
    bmc.start_daemon()
    failed = bmc.wait_status("mctp_1_60", timeout=20)
    assert failed["status"] == "Failed"
    mctpd.command("connectivity", net=1, eid=60, value="Degraded")
    wait_for(lambda: bmc.status("mctp_1_60")["Connectivity"] == "Degraded", 5)
    dev.set_faults()
    mctpd.command("connectivity", net=1, eid=60, value="Available")
    st = bmc.wait_status("mctp_1_60", since=failed["LastUpdated"])
    assert st["status"] == "Success"


def test_entity_manager_names_an_mctp_endpoint(bmc: Environment) -> None:
    """An SpdmMctpRequester record names an mctpd endpoint and links its board."""
    mctp(bmc, [22])
    bmc.start_mctpd([{"net": 1, "eid": 22, "types": [0, 5]}])
    bmc.start_entity_manager(
        [
            {
                "Name": "GPU Board",
                "Type": "Board",
                "Exposes": [
                    {
                        "Name": "gpu 1",
                        "Type": "SpdmMctpRequester",
                        "EID": 22,
                        "TrustedComponentType": "Integrated",
                    }
                ],
            }
        ]
    )
    bmc.start_daemon()
    st = bmc.wait_status("gpu_1")
    assert st["status"] == "Success"
    assert bmc.responder_ids() == ["gpu_1"]
    board = "/xyz/openbmc_project/inventory/system/board/GPU_Board"
    bmc.wait_mapper(
        lambda: bmc.client.endpoints(f"{CI_ROOT}/gpu_1/authenticating"), [board]
    )
    tc = bmc.client.get(
        BUS_NAME,
        "/xyz/openbmc_project/trusted_components/gpu_1",
        "xyz.openbmc_project.Inventory.Item.TrustedComponent",
        "TrustedComponentType",
    )
    assert tc.endswith(".ComponentAttachType.Integrated")


def test_static_mctp_entry_without_mctpd(bmc: Environment) -> None:
    """A static MCTP entry in config.json is attested though no mctpd reports it."""
    mctp(bmc, [8])
    bmc.write_config(
        {
            "mctp_discovery": False,
            "responders": [
                {"transport": "mctp", "eid": 8, "static": True, "name": "loopback"}
            ],
        }
    )
    bmc.start_daemon()
    st = bmc.wait_status("loopback")
    assert st["status"] == "Success"
    assert bmc.responder_ids() == ["loopback"]
