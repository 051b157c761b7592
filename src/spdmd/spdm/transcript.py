"""Transcripts A, B, C and L1/L2 and when they reset (DSP0274 1.x section 15).

The requester appends each request and response exactly as exchanged (the
bytes a decoder consumed, signatures cut off); this module only decides what
is kept and for how long:

- A (VCA): GET_VERSION/VERSION, GET_CAPABILITIES/CAPABILITIES,
  NEGOTIATE_ALGORITHMS/ALGORITHMS. GET_VERSION starts everything afresh.
- B: GET_DIGESTS/DIGESTS and every GET_CERTIFICATE/CERTIFICATE pair;
  GET_DIGESTS starts B afresh.
- C: CHALLENGE and CHALLENGE_AUTH without its signature. The signed message
  M1 is A + B + C; after a CHALLENGE_AUTH has been received, verified or not,
  B and C are cleared, so a second CHALLENGE without re-reading signs A + C.
- L1: GET_MEASUREMENTS and MEASUREMENTS pairs (the signed one without its
  signature) since the last reset; from 1.2 prefixed by A. Any other
  request, an ERROR answer to GET_MEASUREMENTS, and a signed MEASUREMENTS
  reset it.

ResponseNotReady and RESPOND_IF_READY never enter a transcript: the caller
pairs the original request with the final response. An ERROR to CHALLENGE
(Busy included) leaves B alone, because the responder produced no
CHALLENGE_AUTH; a retried CHALLENGE therefore still signs A + B + C.

Busy is an ERROR, so Busy to GET_MEASUREMENTS resets L1 here, and in our
emulator. Devices differ (libspdm's responder keeps L1 when it answers
Busy), and even under the rule a resend would leave the earlier blocks out
of the signature; spdmd.attest therefore starts again from GET_VERSION when
Busy interrupts a run of several GET_MEASUREMENTS (see _BusyMidRun there).
"""

from __future__ import annotations

__all__ = ["Transcript"]


class Transcript:
    """The transcript state of one connection."""

    def __init__(self, version: int = 0x10) -> None:
        self.version = version
        self.a = bytearray()
        self.b = bytearray()
        self.c = bytearray()
        self.l1 = bytearray()

    # --- A ---------------------------------------------------------------

    def start_vca(self, request: bytes, response: bytes) -> None:
        """GET_VERSION/VERSION: every earlier transcript is void."""
        self.a = bytearray(request + response)
        self.b.clear()
        self.c.clear()
        self.l1.clear()

    def add_vca(self, request: bytes, response: bytes) -> None:
        """GET_CAPABILITIES or NEGOTIATE_ALGORITHMS and its response."""
        self.l1.clear()
        self.a += request + response

    # --- B and C ---------------------------------------------------------

    def start_digests(self, request: bytes, response: bytes) -> None:
        self.l1.clear()
        self.b = bytearray(request + response)

    def add_certificate(self, request: bytes, response: bytes) -> None:
        self.l1.clear()
        self.b += request + response

    def challenge(self, request: bytes, response_without_signature: bytes) -> bytes:
        """Record a CHALLENGE exchange; return M1 = A + B + C and clear B, C.

        Call it as soon as CHALLENGE_AUTH has parsed, before verifying, so
        that a failed verification clears B and C as a good one does.
        """
        self.l1.clear()
        self.c = bytearray(request + response_without_signature)
        m1 = bytes(self.a + self.b + self.c)
        self.b.clear()
        self.c.clear()
        return m1

    def challenge_failed(self) -> None:
        """The CHALLENGE got an ERROR or no usable response."""
        self.l1.clear()
        self.c.clear()

    # --- L1 --------------------------------------------------------------

    def other_request(self) -> None:
        """Any request other than GET_MEASUREMENTS resets L1."""
        self.l1.clear()

    def measurements(
        self, request: bytes, response_without_signature: bytes, *, signed: bool
    ) -> bytes | None:
        """Record a GET_MEASUREMENTS exchange.

        For a signed response return the L1 message its signature covers
        (A + L1 from 1.2, L1 alone before) and reset L1; otherwise None.
        """
        self.l1 += request + response_without_signature
        if not signed:
            return None
        message = self.l1_message()
        self.l1.clear()
        return message

    def l1_message(self) -> bytes:
        """What a signature over L1 covers now (DSP0274 1.2 section 15:
        the VCA is part of L1 from 1.2 on)."""
        prefix = bytes(self.a) if self.version >= 0x12 else b""
        return prefix + bytes(self.l1)

    def measurements_failed(self) -> None:
        """An ERROR answer to GET_MEASUREMENTS resets L1."""
        self.l1.clear()
