"""spdmd.daemon.discovery: reading mctpd endpoints and Entity Manager records."""

from __future__ import annotations

import pytest

pytest.importorskip("dbus", reason="dbus-python is not installed (python3-dbus)")

from spdmd.daemon.devices import Address
from spdmd.daemon.discovery import (
    EP1_IFACE,
    EP_IFACE,
    MCTP_CFG,
    TCP_CFG,
    endpoint_sighting,
    parse_em_objects,
)

EP_PATH = "/au/com/codeconstruct/mctp1/networks/1/endpoints/20"
BOARD = "/xyz/openbmc_project/inventory/system/board/Tray"


def ep(types: list[int], **extra: object) -> dict[str, dict[str, object]]:
    return {
        EP_IFACE: {"NetworkId": 1, "EID": 20, "SupportedMessageTypes": types, **extra},
        EP1_IFACE: {"Connectivity": "Degraded"},
    }


def test_spdm_endpoint_is_kept_with_connectivity() -> None:
    s = endpoint_sighting(EP_PATH, ep([0, 1, 5]))
    assert s is not None
    assert s.address == Address("mctp", net=1, eid=20)
    assert s.connectivity == "Degraded"


def test_non_spdm_endpoint_is_skipped() -> None:
    """An endpoint without message type 5 (a PLDM-only device) is not a responder."""
    assert endpoint_sighting(EP_PATH, ep([0, 1])) is None
    assert endpoint_sighting(EP_PATH, {"other.Iface": {}}) is None


@pytest.mark.parametrize(
    "ifaces",
    [
        pytest.param({EP_IFACE: {"NetworkId": 1, "EID": 20}}, id="no-types"),
        pytest.param(
            {EP_IFACE: {"EID": 20, "SupportedMessageTypes": [5]}}, id="no-net"
        ),
        pytest.param(
            {EP_IFACE: {"NetworkId": 1, "EID": 300, "SupportedMessageTypes": [5]}},
            id="eid-range",
        ),
    ],
)
def test_malformed_endpoint_raises(ifaces: dict[str, dict[str, object]]) -> None:
    with pytest.raises(ValueError):
        endpoint_sighting(EP_PATH, ifaces)


def test_entity_manager_records() -> None:
    """TCP records make devices (spdm-emu framing by default); MCTP records name endpoints;
    a broken record is reported and the rest kept."""
    objects = {
        f"{BOARD}/gpu0": {
            TCP_CFG: {
                "Name": "gpu0",
                "Hostname": "10.0.0.2",
                "Port": 2323,
                "TrustedComponentType": "Discrete",
            }
        },
        f"{BOARD}/gpu1": {
            TCP_CFG: {
                "Name": "gpu1",
                "Hostname": "10.0.0.3",
                "Port": 4194.0,
                "Transport": "tcp",
            }
        },
        f"{BOARD}/nic0": {
            MCTP_CFG: {
                "Name": "nic0",
                "EID": 20,
                "Authenticating": "/xyz/openbmc_project/inventory/nic",
            }
        },
        f"{BOARD}/broken": {TCP_CFG: {"Name": "broken", "Port": 1}},
        f"{BOARD}/odd": {
            TCP_CFG: {"Name": "odd", "Hostname": "h", "Transport": "mctp"}
        },
        BOARD: {"xyz.openbmc_project.Inventory.Item.Board": {}},
    }
    sightings, problems = parse_em_objects(objects)
    by_name = {s.name: s for s in sightings}
    assert sorted(by_name) == ["gpu0", "gpu1", "nic0"]
    assert by_name["gpu0"].address == Address("emu-tcp", host="10.0.0.2", port=2323)
    assert by_name["gpu0"].authenticating == BOARD
    assert by_name["gpu1"].address == Address("tcp", host="10.0.0.3", port=4194)
    assert by_name["nic0"].names_only
    assert by_name["nic0"].authenticating == "/xyz/openbmc_project/inventory/nic"
    assert len(problems) == 2


