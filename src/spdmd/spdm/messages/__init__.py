"""SPDM messages as dataclasses, encoded and decoded both ways (DSP0274 1.0-1.3).

One class per request and per response. `encode()` gives the wire bytes;
`decode(data, ...)` parses them and keeps the bytes it consumed in `raw`
(what transcripts hash). Both sides use these classes: the requester encodes
requests and decodes responses, the responder emulator the other way round.

Invariants:
- every length is computed from the fields and checked against the data,
  never taken from how much arrived; bytes beyond the computed length are an
  error;
- the layout follows the version byte of the message itself; `decode(...,
  version=V)` additionally insists on that version;
- decoders raise only `MalformedResponse`/`UnexpectedResponse` (responses)
  or `MalformedRequest` (requests), never IndexError or struct.error;
- `decode_response()` is the one response validator the requester uses, with
  a fixed check order: minimum length, version byte, response code (an ERROR
  becomes `ErrorResponse`), then the full length.
"""

from __future__ import annotations

from typing import Any

from spdmd.errors import (
    ErrorResponse,
    MalformedRequest,
    MalformedResponse,
    SpdmError,
    UnexpectedResponse,
)
from spdmd.spdm.constants import RESPONSE_FOR_REQUEST, Code, ErrorCode
from spdmd.spdm.messages._base import HEADER_SIZE, Message, error_name
from spdmd.spdm.messages._identity import (
    Certificate,
    Challenge,
    ChallengeAuth,
    Digests,
    GetCertificate,
    GetDigests,
)
from spdmd.spdm.messages._measurements import (
    GetMeasurements,
    MeasurementBlock,
    Measurements,
)
from spdmd.spdm.messages._negotiation import (
    Algorithms,
    AlgStruct,
    Capabilities,
    GetCapabilities,
    GetVersion,
    NegotiateAlgorithms,
    Version,
)
from spdmd.spdm.messages._status import (
    ErrorMessage,
    RespondIfReady,
    ResponseNotReadyData,
)

__all__ = [
    "HEADER_SIZE",
    "REQUEST_CLASSES",
    "RESPONSE_CLASSES",
    "AlgStruct",
    "Algorithms",
    "Capabilities",
    "Certificate",
    "Challenge",
    "ChallengeAuth",
    "Digests",
    "ErrorMessage",
    "GetCapabilities",
    "GetCertificate",
    "GetDigests",
    "GetMeasurements",
    "GetVersion",
    "MeasurementBlock",
    "Measurements",
    "Message",
    "NegotiateAlgorithms",
    "RespondIfReady",
    "ResponseNotReadyData",
    "Version",
    "decode_request",
    "decode_response",
    "error_name",
]


RESPONSE_CLASSES: dict[Code, type[Message]] = {
    Code.VERSION: Version,
    Code.CAPABILITIES: Capabilities,
    Code.ALGORITHMS: Algorithms,
    Code.DIGESTS: Digests,
    Code.CERTIFICATE: Certificate,
    Code.CHALLENGE_AUTH: ChallengeAuth,
    Code.MEASUREMENTS: Measurements,
    Code.ERROR: ErrorMessage,
}

REQUEST_CLASSES: dict[Code, type[Message]] = {
    Code.GET_VERSION: GetVersion,
    Code.GET_CAPABILITIES: GetCapabilities,
    Code.NEGOTIATE_ALGORITHMS: NegotiateAlgorithms,
    Code.GET_DIGESTS: GetDigests,
    Code.GET_CERTIFICATE: GetCertificate,
    Code.CHALLENGE: Challenge,
    Code.GET_MEASUREMENTS: GetMeasurements,
    Code.RESPOND_IF_READY: RespondIfReady,
}


# What an ERROR means for the person reading the result (DSP0274 section
# 10.14, error code table).
_ERROR_HINTS: dict[int, str] = {
    ErrorCode.INVALID_REQUEST: "the device found a field of the request invalid",
    ErrorCode.BUSY: "the device stayed busy",
    ErrorCode.UNEXPECTED_REQUEST: "the device did not expect this request at this point of the flow",
    ErrorCode.UNSPECIFIED: "the device failed without saying why",
    ErrorCode.UNSUPPORTED_REQUEST: "the device does not support this request",
    ErrorCode.VERSION_MISMATCH: "the device rejects the SPDM version byte of the request",
    ErrorCode.RESPONSE_NOT_READY: "the device was not ready",
    ErrorCode.REQUEST_RESYNCH: "the device asked to start again from GET_VERSION",
    ErrorCode.LARGE_RESPONSE: "the response needs chunked transfer (CHUNK_CAP), which this requester does not support",
    ErrorCode.RESPONSE_TOO_LARGE: "the response exceeds the size this requester accepts",
}


def _as_code(code: int) -> Code | None:
    try:
        return Code(code)
    except ValueError:
        return None


def _code_name(code: int) -> str:
    try:
        return Code(code).name
    except ValueError:
        return f"0x{code:02x}"


def decode_response(
    request_code: int, data: bytes, *, version: int, **params: Any
) -> Any:
    """Validate and decode the response to `request_code` (the one validator).

    Fixed order: minimum length, version byte, response code (ERROR raises
    `ErrorResponse` carrying the request and error codes), then the message's
    own full-length check. `params` are the size parameters the response
    class needs (`hash_size`, `signature_size`, `summary_hash_size`).
    """
    step = _code_name(request_code)
    if len(data) < HEADER_SIZE:
        raise MalformedResponse(
            f"response to {step} is {len(data)} bytes, shorter than the 4-byte header",
            step=step,
        )
    if data[0] != version:
        raise UnexpectedResponse(
            f"response to {step} has version byte 0x{data[0]:02x}, expected 0x{version:02x}",
            step=step,
        )
    if data[1] == Code.ERROR:
        try:
            err = ErrorMessage.decode(data)
        except SpdmError as exc:
            exc.step = step
            raise
        hint = _ERROR_HINTS.get(err.error_code)
        raise ErrorResponse(
            f"{step} answered with ERROR {error_name(err.error_code)} (0x{err.error_code:02x}), data 0x{err.error_data:02x}"
            + (f": {hint}" if hint else ""),
            request_code=request_code,
            error_code=err.error_code,
            error_data=err.error_data,
            extended=err.extended,
            step=step,
        )
    code = _as_code(request_code)
    expected = RESPONSE_FOR_REQUEST.get(code) if code is not None else None
    if expected is None:
        raise UnexpectedResponse(
            f"no response is defined for request {step}", step=step
        )
    if data[1] != expected:
        raise UnexpectedResponse(
            f"response to {step} has code {_code_name(data[1])} (0x{data[1]:02x}), expected {expected.name} (0x{expected:02x})",
            step=step,
        )
    cls = RESPONSE_CLASSES[expected]
    try:
        return cls.decode(data, version=version, **params)  # type: ignore[attr-defined]
    except SpdmError as exc:
        exc.step = step
        raise


def decode_request(data: bytes, *, version: int | None = None) -> Any:
    """Decode any request by its code (responder side)."""
    if len(data) < HEADER_SIZE:
        raise MalformedRequest(
            f"request is {len(data)} bytes, shorter than the 4-byte header"
        )
    code = _as_code(data[1])
    cls = REQUEST_CLASSES.get(code) if code is not None else None
    if cls is None:
        raise MalformedRequest(f"request code 0x{data[1]:02x} is not supported")
    return cls.decode(data, version=version)  # type: ignore[attr-defined]
