"""Fixtures for the SPDM core tests: a fake clock and a scripted device.

The device is the project's real responder emulator (spdmd.responder) behind
a transport stand-in that can, per request, answer with a scripted ERROR,
stay silent (advancing the fake clock by the timeout), drop the connection
or take time. Everything else is answered by the emulator itself, so every
signature in these tests is real.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from cryptography import x509

from spdmd.errors import TransportError, TransportTimeout
from spdmd.responder.faults import Faults
from spdmd.responder.responder import Responder, ResponderConfig
from spdmd.spdm.certs import TrustStore
from spdmd.spdm.constants import Code


class FakeClock:
    """Monotonic seconds that move only when told; `sleep` records waits."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


Action = Callable[["ScriptedDevice", bytes, float], bytes]


@dataclass
class _Rule:
    step: str
    action: Action
    times: int
    skip: int = 0


@dataclass
class ScriptedDevice:
    """A Transport: the emulator plus per-request scripted behaviour."""

    responder: Responder
    clock: FakeClock
    latency: float = 0.001
    name: str = "scripted emulator"
    sent: list[bytes] = field(default_factory=list)
    timeouts: list[float] = field(default_factory=list)
    rules: list[_Rule] = field(default_factory=list)
    parked: bytes | None = None
    closed: bool = False

    def on(self, step: str, action: Action, times: int = 1, skip: int = 0) -> None:
        """Apply `action` to `times` requests named `step`, after letting
        the first `skip` of them through."""
        self.rules.append(_Rule(step, action, times, skip))

    def steps(self) -> list[str]:
        return [Code(r[1]).name for r in self.sent]

    def exchange(self, request: bytes, timeout: float) -> bytes:
        self.sent.append(request)
        self.timeouts.append(timeout)
        step = Code(request[1]).name
        # The first live rule for this step decides: it lets the request
        # through while it still has some to skip, then acts.
        for rule in self.rules:
            if rule.step != step or not rule.times:
                continue
            if rule.skip:
                rule.skip -= 1
                break
            rule.times -= 1
            return rule.action(self, request, timeout)
        if request[1] == Code.RESPOND_IF_READY and self.parked is not None:
            request, self.parked = self.parked, None
        self.clock.now += self.latency
        response = self.responder.handle(request)
        if response is None:
            self.clock.now += timeout
            raise TransportTimeout("no response")
        return response

    def close(self) -> None:
        self.closed = True


def error(code: int, data: int = 0, extended: bytes = b"") -> Action:
    def act(dev: ScriptedDevice, request: bytes, timeout: float) -> bytes:
        dev.clock.now += dev.latency
        return bytes((request[0], 0x7F, code, data)) + extended

    return act


def not_ready(
    rdt_exponent: int = 10,
    request_code: int | None = None,
    token: int = 7,
    rdtm: int = 2,
) -> Action:
    """ERROR ResponseNotReady; the request is parked and answered when
    RESPOND_IF_READY arrives."""

    def act(dev: ScriptedDevice, request: bytes, timeout: float) -> bytes:
        dev.parked = request
        code = request[1] if request_code is None else request_code
        dev.clock.now += dev.latency
        return bytes((request[0], 0x7F, 0x42, 0, rdt_exponent, code, token, rdtm))

    return act


def silent(dev: ScriptedDevice, request: bytes, timeout: float) -> bytes:
    dev.clock.now += timeout
    raise TransportTimeout("no response")


def disconnect(dev: ScriptedDevice, request: bytes, timeout: float) -> bytes:
    raise TransportError("connection reset by peer")


def slow(seconds: float) -> Action:
    def act(dev: ScriptedDevice, request: bytes, timeout: float) -> bytes:
        if seconds > timeout:
            dev.clock.now += timeout
            raise TransportTimeout("no response")
        dev.clock.now += seconds
        response = dev.responder.handle(request)
        assert response is not None
        return response

    return act


@dataclass
class Emulated:
    config: ResponderConfig
    trust: TrustStore
    device: ScriptedDevice
    clock: FakeClock

    def chain(self, slot: int = 0) -> Any:
        return self.config.slots[slot]


def make_device(
    *,
    versions: frozenset[int] = frozenset({0x12}),
    faults: Faults | None = None,
    **kw: Any,
) -> Emulated:
    config = ResponderConfig.generate(versions=versions, faults=faults, **kw)
    cred = next(iter(config.slots[0].values()))
    trust = TrustStore.from_certificates(
        [x509.load_der_x509_certificate(cred.der_chain[0])]
    )
    clock = FakeClock()
    return Emulated(config, trust, ScriptedDevice(Responder(config), clock), clock)


@pytest.fixture
def emulated() -> Emulated:
    """A good SPDM 1.2 ECDSA P-384 / SHA-384 device behind a scripted transport."""
    return make_device()


def mangle(change: Callable[[bytearray], None]) -> Action:
    """The emulator's real answer, altered by `change` on its way back."""

    def act(dev: ScriptedDevice, request: bytes, timeout: float) -> bytes:
        dev.clock.now += dev.latency
        response = dev.responder.handle(request)
        assert response is not None
        out = bytearray(response)
        change(out)
        return bytes(out)

    return act
