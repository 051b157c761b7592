"""SPDM over Linux AF_MCTP sockets (DSP0275 binding, DSP0236 transport).

Invariants, each one a defect of the upstream daemon this module avoids:

- One socket per endpoint and never `bind()`: a requester sends with the
  tag-owner flag and the kernel routes the reply back to the sending socket.
  A bind to (ANY net, ANY eid, type 5) is only for receiving unsolicited
  requests, and two of them in one process collide with EADDRINUSE.
- Every receive waits with `poll()` for at most the time left before the
  caller's deadline: no read can block forever.
- Only a reply is accepted: from the endpoint's EID (and network when one was
  given), message type 5, tag-owner bit clear, and when the tag is known
  (preallocated) that tag. Anything else is counted in `discarded` and
  dropped, and the wait goes on.

Python's socket module creates AF_MCTP sockets but cannot format or parse
`struct sockaddr_mctp`, so sendto/recvfrom go through ctypes on `fileno()`.
The kernel adds the message-type byte on send and strips it on receive
(reporting it in `smctp_type`), so buffers here are bare SPDM messages.

Tags. With plain `MCTP_TAG_OWNER` the kernel allocates a tag per sendto and
never reports which; it delivers to this socket only replies whose tag
matches a key the socket owns, and releases the key when the reply arrives
or after the kernel's key lifetime (about 6 s). So a reply to a request this
transport gave up on can still arrive during that window, and its tag cannot
be told apart from the current one. The transport therefore (a) drains the
socket before each send and (b) for the key lifetime after a timeout also
requires the reply's SPDM response code to answer the request just sent.
With `tag_mode="prealloc"` the tag is allocated explicitly with
SIOCMCTPALLOCTAG (kernel 5.19+, default network only), so the exact tag is
known and dropped (SIOCMCTPDROPTAG) after each exchange. That alone does not
stop a late reply: Linux 6.1 hands out the lowest free tag, so the next
exchange usually gets the same tag value again and the late reply matches
its key (seen in the MCTP VM, tests/mctp_vm). The response-code check after
a timeout therefore applies in both modes. docs/transports.md says which of this
ran against a real kernel.
"""

from __future__ import annotations

import ctypes
import errno
import select
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from spdmd.errors import TransportError, TransportTimeout, UsageError
from spdmd.spdm.constants import RESPONSE_FOR_REQUEST, Code

__all__ = [
    "AF_MCTP",
    "MCTP_ADDR_ANY",
    "MCTP_EID_RANGE",
    "MCTP_NET_ANY",
    "MCTP_TAG_MASK",
    "MCTP_TAG_OWNER",
    "MCTP_TAG_PREALLOC",
    "MCTP_TYPE_SPDM",
    "Libc",
    "MctpAddress",
    "MctpTransport",
    "SockaddrMctp",
    "load_libc",
    "open_mctp_socket",
]

AF_MCTP = 45
MCTP_NET_ANY = 0x0
MCTP_ADDR_NULL = 0x00
MCTP_ADDR_ANY = 0xFF
# The endpoint ids a requester may address: DSP0236 section 8.2 makes 0 the
# null EID, 0xFF broadcast and 1..7 reserved, and Linux refuses those as
# unicast addresses. The one rule for spdmtool, this transport and spdmd's
# configuration.
MCTP_EID_RANGE = range(8, 0xFF)
MCTP_TAG_MASK = 0x07
MCTP_TAG_OWNER = 0x08
MCTP_TAG_PREALLOC = 0x10
# DSP0275: SPDM is MCTP message type 5 (6 is secured SPDM).
MCTP_TYPE_SPDM = 0x05
SIOCPROTOPRIVATE = 0x89E0
SIOCMCTPALLOCTAG = SIOCPROTOPRIVATE + 0
SIOCMCTPDROPTAG = SIOCPROTOPRIVATE + 1
MSG_DONTWAIT = 0x40
MSG_TRUNC = 0x20
# The kernel's key lifetime for an unanswered tag (net/mctp/route.c).
KEY_LIFETIME = 6.0
DEFAULT_MAX_MESSAGE_SIZE = 0x10000


class SockaddrMctp(ctypes.Structure):
    """struct sockaddr_mctp from <linux/mctp.h> (native byte order)."""

    _fields_ = [
        ("smctp_family", ctypes.c_uint16),
        ("smctp_pad0", ctypes.c_uint16),
        ("smctp_network", ctypes.c_uint32),
        ("smctp_addr", ctypes.c_uint8),
        ("smctp_type", ctypes.c_uint8),
        ("smctp_tag", ctypes.c_uint8),
        ("smctp_pad1", ctypes.c_uint8),
    ]


class MctpIocTagCtl(ctypes.Structure):
    """struct mctp_ioc_tag_ctl for SIOCMCTPALLOCTAG / SIOCMCTPDROPTAG."""

    _fields_ = [
        ("peer_addr", ctypes.c_uint8),
        ("tag", ctypes.c_uint8),
        ("flags", ctypes.c_uint16),
    ]


