"""SPDMGetSignedMeasurements on slow and silent devices: our error, not bmcweb's.

bmcweb calls the method through sd-bus with its 25 s default timeout; the
daemon must answer first, with InternalFailure naming the step. What makes
a silent device fail fast is the per-request timeout (round trip + ST1 or
CT, DSP0274 1.2 section 9.1); the measurement deadline
(`measurement_deadline_seconds`, counted from the call's arrival) bounds a
device that announced a long CT and then says nothing, and a call that
waits for an attestation of the same device.
"""

from __future__ import annotations

from typing import Any

import dbus
import pytest
from tests.env.client import DBusCallError
from tests.env.harness import BUS_NAME, Environment
from tests.env.processes import wait_for

MS = "xyz.openbmc_project.Attestation.MeasurementSet"
INTERNAL = "xyz.openbmc_project.Common.Error.InternalFailure"
# 2^23 us = 8.4 s: every cryptographic request may take that long, so only
# the deadline stops a wait for a device that has gone quiet.
LONG_CT = 23


def boot(bmc: Environment, *devices: Any, **config: Any) -> None:
    bmc.write_config(config)
    bmc.start_entity_manager(
        [{"Name": "Tray", "Type": "Board", "Exposes": [d.em_record() for d in devices]}]
    )
    bmc.start_daemon("--size-t", "t")


def measure_error(bmc: Environment, ident: str) -> DBusCallError:
    with pytest.raises(DBusCallError) as exc:
        bmc.client.call(
            BUS_NAME,
            bmc.responder_path(ident),
            MS,
            "SPDMGetSignedMeasurements",
            "atst",
            (dbus.Array([255], signature="t"), "", 0),
            timeout=60,
        )
    return exc.value


@pytest.mark.parametrize(
    ("fault", "step"),
    [
        pytest.param("silent@GET_MEASUREMENTS", "GET_MEASUREMENTS", id="mid-request"),
        pytest.param("silent", "GET_VERSION", id="from-the-start"),
    ],
)
def test_silent_device_fails_at_its_request_not_the_deadline(
    bmc: Environment, fault: str, step: str
) -> None:
    """A device that stops answering fails at the unanswered request's own timeout."""
    dev = bmc.device("quiet", fault)
    boot(bmc, dev, measurement_deadline_seconds=20)
    bmc.wait_status("quiet")
    err = measure_error(bmc, "quiet")
    assert err.name == INTERNAL
    # The per-request timeout fired, well inside the 20 s deadline.
    assert err.message.startswith(f"{step} failed: no response to {step} within ")
    assert "deadline" not in err.message


def test_long_ct_device_fails_at_the_measurement_deadline(bmc: Environment) -> None:
    """A device allowed 8 s per answer that goes quiet fails at the measurement deadline."""
    dev = bmc.device("sluggish", "silent@GET_MEASUREMENTS", ct_exponent=LONG_CT)
    boot(bmc, dev, deadline_seconds=30, measurement_deadline_seconds=2)
    assert bmc.wait_status("sluggish")["status"] == "Success"
    err = measure_error(bmc, "sluggish")
    assert err.name == INTERNAL
    # The measurement deadline, not the 30 s attestation one, and named as such.
    assert err.message == (
        "DEADLINE failed: the 2 s measurement deadline passed waiting for the "
        "response to GET_MEASUREMENTS"
    )
    # Still answering, and the device is still Success from its attestation.
    assert bmc.status("sluggish")["status"] == "Success"


def test_waiting_for_a_running_attestation_counts(bmc: Environment) -> None:
    """A call that finds the device busy being attested fails at the measurement deadline."""
    dev = bmc.device("hogged", "slow=4@CHALLENGE", ct_exponent=LONG_CT)
    boot(bmc, dev, deadline_seconds=30, measurement_deadline_seconds=1)
    # The worker connects only while it holds the device: from now on the
    # boot attestation owns it, for at least the 4 s the device takes.
    wait_for(lambda: dev.server.connections >= 1, 10)
    err = measure_error(bmc, "hogged")
    assert err.name == INTERNAL
    assert err.message == (
        "DEADLINE failed: the 1 s measurement deadline passed while an "
        "attestation of hogged was running"
    )
    # The attestation itself is unaffected.
    assert bmc.wait_status("hogged")["status"] == "Success"
