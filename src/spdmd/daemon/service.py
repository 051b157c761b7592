"""The daemon core: devices -> objects, attestation scheduling, workers.

Runs on the bus thread. Device I/O happens only in worker threads (a
bounded `ThreadPoolExecutor` for attestation, a small one for measurement
requests so that a Redfish POST does not queue behind a boot-time sweep);
their results come back through `MainLoop.call_soon_threadsafe`. A
per-device lock keeps one transport per device at a time, because a
responder (spdm-emu, a TCP endpoint) may serve one connection only.

Results of a device that vanished or was re-added while a worker ran are
dropped by generation number, so a late result never overwrites a newer
object.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dbus

from spdmd.daemon import dbuserrors
from spdmd.daemon.bus import MainLoop, ObjectTree
from spdmd.daemon.config import Config
from spdmd.daemon.devices import Changes, Device, Registry
from spdmd.daemon.journal import fields
from spdmd.daemon.measurements import (
    algorithm_names,
    encode_signed,
    parse_args,
    version_name,
)
from spdmd.daemon.objects import (
    ASSOC_IFACE,
    CERT_ROOT,
    CI_IFACE,
    CI_ROOT,
    IA_IFACE,
    RESPONDER_IFACE,
    ROOT,
    TC_IFACE,
    TC_ROOT,
    CertificateObject,
    ResponderBase,
    TrustedComponentObject,
    add_policy_interface,
    certificate_properties,
    responder_class,
    status_value,
)
from spdmd.daemon.policy import (
    Policy,
    atomic_write_json,
    load_policy,
    negotiation_limits,
    save_policy,
)
from spdmd.spdm.constants import REDFISH_PROVISIONED_KEY_SLOT

__all__ = ["Daemon", "Outcome", "parse_responder_settings"]

_log = logging.getLogger("spdmd")

RESPONDERS_FILE = "responders.json"
# A measurement request that gets the device with less time left than this
# fails at once: no GET_VERSION round trip fits in it.
_MIN_MEASUREMENT_SECONDS = 0.2
# Settings whose change alters what a fresh attestation would conclude.
_REATTEST_ON = {
    "AllowedVersions",
    "AllowedAlgorithmsBaseHash",
    "AllowedAlgorithmsBaseAsym",
    "VerifyCertificate",
}


def parse_responder_settings(data: Any) -> tuple[set[str], list[str]]:
    """responders.json's content -> (disabled ids, problems to log).

    Whatever cannot be read is ignored and named: a responder is then
    enabled, the default, and the journal says why.
    """
    if not isinstance(data, dict):
        return set(), [f"not a JSON object but {type(data).__name__}"]
    problems = [f"unknown key {key!r}" for key in sorted(data) if key != "disabled"]
    ids = data.get("disabled", [])
    if not isinstance(ids, list):
        # A bare string would otherwise be read as a set of its letters.
        problems.append(f"disabled is not a list of ids but {type(ids).__name__}")
        return set(), problems
    disabled: set[str] = set()
    for item in ids:
        if isinstance(item, str) and item:
            disabled.add(item)
        else:
            problems.append(f"disabled entry {item!r} is not a responder id")
    return disabled, problems


@dataclass
class Outcome:
    """What a worker hands back: the library result, normalised."""

    status: str
    step: str | None = None
    reason: str = ""
    version: int = 0
    hash_algo: int = 0
    asym_algo: int = 0
    slot: int = 0
    cert_chain: Any = None
    leaf_subject: str = ""
    unreachable: bool = False
    signed_measurements: bytes = b""
    usage_error: str | None = None

    @classmethod
    def from_result(cls, result: Any) -> Outcome:
        g = lambda name, default=None: getattr(result, name, default)
        return cls(
            status=str(g("status", "Failed")),
            step=g("step"),
            reason=str(g("reason", "") or ""),
            version=int(g("version", 0) or 0),
            hash_algo=int(g("hash_algo", 0) or 0),
            asym_algo=int(g("asym_algo", 0) or 0),
            slot=int(g("slot", 0) or 0),
            cert_chain=g("cert_chain"),
            leaf_subject=str(g("leaf_subject", "") or ""),
            unreachable=bool(g("unreachable", False)),
            signed_measurements=bytes(g("signed_measurements", b"") or b""),
        )

    @classmethod
    def failed(cls, step: str, reason: str, **kw: Any) -> Outcome:
        return cls(status="Failed", step=step, reason=reason, **kw)


@dataclass
class _State:
    device: Device
    enabled: bool = True
    generation: int = 0
    attesting: bool = False
    again: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)
    responder: ResponderBase | None = None
    trusted: TrustedComponentObject | None = None
    certs: dict[int, CertificateObject] = field(default_factory=dict)


class Daemon:
    def __init__(
        self,
        loop: MainLoop,
        conn: dbus.connection.Connection,
        config: Config,
        state_dir: Path,
        *,
        size_signature: str,
        trust_anchors: list[str],
        worker: Callable[..., Any] | None = None,
    ) -> None:
        self.loop = loop
        self.conn = conn
        self.config = config
        self.state_dir = state_dir
        self.trust_anchors = trust_anchors
        self.responder_cls = responder_class(size_signature)
        self.registry = Registry()
        self.states: dict[str, _State] = {}
        self._generation = 0
        self._disabled: set[str] = set()
        self._locks: dict[str, threading.Lock] = {}
        self._period_timer: Any = None
        self._pool = ThreadPoolExecutor(
            max_workers=config.parallelism, thread_name_prefix="attest"
        )
        self._mpool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="measure")
        # Tests replace the device-facing function; the daemon uses spdmd.attest.
        self._worker = worker
        self.tree = ObjectTree(conn)
        # /xyz/openbmc_project covers trusted_components and certs (and, for
        # clients that watch one manager, everything else we publish).
        self.root_manager = self.tree.add_manager(ROOT)
        self.ci_manager = self.tree.add_manager(CI_ROOT)
        self.policy, problems = load_policy(state_dir)
        for problem in problems:
            _log.warning("Ignored part of the saved policy: %s", problem)
        add_policy_interface(self.ci_manager, self.policy, self._policy_changed)
        self._load_disabled()

    # --- persistence ---------------------------------------------------

    def _load_disabled(self) -> None:
        import json

        path = self.state_dir / RESPONDERS_FILE
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            _log.warning("Ignored the saved responder settings in %s: %s", path, exc)
            return
        self._disabled, problems = parse_responder_settings(data)
        for problem in problems:
            _log.warning(
                "Ignored part of the saved responder settings in %s: %s", path, problem
            )

    def _save_disabled(self) -> None:
        atomic_write_json(
            self.state_dir / RESPONDERS_FILE, {"disabled": sorted(self._disabled)}
        )

    def _policy_changed(self, name: str, value: Any) -> None:
        old = getattr(self.policy, name)
        setattr(self.policy, name, value)
        try:
            save_policy(self.state_dir, self.policy)
        except OSError as exc:
            setattr(self.policy, name, old)
            _log.error("Failed to save the SPDM policy: %s", exc)
            raise dbuserrors.InternalFailure("Cannot save the policy") from None
        _log.info("Changed SPDM policy %s to %s", name, value)
        if name == "Enabled" and value and not old:
            self.attest_all("policy enabled")
        elif name in _REATTEST_ON and value != old:
            self.attest_all(f"policy {name} changed")

    # --- devices ---------------------------------------------------------

    def apply(self, changes: Changes, reason: str = "discovered") -> None:
        """Publish, update and remove objects for a registry diff."""
        for dev in changes.removed:
            self._remove(dev)
        for old, new in changes.changed:
            state = self.states[new.id]
            state.device = new
            assert state.responder is not None
            state.responder.set(RESPONDER_IFACE, "Connectivity", new.connectivity)
            state.responder.set(RESPONDER_IFACE, "Transport", new.address.describe())
            if state.trusted is not None:
                state.trusted.set(
                    TC_IFACE, "TrustedComponentType", new.trusted_component_type
                )
            self._update_associations(state)
            if new.available and not old.available:
                self.schedule(new.id, "connectivity available")
            elif old.address != new.address:
                self.schedule(new.id, "address changed")
        for dev in changes.added:
            self._add(dev)
            self.schedule(dev.id, reason)

    def update_source(self, source: str, sightings: list[Any]) -> None:
        self.apply(self.registry.update(source, sightings))

    def _add(self, dev: Device) -> None:
        self._generation += 1
        # The lock outlives the state: a worker of a removed device may
        # still be talking to it when the device is added again.
        state = _State(
            device=dev,
            enabled=dev.id not in self._disabled,
            generation=self._generation,
            lock=self._locks.setdefault(dev.id, threading.Lock()),
        )
        state.trusted = TrustedComponentObject(
            self.conn, dev.id, dev.trusted_component_type
        )
        state.responder = self.responder_cls(
            self.conn, dev.id, self, dev.address.describe(), state.enabled
        )
        state.responder.set(
            RESPONDER_IFACE, "Connectivity", dev.connectivity, emit=False
        )
        self.states[dev.id] = state
        self._update_associations(state, announce=False)
        self.tree.publish(state.trusted)
        self.tree.publish(state.responder)
        _log.info(
            "Found responder %s on %s",
            dev.id,
            dev.address.describe(),
            extra=fields(dev.id),
        )

    def _remove(self, dev: Device) -> None:
        state = self.states.pop(dev.id, None)
        if state is None:
            return
        for cert in state.certs.values():
            self.tree.unpublish(cert)
        for obj in (state.responder, state.trusted):
            if obj is not None:
                self.tree.unpublish(obj)
        _log.info("Removed responder %s", dev.id, extra=fields(dev.id))

    def _update_associations(self, state: _State, announce: bool = True) -> None:
        dev = state.device
        tc_path = f"{TC_ROOT}/{dev.id}"
        assocs = [("reporting", "reported_by", tc_path)]
        if dev.reporting:
            assocs.append(("reporting", "reported_by", dev.reporting))
        if dev.authenticating:
            assocs.append(("authenticating", "authenticated_by", dev.authenticating))
        for slot in sorted(state.certs):
            # The YAML spells the forward name with the typo; bmcweb reads it so.
            assocs.append(
                (
                    "responder_identitified_by",
                    "identifying_responder",
                    f"{CERT_ROOT}/{dev.id}/{slot}",
                )
            )
        assert state.responder is not None and state.trusted is not None
        state.responder.set(ASSOC_IFACE, "Associations", assocs, emit=announce)
        tc_assocs = []
        if dev.authenticating:
            tc_assocs.append(("protecting", "protected_by", dev.authenticating))
        state.trusted.set(ASSOC_IFACE, "Associations", tc_assocs, emit=announce)

    # --- scheduling ------------------------------------------------------

    def attest_all(self, reason: str) -> None:
        for ident in list(self.states):
            self.schedule(ident, reason)

    def start_periodic(self) -> None:
        period = self.config.reattest_period_seconds
        if period > 0:
            self._period_timer = self.loop.call_later(period, self._periodic)

    def _periodic(self) -> None:
        self.attest_all("periodic")
        self.start_periodic()

    def schedule(self, ident: str, reason: str) -> bool:
        """Start an attestation unless one runs (then run once more after it)."""
        state = self.states.get(ident)
        if state is None:
            return False
        if not self.policy.Enabled or not state.enabled:
            _log.debug("Skipped attesting %s: disabled", ident, extra=fields(ident))
            return False
        if not state.device.available:
            _log.debug(
                "Skipped attesting %s: endpoint degraded", ident, extra=fields(ident)
            )
            return False
        if state.attesting:
            state.again = True
            return True
        state.attesting = True
        state.again = False
        assert state.responder is not None
        state.responder.set(RESPONDER_IFACE, "Attesting", True)
        _log.debug("Attesting %s (%s)", ident, reason, extra=fields(ident))
        job = self._job(state)
        gen = state.generation
        future = self._pool.submit(self._run_attest, state, job)
        future.add_done_callback(
            lambda f: self.loop.call_soon_threadsafe(self._attest_done, ident, gen, f)
        )
        return True

    def _job(self, state: _State, **extra: Any) -> dict[str, Any]:
        """Everything a worker needs, captured on the bus thread."""
        return {
            "device": state.device,
            "policy": Policy(**self.policy.to_json()),
            "limits": negotiation_limits(self.policy),
            "config": self.config,
            "trust_anchors": list(self.trust_anchors),
            **extra,
        }

    def _run_attest(self, state: _State, job: dict[str, Any]) -> Outcome:
        with state.lock:
            return self._call_worker("attest", job)

    def _call_worker(self, what: str, job: dict[str, Any]) -> Outcome:
        worker = self._worker
        if worker is None:
            from spdmd.daemon.worker import run

            worker = run
        try:
            return worker(what, job)
        except Exception as exc:  # noqa: BLE001 (logged in full, fails closed)
            # A bug below us must not leave the device "attesting" forever
            # or pass as success: fail closed and keep the traceback.
            _log.exception(
                "BUG: %s raised for %s",
                what,
                job["device"].id,
                extra=fields(job["device"].id),
            )
            return Outcome.failed("INTERNAL", f"internal error: {type(exc).__name__}")

    def _attest_done(self, ident: str, gen: int, future: Future[Outcome]) -> None:
        state = self.states.get(ident)
        if state is None or state.generation != gen:
            return
        outcome = future.result()
        state.attesting = False
        assert state.responder is not None
        self._record(state, outcome)
        if state.again:
            self.schedule(ident, "requested while attesting")

    def _record(self, state: _State, outcome: Outcome) -> None:
        ident = state.device.id
        resp = state.responder
        assert resp is not None
        now_ms = int(time.time() * 1000)
        hash_name, sign_name = algorithm_names(outcome.hash_algo, outcome.asym_algo)
        resp.update(
            RESPONDER_IFACE,
            {
                "Attesting": False,
                "FailedStep": ""
                if outcome.status == "Success"
                else (outcome.step or ""),
                "FailureReason": "" if outcome.status == "Success" else outcome.reason,
                "HashingAlgorithm": hash_name if outcome.hash_algo else "",
                "SigningAlgorithm": sign_name if outcome.asym_algo else "",
                # A failed attestation's chain is whatever the device sent:
                # never shown as its identity (see _withdraw_certs).
                "LeafSubject": outcome.leaf_subject
                if outcome.status == "Success"
                else "",
            },
        )
        resp.update(
            CI_IFACE,
            {"TypeVersion": version_name(outcome.version), "LastUpdated": now_ms},
        )
        status = "Success" if outcome.status == "Success" else "Failed"
        if status == "Success":
            if outcome.cert_chain is not None and getattr(
                outcome.cert_chain, "certificates", None
            ):
                self._publish_cert(state, outcome.slot, outcome.cert_chain.certificates)
        else:
            self._withdraw_certs(state, outcome)
        resp.set(IA_IFACE, "ResponderVerificationStatus", status_value(status))
        if status == "Success":
            _log.info(
                "Attested %s with SPDM %s",
                ident,
                version_name(outcome.version),
                extra=fields(ident),
            )
        elif outcome.unreachable:
            _log.warning(
                "No response from %s at %s: %s",
                ident,
                outcome.step,
                outcome.reason,
                extra=fields(ident, outcome.step, outcome.reason),
            )
        else:
            _log.warning(
                "Failed to attest %s at %s: %s",
                ident,
                outcome.step,
                outcome.reason,
                extra=fields(ident, outcome.step, outcome.reason),
            )

    def _withdraw_certs(self, state: _State, outcome: Outcome) -> None:
        """Remove every certificate object of a responder that just failed.

        bmcweb shows the `responder_identitified_by` certificate as the
        component's identity (ComponentCertificate). After a failure the
        chain just read is unverified (a device picks its own subject), and
        an earlier verified one no longer describes what the device proves
        now; so neither stays published until an attestation succeeds.
        """
        if outcome.leaf_subject:
            _log.debug(
                "Withheld the unverified certificate chain of %s (leaf subject %s)",
                state.device.id,
                outcome.leaf_subject,
                extra=fields(state.device.id),
            )
        if not state.certs:
            return
        withdrawn = list(state.certs.values())
        state.certs.clear()
        # The link goes first, so no reader follows it to a vanished object.
        self._update_associations(state)
        for cert in withdrawn:
            self.tree.unpublish(cert)

    def _publish_cert(self, state: _State, slot: int, certificates: list[Any]) -> None:
        props = certificate_properties(certificates)
        existing = state.certs.get(slot)
        if existing is not None:
            existing.update("xyz.openbmc_project.Certs.Certificate", props)
            return
        obj = CertificateObject(self.conn, state.device.id, slot, props)
        state.certs[slot] = obj
        self.tree.publish(obj)
        self._update_associations(state)

    # --- calls from objects ------------------------------------------------

    def responder_enabled_changed(self, ident: str, enabled: bool) -> None:
        state = self.states[ident]
        was = state.enabled
        before = set(self._disabled)
        if enabled:
            self._disabled.discard(ident)
        else:
            self._disabled.add(ident)
        try:
            self._save_disabled()
        except OSError as exc:
            # As for the policy: a setting that would be lost at the next
            # restart is refused, and the value in force stays.
            self._disabled = before
            _log.error(
                "Failed to save responder settings: %s", exc, extra=fields(ident)
            )
            raise dbuserrors.InternalFailure(
                dbuserrors.TEXT_CANNOT_SAVE_RESPONDER
            ) from None
        state.enabled = enabled
        if enabled and not was:
            self.schedule(ident, "enabled")

    def reattest_request(self, ident: str) -> None:
        state = self.states.get(ident)
        if state is None:
            raise dbuserrors.Unavailable(dbuserrors.TEXT_NOT_PRESENT)
        if not self.policy.Enabled:
            raise dbuserrors.NotAllowed(dbuserrors.TEXT_POLICY_DISABLED)
        if not state.enabled:
            raise dbuserrors.NotAllowed(dbuserrors.TEXT_RESPONDER_DISABLED)
        _log.info("Re-attesting %s on request", ident, extra=fields(ident))
        if not self.schedule(ident, "request"):
            raise dbuserrors.Unavailable("Endpoint is not available")

    def signed_measurements_request(
        self,
        ident: str,
        indices: list[int],
        nonce: str,
        slot: int,
        reply: Callable[..., None],
        error: Callable[[Exception], None],
    ) -> None:
        try:
            args = parse_args(indices, nonce, slot)
            state = self.states.get(ident)
            if state is None:
                raise dbuserrors.InternalFailure(dbuserrors.TEXT_NOT_PRESENT)
            if not self.policy.Enabled:
                raise dbuserrors.InternalFailure(dbuserrors.TEXT_POLICY_DISABLED)
            if not state.enabled:
                raise dbuserrors.InternalFailure(dbuserrors.TEXT_RESPONDER_DISABLED)
            if args.slot == REDFISH_PROVISIONED_KEY_SLOT:
                # spdmd.attest refuses the provisioned-key slot (0xFF); a
                # per-responder key file would be needed to support it.
                raise dbuserrors.InvalidArgument(dbuserrors.TEXT_NO_PUBLIC_KEY)
        except dbuserrors.DBusError as exc:
            error(exc)
            return
        # The measurement deadline runs from the call's arrival, so waiting
        # for a free worker or for an attestation of the same device counts:
        # the caller (bmcweb, sd-bus 25 s) must get our answer before its
        # own timeout.
        deadline = self.config.measurement_deadline_seconds
        arrived = time.monotonic()
        job = self._job(state, args=args)
        gen = state.generation

        def run() -> Outcome:
            waited = time.monotonic() - arrived
            if not state.lock.acquire(timeout=max(0.0, deadline - waited)):
                return Outcome.failed(
                    "DEADLINE",
                    f"the {deadline:g} s measurement deadline passed while an attestation of {ident} was running",
                )
            try:
                left = deadline - (time.monotonic() - arrived)
                if left < _MIN_MEASUREMENT_SECONDS:
                    return Outcome.failed(
                        "DEADLINE",
                        f"the {deadline:g} s measurement deadline passed before {ident} was free",
                    )
                return self._call_worker(
                    "measure",
                    {
                        **job,
                        "deadline": left,
                        "deadline_label": f"{deadline:g} s measurement deadline",
                    },
                )
            finally:
                state.lock.release()

        future = self._mpool.submit(run)
        future.add_done_callback(
            lambda f: self.loop.call_soon_threadsafe(
                self._measure_done, ident, gen, args, f, reply, error
            )
        )

    def _measure_done(
        self,
        ident: str,
        gen: int,
        args: Any,
        future: Future[Outcome],
        reply: Callable[..., None],
        error: Callable[[Exception], None],
    ) -> None:
        outcome = future.result()
        state = self.states.get(ident)
        if outcome.usage_error is not None:
            error(dbuserrors.InvalidArgument(outcome.usage_error))
            return
        if outcome.status != "Success" or not outcome.signed_measurements:
            _log.warning(
                "Failed to get signed measurements from %s at %s: %s",
                ident,
                outcome.step,
                outcome.reason,
                extra=fields(ident, outcome.step, outcome.reason),
            )
            error(
                dbuserrors.device_failure(
                    outcome.step, outcome.reason or "no signed measurements"
                )
            )
            return
        # PublicKey stays empty: it is only for slot 15, refused above.
        public_key = ""
        cert_path = f"{CERT_ROOT}/{ident}/{args.slot}"
        if (
            state is not None
            and state.generation == gen
            and outcome.cert_chain is not None
        ):
            self._publish_cert(state, args.slot, outcome.cert_chain.certificates)
        hash_name, sign_name = algorithm_names(outcome.hash_algo, outcome.asym_algo)
        _log.info("Sent signed measurements of %s", ident, extra=fields(ident))
        reply(
            dbus.ObjectPath(cert_path),
            hash_name,
            public_key,
            encode_signed(outcome.signed_measurements),
            sign_name,
            version_name(outcome.version),
        )

    def shutdown(self) -> None:
        if self._period_timer is not None:
            self._period_timer.cancel()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._mpool.shutdown(wait=False, cancel_futures=True)