@dataclass(frozen=True)
class MctpAddress:
    net: int
    eid: int
    type: int
    tag: int

    def pack(self) -> SockaddrMctp:
        return SockaddrMctp(AF_MCTP, 0, self.net, self.eid, self.type, self.tag, 0)

    @classmethod
    def unpack(cls, addr: SockaddrMctp) -> MctpAddress:
        return cls(addr.smctp_network, addr.smctp_addr, addr.smctp_type, addr.smctp_tag)


class Libc(Protocol):
    """The three libc calls used, with ctypes calling conventions: they
    return -1 and leave the error in `ctypes.get_errno()`."""

    def sendto(
        self, fd: int, buf: bytes, length: int, flags: int, addr: Any, addrlen: int
    ) -> int: ...
    def recvfrom(
        self, fd: int, buf: Any, length: int, flags: int, addr: Any, addrlen: Any
    ) -> int: ...
    def ioctl(self, fd: int, request: int, arg: Any) -> int: ...
    def bind(self, fd: int, addr: Any, addrlen: int) -> int: ...


def load_libc() -> Libc:
    """The C library with argument types declared for the calls above."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.sendto.argtypes = [
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_size_t,
        ctypes.c_int,
        ctypes.POINTER(SockaddrMctp),
        ctypes.c_uint32,
    ]
    libc.sendto.restype = ctypes.c_ssize_t
    libc.recvfrom.argtypes = [
        ctypes.c_int,
        ctypes.c_void_p,
        ctypes.c_size_t,
        ctypes.c_int,
        ctypes.POINTER(SockaddrMctp),
        ctypes.POINTER(ctypes.c_uint32),
    ]
    libc.recvfrom.restype = ctypes.c_ssize_t
    libc.ioctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p]
    libc.ioctl.restype = ctypes.c_int
    # Only the emulator's responder socket binds; the requester never does.
    libc.bind.argtypes = [ctypes.c_int, ctypes.POINTER(SockaddrMctp), ctypes.c_uint32]
    libc.bind.restype = ctypes.c_int
    return libc


def open_mctp_socket() -> socket.socket:
    """A new, unbound AF_MCTP datagram socket."""
    try:
        return socket.socket(AF_MCTP, socket.SOCK_DGRAM, 0)
    except OSError as exc:
        if exc.errno in (errno.EAFNOSUPPORT, errno.EPROTONOSUPPORT, errno.EINVAL):
            raise TransportError(
                "AF_MCTP is not available: this kernel was built without CONFIG_MCTP"
            ) from None
        raise TransportError(
            f"cannot create an MCTP socket: {exc.strerror or exc}"
        ) from None


def wait_readable(fd: int, timeout: float) -> bool:
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    # poll takes milliseconds; round up so a short remainder still waits.
    return bool(poller.poll(max(int(timeout * 1000 + 0.999), 0)))


def _expected_response(request: bytes) -> int | None:
    """The response code that answers `request`, None if unknown."""
    if len(request) < 3:
        return None
    code = request[1]
    if code == Code.RESPOND_IF_READY:
        # Param1 of RESPOND_IF_READY is the original request (DSP0274 10.x).
        code = request[2]
    try:
        return int(RESPONSE_FOR_REQUEST[Code(code)])
    except (ValueError, KeyError):
        return None


class MctpTransport:
    """One endpoint (network, EID) reached through its own unbound socket."""

    def __init__(
        self,
        *,
        eid: int,
        net: int | None = None,
        tag_mode: str = "kernel",
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        sock: Any = None,
        libc: Libc | None = None,
        clock: Callable[[], float] = time.monotonic,
        wait: Callable[[int, float], bool] = wait_readable,
    ) -> None:
        if eid not in MCTP_EID_RANGE:
            raise UsageError(f"MCTP endpoint id {eid} is out of range 8..254")
        if net is not None and not 0 < net <= 0xFFFFFFFF:
            raise UsageError(f"MCTP network id {net} is out of range 1..4294967295")
        if tag_mode not in ("kernel", "prealloc"):
            raise UsageError(
                f"MCTP tag mode {tag_mode!r}, expected 'kernel' or 'prealloc'"
            )
        if tag_mode == "prealloc" and net is not None:
            # SIOCMCTPALLOCTAG allocates on the default network only.
            raise UsageError(
                "MCTP tag mode 'prealloc' works only on the default network (no net)"
            )
        self.eid = eid
        self.net = net
        self.tag_mode = tag_mode
        self.max_message_size = max_message_size
        self.name = (
            f"mctp net {net} eid {eid}" if net is not None else f"mctp eid {eid}"
        )
        self.discarded = 0
        self._clock = clock
        self._wait = wait
        self._libc = libc if libc is not None else load_libc()
        self._sock = sock if sock is not None else open_mctp_socket()
        self._fd: int = self._sock.fileno()
        self._stale_until = float("-inf")
        self._buf = ctypes.create_string_buffer(max_message_size)

    # -- the Transport interface ------------------------------------------

    def exchange(self, request: bytes, timeout: float) -> bytes:
        if self._sock is None:
            raise TransportError(f"{self.name}: transport is closed")
        deadline = self._clock() + timeout
        self._drain()
        tag = self._alloc_tag() if self.tag_mode == "prealloc" else None
        try:
            send_tag = MCTP_TAG_OWNER if tag is None else tag
            self._sendto(request, send_tag)
            while True:
                left = deadline - self._clock()
                if left <= 0 or not self._wait(self._fd, left):
                    self._stale_until = self._clock() + KEY_LIFETIME
                    raise TransportTimeout(
                        f"no response from {self.name} within {timeout:g} s"
                    )
                received = self._recvfrom()
                if received is None:
                    continue
                data, source, full_length = received
                if not self._accept(source, tag, data, request):
                    self.discarded += 1
                    continue
                if full_length > len(self._buf):
                    raise TransportError(
                        f"{self.name} sent a {full_length}-byte message, above the limit of {len(self._buf)}"
                    )
                return data
        finally:
            if tag is not None:
                self._drop_tag(tag)

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None

    # -- matching -----------------------------------------------------------

    def _accept(
        self, source: MctpAddress, tag: int | None, data: bytes, request: bytes
    ) -> bool:
        if source.eid != self.eid or source.type != MCTP_TYPE_SPDM:
            return False
        if self.net is not None and source.net != self.net:
            return False
        if source.tag & MCTP_TAG_OWNER:
            # A request from the peer, not a reply to ours.
            return False
        if tag is not None and (source.tag & MCTP_TAG_MASK) != (tag & MCTP_TAG_MASK):
            return False
        if self._clock() < self._stale_until:
            # A reply to an abandoned request may still be in flight and its
            # tag is not observable: insist that the code answers this one.
            expected = _expected_response(request)
            if expected is not None and len(data) >= 2:
                return data[1] in (expected, int(Code.ERROR))
        return True

    # -- system calls -------------------------------------------------------

    def _address(self, tag: int) -> SockaddrMctp:
        net = MCTP_NET_ANY if self.net is None else self.net
        return MctpAddress(net, self.eid, MCTP_TYPE_SPDM, tag).pack()

    def _sendto(self, data: bytes, tag: int) -> None:
        addr = self._address(tag)
        rc = self._libc.sendto(
            self._fd, data, len(data), 0, ctypes.pointer(addr), ctypes.sizeof(addr)
        )
        if rc < 0:
            err = ctypes.get_errno()
            if err in (errno.EPERM, errno.EACCES):
                raise TransportError(
                    f"sending to {self.name} was refused: the process needs CAP_NET_RAW on this kernel"
                )
            if err in (errno.ENETUNREACH, errno.EHOSTUNREACH):
                raise TransportError(f"no MCTP route to {self.name}")
            raise TransportError(
                f"sending to {self.name} failed: {errno.errorcode.get(err, err)}"
            )
        if rc != len(data):
            raise TransportError(
                f"sending to {self.name} sent {rc} of {len(data)} bytes"
            )

    def _recvfrom(self) -> tuple[bytes, MctpAddress, int] | None:
        addr = SockaddrMctp()
        addrlen = ctypes.c_uint32(ctypes.sizeof(addr))
        rc = self._libc.recvfrom(
            self._fd,
            self._buf,
            len(self._buf),
            MSG_DONTWAIT | MSG_TRUNC,
            ctypes.pointer(addr),
            ctypes.pointer(addrlen),
        )
        if rc < 0:
            err = ctypes.get_errno()
            if err in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR):
                return None
            raise TransportError(
                f"receiving from {self.name} failed: {errno.errorcode.get(err, err)}"
            )
        if addrlen.value < ctypes.sizeof(addr):
            self.discarded += 1
            return None
        # With MSG_TRUNC the return value is the datagram's real length.
        data = ctypes.string_at(self._buf, min(rc, len(self._buf)))
        return data, MctpAddress.unpack(addr), rc

    def _drain(self) -> None:
        while self._wait(self._fd, 0):
            if self._recvfrom() is None:
                return
            self.discarded += 1

    def _alloc_tag(self) -> int:
        ctl = MctpIocTagCtl(self.eid, 0, 0)
        if self._libc.ioctl(self._fd, SIOCMCTPALLOCTAG, ctypes.pointer(ctl)) < 0:
            err = ctypes.get_errno()
            raise TransportError(
                f"cannot preallocate an MCTP tag for {self.name}: {errno.errorcode.get(err, err)}"
            )
        return ctl.tag

    def _drop_tag(self, tag: int) -> None:
        ctl = MctpIocTagCtl(self.eid, tag, 0)
        # A failed drop only leaves the key to expire on its own.
        self._libc.ioctl(self._fd, SIOCMCTPDROPTAG, ctypes.pointer(ctl))
