"""Configure Linux MCTP links over rtnetlink, without any userspace tool.

Debian packages no `mctp` tool and iproute2 6.1 has no MCTP support, so the
guest sets up its links with these few messages (the kernel side is
net/mctp/device.c and net/mctp/route.c):

- bring a link up and set its MTU: RTM_NEWLINK with IFF_UP, IFLA_MTU;
- put a link on an MCTP network: RTM_NEWLINK, IFLA_AF_SPEC/AF_MCTP/IFLA_MCTP_NET;
- a local EID: RTM_NEWADDR, family AF_MCTP, IFA_LOCAL = one byte;
- a route: RTM_NEWROUTE, family AF_MCTP, RTN_UNICAST, RTA_DST = first EID,
  rtm_dst_len = how many more EIDs the range covers, RTA_OIF = ifindex,
  optional RTA_METRICS/RTAX_MTU.

The encoders are pure functions (tested on the host); `Netlink` sends them
and turns the kernel's NLMSG_ERROR acknowledgement into OSError.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
from typing import Self

__all__ = [
    "AF_MCTP",
    "Netlink",
    "attr",
    "new_addr",
    "new_link",
    "new_route",
    "parse_ack",
]

AF_MCTP = 45
NETLINK_ROUTE = 0
RTM_NEWLINK = 16
RTM_NEWADDR = 20
RTM_NEWROUTE = 24
NLMSG_ERROR = 2
NLM_F_REQUEST = 0x001
NLM_F_ACK = 0x004
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400
IFF_UP = 0x1
IFLA_MTU = 4
IFLA_AF_SPEC = 26
IFLA_MCTP_NET = 1
NLA_F_NESTED = 0x8000
IFA_LOCAL = 2
RTA_DST = 1
RTA_OIF = 4
RTA_METRICS = 8
RTAX_MTU = 2
RTN_UNICAST = 1
RT_TABLE_DEFAULT = 253
RT_SCOPE_LINK = 253
RTPROT_STATIC = 4

_NLMSGHDR = struct.Struct("=IHHII")
_IFINFOMSG = struct.Struct("=BxHiII")
_IFADDRMSG = struct.Struct("=BBBBI")
_RTMSG = struct.Struct("=BBBBBBBBI")


def _align(n: int) -> int:
    return (n + 3) & ~3


def attr(kind: int, payload: bytes) -> bytes:
    """One netlink attribute, padded to 4 bytes."""
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + bytes(_align(length) - length)


def _message(kind: int, flags: int, seq: int, body: bytes) -> bytes:
    return (
        _NLMSGHDR.pack(16 + len(body), kind, NLM_F_REQUEST | NLM_F_ACK | flags, seq, 0)
        + body
    )


def new_link(
    ifindex: int,
    *,
    up: bool | None = None,
    mtu: int | None = None,
    net: int | None = None,
    seq: int = 1,
) -> bytes:
    """RTM_NEWLINK changing flags, MTU and MCTP network of an existing link."""
    flags = IFF_UP if up else 0
    change = IFF_UP if up is not None else 0
    body = _IFINFOMSG.pack(socket.AF_UNSPEC, 0, ifindex, flags, change)
    if mtu is not None:
        body += attr(IFLA_MTU, struct.pack("=I", mtu))
    if net is not None:
        mctp = attr(AF_MCTP | NLA_F_NESTED, attr(IFLA_MCTP_NET, struct.pack("=I", net)))
        body += attr(IFLA_AF_SPEC | NLA_F_NESTED, mctp)
    return _message(RTM_NEWLINK, 0, seq, body)


def new_addr(ifindex: int, eid: int, *, seq: int = 1) -> bytes:
    """RTM_NEWADDR giving `ifindex` the local EID `eid`."""
    body = _IFADDRMSG.pack(AF_MCTP, 0, 0, 0, ifindex) + attr(IFA_LOCAL, bytes((eid,)))
    return _message(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, seq, body)


def new_route(
    ifindex: int, eid: int, *, extent: int = 0, mtu: int | None = None, seq: int = 1
) -> bytes:
    """RTM_NEWROUTE: EIDs eid..eid+extent are reached through `ifindex`."""
    body = _RTMSG.pack(
        AF_MCTP,
        extent,
        0,
        0,
        RT_TABLE_DEFAULT,
        RTPROT_STATIC,
        RT_SCOPE_LINK,
        RTN_UNICAST,
        0,
    )
    body += attr(RTA_DST, bytes((eid,))) + attr(RTA_OIF, struct.pack("=I", ifindex))
    if mtu is not None:
        body += attr(RTA_METRICS | NLA_F_NESTED, attr(RTAX_MTU, struct.pack("=I", mtu)))
    return _message(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, seq, body)


def parse_ack(data: bytes, seq: int) -> int:
    """The errno (0 for success) in the kernel's acknowledgement of `seq`.

    Raises ValueError when `data` holds no acknowledgement for `seq`.
    """
    offset = 0
    while offset + 16 <= len(data):
        length, kind, _flags, got_seq, _pid = _NLMSGHDR.unpack_from(data, offset)
        if length < 16:
            break
        if kind == NLMSG_ERROR and got_seq == seq and length >= 20:
            (code,) = struct.unpack_from("=i", data, offset + 16)
            return -code
        offset += _align(length)
    raise ValueError(f"no netlink acknowledgement for request {seq}")


class Netlink:
    """A NETLINK_ROUTE socket that sends one request at a time and waits for its ack."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
        self._sock.bind((0, 0))
        self._seq = 0

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(self, build, what: str, **kwargs) -> None:  # type: ignore[no-untyped-def]
        self._seq += 1
        self._sock.send(build(seq=self._seq, **kwargs))
        while True:
            data = self._sock.recv(65536)
            try:
                code = parse_ack(data, self._seq)
            except ValueError:
                continue
            if code:
                raise OSError(
                    code,
                    f"{what}: {os.strerror(code)} ({errno.errorcode.get(code, code)})",
                )
            return

    def set_link(
        self,
        ifname: str,
        *,
        up: bool | None = None,
        mtu: int | None = None,
        net: int | None = None,
    ) -> None:
        index = socket.if_nametoindex(ifname)
        self._request(
            lambda seq: new_link(index, up=up, mtu=mtu, net=net, seq=seq),
            f"configuring link {ifname}",
        )

    def add_addr(self, ifname: str, eid: int) -> None:
        index = socket.if_nametoindex(ifname)
        self._request(
            lambda seq: new_addr(index, eid, seq=seq), f"adding EID {eid} to {ifname}"
        )

    def add_route(
        self, ifname: str, eid: int, *, extent: int = 0, mtu: int | None = None
    ) -> None:
        index = socket.if_nametoindex(ifname)
        self._request(
            lambda seq: new_route(index, eid, extent=extent, mtu=mtu, seq=seq),
            f"adding a route to EID {eid} via {ifname}",
        )
