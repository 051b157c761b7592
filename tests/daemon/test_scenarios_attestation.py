"""End-to-end attestation scenarios: the real spdmd, a real bus, emulated devices.

Devices are Entity Manager SpdmTcpResponder records (spdm-emu framing), as
on a BMC without MCTP; what is asserted is what busctl, bmcweb or the
journal would show.
"""

from __future__ import annotations

import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from tests.env.client import DBusCallError
from tests.env.harness import BUS_NAME, Environment

CERTS = "/xyz/openbmc_project/certs/devices"
TRUSTED = "/xyz/openbmc_project/trusted_components"
BOARD = "/xyz/openbmc_project/inventory/system/board/Tray_1"


def boot(bmc: Environment, *devices: object, **record_extra: object) -> None:
    """Entity Manager with one board exposing these devices, then the daemon."""
    bmc.start_entity_manager(
        [
            {
                "Name": "Tray 1",
                "Type": "Board",
                "Exposes": [d.em_record(**record_extra) for d in devices],  # type: ignore[attr-defined]
            }
        ]
    )
    bmc.start_daemon()


def test_one_good_device(bmc: Environment) -> None:
    """A genuine device is Success with its version, certificate, links and time."""
    dev = bmc.device("nic0")
    before_ms = int(time.time() * 1000)
    boot(bmc, dev)
    st = bmc.wait_status("nic0")
    assert st["status"] == "Success"
    assert st["TypeVersion"] == "1.3"
    assert st["Type"].endswith(".SecurityTechnologyType.SPDM")
    # Milliseconds since the epoch, not seconds.
    assert before_ms <= st["LastUpdated"] <= int(time.time() * 1000)
    assert st["FailedStep"] == "" and st["FailureReason"] == ""

    cert = bmc.client.get_all(
        BUS_NAME, f"{CERTS}/nic0/0", "xyz.openbmc_project.Certs.Certificate"
    )
    leaf = x509.load_pem_x509_certificate(cert["CertificateString"].encode())
    assert leaf.public_bytes(Encoding.DER) == dev.chain_der[-1]  # type: ignore[attr-defined]
    assert cert["ValidNotAfter"] == int(leaf.not_valid_after_utc.timestamp() * 1000)
    assert cert["ValidNotBefore"] == int(leaf.not_valid_before_utc.timestamp() * 1000)

    tc = bmc.client.get_all(
        BUS_NAME,
        f"{TRUSTED}/nic0",
        "xyz.openbmc_project.Inventory.Item.TrustedComponent",
    )
    assert tc["TrustedComponentType"].endswith(".ComponentAttachType.Discrete")

    # What bmcweb reads: the collection through the mapper, then the links.
    bmc.wait_mapper_introspected()
    ci = "/xyz/openbmc_project/component_integrity/nic0"
    bmc.wait_mapper(
        lambda: bmc.client.subtree_paths(
            "/xyz/openbmc_project/component_integrity",
            0,
            ("xyz.openbmc_project.Attestation.ComponentIntegrity",),
        ),
        [ci],
    )
    for path, ends in (
        (f"{ci}/authenticating", [BOARD]),
        (f"{ci}/reporting", [f"{TRUSTED}/nic0"]),
        (f"{ci}/responder_identitified_by", [f"{CERTS}/nic0/0"]),
        (f"{BOARD}/authenticated_by", [ci]),
    ):
        bmc.wait_mapper(lambda p=path: bmc.client.endpoints(p), ends)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("fault", "step", "words"),
    [
        pytest.param("wrong_key", "CHALLENGE", "signature", id="wrong-key"),
        pytest.param(
            "untrusted_root", "CERTIFICATE_CHAIN", "trust anchor", id="untrusted-root"
        ),
        pytest.param("expired_leaf", "CERTIFICATE_CHAIN", "expired", id="expired-leaf"),
        pytest.param(
            "tampered_chain", "CERTIFICATE_CHAIN", "does not verify", id="tampered-chain"
        ),
    ],
)
def test_bad_identity_fails_at_its_step(
    bmc: Environment, fault: str, step: str, words: str
) -> None:
    """A device with a bad identity is Failed, naming the step and a reason."""
    dev = bmc.device("dev", fault)
    boot(bmc, dev)
    st = bmc.wait_status("dev")
    assert st["status"] == "Failed"
    assert st["FailedStep"] == step
    assert words in st["FailureReason"].lower()
    assert st["LastUpdated"] > 0
    # The failure reached the journal (stderr here) with the device and step.
    log = bmc.daemon.log()  # type: ignore[union-attr]
    assert f"Failed to attest dev at {step}" in log
    # The chain the device sent is not presented as its identity: no
    # certificate object, no link to one, no leaf subject.
    assert_no_identity(bmc, "dev")


def assert_no_identity(bmc: Environment, ident: str) -> None:
    assert bmc.status(ident)["LeafSubject"] == ""
    everything = bmc.client.managed_objects(BUS_NAME, "/xyz/openbmc_project")
    assert not [p for p in everything if p.startswith(f"{CERTS}/{ident}/")]
    links = bmc.client.get(
        BUS_NAME,
        bmc.responder_path(ident),
        "xyz.openbmc_project.Association.Definitions",
        "Associations",
    )
    assert not [a for a in links if a[0] == "responder_identitified_by"]
    ci = bmc.responder_path(ident)
    # What bmcweb follows for ComponentCertificate.
    assert bmc.client.endpoints(f"{ci}/responder_identitified_by") is None


