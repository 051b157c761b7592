"""Assembling one slot's certificate chain from CERTIFICATE portions.

DSP0274 section 10.7: the requester asks for Offset/Length, the responder
answers with a portion and the number of bytes still remaining. The total
is fixed by the first answer (offset + portion + remainder) and every later
answer must agree with it, so a responder cannot make the requester loop or
grow a buffer without bound; the SPDM chain header's own Length field must
agree as soon as it has arrived.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from spdmd.errors import MalformedResponse, UnexpectedResponse

if TYPE_CHECKING:
    from spdmd.spdm.messages import Certificate, GetCertificate

__all__ = ["MAX_CHAIN_SIZE", "ChainReader"]

# The SPDM chain header's Length is a u16 (DSP0274 section 10.7.1).
MAX_CHAIN_SIZE = 0xFFFF


@dataclass
class ChainReader:
    """The portions of one slot's chain received so far."""

    slot: int
    buffer: bytearray = field(default_factory=bytearray)
    total: int | None = None

    def next_length(self, portion_size: int) -> int:
        """The Length to ask for next: the portion size, never past the end."""
        if self.total is None:
            return portion_size
        return min(portion_size, self.total - len(self.buffer))

    def add(self, req: GetCertificate, rsp: Certificate) -> bytes | None:
        """Take one CERTIFICATE; return the whole chain once complete."""
        if rsp.slot != req.slot:
            raise UnexpectedResponse(
                f"CERTIFICATE is for slot {rsp.slot}, expected {req.slot}"
            )
        portion = len(rsp.portion)
        if portion > req.length:
            raise MalformedResponse(
                f"CERTIFICATE PortionLength is {portion}, more than the {req.length} bytes asked for"
            )
        total = req.offset + portion + rsp.remainder_length
        if self.total is None:
            if total > MAX_CHAIN_SIZE:
                raise MalformedResponse(
                    f"certificate chain would be {total} bytes, more than the SPDM maximum {MAX_CHAIN_SIZE}"
                )
            self.total = total
        elif total != self.total:
            raise MalformedResponse(
                f"CERTIFICATE at offset {req.offset} implies a {total}-byte chain, earlier portions said {self.total}"
            )
        if portion == 0 and rsp.remainder_length:
            raise MalformedResponse(
                f"CERTIFICATE returned an empty portion at offset {req.offset} with {rsp.remainder_length} bytes remaining"
            )
        self.buffer += rsp.portion
        if len(self.buffer) >= 2:
            length = int.from_bytes(self.buffer[:2], "little")
            if length != self.total:
                raise MalformedResponse(
                    f"certificate chain header Length is {length}, but CERTIFICATE portions add up to {self.total} bytes",
                    step="CERTIFICATE_CHAIN",
                )
        return None if rsp.remainder_length else bytes(self.buffer)
