"""The common part of every SPDM message class: header checks and helpers.

`Message._start` checks the header and fixed part, `_finish` the full length
computed from the fields; both raise MalformedRequest for requests and
MalformedResponse/UnexpectedResponse for responses, naming the command.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from spdmd.errors import (
    MalformedRequest,
    MalformedResponse,
    SpdmError,
    UnexpectedResponse,
)
from spdmd.spdm.constants import (
    REQUESTER_CONTEXT_SIZE,
    SUPPORTED_VERSIONS,
    Code,
    ErrorCode,
)

HEADER_SIZE = 4
_VERSIONS = frozenset(int(v) for v in SUPPORTED_VERSIONS)


def error_name(code: int) -> str:
    """The ErrorCode name of `code`, or its hex value when unknown."""
    try:
        return ErrorCode(code).name
    except ValueError:
        return f"0x{code:02x}"


def _u16(data: bytes, off: int) -> int:
    return int.from_bytes(data[off : off + 2], "little")


def _u24(data: bytes, off: int) -> int:
    return int.from_bytes(data[off : off + 3], "little")


def _u32(data: bytes, off: int) -> int:
    return int.from_bytes(data[off : off + 4], "little")


def _popcount(value: int) -> int:
    return (value).bit_count()


@dataclass
class Message:
    """Common part: the header's version byte and the bytes decoded."""

    CODE: ClassVar[Code]
    IS_REQUEST: ClassVar[bool]
    # The request a response answers: names the step in errors.
    STEP: ClassVar[str]

    raw: bytes = field(default=b"", repr=False, compare=False, kw_only=True)

    @classmethod
    def _error(cls, text: str) -> SpdmError:
        kind = MalformedRequest if cls.IS_REQUEST else MalformedResponse
        return kind(f"{cls.CODE.name} {text}", step=cls.STEP)

    @classmethod
    def _start(cls, data: bytes, version: int | None, fixed: int) -> int:
        """Check the header and the fixed part; return the version byte."""
        if len(data) < HEADER_SIZE:
            raise cls._error(f"is {len(data)} bytes, shorter than the 4-byte header")
        if data[1] != cls.CODE:
            raise cls._error(f"has code 0x{data[1]:02x}, expected 0x{cls.CODE:02x}")
        got = data[0]
        if version is not None and got != version:
            kind = MalformedRequest if cls.IS_REQUEST else UnexpectedResponse
            raise kind(
                f"{cls.CODE.name} has version byte 0x{got:02x}, expected 0x{version:02x}",
                step=cls.STEP,
            )
        if got not in _VERSIONS:
            raise cls._error(f"has unsupported version byte 0x{got:02x}")
        if len(data) < fixed:
            raise cls._error(f"is {len(data)} bytes, expected at least {fixed}")
        return got

    @classmethod
    def _need(cls, data: bytes, size: int, what: str) -> None:
        if len(data) < size:
            raise cls._error(
                f"is {len(data)} bytes, expected at least {size} for its {what}"
            )

    @classmethod
    def _finish(cls, data: bytes, size: int) -> bytes:
        if len(data) != size:
            raise cls._error(f"is {len(data)} bytes, expected {size} from its fields")
        return bytes(data[:size])

    def _header(self, version: int, param1: int, param2: int) -> bytes:
        return bytes((version, self.CODE, param1 & 0xFF, param2 & 0xFF))


def _context_size(version: int) -> int:
    # DSP0274 1.3 section 10.8: RequesterContext in CHALLENGE, CHALLENGE_AUTH,
    # GET_MEASUREMENTS and MEASUREMENTS.
    return REQUESTER_CONTEXT_SIZE if version >= 0x13 else 0