def test_failure_withdraws_the_verified_certificate(bmc: Environment) -> None:
    """After Success then a failed re-attestation, no certificate is shown as its identity."""
    dev = bmc.device("turncoat")
    boot(bmc, dev)
    first = bmc.wait_status("turncoat")
    assert first["status"] == "Success" and first["LeafSubject"]
    ci = bmc.responder_path("turncoat")
    bmc.wait_mapper(
        lambda: bmc.client.endpoints(f"{ci}/responder_identitified_by"),
        [f"{CERTS}/turncoat/0"],
    )
    # The chain is read again (and is the same), then CHALLENGE fails.
    dev.set_faults("error=UNSPECIFIED@CHALLENGE")
    bmc.client.call(BUS_NAME, ci, "xyz.openbmc_project.spdmd.Responder1", "Reattest")
    st = bmc.wait_status("turncoat", since=first["LastUpdated"])
    assert (st["status"], st["FailedStep"]) == ("Failed", "CHALLENGE")
    bmc.wait_mapper(
        lambda: bmc.client.endpoints(f"{ci}/responder_identitified_by"), None
    )
    assert_no_identity(bmc, "turncoat")
    # Success again publishes it again.
    dev.set_faults()
    bmc.client.call(BUS_NAME, ci, "xyz.openbmc_project.spdmd.Responder1", "Reattest")
    again = bmc.wait_status("turncoat", since=st["LastUpdated"])
    assert again["status"] == "Success"
    assert again["LeafSubject"] == first["LeafSubject"]
    bmc.wait_mapper(
        lambda: bmc.client.endpoints(f"{ci}/responder_identitified_by"),
        [f"{CERTS}/turncoat/0"],
    )


def test_v11_only_device(bmc: Environment) -> None:
    """A device that speaks only SPDM 1.1 is attested with TypeVersion 1.1."""
    boot(bmc, bmc.device("old", versions=frozenset({0x11})))
    st = bmc.wait_status("old")
    assert (st["status"], st["TypeVersion"]) == ("Success", "1.1")


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param("busy=2@CHALLENGE", id="busy"),
        pytest.param("not_ready=2@CHALLENGE", id="response-not-ready"),
    ],
)
def test_busy_and_not_ready_devices_succeed(bmc: Environment, fault: str) -> None:
    """A device that answers Busy or ResponseNotReady a few times still succeeds."""
    boot(bmc, bmc.device("slowpoke", fault))
    assert bmc.wait_status("slowpoke")["status"] == "Success"


def test_long_chain_in_small_portions(bmc: Environment) -> None:
    """A six-certificate chain in 64-byte GET_CERTIFICATE portions is verified."""
    dev = bmc.device("tiny", chain_depth=6, max_cert_portion=64)
    assert len(dev.chain_der) == 6
    boot(bmc, dev)
    assert bmc.wait_status("tiny")["status"] == "Success"
    cert = bmc.client.get(
        BUS_NAME,
        f"{CERTS}/tiny/0",
        "xyz.openbmc_project.Certs.Certificate",
        "CertificateString",
    )
    assert cert.count("BEGIN CERTIFICATE") == len(dev.chain_der)


def test_reattest_after_recovery(bmc: Environment) -> None:
    """A silent device is Failed; once it answers, Reattest makes it Success."""
    dev = bmc.device("flaky", "silent")
    boot(bmc, dev)
    failed = bmc.wait_status("flaky", timeout=20)
    assert failed["status"] == "Failed"
    dev.set_faults()
    path = bmc.responder_path("flaky")
    bmc.client.call(BUS_NAME, path, "xyz.openbmc_project.spdmd.Responder1", "Reattest")
    st = bmc.wait_status("flaky", since=failed["LastUpdated"])
    assert st["status"] == "Success"
    assert st["FailedStep"] == ""


def test_enabled_toggled(bmc: Environment) -> None:
    """Enabled false stops attestation of a device; true again re-attests it."""
    dev = bmc.device("gated")
    boot(bmc, dev)
    first = bmc.wait_status("gated")
    path = bmc.responder_path("gated")
    ci = "xyz.openbmc_project.Attestation.ComponentIntegrity"
    bmc.client.set(BUS_NAME, path, ci, "Enabled", False)
    assert bmc.client.get(BUS_NAME, path, ci, "Enabled") is False
    served = dev.server.connections
    # A disabled responder refuses a re-attestation request.
    with pytest.raises(DBusCallError) as exc:
        bmc.client.call(
            BUS_NAME, path, "xyz.openbmc_project.spdmd.Responder1", "Reattest"
        )
    assert exc.value.name == "xyz.openbmc_project.Common.Error.NotAllowed"
    assert dev.server.connections == served
    bmc.client.set(BUS_NAME, path, ci, "Enabled", True)
    st = bmc.wait_status("gated", since=first["LastUpdated"])
    assert st["status"] == "Success"
    assert dev.server.connections > served
