"""End-to-end SPDMGetSignedMeasurements: what bmcweb's POST gets back.

One daemon serves the module: a genuine device and one whose
GET_MEASUREMENTS fails. Replies are verified with tests.env.verify, which
is independent of the daemon's own code.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dbus
import pytest
from cryptography import x509
from tests.env.client import DBusCallError
from tests.env.harness import BUS_NAME, Environment
from tests.env.verify import verify_signed_measurements

MS = "xyz.openbmc_project.Attestation.MeasurementSet"
INVALID = "xyz.openbmc_project.Common.Error.InvalidArgument"
INTERNAL = "xyz.openbmc_project.Common.Error.InternalFailure"
NONCE = "00112233445566778899aabbccddeeff" * 2


@pytest.fixture(scope="module")
def measured(bmc_module: Environment) -> Iterator[Environment]:
    """A daemon with `meter` (genuine) and `broken` (GET_MEASUREMENTS fails)."""
    env = bmc_module
    env.write_config({})
    devices = [
        env.device("meter"),
        env.device("broken", "error=UNSPECIFIED@GET_MEASUREMENTS"),
    ]
    env.start_entity_manager(
        [{"Name": "Tray", "Type": "Board", "Exposes": [d.em_record() for d in devices]}]
    )
    env.start_daemon("--size-t", "t")
    try:
        for d in devices:
            assert env.wait_status(d.name)["status"] == "Success"
        yield env
    finally:
        env.stop_daemon()
        env.stop_standin("entity_manager")
        for d in devices:
            d.stop()
        env.devices.clear()


def measure(
    env: Environment,
    ident: str,
    indices: list[int],
    nonce: str = "",
    slot: int = 0,
    width: str = "t",
) -> list[Any]:
    result: list[Any] = env.client.call(
        BUS_NAME,
        env.responder_path(ident),
        MS,
        "SPDMGetSignedMeasurements",
        f"a{width}s{width}",
        (dbus.Array(indices, signature=width), nonce, slot),
        timeout=30,
    )
    return result


def leaf_of(env: Environment, cert_path: str) -> x509.Certificate:
    pem = env.client.get(
        BUS_NAME,
        cert_path,
        "xyz.openbmc_project.Certs.Certificate",
        "CertificateString",
    )
    # CertificateString is the chain, leaf first.
    return x509.load_pem_x509_certificates(pem.encode())[0]


@pytest.mark.parametrize(
    "indices",
    [
        pytest.param([255], id="all"),
        pytest.param([1], id="one"),
        pytest.param([1, 2], id="two"),
        pytest.param([], id="empty-means-all"),
    ],
)
def test_signed_measurements_verify(measured: Environment, indices: list[int]) -> None:
    """The reply names the certificate and algorithms and its signature verifies."""
    cert, hash_alg, public_key, signed, sign_alg, version = measure(
        measured, "meter", indices, NONCE
    )
    assert cert == "/xyz/openbmc_project/certs/devices/meter/0"
    assert (hash_alg, sign_alg, version) == (
        "TPM_ALG_SHA_384",
        "TPM_ALG_ECDSA_ECC_NIST_P384",
        "1.3",
    )
    assert public_key == ""
    verify_signed_measurements(signed, leaf_of(measured, cert), version, NONCE)


def test_generated_nonce_differs(measured: Environment) -> None:
    """Without a nonce the daemon makes a fresh one for every request."""
    first = measure(measured, "meter", [255])[3]
    second = measure(measured, "meter", [255])[3]
    assert first and second and first != second


@pytest.mark.parametrize(
    ("indices", "nonce", "slot", "text"),
    [
        pytest.param([255], "abc", 0, "Nonce", id="short-nonce"),
        pytest.param([255], "zz" * 32, 0, "Nonce", id="non-hex-nonce"),
        pytest.param([255], "", 8, "SlotId", id="slot-8"),
        pytest.param([255, 1], "", 0, "MeasurementIndices", id="255-and-more"),
        pytest.param([1, 1], "", 0, "MeasurementIndices", id="repeated"),
        pytest.param([256], "", 0, "MeasurementIndices", id="out-of-range"),
    ],
)
def test_bad_arguments_invalid_argument(
    measured: Environment, indices: list[int], nonce: str, slot: int, text: str
) -> None:
    """Bad indices, nonce or slot raise InvalidArgument naming the argument."""
    served = [d.server.connections for d in measured.devices]
    with pytest.raises(DBusCallError) as exc:
        measure(measured, "meter", indices, nonce, slot)
    assert exc.value.name == INVALID
    assert text in exc.value.message
    # Nothing was sent to a device.
    assert [d.server.connections for d in measured.devices] == served


def test_device_failing_mid_request_internal_failure(measured: Environment) -> None:
    """A device that fails GET_MEASUREMENTS gives InternalFailure naming the step."""
    with pytest.raises(DBusCallError) as exc:
        measure(measured, "broken", [255], NONCE)
    assert exc.value.name == INTERNAL
    assert "GET_MEASUREMENTS" in exc.value.message
    # The daemon is unharmed: the other device still answers.
    assert measure(measured, "meter", [1])[3]


def test_size_arguments_follow_size_t(measured: Environment) -> None:
    """Started with --size-t u the method takes a{u}/u (32-bit BMC), and t is refused."""
    measured.start_daemon("--size-t", "u")
    assert measured.wait_status("meter")["status"] == "Success"
    introspection = measured.client.call(
        BUS_NAME,
        measured.responder_path("meter"),
        "org.freedesktop.DBus.Introspectable",
        "Introspect",
    )
    assert 'type="au"' in introspection
    reply = measure(measured, "meter", [1], NONCE, width="u")
    verify_signed_measurements(reply[3], leaf_of(measured, reply[0]), reply[5], NONCE)
    with pytest.raises(DBusCallError):
        measure(measured, "meter", [1], NONCE, width="t")
    # Back to the module's width for any test that runs after this one.
    measured.start_daemon("--size-t", "t")
