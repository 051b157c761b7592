"""Faults the responder emulator commits on purpose.

Each field is one kind of misbehaviour a requester must survive or reject.
Steps are request names ("GET_VERSION" ... "GET_MEASUREMENTS",
"RESPOND_IF_READY"); a step of None means "any request". The same record is
built from the command line by `Faults.parse(["busy=3@CHALLENGE", ...])`:

    wrong_key                 sign with a key that does not match the leaf
    untrusted_root            serve a chain from a root no test trusts
    expired_leaf              serve a leaf whose validity ended in 2021
    tampered_chain            flip a byte of the leaf certificate served
    busy=N[@STEP]             ERROR Busy the first N times
    busy_after=K              answer K matching requests before the Busy
                              ones (Busy in the middle of a run)
    not_ready=N[@STEP]        ERROR ResponseNotReady N times, then answer
                              RESPOND_IF_READY (default step CHALLENGE)
    silent[@STEP]             no answer from STEP on (default: at all)
    silent_only@STEP          no answer to STEP, others answered
    slow=SECONDS[@STEP]       the server waits before replying (0..3600)
    truncate=N@STEP           the response loses its last N bytes
    oversize=N@STEP           N junk bytes follow the response (N up to
                              1 MiB; a server clips to its framing's maximum)
    wrong_version[@STEP]      the response carries another version byte
    error=CODE@STEP           ERROR CODE (ErrorCode name, or a number 0..255,
                              reserved codes included) instead of the answer

The three PKI faults (untrusted_root, expired_leaf, and wrong_key's spare
key) are applied when the configuration is built; the others by the
Responder while it answers.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from spdmd.errors import UsageError
from spdmd.spdm.constants import Code, ErrorCode

__all__ = ["MAX_OVERSIZE", "MAX_SLOW", "STEPS", "Faults"]

# Bounds that keep a typo from exhausting memory (oversize) or from a wait
# the threading clock cannot represent (slow).
MAX_OVERSIZE = 1 << 20
MAX_SLOW = 3600.0

# The request names a fault can be tied to.
STEPS = frozenset(
    c.name
    for c in (
        Code.GET_VERSION,
        Code.GET_CAPABILITIES,
        Code.NEGOTIATE_ALGORITHMS,
        Code.GET_DIGESTS,
        Code.GET_CERTIFICATE,
        Code.CHALLENGE,
        Code.GET_MEASUREMENTS,
        Code.RESPOND_IF_READY,
    )
)


@dataclass
class Faults:
    wrong_key: bool = False
    untrusted_root: bool = False
    expired_leaf: bool = False
    tampered_chain: bool = False
    busy: int = 0
    busy_step: str | None = None
    busy_after: int = 0
    not_ready: int = 0
    not_ready_step: str | None = "CHALLENGE"
    silent_from: str | None = None
    silent_all: bool = False
    silent_only: str | None = None
    slow: float = 0.0
    slow_step: str | None = None
    truncate: int = 0
    truncate_step: str | None = None
    oversize: int = 0
    oversize_step: str | None = None
    wrong_version: bool = False
    wrong_version_step: str | None = None
    error_code: int = 0
    error_step: str | None = None

    def __post_init__(self) -> None:
        for name in (
            "busy_step",
            "not_ready_step",
            "silent_from",
            "silent_only",
            "slow_step",
            "truncate_step",
            "oversize_step",
            "wrong_version_step",
            "error_step",
        ):
            step = getattr(self, name)
            if step is not None and step not in STEPS:
                raise UsageError(
                    f"fault step {step!r} is not a request name ({', '.join(sorted(STEPS))})"
                )
        for name in ("busy", "busy_after", "not_ready", "truncate", "oversize"):
            if getattr(self, name) < 0:
                raise UsageError(f"fault {name} must not be negative")
        if self.oversize > MAX_OVERSIZE:
            raise UsageError(
                f"fault oversize {self.oversize} is more than {MAX_OVERSIZE} bytes"
            )
        # "not 0 <= x" is also true for NaN.
        if not 0 <= self.slow <= MAX_SLOW:
            raise UsageError(
                f"fault slow must be 0..{MAX_SLOW:g} seconds, not {self.slow!r}"
            )
        if not 0 <= self.error_code <= 0xFF:
            raise UsageError(
                f"fault error code {self.error_code} is out of range 0..255"
            )
        if self.not_ready and self.not_ready_step in (
            None,
            "GET_VERSION",
            "RESPOND_IF_READY",
        ):
            # DSP0274 section 10.14: not allowed for GET_VERSION, and the
            # delayed request must be one RESPOND_IF_READY can name.
            raise UsageError(
                f"ResponseNotReady is not allowed for {self.not_ready_step or 'every request'}"
            )

    @property
    def active(self) -> list[str]:
        """Short names of the faults in force (for logs and the CLI)."""
        default = Faults()
        return [
            f.name
            for f in dataclasses.fields(self)
            if not f.name.endswith("_step")
            and getattr(self, f.name) != getattr(default, f.name)
        ]

    @classmethod
    def parse(cls, specs: list[str] | tuple[str, ...]) -> Faults:
        """Build from `name[=value][@STEP]` strings (see the module doc)."""
        values: dict[str, object] = {}
        for spec in specs:
            head, _, step = spec.partition("@")
            name, has_value, value = head.partition("=")
            name = name.strip().replace("-", "_")
            step = step.strip().upper() or ""
            try:
                _apply(values, name, value.strip() if has_value else None, step or None)
            except UsageError:
                raise
            except ValueError:
                raise UsageError(
                    f"bad fault {spec!r}: value {value!r} is not valid"
                ) from None
        return cls(**values)  # type: ignore[arg-type]


_FLAGS = ("wrong_key", "untrusted_root", "expired_leaf", "tampered_chain")


def _apply(
    values: dict[str, object], name: str, value: str | None, step: str | None
) -> None:
    if name in _FLAGS:
        if value is not None or step is not None:
            raise UsageError(f"fault {name} takes no value or step")
        values[name] = True
    elif name in ("busy", "not_ready"):
        values[name] = int(value, 0) if value is not None else 1
        if step is not None or name == "busy":
            values[f"{name}_step"] = step
    elif name == "busy_after":
        if value is None or step is not None:
            raise UsageError(
                "fault busy_after needs a count and no step, as in busy=1@GET_MEASUREMENTS,busy_after=1"
            )
        values["busy_after"] = int(value, 0)
    elif name == "silent":
        if step is None:
            values["silent_all"] = True
        else:
            values["silent_from"] = step
    elif name == "silent_only":
        if step is None:
            raise UsageError(
                "fault silent_only needs a step, as in silent_only@GET_MEASUREMENTS"
            )
        values["silent_only"] = step
    elif name == "slow":
        if value is None:
            raise UsageError("fault slow needs seconds, as in slow=2.5@CHALLENGE")
        values["slow"] = float(value)
        values["slow_step"] = step
    elif name in ("truncate", "oversize"):
        values[name] = int(value, 0) if value is not None else 1
        values[f"{name}_step"] = step
    elif name == "wrong_version":
        values["wrong_version"] = True
        values["wrong_version_step"] = step
    elif name == "error":
        if value is None or step is None:
            raise UsageError(
                "fault error needs a code and a step, as in error=UNSPECIFIED@GET_MEASUREMENTS"
            )
        # A known name, or any number 0..255: reserved codes stay possible
        # on purpose, since a requester must survive those too.
        if value.upper() in ErrorCode.__members__:
            values["error_code"] = int(ErrorCode[value.upper()])
        else:
            try:
                values["error_code"] = int(value, 0)
            except ValueError:
                raise UsageError(
                    f"fault error {value!r} is neither an ERROR code name ({', '.join(ErrorCode.__members__)}) nor a number 0..255"
                ) from None
        values["error_step"] = step
    else:
        raise UsageError(f"unknown fault {name!r}")
