"""rtnetlink message encoding for MCTP addresses, routes and links, on the host.

The real effect of these messages is exercised in the VM (guest suite); here
the bytes are checked against the kernel's struct layouts.
"""

from __future__ import annotations

import struct

import pytest
from tests.mctp_vm import netlink


def test_attr_pads_to_four_bytes() -> None:
    assert netlink.attr(2, b"\x08") == b"\x05\x00\x02\x00\x08\x00\x00\x00"
    assert netlink.attr(4, b"\x01\x00\x00\x00") == b"\x08\x00\x04\x00\x01\x00\x00\x00"


def test_new_addr_layout() -> None:
    msg = netlink.new_addr(3, 8, seq=7)
    length, kind, flags, seq, pid = struct.unpack_from("=IHHII", msg)
    assert (length, kind, seq, pid) == (len(msg), 20, 7, 0)
    assert flags == 0x001 | 0x004 | 0x400 | 0x200
    # struct ifaddrmsg: family 45, prefixlen, flags, scope, index 3
    assert msg[16:24] == bytes((45, 0, 0, 0)) + struct.pack("=I", 3)
    assert msg[24:] == netlink.attr(2, b"\x08")  # IFA_LOCAL = EID 8


def test_new_route_layout() -> None:
    msg = netlink.new_route(5, 20, extent=9, mtu=68, seq=1)
    assert struct.unpack_from("=H", msg, 4)[0] == 24  # RTM_NEWROUTE
    family, dst_len, _src, _tos, _table, _proto, _scope, rtype = msg[16:24]
    assert (family, dst_len, rtype) == (45, 9, 1)  # AF_MCTP, range, RTN_UNICAST
    attrs = msg[28:]
    assert attrs.startswith(
        netlink.attr(1, b"\x14") + netlink.attr(4, struct.pack("=I", 5))
    )
    metrics = netlink.attr(8 | 0x8000, netlink.attr(2, struct.pack("=I", 68)))
    assert attrs.endswith(metrics)


def test_new_link_up_mtu_and_net() -> None:
    msg = netlink.new_link(4, up=True, mtu=68, net=2, seq=3)
    assert struct.unpack_from("=H", msg, 4)[0] == 16  # RTM_NEWLINK
    family, _type, index, flags, change = struct.unpack_from("=BxHiII", msg, 16)
    assert (family, index, flags, change) == (0, 4, 1, 1)
    inner = netlink.attr(45 | 0x8000, netlink.attr(1, struct.pack("=I", 2)))
    assert msg[32:] == netlink.attr(4, struct.pack("=I", 68)) + netlink.attr(
        26 | 0x8000, inner
    )
    # Only the MTU: the IFF_UP flag is left alone (change mask 0).
    assert struct.unpack_from("=BxHiII", netlink.new_link(4, mtu=100), 16)[4] == 0


def ack(seq: int, code: int) -> bytes:
    return struct.pack("=IHHII", 36, 2, 0, seq, 0) + struct.pack("=i", code) + bytes(16)


def test_parse_ack() -> None:
    assert netlink.parse_ack(ack(4, 0), 4) == 0
    assert netlink.parse_ack(ack(3, 0) + ack(4, -17), 4) == 17  # EEXIST
    with pytest.raises(ValueError, match="no netlink acknowledgement"):
        netlink.parse_ack(ack(3, 0), 4)
