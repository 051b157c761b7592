"""Shared pieces of the requester-versus-emulator tests.

`emulator_config` builds (and caches per process) a responder
configuration per algorithm pair and fault set, so every RSA key is
generated once per test run. `LocalTransport` runs the requester against a
`Responder` in the same thread with a fake clock: silence and slow replies
advance the clock instead of waiting, so the full cross product stays fast.
"""

from __future__ import annotations

import functools

from spdmd.attest import RequesterConfig
from spdmd.errors import TransportTimeout
from spdmd.responder.faults import Faults
from spdmd.responder.responder import Responder, ResponderConfig
from spdmd.spdm.certs import TrustStore
from spdmd.spdm.constants import ASYM_ALGOS, HASH_ALGOS, AsymAlgo, HashAlgo

ASYMS = [AsymAlgo(bit) for bit in ASYM_ALGOS]
HASHES = [HashAlgo(bit) for bit in HASH_ALGOS]
VERSIONS = [0x10, 0x11, 0x12, 0x13]
MEASUREMENT_INDICES = [1, 2, 3, 4, 0x10, 0x11, 0xFD, 0xFE]


def vid(version: int) -> str:
    return f"{version >> 4}.{version & 0xF}"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class LocalTransport:
    """The Transport interface straight into a Responder."""

    def __init__(self, responder: Responder, clock: FakeClock) -> None:
        self.name = "in-process emulator"
        self.responder = responder
        self.clock = clock
        self.requests: list[bytes] = []

    def exchange(self, request: bytes, timeout: float) -> bytes:
        self.requests.append(request)
        response, delay = self.responder.handle_timed(request)
        if response is None or delay > timeout:
            self.clock.now += timeout
            raise TransportTimeout(f"no response from {self.name} within {timeout:g} s")
        self.clock.now += delay
        return response

    def close(self) -> None:
        pass


@functools.cache
def emulator_config(
    asym: int = int(AsymAlgo.ECDSA_P384),
    hash_algo: int = int(HashAlgo.SHA_384),
    faults: tuple[str, ...] = (),
    slot_count: int = 1,
) -> ResponderConfig:
    return ResponderConfig.generate(
        asym_algos=asym,
        hash_algos=hash_algo,
        slot_count=slot_count,
        faults=Faults.parse(list(faults)),
    )


@functools.cache
def trusted_roots(
    asym: int, hash_algo: int = int(HashAlgo.SHA_384), slot_count: int = 1
) -> TrustStore:
    """The roots of the good (fault-free) emulator for this algorithm: what
    a BMC would be provisioned with."""
    config = emulator_config(asym, hash_algo, (), slot_count)
    from cryptography import x509

    roots = {
        cred.der_chain[0] for creds in config.slots.values() for cred in creds.values()
    }
    return TrustStore.from_certificates(
        [x509.load_der_x509_certificate(r) for r in roots]
    )


def requester_config(
    version: int | None = None,
    asym: int = int(AsymAlgo.ECDSA_P384),
    hash_algo: int = int(HashAlgo.SHA_384),
    **overrides,
) -> RequesterConfig:
    options = {
        "trust": trusted_roots(asym, hash_algo),
        "asym_algos": asym,
        "hash_algos": hash_algo,
        "round_trip": 0.2,
        "deadline": 10.0,
    }
    if version is not None:
        options["versions"] = frozenset({version})
    options.update(overrides)
    return RequesterConfig(**options)
