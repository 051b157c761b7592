"""The daemon's own D-Bus contract, on the real bus with the real spdmd process.

The scenario suites (test_scenarios*.py) cover discovery and attestation
outcomes; this module pins down details of the objects: the size_t width of
SPDMGetSignedMeasurements, argument checking, Policy Set errors and
persistence, a responder's Enabled switch, certificates and associations.
Devices are emulated responders listed in the static configuration file.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import dbus
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from tests.env.client import DBusCallError
from tests.env.harness import BUS_NAME, CI_ROOT, Environment
from tests.env.processes import wait_for

MS = "xyz.openbmc_project.Attestation.MeasurementSet"
CI = "xyz.openbmc_project.Attestation.ComponentIntegrity"
POLICY = "xyz.openbmc_project.Control.Security.SPDM.Policy"
RESPONDER = "xyz.openbmc_project.spdmd.Responder1"
CERT = "xyz.openbmc_project.Certs.Certificate"
ASSOC = "xyz.openbmc_project.Association.Definitions"
CERTS = "/xyz/openbmc_project/certs/devices"


def boot_static(
    bmc: Environment,
    *names: str,
    extra: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
) -> list[Any]:
    devices = [bmc.device(n) for n in names]
    bmc.write_config(
        {
            "entity_manager": False,
            "mctp_discovery": False,
            "responders": [
                {"name": d.name, "host": "127.0.0.1", "port": d.port} for d in devices
            ],
        }
    )
    bmc.start_daemon(*extra, extra_env=env)
    for d in devices:
        bmc.wait_status(d.name)
    return devices


def method_in_signature(bmc: Environment, path: str) -> str:
    import xml.etree.ElementTree as ET

    xml = bmc.client.call(
        BUS_NAME, path, "org.freedesktop.DBus.Introspectable", "Introspect"
    )
    for iface in ET.fromstring(xml).findall("interface"):
        if iface.get("name") == MS:
            (method,) = iface.findall("method")
            return "".join(
                a.get("type", "")
                for a in method.findall("arg")
                if a.get("direction") == "in"
            )
    raise AssertionError("no MeasurementSet interface")


def measure(
    bmc: Environment,
    path: str,
    width: str,
    indices: list[int],
    nonce: str = "",
    slot: int = 0,
) -> Any:
    return bmc.client.call(
        BUS_NAME,
        path,
        MS,
        "SPDMGetSignedMeasurements",
        f"a{width}s{width}",
        (dbus.Array(indices, signature=width), nonce, slot),
        timeout=30,
    )


@pytest.mark.parametrize(
    ("how", "width"),
    [
        pytest.param(("--size-t", "u"), "u", id="option-u-32bit"),
        pytest.param(("--size-t", "t"), "t", id="option-t-64bit"),
        pytest.param({"SPDMD_SIZE_T": "u"}, "u", id="env-u"),
    ],
)
def test_size_t_width(bmc: Environment, how: Any, width: str) -> None:
    """The size arguments take the configured width; a client of the other width is refused."""
    extra, env = (how, None) if isinstance(how, tuple) else ((), how)
    boot_static(bmc, "gpu0", extra=extra, env=env)
    path = f"{CI_ROOT}/gpu0"
    assert method_in_signature(bmc, path) == f"a{width}s{width}"
    reply = measure(bmc, path, width, [])
    assert reply[0] == f"{CERTS}/gpu0/0" and reply[5] == "1.3"
    other = "t" if width == "u" else "u"
    with pytest.raises(DBusCallError) as e:
        measure(bmc, path, other, [])
    assert (e.value.name, e.value.message) == (
        "org.freedesktop.DBus.Error.InvalidArgs",
        "Wrong argument types",
    )


def test_signed_measurements_reply(bmc: Environment) -> None:
    """[1, 2] with a caller's nonce: DSP0274 names, base64 transcript holding the nonce, a Certificate path that exists."""
    boot_static(bmc, "gpu0", extra=("--size-t", "t"))
    nonce = "5a" * 32
    cert_path, hash_name, public_key, signed, sign_name, version = measure(
        bmc, f"{CI_ROOT}/gpu0", "t", [1, 2], nonce
    )
    assert (hash_name, sign_name, public_key, version) == (
        "TPM_ALG_SHA_384",
        "TPM_ALG_ECDSA_ECC_NIST_P384",
        "",
        "1.3",
    )
    raw = base64.b64decode(signed, validate=True)
    # SPDM 1.2+: the transcript starts with VCA (GET_VERSION is 0x84, sent as 1.0).
    assert raw[:2] == bytes([0x10, 0x84])
    assert bytes.fromhex(nonce) in raw
    assert bmc.client.get_all(BUS_NAME, cert_path, CERT)["Subject"]


