"""Emulated SPDM devices for the daemon tests and the demo.

A `Device` is one `spdmd.responder` Responder served by a ResponderServer
thread on its own port, with the faults asked for. Every device's genuine
chain comes from the emulator's "root" family of keys, so one trust anchor
(`write_trust_anchor`) verifies them all, and a device with the
untrusted_root fault is the only one that fails chain validation.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from spdmd.responder.faults import Faults
from spdmd.responder.pki import generate_pki
from spdmd.responder.responder import Responder, ResponderConfig, credential_from_pki
from spdmd.responder.server import ResponderServer
from spdmd.spdm.constants import AsymAlgo, HashAlgo

__all__ = ["Device", "write_trust_anchor"]

ASYM = int(AsymAlgo.ECDSA_P384)
HASH = int(HashAlgo.SHA_384)


def write_trust_anchor(directory: Path) -> Path:
    """Put the root every genuine emulated chain ends in into directory."""
    directory.mkdir(parents=True, exist_ok=True)
    good = ResponderConfig.generate(asym_algos=ASYM, hash_algos=HASH)
    path = directory / "emulator-root.der"
    path.write_bytes(good.slots[0][ASYM].der_chain[0])
    return path


class Device:
    """One emulated responder on 127.0.0.1:<port>.

    `faults` are Faults.parse specs ("wrong_key", "busy=2@CHALLENGE", ...);
    `framing` "emu" (spdm-emu, what Entity Manager's SpdmTcpResponder uses by
    default, any payload mode) or "tcp" (DSP0287). Extra keyword arguments
    go to ResponderConfig.generate (versions, max_cert_portion, ...).
    """

    def __init__(
        self,
        name: str,
        faults: tuple[str, ...] | list[str] = (),
        *,
        framing: str = "emu",
        chain_depth: int = 3,
        **config: Any,
    ) -> None:
        self.name = name
        self.config = ResponderConfig.generate(
            asym_algos=ASYM,
            hash_algos=HASH,
            faults=Faults.parse(list(faults)),
            **config,
        )
        if chain_depth != 3:
            # A longer chain from the same root key and name as the others
            # (root, chain_depth - 2 intermediates, leaf).
            pki = generate_pki(ASYM, HASH, depth=chain_depth, name="spdmd emulator")
            self.config.slots[0][ASYM] = credential_from_pki(pki, self.config.faults)
        self.responder = Responder(self.config)
        self.server = ResponderServer(self.responder, framing=framing).start()
        self.port = self.server.port
        self.framing = framing

    @property
    def chain_der(self) -> list[bytes]:
        return list(self.config.slots[0][ASYM].der_chain)

    def set_faults(self, *specs: str) -> None:
        """Serve a fresh responder committing these faults from now on.

        Only the faults the Responder commits while answering take effect;
        the PKI ones (wrong_key, untrusted_root, ...) are fixed at creation.
        """
        self.config = dataclasses.replace(self.config, faults=Faults.parse(list(specs)))
        self.responder = Responder(self.config)
        self.server.responder = self.responder

    def stop(self) -> None:
        self.server.stop()

    def em_record(self, **extra: Any) -> dict[str, Any]:
        """This device as an Entity Manager SpdmTcpResponder record."""
        record: dict[str, Any] = {
            "Name": self.name,
            "Type": "SpdmTcpResponder",
            "Hostname": "127.0.0.1",
            "Port": self.port,
            "TrustedComponentType": "Discrete",
        }
        if self.framing == "tcp":
            record["Transport"] = "tcp"
        record.update(extra)
        return record

    def mctp_target(self) -> dict[str, Any]:
        """This device as a SPDMD_TEST_MCTP_MAP entry."""
        kind = "emu-mctp" if self.framing == "emu" else "tcp"
        return {"kind": kind, "host": "127.0.0.1", "port": self.port}
