"""A stand-in for the kernel side of AF_MCTP, at the libc-call level.

`StandInKernel` implements the calls `spdmd.transport.mctp` makes through
ctypes (sendto, recvfrom, ioctl, bind) with their C conventions: it reads
the `struct sockaddr_mctp` the transport packed from memory, writes
received data and the source address into the transport's buffers, and
reports failures through ctypes' errno. Readiness goes through a real
socketpair, so the transport's real poll() and its timeouts are exercised.

What it models of the kernel (Linux 6.1 net/mctp): a sendto with
MCTP_TAG_OWNER allocates a tag per message; a reply is delivered with that
tag and TO clear; the message-type byte is not part of the buffer; a second
bind to the same (net, eid, type) fails with EADDRINUSE; SIOCMCTPALLOCTAG
returns a tag with TO and PREALLOC set. What it does not model: routing,
fragmentation, key expiry, and the real kernel's choice of tag values.
"""

from __future__ import annotations

import ctypes
import errno
import socket
import struct
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from spdmd.transport import mctp

# struct sockaddr_mctp in native order: family, pad, network, eid, type, tag, pad.
SOCKADDR = struct.Struct("=HHIBBBB")


@dataclass
class Sent:
    data: bytes
    family: int
    net: int
    eid: int
    type: int
    tag: int
    addr_bytes: bytes


class StandInSocket:
    """What `socket.socket(AF_MCTP, ...)` would return: an fd to poll."""

    def __init__(self) -> None:
        self._r, self._w = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.closed = False

    def fileno(self) -> int:
        return self._r.fileno()

    def signal(self) -> None:
        self._w.send(b"!")

    def consume(self) -> None:
        self._r.setblocking(False)
        try:
            self._r.recv(1)
        except BlockingIOError:
            pass

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._r.close()
            self._w.close()


class StandInKernel:
    """The fake libc. `responder(kernel, sent)` runs on every send and may
    call `deliver()`; without one, nothing answers."""

    def __init__(
        self, responder: Callable[[StandInKernel, Sent], None] | None = None
    ) -> None:
        self.sock = StandInSocket()
        self.responder = responder
        self.sent: list[Sent] = []
        self.binds: list[tuple[int, int, int]] = []
        self.ioctls: list[tuple[int, int, int]] = []
        self.dropped_tags: list[int] = []
        self.send_errno = 0
        self._queue: deque[tuple[bytes, bytes]] = deque()
        self._next_tag = 0
        self.last_tag = 0
        self._bound: set[tuple[int, int, int]] = set()

    # -- helpers for tests --------------------------------------------------

    def deliver(
        self, data: bytes, *, net: int, eid: int, type: int = 5, tag: int = 0
    ) -> None:
        addr = SOCKADDR.pack(mctp.AF_MCTP, 0, net, eid, type, tag, 0)
        self._queue.append((data, addr))
        self.sock.signal()

    def allocate_tag(self) -> int:
        tag = self._next_tag
        self._next_tag = (self._next_tag + 1) & mctp.MCTP_TAG_MASK
        return tag

    # -- the libc calls -----------------------------------------------------

    def sendto(
        self, fd: int, buf: bytes, length: int, flags: int, addr, addrlen: int
    ) -> int:
        raw = ctypes.string_at(ctypes.addressof(addr.contents), addrlen)
        family, _pad, net, eid, type_, tag, _pad1 = SOCKADDR.unpack(raw)
        if self.send_errno:
            ctypes.set_errno(self.send_errno)
            return -1
        if tag & mctp.MCTP_TAG_OWNER and not tag & mctp.MCTP_TAG_PREALLOC:
            # The kernel allocates the tag for this message.
            self.last_tag = self.allocate_tag()
        else:
            self.last_tag = tag & mctp.MCTP_TAG_MASK
        sent = Sent(bytes(buf[:length]), family, net, eid, type_, tag, raw)
        self.sent.append(sent)
        if self.responder is not None:
            self.responder(self, sent)
        return length

    def recvfrom(self, fd: int, buf, length: int, flags: int, addr, addrlen) -> int:
        if not self._queue:
            ctypes.set_errno(errno.EAGAIN)
            return -1
        self.sock.consume()
        data, source = self._queue.popleft()
        count = min(len(data), length)
        ctypes.memmove(buf, data, count)
        ctypes.memmove(ctypes.addressof(addr.contents), source, len(source))
        addrlen.contents.value = len(source)
        return len(data) if flags & mctp.MSG_TRUNC else count

    def ioctl(self, fd: int, request: int, arg) -> int:
        ctl = arg.contents
        self.ioctls.append((request, ctl.peer_addr, ctl.tag))
        if request == mctp.SIOCMCTPALLOCTAG:
            ctl.tag = self.allocate_tag() | mctp.MCTP_TAG_OWNER | mctp.MCTP_TAG_PREALLOC
            return 0
        if request == mctp.SIOCMCTPDROPTAG:
            self.dropped_tags.append(ctl.tag)
            return 0
        ctypes.set_errno(errno.ENOTTY)
        return -1

    def bind(self, fd: int, addr, addrlen: int) -> int:
        raw = ctypes.string_at(ctypes.addressof(addr.contents), addrlen)
        _f, _p, net, eid, type_, _t, _p1 = SOCKADDR.unpack(raw)
        key = (net, eid, type_)
        self.binds.append(key)
        if key in self._bound:
            ctypes.set_errno(errno.EADDRINUSE)
            return -1
        self._bound.add(key)
        return 0


def echo_responder(
    reply: Callable[[bytes], bytes],
) -> Callable[[StandInKernel, Sent], None]:
    """A peer that answers each request like a kernel-delivered reply: same
    network and EID, type 5, the allocated tag, TO clear."""

    def respond(kernel: StandInKernel, sent: Sent) -> None:
        kernel.deliver(
            reply(sent.data), net=sent.net or 1, eid=sent.eid, tag=kernel.last_tag
        )

    return respond
