"""spdmd.daemon.devices: merging sightings into devices, and their ids."""

from __future__ import annotations

from spdmd.daemon.devices import Address, Registry, Sighting, sanitize_id

TC = "xyz.openbmc_project.Inventory.Item.TrustedComponent.ComponentAttachType."


def mctp(net: int | None, eid: int, **kw: object) -> Sighting:
    return Sighting(Address("mctp", net=net, eid=eid), **kw)  # type: ignore[arg-type]


def tcp(host: str, port: int, **kw: object) -> Sighting:
    return Sighting(Address("emu-tcp", host=host, port=port), **kw)  # type: ignore[arg-type]


def test_derived_ids_are_path_safe_and_stable() -> None:
    """Without a configured name, ids come from the address and only use [A-Za-z0-9_]."""
    reg = Registry()
    ch = reg.update("mctp", [mctp(1, 20)])
    ch2 = reg.update("em", [tcp("10.0.2.2", 2323)])
    assert [d.id for d in ch.added] == ["mctp_1_20"]
    assert [d.id for d in ch2.added] == ["tcp_10_0_2_2_2323"]
    assert sanitize_id("gpu-0 (slot 3)") == "gpu_0__slot_3_"
    assert sanitize_id("") == "_"


def test_configured_name_wins() -> None:
    reg = Registry()
    ch = reg.update(
        "em", [tcp("h", 1, name="GPU 0", trusted_component_type="Integrated")]
    )
    (dev,) = ch.added
    assert dev.id == "GPU_0"
    assert dev.trusted_component_type == TC + "Integrated"


def test_mctp_requester_config_names_an_endpoint_but_does_not_create_one() -> None:
    """A names-only record gives an mctpd endpoint its name and links; alone it is nothing."""
    reg = Registry()
    naming = mctp(
        None,
        20,
        name="nic0",
        authenticating="/xyz/openbmc_project/inventory/nic",
        names_only=True,
    )
    assert reg.update("em", [naming]).added == []
    ch = reg.update("mctp", [mctp(1, 20, connectivity="Available")])
    (dev,) = ch.added
    assert (dev.id, dev.authenticating) == (
        "nic0",
        "/xyz/openbmc_project/inventory/nic",
    )
    assert dev.address == Address("mctp", net=1, eid=20)


def test_naming_arriving_later_renames_the_device() -> None:
    """When Entity Manager names an already published endpoint, the old id goes and the new one comes."""
    reg = Registry()
    reg.update("mctp", [mctp(1, 20)])
    ch = reg.update("em", [mctp(1, 20, name="nic0", names_only=True)])
    assert [d.id for d in ch.removed] == ["mctp_1_20"]
    assert [d.id for d in ch.added] == ["nic0"]


def test_naming_for_another_network_does_not_match() -> None:
    reg = Registry()
    reg.update("em", [mctp(2, 20, name="other", names_only=True)])
    (dev,) = reg.update("mctp", [mctp(1, 20)]).added
    assert dev.id == "mctp_1_20"


def test_removal_and_connectivity_changes() -> None:
    """Dropping an endpoint removes it; a Connectivity change is a change, not a re-add."""
    reg = Registry()
    reg.update("mctp", [mctp(1, 20), mctp(1, 21)])
    ch = reg.update("mctp", [mctp(1, 20, connectivity="Degraded")])
    assert [d.id for d in ch.removed] == ["mctp_1_21"]
    ((old, new),) = ch.changed
    assert (old.available, new.available) == (True, False)
    assert reg.update("mctp", []).removed[0].id == "mctp_1_20"
    assert reg.devices == {}


def test_duplicate_names_keep_both_devices() -> None:
    """Two records with one Name: the second falls back to its address id instead of vanishing."""
    reg = Registry()
    ch = reg.update("em", [tcp("a", 1, name="gpu"), tcp("b", 2, name="gpu")])
    assert sorted(d.id for d in ch.added) == ["gpu", "tcp_b_2"]


def test_same_input_same_ids_regardless_of_order() -> None:
    one, two = Registry(), Registry()
    one.update("em", [tcp("a", 1, name="x"), tcp("b", 2, name="x")])
    two.update("em", [tcp("b", 2, name="x"), tcp("a", 1, name="x")])
    assert sorted(one.devices) == sorted(two.devices)
    assert one.devices["x"].address == two.devices["x"].address
