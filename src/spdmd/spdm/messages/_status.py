"""RESPOND_IF_READY and ERROR with its ResponseNotReady data
(DSP0274 sections 10.13 and 10.14).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from spdmd.spdm.constants import Code, ErrorCode
from spdmd.spdm.messages._base import HEADER_SIZE, Message

# --- RESPOND_IF_READY and ERROR (sections 10.13, 10.14) ---------------------


@dataclass
class RespondIfReady(Message):
    """RESPOND_IF_READY: Param1 = the original request code, Param2 = token."""

    CODE: ClassVar[Code] = Code.RESPOND_IF_READY
    IS_REQUEST: ClassVar[bool] = True
    STEP: ClassVar[str] = "RESPOND_IF_READY"
    version: int = 0x10
    request_code: int = 0
    token: int = 0

    def encode(self) -> bytes:
        return self._header(self.version, self.request_code, self.token)

    @classmethod
    def decode(cls, data: bytes, *, version: int | None = None) -> RespondIfReady:
        got = cls._start(data, version, HEADER_SIZE)
        return cls(
            version=got,
            request_code=data[2],
            token=data[3],
            raw=cls._finish(data, HEADER_SIZE),
        )


@dataclass
class ResponseNotReadyData:
    """ERROR ResponseNotReady extended data (DSP0274 section 10.14)."""

    rdt_exponent: int
    request_code: int
    token: int
    rdtm: int

    SIZE: ClassVar[int] = 4

    def encode(self) -> bytes:
        return bytes((self.rdt_exponent, self.request_code, self.token, self.rdtm))


@dataclass
class ErrorMessage(Message):
    """ERROR: Param1 = error code, Param2 = error data, extended data.

    Only ResponseNotReady has extended data whose size the specification
    fixes (4 bytes), so only there is the size checked; for other codes the
    extended data is kept as sent.
    """

    CODE: ClassVar[Code] = Code.ERROR
    IS_REQUEST: ClassVar[bool] = False
    STEP: ClassVar[str] = "ERROR"
    version: int = 0x10
    error_code: int = 0
    error_data: int = 0
    extended: bytes = b""

    @property
    def not_ready(self) -> ResponseNotReadyData | None:
        if self.error_code != ErrorCode.RESPONSE_NOT_READY:
            return None
        e = self.extended
        return ResponseNotReadyData(e[0], e[1], e[2], e[3])

    def encode(self) -> bytes:
        return (
            self._header(self.version, self.error_code, self.error_data) + self.extended
        )

    @classmethod
    def decode(cls, data: bytes, *, version: int | None = None) -> ErrorMessage:
        got = cls._start(data, version, HEADER_SIZE)
        if data[2] == ErrorCode.RESPONSE_NOT_READY:
            size = HEADER_SIZE + ResponseNotReadyData.SIZE
            cls._need(data, size, "ResponseNotReady extended data")
            raw = cls._finish(data, size)
        else:
            raw = bytes(data)
        return cls(
            version=got,
            error_code=data[2],
            error_data=data[3],
            extended=raw[HEADER_SIZE:],
            raw=raw,
        )
