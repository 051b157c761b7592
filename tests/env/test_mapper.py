"""The ObjectMapper stand-in against a small dbus-python service on a real bus.

Each test states one rule of phosphor-objmgr's behaviour (src/handler.cpp,
src/main.cpp, src/associations.cpp) that spdmd or bmcweb depends on.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from tests.env.client import Client, DBusCallError
from tests.env.dbus_daemon import DBusDaemon
from tests.env.processes import StandIn, wait_for

NAME = "xyz.openbmc_project.Test.Toy"
NOT_FOUND = "xyz.openbmc_project.Common.Error.ResourceNotFound"
DEFS = "xyz.openbmc_project.Association.Definitions"

OBJECTS = {
    "/xyz/openbmc_project/test/a": {
        "xyz.openbmc_project.Test.Alpha": {"Value": 1},
        "xyz.openbmc_project.Test.Beta": {"Name": "a"},
    },
    "/xyz/openbmc_project/test/a/deep/b": {
        "xyz.openbmc_project.Test.Beta": {"Name": "b"}
    },
    "/other/c": {"xyz.openbmc_project.Test.Alpha": {"Value": 3}},
}


@pytest.fixture
def toy(dbus_daemon: DBusDaemon) -> Iterator[StandIn]:
    """The toy service, started before the mapper, with OBJECTS in place."""
    with StandIn(
        "toy", dbus_daemon.address, "--name", NAME, "--objects", json.dumps(OBJECTS)
    ) as proc:
        yield proc


@pytest.fixture
def mapper(dbus_daemon: DBusDaemon, toy: StandIn) -> Iterator[StandIn]:
    """The mapper stand-in, started after the toy so it finds it by ListNames."""
    with StandIn("mapper", dbus_daemon.address) as proc:
        wait_for(lambda: not proc.command("busy")["busy"], 10)
        yield proc


@pytest.fixture
def client(dbus_daemon: DBusDaemon) -> Iterator[Client]:
    with Client(dbus_daemon.address) as c:
        yield c


def test_introspection_finds_property_only_interfaces(
    mapper: StandIn, client: Client
) -> None:
    """Objects that exist before the mapper starts are found by introspection."""
    tree = client.subtree(
        "/xyz/openbmc_project/test", 0, ("xyz.openbmc_project.Test.Beta",)
    )
    assert set(tree) == {
        "/xyz/openbmc_project/test/a",
        "/xyz/openbmc_project/test/a/deep/b",
    }
    # All of the service's interfaces on the path are listed, not only the match.
    ifaces = tree["/xyz/openbmc_project/test/a"][NAME]
    assert "xyz.openbmc_project.Test.Alpha" in ifaces
    assert "org.freedesktop.DBus.Properties" in ifaces


def test_search_from_slash_never_raises(mapper: StandIn, client: Client) -> None:
    """GetSubTree from "/" with nothing matching is an empty dict, not an error."""
    assert client.subtree("/", 0, ("xyz.openbmc_project.MCTP.Endpoint",)) == {}


def test_unknown_root_raises_resource_not_found(
    mapper: StandIn, client: Client
) -> None:
    """A root that is not a known path raises ResourceNotFound."""
    with pytest.raises(DBusCallError) as exc:
        client.subtree("/xyz/openbmc_project/nothing", 0, ())
    assert exc.value.name == NOT_FOUND
    with pytest.raises(DBusCallError) as exc:
        client.subtree_paths("/xyz/openbmc_project/nothing", 0, ())
    assert exc.value.name == NOT_FOUND


def test_root_excluded_and_depth(mapper: StandIn, client: Client) -> None:
    """The root is never in the result; depth counts path elements below it."""
    root = "/xyz/openbmc_project/test/a"
    assert set(client.subtree(root, 0, ())) == {"/xyz/openbmc_project/test/a/deep/b"}
    assert client.subtree(root, 1, ()) == {}
    assert set(client.subtree(root, 2, ())) == {"/xyz/openbmc_project/test/a/deep/b"}
    # Intermediate paths are known (introspected) and so are valid roots.
    assert client.subtree_paths(root, 1, ()) == ["/xyz/openbmc_project/test/a/deep"]
    assert client.subtree_paths("/", -1, ("xyz.openbmc_project.Test.Alpha",)) == [
        "/other/c",
        "/xyz/openbmc_project/test/a",
    ]


def test_get_object(mapper: StandIn, client: Client) -> None:
    """GetObject names the owner; unknown path or no match raises ResourceNotFound."""
    got = client.get_object("/other/c", ("xyz.openbmc_project.Test.Alpha",))
    assert list(got) == [NAME]
    for path, ifaces in (
        ("/nope", ()),
        ("/other/c", ("xyz.openbmc_project.Test.Beta",)),
    ):
        with pytest.raises(DBusCallError) as exc:
            client.get_object(path, ifaces)
        assert exc.value.name == NOT_FOUND


def test_interfaces_added_and_removed(
    mapper: StandIn, toy: StandIn, client: Client
) -> None:
    """Objects added and removed later are followed through the signals."""
    path = "/xyz/openbmc_project/test/new/one"
    toy.command(
        "add", path=path, interfaces={"xyz.openbmc_project.Test.Gamma": {"X": 1}}
    )
    wait_for(
        lambda: path in client.subtree("/", 0, ("xyz.openbmc_project.Test.Gamma",)), 5
    )
    # The new parent became a known path, as in processInterfaceAdded.
    assert client.subtree("/xyz/openbmc_project/test/new", 0, ()) != {}
    toy.command("remove", path=path)
    wait_for(lambda: not client.subtree("/", 0, ("xyz.openbmc_project.Test.Gamma",)), 5)


def test_service_gone_and_back(
    dbus_daemon: DBusDaemon, mapper: StandIn, toy: StandIn, client: Client
) -> None:
    """A service that exits vanishes from the tree; its successor is introspected."""
    toy.stop()
    wait_for(
        lambda: client.subtree("/", 0, ("xyz.openbmc_project.Test.Alpha",)) == {}, 5
    )
    with StandIn(
        "toy",
        dbus_daemon.address,
        "--name",
        NAME,
        "--objects",
        json.dumps({"/again": {"xyz.openbmc_project.Test.Alpha": {}}}),
    ):
        wait_for(lambda: client.subtree("/", 0, ("xyz.openbmc_project.Test.Alpha",)), 5)
        assert list(client.subtree("/", 0, ("xyz.openbmc_project.Test.Alpha",))) == [
            "/again"
        ]


def test_associations_forward_reverse_and_pending(
    mapper: StandIn, toy: StandIn, client: Client
) -> None:
    """Association.Definitions become endpoint objects both ways once both ends exist."""
    src = "/xyz/openbmc_project/test/src"
    target = "/xyz/openbmc_project/test/target"
    toy.command(
        "add",
        path=src,
        interfaces={
            DEFS: {"Associations": [["authenticating", "authenticated_by", target]]}
        },
    )
    # The endpoint does not exist yet: the association is pending.
    wait_for(lambda: src in client.subtree("/", 0, (DEFS,)), 5)
    assert client.endpoints(f"{src}/authenticating") is None
    toy.command("add", path=target, interfaces={"xyz.openbmc_project.Test.Alpha": {}})
    wait_for(lambda: client.endpoints(f"{src}/authenticating") == [target], 5)
    assert client.endpoints(f"{target}/authenticated_by") == [src]
    # Association objects are served by the mapper and found in its tree.
    assert client.get_object(f"{src}/authenticating") == {
        "xyz.openbmc_project.ObjectMapper": ["xyz.openbmc_project.Association"]
    }
    # A changed property (PropertiesChanged) is followed.
    toy.command(
        "set",
        path=src,
        interface=DEFS,
        name="Associations",
        value=[["reporting", "reported_by", target]],
    )
    wait_for(lambda: client.endpoints(f"{src}/reporting") == [target], 5)
    assert client.endpoints(f"{src}/authenticating") is None
    # The endpoint going away takes the association objects with it.
    toy.command("remove", path=target)
    wait_for(lambda: client.endpoints(f"{src}/reporting") is None, 5)
    assert client.endpoints(f"{target}/reported_by") is None


def test_mapper_started_late_sees_associations(
    dbus_daemon: DBusDaemon, toy: StandIn, client: Client
) -> None:
    """A mapper started after the service reads associations through introspection."""
    src, target = "/xyz/openbmc_project/test/a", "/other/c"
    toy.command(
        "set",
        path=src,
        interface="xyz.openbmc_project.Test.Beta",
        name="Name",
        value="unchanged",
    )
    toy.command(
        "add",
        path="/xyz/openbmc_project/test/s2",
        interfaces={DEFS: {"Associations": [["fwd", "rev", target], ["fwd", "", src]]}},
    )
    with StandIn("mapper", dbus_daemon.address) as proc:
        wait_for(lambda: not proc.command("busy")["busy"], 10)
        assert client.endpoints("/xyz/openbmc_project/test/s2/fwd") == [target, src]
        assert client.endpoints(f"{target}/rev") == ["/xyz/openbmc_project/test/s2"]
        assert client.endpoints(f"{src}/rev") is None
