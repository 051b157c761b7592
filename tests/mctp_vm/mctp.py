"""MCTP packets, fragmentation, reassembly and control messages (DSP0236).

Sans-I/O: bytes in, bytes out. An emulated endpoint on a TUN device or a
serial link sees whole MCTP packets, so it has to do what the kernel does on
its side: split a message into packets no larger than the link MTU, put the
message type byte in the first packet only, and reassemble incoming packets
per (source, tag, tag owner) with sequence numbers checked.

Packet layout (DSP0236 1.3 section 8.1, the "MCTP packet fields" table):

    byte 0  reserved(7:4) header version(3:0) = 1
    byte 1  destination EID
    byte 2  source EID
    byte 3  SOM(7) EOM(6) packet sequence(5:4) TO(3) message tag(2:0)

The first packet's payload starts with IC(7) | message type(6:0).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

__all__ = [
    "BASELINE_MTU",
    "HEADER_VERSION",
    "MSG_TYPE_CONTROL",
    "MSG_TYPE_SPDM",
    "CompletionCode",
    "ControlCommand",
    "ControlEndpoint",
    "ControlRequest",
    "ControlResponse",
    "Message",
    "Packet",
    "PacketError",
    "Reassembler",
    "encode_version",
    "fragment",
]

HEADER_VERSION = 1
# DSP0236 section 8.3: the baseline transmission unit is 64 bytes of
# payload; a link MTU counts the 4-byte header too (the kernel's 68).
BASELINE_MTU = 64 + 4
MSG_TYPE_CONTROL = 0x00
MSG_TYPE_SPDM = 0x05
EID_NULL = 0x00
EID_BROADCAST = 0xFF

_SOM = 0x80
_EOM = 0x40
_TO = 0x08


class PacketError(ValueError):
    """A packet or control message that cannot be parsed."""


@dataclass(frozen=True)
class Packet:
    dest: int
    src: int
    som: bool
    eom: bool
    seq: int
    tag_owner: bool
    tag: int
    payload: bytes
    version: int = HEADER_VERSION

    def encode(self) -> bytes:
        flags = (
            (_SOM if self.som else 0)
            | (_EOM if self.eom else 0)
            | ((self.seq & 3) << 4)
            | (_TO if self.tag_owner else 0)
            | (self.tag & 7)
        )
        return bytes((self.version & 0x0F, self.dest, self.src, flags)) + self.payload

    @classmethod
    def decode(cls, data: bytes) -> Packet:
        if len(data) < 5:
            # A packet carries at least one payload byte (DSP0236 8.1).
            raise PacketError(f"MCTP packet of {len(data)} bytes, need at least 5")
        version = data[0] & 0x0F
        if version != HEADER_VERSION:
            raise PacketError(f"MCTP header version {version}, expected 1")
        flags = data[3]
        return cls(
            dest=data[1],
            src=data[2],
            som=bool(flags & _SOM),
            eom=bool(flags & _EOM),
            seq=(flags >> 4) & 3,
            tag_owner=bool(flags & _TO),
            tag=flags & 7,
            payload=bytes(data[4:]),
            version=version,
        )


@dataclass(frozen=True)
class Message:
    """A whole MCTP message: `body` starts after the message type byte."""

    dest: int
    src: int
    tag_owner: bool
    tag: int
    msg_type: int
    body: bytes
    ic: bool = False


def fragment(message: Message, mtu: int) -> list[Packet]:
    """Split `message` into packets of at most `mtu` bytes (header included).

    Sequence numbers start at 0 and count modulo 4 (DSP0236 8.8).
    """
    if mtu < 5:
        raise ValueError(f"MTU {mtu} leaves no room for payload")
    data = (
        bytes(((0x80 if message.ic else 0) | (message.msg_type & 0x7F),)) + message.body
    )
    room = mtu - 4
    chunks = [data[i : i + room] for i in range(0, len(data), room)]
    return [
        Packet(
            dest=message.dest,
            src=message.src,
            som=i == 0,
            eom=i == len(chunks) - 1,
            seq=i & 3,
            tag_owner=message.tag_owner,
            tag=message.tag,
            payload=chunk,
        )
        for i, chunk in enumerate(chunks)
    ]


@dataclass
class _Partial:
    first: Packet
    data: bytearray
    next_seq: int


@dataclass
class Reassembler:
    """Collects packets into messages, per (source, tag, tag owner).

    Like the kernel (and DSP0236 8.8), a packet out of sequence, a middle
    packet without a start, or a message above `max_size` drops the partial
    message; a new SOM restarts it. `dropped` counts what was thrown away.
    """

    max_size: int = 0x10000
    dropped: int = 0
    _partial: dict[tuple[int, int, bool], _Partial] = field(default_factory=dict)

    def push(self, packet: Packet) -> Message | None:
        key = (packet.src, packet.tag, packet.tag_owner)
        if packet.som:
            if key in self._partial:
                self.dropped += 1
            part = _Partial(packet, bytearray(packet.payload), (packet.seq + 1) & 3)
            self._partial[key] = part
        else:
            found = self._partial.get(key)
            if found is None or packet.seq != found.next_seq:
                self.dropped += 1
                self._partial.pop(key, None)
                return None
            part = found
            part.data += packet.payload
            part.next_seq = (packet.seq + 1) & 3
        if len(part.data) > self.max_size:
            self.dropped += 1
            del self._partial[key]
            return None
        if not packet.eom:
            return None
        del self._partial[key]
        first = part.first
        return Message(
            dest=first.dest,
            src=first.src,
            tag_owner=first.tag_owner,
            tag=first.tag,
            msg_type=part.data[0] & 0x7F,
            ic=bool(part.data[0] & 0x80),
            body=bytes(part.data[1:]),
        )


# -- control messages (DSP0236 section 11 and 12) --------------------------


class ControlCommand(enum.IntEnum):
    SET_ENDPOINT_ID = 0x01
    GET_ENDPOINT_ID = 0x02
    GET_ENDPOINT_UUID = 0x03
    GET_MCTP_VERSION_SUPPORT = 0x04
    GET_MESSAGE_TYPE_SUPPORT = 0x05


class CompletionCode(enum.IntEnum):
    SUCCESS = 0x00
    ERROR = 0x01
    ERROR_INVALID_DATA = 0x02
    ERROR_INVALID_LENGTH = 0x03
    ERROR_NOT_READY = 0x04
    ERROR_UNSUPPORTED_CMD = 0x05
    # Get MCTP Version Support: "message type number not supported".
    MESSAGE_TYPE_NOT_SUPPORTED = 0x80


# Request body length for each command (bytes after the command code).
_REQUEST_LENGTH = {
    ControlCommand.SET_ENDPOINT_ID: 2,
    ControlCommand.GET_ENDPOINT_ID: 0,
    ControlCommand.GET_ENDPOINT_UUID: 0,
    ControlCommand.GET_MCTP_VERSION_SUPPORT: 1,
    ControlCommand.GET_MESSAGE_TYPE_SUPPORT: 0,
}


@dataclass(frozen=True)
class ControlRequest:
    """Rq(7) D(6) rsvd(5) instance ID(4:0), command code, data."""

    instance: int
    command: int
    data: bytes = b""
    datagram: bool = False

    def encode(self) -> bytes:
        flags = 0x80 | (0x40 if self.datagram else 0) | (self.instance & 0x1F)
        return bytes((flags, self.command)) + self.data

    @classmethod
    def decode(cls, body: bytes) -> ControlRequest:
        if len(body) < 2:
            raise PacketError(f"control message of {len(body)} bytes, need at least 2")
        if not body[0] & 0x80:
            raise PacketError("control message is a response (Rq bit clear)")
        return cls(body[0] & 0x1F, body[1], bytes(body[2:]), bool(body[0] & 0x40))


@dataclass(frozen=True)
class ControlResponse:
    instance: int
    command: int
    completion: int
    data: bytes = b""

    def encode(self) -> bytes:
        return bytes((self.instance & 0x1F, self.command, self.completion)) + self.data

    @classmethod
    def decode(cls, body: bytes) -> ControlResponse:
        if len(body) < 3:
            raise PacketError(f"control response of {len(body)} bytes, need at least 3")
        if body[0] & 0x80:
            raise PacketError("control message is a request (Rq bit set)")
        return cls(body[0] & 0x1F, body[1], body[2], bytes(body[3:]))


def encode_version(major: int, minor: int, update: int | None = None) -> bytes:
    """A version number entry (DSP0236 12.6 / DSP4004): each field as 0xF0|n,
    0xFF for an absent update, alpha byte 0."""
    upd = 0xFF if update is None else 0xF0 | update
    return bytes((0xF0 | major, 0xF0 | minor, upd, 0x00))


@dataclass
class ControlEndpoint:
    """An endpoint's answers to the control commands a bus owner sends.

    `eid` changes on an accepted Set Endpoint ID, as on a real device whose
    EID is assigned by the bus owner (mctpd's SetupEndpoint).
    """

    eid: int
    message_types: tuple[int, ...] = (MSG_TYPE_SPDM,)
    uuid: bytes = bytes(16)
    # DSP0236 12.5 endpoint type byte: 00b simple endpoint, EID dynamic.
    endpoint_type: int = 0x00
    versions: dict[int, list[bytes]] = field(
        default_factory=lambda: {
            0xFF: [encode_version(1, 3, 1)],
            MSG_TYPE_CONTROL: [encode_version(1, 3, 1)],
            MSG_TYPE_SPDM: [encode_version(1, 0, 0)],
        }
    )

    def handle(self, body: bytes) -> bytes | None:
        """The response body for a control request body, None to stay silent."""
        try:
            req = ControlRequest.decode(body)
        except PacketError:
            return None
        if req.datagram:
            # Datagrams are not answered (DSP0236 11.5, the D bit).
            return None

        def reply(cc: int, data: bytes = b"") -> bytes:
            return ControlResponse(req.instance, req.command, cc, data).encode()

        try:
            command = ControlCommand(req.command)
        except ValueError:
            return reply(CompletionCode.ERROR_UNSUPPORTED_CMD)
        if len(req.data) != _REQUEST_LENGTH[command]:
            return reply(CompletionCode.ERROR_INVALID_LENGTH)
        if command is ControlCommand.GET_ENDPOINT_ID:
            return reply(
                CompletionCode.SUCCESS, bytes((self.eid, self.endpoint_type, 0))
            )
        if command is ControlCommand.SET_ENDPOINT_ID:
            operation, eid = req.data[0] & 0x03, req.data[1]
            if operation in (0, 1):
                if eid in (EID_NULL, EID_BROADCAST):
                    return reply(CompletionCode.ERROR_INVALID_DATA)
                self.eid = eid
            # Status byte: EID accepted, no EID pool (DSP0236 12.3).
            return reply(CompletionCode.SUCCESS, bytes((0x00, self.eid, 0x00)))
        if command is ControlCommand.GET_ENDPOINT_UUID:
            return reply(CompletionCode.SUCCESS, self.uuid)
        if command is ControlCommand.GET_MCTP_VERSION_SUPPORT:
            entries = self.versions.get(req.data[0])
            if not entries:
                return reply(CompletionCode.MESSAGE_TYPE_NOT_SUPPORTED)
            return reply(
                CompletionCode.SUCCESS, bytes((len(entries),)) + b"".join(entries)
            )
        # GET_MESSAGE_TYPE_SUPPORT: the count excludes the control type,
        # which every endpoint supports (DSP0236 12.7).
        types = [t for t in self.message_types if t != MSG_TYPE_CONTROL]
        return reply(CompletionCode.SUCCESS, bytes((len(types), *types)))
