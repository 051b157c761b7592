"""Emulated MCTP endpoints on the far side of a real Linux MCTP link.

The kernel sees these endpoints as devices behind a link, exactly as it sees
a GPU behind an I2C or serial bus on a BMC: whole MCTP packets cross the
link, the kernel fragments its requests to the link MTU and reassembles our
replies, and tags route replies back to the requester's socket.

`Bus` is sans-I/O: `receive(packet, now)` takes one raw packet from the link
and returns the packets to send with the time to send them. It reassembles
per (source, tag), answers MCTP control requests (DSP0236 section 12) for
every EID it serves, hands SPDM messages (type 5, DSP0275) to that EID's
`Responder`, and fragments the reply to `mtu`. Endpoint faults the kernel's
tag matching has to cope with live here, next to the responder's own SPDM
faults (spdmd.responder.faults):

- `silent`: nothing is answered, not even control requests;
- `stale`: before each SPDM reply the previous one is sent again;
- `hold_next`: the next SPDM reply is held back and sent just before the
  one after it, so a requester that gave up on it sees it arrive late;
- `mismatched`: before each real reply come two wrong ones, one with
  another tag and one from another source EID with the right tag;
- `delay`: every SPDM reply is sent this many seconds late.

`TunLink` and `SerialLink` move the packets: a TUN device opened with its
packet-information header (protocol 0x00FA, ETH_P_MCTP; the kernel refuses
IFF_NO_PI writes on an MCTP tun), or a byte stream carrying DSP0253 frames.
`serve()` runs one link until told to stop, from a thread.
"""

from __future__ import annotations

import fcntl
import heapq
import os
import select
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from tests.mctp_vm import serial
from tests.mctp_vm.mctp import (
    BASELINE_MTU,
    MSG_TYPE_CONTROL,
    MSG_TYPE_SPDM,
    ControlEndpoint,
    Message,
    Packet,
    PacketError,
    Reassembler,
    fragment,
)

__all__ = ["Bus", "Endpoint", "SerialLink", "TunLink", "open_tun", "serve"]

ETH_P_MCTP = 0x00FA
TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001


class Handler(Protocol):
    def handle_timed(self, request: bytes) -> tuple[bytes | None, float]: ...


@dataclass
class Endpoint:
    """One EID on the bus and how it behaves."""

    eid: int
    responder: Handler | None = None
    silent: bool = False
    stale: bool = False
    mismatched: bool = False
    delay: float = 0.0
    control: ControlEndpoint = field(init=False)
    # What the endpoint saw, for tests to assert on.
    spdm_requests: int = 0
    control_requests: int = 0
    request_packets: list[int] = field(default_factory=list)
    reply_packets: list[int] = field(default_factory=list)
    hold_next: bool = False
    _held: Message | None = None
    _previous: Message | None = None

    unanswered: int = 0

    def __post_init__(self) -> None:
        self.control = ControlEndpoint(self.eid)

    def __repr__(self) -> str:
        return f"<Endpoint eid {self.control.eid} requests {len(self.request_packets)}>"


