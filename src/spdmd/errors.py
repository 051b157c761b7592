"""The exceptions of the whole package, in one flat module.

One base, `SpdmError`. Below it the classes say *whose* fault a failure is,
because the daemon and the tools treat them differently:

- `ResponderError`: the device misbehaved (malformed, unexpected or ERROR
  response). The attestation result is Failed.
- `VerificationError`: the device answered well-formed messages, but what it
  proved does not hold (chain, digest, signature). Failed.
- `TransportError`: the device could not be reached or did not answer in
  time. Failed, and the tools exit 3.
- `UsageError`: the caller asked for something invalid (bad nonce, index,
  slot, option). Nothing was sent; D-Bus maps it to InvalidArgument.

Every error carries the SPDM step it happened in (`step`, a request name such
as "CHALLENGE" or a pseudo-step such as "CERTIFICATE_CHAIN") once the flow
knows it, so results and journal lines can name it.
"""

from __future__ import annotations

__all__ = [
    "SpdmError",
    "UsageError",
    "MalformedRequest",
    "ResponderError",
    "MalformedResponse",
    "UnexpectedResponse",
    "NegotiationError",
    "ErrorResponse",
    "VerificationError",
    "CertificateChainError",
    "DigestMismatch",
    "SignatureError",
    "TransportError",
    "TransportTimeout",
    "DeadlineExceeded",
]


class SpdmError(Exception):
    """Base of every error this package raises on purpose."""

    def __init__(self, message: str, *, step: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.step = step

    def __str__(self) -> str:
        return self.message


class UsageError(SpdmError, ValueError):
    """The caller's request is invalid; nothing was sent to the device."""


class MalformedRequest(SpdmError):
    """A request is too short, too long, or a field is out of range.

    Raised by the request decoders, which only the responder emulator uses:
    from its side the requester is the peer that misbehaved.
    """


class ResponderError(SpdmError):
    """The responder sent something the protocol does not allow."""


class MalformedResponse(ResponderError):
    """A response is too short, too long, or a field is out of range."""


class UnexpectedResponse(ResponderError):
    """A well-formed response that does not answer the request sent
    (wrong code, wrong version byte, wrong slot, echo mismatch)."""


class NegotiationError(ResponderError):
    """No common version or algorithm inside the allowed sets, or the
    responder lacks a capability attestation needs."""


class ErrorResponse(ResponderError):
    """The responder answered with SPDM ERROR.

    `request_code` is the request that was answered, `error_code` and
    `error_data` are Param1 and Param2, `extended` the extended error data.
    """

    def __init__(
        self,
        message: str,
        *,
        request_code: int,
        error_code: int,
        error_data: int = 0,
        extended: bytes = b"",
        step: str | None = None,
    ) -> None:
        super().__init__(message, step=step)
        self.request_code = request_code
        self.error_code = error_code
        self.error_data = error_data
        self.extended = extended


class VerificationError(SpdmError):
    """What the device presented does not verify."""


class CertificateChainError(VerificationError):
    """The certificate chain is malformed, does not anchor to a trust
    anchor, or breaks an SPDM leaf rule."""


class DigestMismatch(VerificationError):
    """A digest the device sent (DIGESTS entry, CertChainHash) differs from
    the hash of the chain it served."""


class SignatureError(VerificationError):
    """A CHALLENGE_AUTH or MEASUREMENTS signature does not verify with the
    leaf certificate's public key."""


class TransportError(SpdmError):
    """The device cannot be reached (connection refused, no route, closed)."""


class TransportTimeout(TransportError):
    """No response arrived within the per-request timeout."""


class DeadlineExceeded(TransportTimeout):
    """The overall attestation deadline passed."""
