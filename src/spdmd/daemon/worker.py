"""What a worker thread does for one device: open, run the flow, close.

Called only from the daemon's thread pools, never on the bus thread. Input
is a job captured on the bus thread (device, policy snapshot, limits,
configuration); output is a `service.Outcome`. Policy limits that leave
nothing to negotiate, and an unusable trust anchor set, fail here without
touching the device: the result would be Failed anyway, and the reason is
then about the configuration, where the fix is.
"""

from __future__ import annotations

import json
import os
import re
import time
from typing import Any

from spdmd.errors import TransportError, UsageError

__all__ = ["requester_config", "run"]

CONNECT_TIMEOUT = 5.0
# Left for the SPDM flow when connecting used up (nearly) all of the deadline.
MIN_FLOW_SECONDS = 0.1
# How spdmd.attest names the deadline in a DEADLINE reason.
_DEADLINE_WORDS = re.compile(r"the [0-9.e+-]+ s deadline")


def _route(address: Any) -> tuple[str, dict[str, Any]]:
    """The transport kind and arguments for an address.

    Test hook, never set by the unit: with SPDMD_TEST_MCTP_MAP naming a JSON
    file {"<net>/<eid>": {"kind": ..., "host": ..., "port": ...}}, MCTP
    endpoints are reached over that transport instead of AF_MCTP (machines
    without AF_MCTP; docs/testing.md). The file is read on every open, so
    tests can add endpoints while the daemon runs.
    """
    mapping = os.environ.get("SPDMD_TEST_MCTP_MAP")
    if not address.is_mctp or not mapping:
        return address.kind, address.transport_args()
    try:
        with open(mapping) as f:
            table = json.load(f)
        entry = table[f"{address.net}/{address.eid}"]
        return str(entry["kind"]), {
            "host": entry.get("host"),
            "port": entry.get("port"),
        }
    except (OSError, ValueError, KeyError, TypeError):
        raise TransportError(
            f"no route to MCTP net {address.net} eid {address.eid}", step="TRANSPORT"
        ) from None


def requester_config(job: dict[str, Any], trust: Any) -> Any:
    from spdmd.attest import RequesterConfig

    policy = job["policy"]
    limits = job["limits"]
    config = job["config"]
    kwargs: dict[str, Any] = {
        "trust": trust,
        "versions": limits.versions,
        "asym_algos": limits.asym_algos,
        "hash_algos": limits.hash_algos,
        "verify_certificate": policy.VerifyCertificate,
        "validity": config.certificate_validity,
        "deadline": job.get("deadline", config.deadline_seconds),
    }
    return RequesterConfig(**kwargs)


def run(what: str, job: dict[str, Any]) -> Any:
    from spdmd.daemon.service import Outcome
    from spdmd.spdm.certs import TrustStore
    from spdmd.transport.base import open_transport

    device = job["device"]
    limits = job["limits"]
    policy = job["policy"]
    if not limits.versions:
        return Outcome.failed("GET_VERSION", "the SPDM policy allows no version")
    if not limits.hash_algos:
        return Outcome.failed(
            "NEGOTIATE_ALGORITHMS", "the SPDM policy allows no hash algorithm"
        )
    if not limits.asym_algos:
        return Outcome.failed(
            "NEGOTIATE_ALGORITHMS", "the SPDM policy allows no signature algorithm"
        )
    trust = None
    if policy.VerifyCertificate:
        try:
            trust = TrustStore.from_paths(job["trust_anchors"])
        except UsageError as exc:
            return Outcome.failed(
                "CERTIFICATE_CHAIN", f"no usable trust anchors: {exc.message}"
            )
    try:
        rc = requester_config(job, trust)
    except UsageError as exc:
        return Outcome.failed("TRANSPORT", exc.message)
    # A measurement job brings what is left of its own deadline; an
    # attestation has the configured per-device one (see requester_config).
    deadline = rc.deadline
    connect_timeout = min(CONNECT_TIMEOUT, deadline)
    started = time.monotonic()
    try:
        kind, target = _route(device.address)
        transport = open_transport(kind, connect_timeout=connect_timeout, **target)
    except TransportError as exc:
        return Outcome.failed("TRANSPORT", exc.message, unreachable=True)
    except UsageError as exc:
        return Outcome.failed("TRANSPORT", exc.message)
    # The per-device deadline covers the connection too.
    rc.deadline = max(MIN_FLOW_SECONDS, deadline - (time.monotonic() - started))
    try:
        if what == "attest":
            from spdmd.attest import attest

            result = attest(transport, rc)
        else:
            from spdmd.attest import get_signed_measurements

            args = job["args"]
            result = get_signed_measurements(
                transport, rc, indices=args.indices, nonce=args.nonce, slot=args.slot
            )
    except UsageError as exc:
        return Outcome(status="Failed", reason=exc.message, usage_error=exc.message)
    finally:
        transport.close()
    outcome = Outcome.from_result(result)
    if outcome.step == "DEADLINE":
        # The flow only saw what was left after connecting (and, for a
        # measurement, after queueing); name the deadline the user configured.
        label = job.get(
            "deadline_label", f"{job['config'].deadline_seconds:g} s deadline"
        )
        outcome.reason = _DEADLINE_WORDS.sub(f"the {label}", outcome.reason)
    return outcome