@pytest.mark.parametrize(
    ("indices", "nonce", "slot", "text"),
    [
        pytest.param(
            [1, 255],
            "",
            0,
            "Invalid MeasurementIndices: use unique values 0-254 or a single 255",
            id="indices",
        ),
        pytest.param(
            [],
            "00",
            0,
            "Invalid Nonce: use 64 hexadecimal characters or an empty string",
            id="nonce",
        ),
        pytest.param([], "", 9, "Invalid SlotId: use 0-7 or 15", id="slot"),
        pytest.param(
            [],
            "",
            15,
            "SlotId 15 (a provisioned public key) is not supported",
            id="slot15",
        ),
    ],
)
def test_bad_arguments(
    bmc: Environment, indices: list[int], nonce: str, slot: int, text: str
) -> None:
    """Bad arguments give InvalidArgument with a fixed text, before any device exchange."""
    boot_static(bmc, "gpu0", extra=("--size-t", "t"))
    with pytest.raises(DBusCallError) as e:
        measure(bmc, f"{CI_ROOT}/gpu0", "t", indices, nonce, slot)
    assert (e.value.name, e.value.message) == (
        "xyz.openbmc_project.Common.Error.InvalidArgument",
        text,
    )


def test_policy_set_errors_and_persistence(bmc: Environment) -> None:
    """Invalid and unsupported policy values are refused by name; valid ones are saved at once."""
    bmc.write_config({"entity_manager": False, "mctp_discovery": False})
    bmc.start_daemon()
    root = CI_ROOT
    with pytest.raises(DBusCallError) as e:
        bmc.client.set(
            BUS_NAME,
            root,
            POLICY,
            "AllowedVersions",
            dbus.Array(["9.9"], signature="v"),
        )
    assert (e.value.name, e.value.message) == (
        "xyz.openbmc_project.Common.Error.InvalidArgument",
        "Invalid policy value",
    )
    with pytest.raises(DBusCallError) as e:
        bmc.client.set(
            BUS_NAME, root, POLICY, "SecureSessionEnabled", dbus.Boolean(True)
        )
    assert (e.value.name, e.value.message) == (
        "xyz.openbmc_project.Common.Error.UnsupportedRequest",
        "Secure sessions are not supported",
    )
    bmc.client.set(
        BUS_NAME,
        root,
        POLICY,
        "AllowedAlgorithmsBaseHash",
        dbus.Array(["TPM_ALG_SHA_384"], signature="v"),
    )
    saved = json.loads((bmc.state_dir / "policy.json").read_text())
    assert saved["AllowedAlgorithmsBaseHash"] == ["TPM_ALG_SHA_384"]
    assert saved["SecureSessionEnabled"] is False and saved["AllowedVersions"] == [
        "ALL"
    ]
    assert bmc.client.get_all(BUS_NAME, root, POLICY)["AllowedAlgorithmsBaseHash"] == [
        "TPM_ALG_SHA_384"
    ]