@dataclass
class Bus:
    """The far side of one link: several endpoints behind one MTU."""

    endpoints: list[Endpoint]
    mtu: int = BASELINE_MTU
    reassembler: Reassembler = field(default_factory=Reassembler)
    ignored: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _counts: dict[tuple[int, int, int], int] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"<Bus {self.endpoints} mtu {self.mtu}>"

    def endpoint(self, eid: int) -> Endpoint | None:
        for ep in self.endpoints:
            if ep.control.eid == eid:
                return ep
        return None

    def receive(self, raw: bytes, now: float) -> list[tuple[float, bytes]]:
        """Packets to send, each with the time it is due."""
        with self._lock:
            try:
                packet = Packet.decode(raw)
            except PacketError:
                self.ignored += 1
                return []
            key = (packet.src, packet.tag, packet.dest)
            self._counts[key] = 1 if packet.som else self._counts.get(key, 0) + 1
            message = self.reassembler.push(packet)
            if message is None:
                return []
            count = self._counts.pop(key, 1)
            ep = self.endpoint(message.dest)
            if (
                ep is None
                and message.dest == 0
                and message.msg_type == MSG_TYPE_CONTROL
            ):
                # The null EID reaches a not-yet-assigned endpoint (DSP0236
                # 8.2); with one endpoint on the link it is unambiguous.
                ep = self.endpoints[0] if len(self.endpoints) == 1 else None
            if ep is None or not message.tag_owner:
                self.ignored += 1
                return []
            ep.request_packets.append(count)
            if ep.silent:
                ep.unanswered += 1
                return []
            return self._answer(ep, message, now)

    def _answer(
        self, ep: Endpoint, request: Message, now: float
    ) -> list[tuple[float, bytes]]:
        src = ep.control.eid
        if request.msg_type == MSG_TYPE_CONTROL:
            ep.control_requests += 1
            body = ep.control.handle(request.body)
            if body is None:
                return []
            reply = Message(
                request.src, src, False, request.tag, MSG_TYPE_CONTROL, body
            )
            return [(now, p.encode()) for p in fragment(reply, self.mtu)]
        if request.msg_type != MSG_TYPE_SPDM or ep.responder is None:
            self.ignored += 1
            return []
        ep.spdm_requests += 1
        response, delay = ep.responder.handle_timed(request.body)
        if response is None:
            return []
        when = now + delay + ep.delay
        reply = Message(request.src, src, False, request.tag, MSG_TYPE_SPDM, response)
        ep.reply_packets.append(len(fragment(reply, self.mtu)))
        messages: list[Message] = []
        if ep.mismatched:
            # DSP0236 8.9: a response carries the request's tag with TO
            # clear, from the EID the request went to. These two break one
            # rule each, and the kernel must not deliver either.
            wrong_tag = (request.tag + 1) & 7
            messages.append(
                Message(request.src, src, False, wrong_tag, MSG_TYPE_SPDM, response)
            )
            messages.append(
                Message(
                    request.src, src ^ 0x40, False, request.tag, MSG_TYPE_SPDM, response
                )
            )
        if ep.stale and ep._previous is not None:
            # The previous reply again: its tag was already answered.
            messages.append(ep._previous)
        if ep._held is not None:
            messages.append(ep._held)
            ep._held = None
        if ep.hold_next:
            ep.hold_next = False
            ep._held = reply
        else:
            messages.append(reply)
        ep._previous = reply
        return [(when, p.encode()) for m in messages for p in fragment(m, self.mtu)]


class Link(Protocol):
    def fileno(self) -> int: ...
    def read_packets(self) -> list[bytes]: ...
    def write_packet(self, packet: bytes) -> None: ...
    def close(self) -> None: ...


def open_tun(name: str) -> int:
    """Create TUN device `name` with the packet-information header; return its fd."""
    fd = os.open("/dev/net/tun", os.O_RDWR)
    try:
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN))
    except OSError:
        os.close(fd)
        raise
    return fd


class TunLink:
    """Whole MCTP packets on a TUN fd, each behind a 4-byte packet-info header."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def fileno(self) -> int:
        return self.fd

    def read_packets(self) -> list[bytes]:
        data = os.read(self.fd, 65536)
        if len(data) < 4:
            return []
        _flags, proto = struct.unpack_from("!HH", data)
        return [data[4:]] if proto == ETH_P_MCTP else []

    def write_packet(self, packet: bytes) -> None:
        os.write(self.fd, struct.pack("!HH", 0, ETH_P_MCTP) + packet)

    def close(self) -> None:
        os.close(self.fd)


class SerialLink:
    """DSP0253 frames on a connected stream socket (qemu's chardev)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.decoder = serial.FrameDecoder()

    def fileno(self) -> int:
        return self.sock.fileno()

    def read_packets(self) -> list[bytes]:
        data = self.sock.recv(4096)
        if not data:
            raise EOFError("serial peer closed the link")
        return self.decoder.feed(data)

    def write_packet(self, packet: bytes) -> None:
        self.sock.sendall(serial.encode_frame(packet))

    def close(self) -> None:
        self.sock.close()


def serve(
    link: Link,
    bus: Bus,
    stop: threading.Event,
    *,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Move packets between `link` and `bus` until `stop` is set or the link closes."""
    queue: list[tuple[float, int, bytes]] = []
    order = 0
    while not stop.is_set():
        now = clock()
        while queue and queue[0][0] <= now:
            _, _, packet = heapq.heappop(queue)
            link.write_packet(packet)
        wait = 0.1 if not queue else max(0.0, min(0.1, queue[0][0] - now))
        readable, _, _ = select.select([link], [], [], wait)
        if not readable:
            continue
        try:
            packets = link.read_packets()
        except EOFError:
            return
        for raw in packets:
            for when, packet in bus.receive(raw, clock()):
                heapq.heappush(queue, (when, order, packet))
                order += 1