@pytest.mark.parametrize(
    ("props", "problem"),
    [
        pytest.param(
            {"Hostname": "h", "Port": "2323"},
            "Port has the wrong type str, not an integer",
            id="port-string",
        ),
        pytest.param(
            {"Hostname": "h", "Port": True},
            "Port has the wrong type boolean, not an integer",
            id="port-bool",
        ),
        pytest.param(
            {"Hostname": "h", "Port": 70000},
            "Port 70000 is out of range 1..65535",
            id="port-range",
        ),
        pytest.param(
            {"Hostname": 5}, "Hostname has the wrong type int, not a string", id="host"
        ),
        pytest.param({}, "Hostname is missing", id="no-host"),
        pytest.param(
            {"Hostname": "h", "Name": 7},
            "Name has the wrong type int, not a string",
            id="name",
        ),
        pytest.param(
            {"Hostname": "h", "Transport": 1},
            "Transport has the wrong type int, not a string",
            id="transport",
        ),
    ],
)
def test_tcp_record_of_the_wrong_type_names_the_type(
    props: dict[str, object], problem: str
) -> None:
    """A wrong type is reported as such, not as "missing" or "out of range"."""
    sightings, problems = parse_em_objects({f"{BOARD}/gpu0": {TCP_CFG: props}})
    assert sightings == []
    assert problems == [f"{BOARD}/gpu0: {problem}"]


def test_mctp_record_of_the_wrong_type_names_the_type() -> None:
    objects = {
        f"{BOARD}/a": {MCTP_CFG: {"EID": "20"}},
        f"{BOARD}/b": {MCTP_CFG: {"EID": 20, "NetworkId": "1"}},
        f"{BOARD}/c": {MCTP_CFG: {}},
    }
    assert parse_em_objects(objects) == (
        [],
        [
            f"{BOARD}/a: EID has the wrong type str, not an integer",
            f"{BOARD}/b: NetworkId has the wrong type str, not an integer",
            f"{BOARD}/c: EID is missing",
        ],
    )


def test_association_path_that_is_not_an_object_path_is_left_out() -> None:
    """Authenticating/Reporting must be D-Bus object paths; else only the link goes."""
    objects = {
        f"{BOARD}/gpu0": {
            TCP_CFG: {
                "Name": "gpu0",
                "Hostname": "h",
                "Authenticating": "not a path",
                "Reporting": "/xyz/openbmc_project/inventory/x/",
            }
        },
        f"{BOARD}/gpu1": {TCP_CFG: {"Name": "gpu1", "Hostname": "h", "Port": 1}},
    }
    notes: list[str] = []
    sightings, problems = parse_em_objects(objects, notes)
    assert problems == []
    gpu0, gpu1 = sightings
    assert gpu0.authenticating is None
    assert gpu0.reporting is None
    assert gpu1.authenticating == BOARD
    bad_reporting = "/xyz/openbmc_project/inventory/x/"
    assert notes == [
        f"{BOARD}/gpu0: Authenticating 'not a path' is not a D-Bus object path; no authenticating association",
        f"{BOARD}/gpu0: Reporting {bad_reporting!r} is not a D-Bus object path; no reporting association",
    ]


def test_unknown_trusted_component_type_is_noted() -> None:
    notes: list[str] = []
    objects = {
        f"{BOARD}/gpu0": {
            TCP_CFG: {"Hostname": "h", "TrustedComponentType": "Discreet"}
        }
    }
    sightings, problems = parse_em_objects(objects, notes)
    assert problems == []
    assert sightings[0].trusted_component_type is None
    assert notes == [
        f"{BOARD}/gpu0: TrustedComponentType 'Discreet' is not one of Discrete, Integrated, Unknown; Unknown is published"
    ]


@pytest.mark.parametrize("eid", [0, 7, 255])
def test_eid_outside_the_transports_range_is_refused(eid: int) -> None:
    """Entity Manager records and mctpd endpoints use spdmd.transport.mctp's rule."""
    objects = {f"{BOARD}/nic0": {MCTP_CFG: {"EID": eid}}}
    assert parse_em_objects(objects) == (
        [],
        [f"{BOARD}/nic0: EID {eid} is out of range 8..254"],
    )
    with pytest.raises(ValueError, match=f"EID {eid} is out of range 8..254"):
        endpoint_sighting(EP_PATH, ep([5], EID=eid))


def test_eid_range_is_the_transports() -> None:
    from spdmd.transport.mctp import MCTP_EID_RANGE

    kept = [
        eid
        for eid in range(256)
        if parse_em_objects({f"{BOARD}/n": {MCTP_CFG: {"EID": eid}}})[0]
    ]
    assert kept == list(MCTP_EID_RANGE)