def test_responder_enabled_switch(bmc: Environment) -> None:
    """Enabled=false refuses requests and survives a restart; true again re-attests."""
    boot_static(bmc, "gpu0", extra=("--size-t", "t"))
    path = f"{CI_ROOT}/gpu0"
    first = bmc.status("gpu0")["LastUpdated"]
    bmc.client.set(BUS_NAME, path, CI, "Enabled", dbus.Boolean(False))
    with pytest.raises(DBusCallError) as e:
        bmc.client.call(BUS_NAME, path, RESPONDER, "Reattest")
    assert (e.value.name, e.value.message) == (
        "xyz.openbmc_project.Common.Error.NotAllowed",
        "Responder is disabled",
    )
    with pytest.raises(DBusCallError) as e:
        measure(bmc, path, "t", [])
    assert (e.value.name, e.value.message) == (
        "xyz.openbmc_project.Common.Error.InternalFailure",
        "Responder is disabled",
    )

    bmc.start_daemon("--size-t", "t")
    wait_for(lambda: "gpu0" in bmc.responder_ids(), 10)
    st = bmc.status("gpu0")
    assert st["Enabled"] is False and st["status"] == "Unknown"
    bmc.client.set(BUS_NAME, path, CI, "Enabled", dbus.Boolean(True))
    assert bmc.wait_status("gpu0", since=first)["status"] == "Success"


def test_certificate_and_associations(bmc: Environment) -> None:
    """The certificate object holds the chain leaf first; associations link responder, certificate and trusted component."""
    (dev,) = boot_static(bmc, "gpu0")
    cert = bmc.client.get_all(BUS_NAME, f"{CERTS}/gpu0/0", CERT)
    chain = x509.load_pem_x509_certificates(cert["CertificateString"].encode())
    assert [c.public_bytes(Encoding.DER) for c in chain] == list(
        reversed(dev.chain_der)
    )
    assert "DigitalSignature" in cert["KeyUsage"]
    assert cert["Subject"] == ", ".join(
        r.rfc4514_string() for r in chain[0].subject.rdns
    )
    assert cert["ValidNotAfter"] == int(chain[0].not_valid_after_utc.timestamp() * 1000)
    assocs = {
        tuple(a)
        for a in bmc.client.get(BUS_NAME, f"{CI_ROOT}/gpu0", ASSOC, "Associations")
    }
    assert (
        "reporting",
        "reported_by",
        "/xyz/openbmc_project/trusted_components/gpu0",
    ) in assocs
    assert (
        "responder_identitified_by",
        "identifying_responder",
        f"{CERTS}/gpu0/0",
    ) in assocs
    everything = bmc.client.managed_objects(BUS_NAME, "/xyz/openbmc_project")
    assert {
        f"{CERTS}/gpu0/0",
        "/xyz/openbmc_project/trusted_components/gpu0",
        CI_ROOT,
        f"{CI_ROOT}/gpu0",
    } <= set(everything)


def test_periodic_reattestation(bmc: Environment) -> None:
    """With reattest_period_seconds set, a responder is attested again without being asked."""
    dev = bmc.device("gpu0")
    bmc.write_config(
        {
            "entity_manager": False,
            "mctp_discovery": False,
            "reattest_period_seconds": 0.5,
            "responders": [{"name": "gpu0", "host": "127.0.0.1", "port": dev.port}],
        }
    )
    bmc.start_daemon()
    first = bmc.wait_status("gpu0")
    again = bmc.wait_status("gpu0", since=first["LastUpdated"], timeout=10)
    assert again["status"] == "Success"


def test_policy_hash_restriction_takes_effect(bmc: Environment) -> None:
    """Allowing only a hash the device lacks fails it at NEGOTIATE_ALGORITHMS; ALL again recovers it."""
    boot_static(bmc, "gpu0")
    first = bmc.status("gpu0")["LastUpdated"]
    bmc.client.set(
        BUS_NAME,
        CI_ROOT,
        POLICY,
        "AllowedAlgorithmsBaseHash",
        dbus.Array(["TPM_ALG_SHA_256"], signature="v"),
    )
    st = bmc.wait_status("gpu0", since=first)
    assert (st["status"], st["FailedStep"]) == ("Failed", "NEGOTIATE_ALGORITHMS")
    bmc.client.set(
        BUS_NAME,
        CI_ROOT,
        POLICY,
        "AllowedAlgorithmsBaseHash",
        dbus.Array(["ALL"], signature="v"),
    )
    assert bmc.wait_status("gpu0", since=st["LastUpdated"])["status"] == "Success"
