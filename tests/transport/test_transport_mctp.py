"""AF_MCTP transport logic against a stand-in kernel (see mctp_standin.py).

The host kernel has no AF_MCTP, so these tests drive the real transport
code (ctypes packing, poll-based waits, matching, tags) through stand-in
libc calls; docs/transports.md lists what only the VM suite covers.
"""

from __future__ import annotations

import ctypes
import errno
import socket
import struct
import time

import pytest
from tests.transport.mctp_standin import SOCKADDR, StandInKernel, echo_responder

from spdmd.errors import TransportError, TransportTimeout, UsageError
from spdmd.transport import mctp

GET_VERSION = bytes.fromhex("10840000")
VERSION = bytes.fromhex("100400000002001000120013")
GET_DIGESTS_12 = bytes.fromhex("12810000")
CERTIFICATE_12 = bytes.fromhex("12020000") + bytes(4)


def make(kernel: StandInKernel, **kwargs) -> mctp.MctpTransport:
    kwargs.setdefault("eid", 20)
    return mctp.MctpTransport(sock=kernel.sock, libc=kernel, **kwargs)


def test_sendto_packs_sockaddr_mctp_with_tag_owner_and_bare_payload():
    """The address is struct sockaddr_mctp with net, EID, type 5, TO; the
    buffer is the bare SPDM message (the kernel adds the type byte)."""
    kernel = StandInKernel(echo_responder(lambda _req: VERSION))
    transport = make(kernel, eid=20, net=3)
    assert transport.exchange(GET_VERSION, 1.0) == VERSION
    (sent,) = kernel.sent
    assert sent.data == GET_VERSION
    assert sent.addr_bytes == struct.pack("=HHIBBBB", 45, 0, 3, 20, 5, 0x08, 0)
    assert len(sent.addr_bytes) == ctypes.sizeof(mctp.SockaddrMctp) == 12


def test_default_network_is_mctp_net_any():
    kernel = StandInKernel(echo_responder(lambda _req: VERSION))
    transport = make(kernel, eid=9)
    transport.exchange(GET_VERSION, 1.0)
    assert kernel.sent[0].net == mctp.MCTP_NET_ANY
    assert transport.name == "mctp eid 9"


@pytest.mark.parametrize(
    "net, eid, type_, tag",
    [
        pytest.param(1, 21, 5, 0, id="other-eid"),
        pytest.param(1, 20, 6, 0, id="secured-type"),
        pytest.param(1, 20, 5, 0x08, id="tag-owner-set"),
        pytest.param(2, 20, 5, 0, id="other-network"),
    ],
)
def test_mismatched_replies_are_discarded(net, eid, type_, tag):
    """A message that is not this endpoint's reply is dropped and the wait
    goes on to the real reply."""

    def respond(kernel, sent):
        kernel.deliver(b"\x10\x04wrong", net=net, eid=eid, type=type_, tag=tag)
        kernel.deliver(VERSION, net=1, eid=20, tag=kernel.last_tag)

    kernel = StandInKernel(respond)
    transport = make(kernel, eid=20, net=1)
    assert transport.exchange(GET_VERSION, 1.0) == VERSION
    assert transport.discarded == 1


def test_stale_reply_queued_before_the_request_is_drained():
    """A late reply to an earlier request, already queued, is not returned
    as the answer to the next one."""
    kernel = StandInKernel(echo_responder(lambda _req: VERSION))
    kernel.deliver(CERTIFICATE_12, net=1, eid=20, tag=3)
    transport = make(kernel)
    assert transport.exchange(GET_VERSION, 1.0) == VERSION
    assert transport.discarded == 1


def test_late_reply_after_a_timeout_is_discarded_by_response_code():
    """After a timeout the abandoned request's reply may arrive after the
    next send; its code does not answer the new request, so it is dropped."""
    kernel = StandInKernel()
    transport = make(kernel)
    with pytest.raises(TransportTimeout):
        transport.exchange(GET_DIGESTS_12, 0.05)

    def respond(kernel, sent):
        kernel.deliver(bytes.fromhex("12010001") + bytes(48), net=1, eid=20, tag=0)
        kernel.deliver(CERTIFICATE_12, net=1, eid=20, tag=kernel.last_tag)

    kernel.responder = respond
    get_certificate = bytes.fromhex("12820000") + bytes(4)
    assert transport.exchange(get_certificate, 1.0) == CERTIFICATE_12
    assert transport.discarded == 1


def test_error_reply_is_accepted_after_a_timeout():
    kernel = StandInKernel()
    transport = make(kernel)
    with pytest.raises(TransportTimeout):
        transport.exchange(GET_DIGESTS_12, 0.05)
    error = bytes.fromhex("127f0300")
    kernel.responder = echo_responder(lambda _req: error)
    assert transport.exchange(GET_DIGESTS_12, 1.0) == error


def test_no_reply_times_out_after_waiting():
    """A silent endpoint gives TransportTimeout, never a hang."""
    kernel = StandInKernel()
    transport = make(kernel)
    start = time.monotonic()
    with pytest.raises(TransportTimeout, match="no response from mctp eid 20"):
        transport.exchange(GET_VERSION, 0.1)
    assert time.monotonic() - start >= 0.1


def test_only_garbage_until_the_deadline_still_times_out():
    def respond(kernel, sent):
        for _ in range(5):
            kernel.deliver(VERSION, net=1, eid=99)

    kernel = StandInKernel(respond)
    transport = make(kernel)
    with pytest.raises(TransportTimeout):
        transport.exchange(GET_VERSION, 0.1)
    assert transport.discarded == 5


def test_many_endpoints_in_one_process_never_bind():
    """One socket per endpoint and no bind(): the stand-in kernel refuses a
    second bind with EADDRINUSE, and the transports never ask for one."""
    transports = []
    for eid in range(8, 40):
        kernel = StandInKernel(echo_responder(lambda _req: VERSION))
        transport = make(kernel, eid=eid)
        assert transport.exchange(GET_VERSION, 1.0) == VERSION
        assert kernel.binds == []
        transports.append(transport)
    for transport in transports:
        transport.close()


def test_standin_kernel_refuses_a_second_bind():
    """Guards the previous test: the stand-in does model EADDRINUSE."""
    kernel = StandInKernel()
    addr = mctp.MctpAddress(0, mctp.MCTP_ADDR_ANY, 5, 0).pack()
    assert kernel.bind(0, ctypes.pointer(addr), 12) == 0
    assert kernel.bind(0, ctypes.pointer(addr), 12) == -1
    assert ctypes.get_errno() == errno.EADDRINUSE


def test_preallocated_tag_is_sent_matched_and_dropped():
    """tag_mode prealloc: the ioctl's tag goes out with TO and PREALLOC, a
    reply with another tag is discarded, and the tag is dropped after."""

    def respond(kernel, sent):
        kernel.deliver(VERSION, net=1, eid=20, tag=(sent.tag + 1) & 7)
        kernel.deliver(VERSION, net=1, eid=20, tag=sent.tag & 7)

    kernel = StandInKernel(respond)
    transport = make(kernel, tag_mode="prealloc")
    assert transport.exchange(GET_VERSION, 1.0) == VERSION
    (sent,) = kernel.sent
    assert sent.tag & (mctp.MCTP_TAG_OWNER | mctp.MCTP_TAG_PREALLOC) == 0x18
    assert kernel.ioctls[0][:2] == (mctp.SIOCMCTPALLOCTAG, 20)
    assert kernel.dropped_tags == [sent.tag]
    assert transport.discarded == 1


def test_preallocated_tag_is_dropped_after_a_timeout():
    kernel = StandInKernel()
    transport = make(kernel, tag_mode="prealloc")
    with pytest.raises(TransportTimeout):
        transport.exchange(GET_VERSION, 0.05)
    assert len(kernel.dropped_tags) == 1


def test_prealloc_with_a_network_is_a_usage_error():
    kernel = StandInKernel()
    with pytest.raises(UsageError, match="default network"):
        make(kernel, tag_mode="prealloc", net=2)


def test_reply_larger_than_the_buffer_is_an_error():
    kernel = StandInKernel(echo_responder(lambda _req: b"\x10\x04" + bytes(200)))
    transport = make(kernel, max_message_size=64)
    with pytest.raises(TransportError, match="202-byte message, above the limit of 64"):
        transport.exchange(GET_VERSION, 1.0)


@pytest.mark.parametrize(
    "err, text",
    [
        pytest.param(errno.EPERM, "CAP_NET_RAW", id="EPERM"),
        pytest.param(
            errno.ENETUNREACH, "no MCTP route to mctp eid 20", id="ENETUNREACH"
        ),
        pytest.param(errno.EHOSTUNREACH, "no MCTP route", id="EHOSTUNREACH"),
        pytest.param(errno.EBUSY, "EBUSY", id="EBUSY"),
    ],
)
def test_send_failures_name_the_cause(err, text):
    kernel = StandInKernel()
    kernel.send_errno = err
    transport = make(kernel)
    with pytest.raises(TransportError, match=text):
        transport.exchange(GET_VERSION, 1.0)


@pytest.mark.parametrize("eid", [0, 7, 255, -1])
def test_invalid_eid_is_a_usage_error(eid):
    with pytest.raises(UsageError, match="out of range 8..254"):
        make(StandInKernel(), eid=eid)


def test_closed_transport_refuses_to_exchange():
    kernel = StandInKernel()
    transport = make(kernel)
    transport.close()
    transport.close()
    assert kernel.sock.closed
    with pytest.raises(TransportError, match="closed"):
        transport.exchange(GET_VERSION, 1.0)


def test_real_libc_calls_are_declared_right():
    """The ctypes declarations work with the real C library: recvfrom on an
    empty socket reports EAGAIN (no reply yet), and sendto errors come back
    as TransportError, not a crash. AF_UNIX stands in for the fd."""
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    with a, b:
        transport = mctp.MctpTransport(eid=20, sock=a, libc=mctp.load_libc())
        assert transport._recvfrom() is None
        with pytest.raises(TransportError, match="sending to mctp eid 20 failed"):
            transport._sendto(GET_VERSION, mctp.MCTP_TAG_OWNER)
        b.send(b"\x10\x04")
        # AF_UNIX reports a short source address, so the datagram cannot be
        # matched to an endpoint and is dropped.
        assert transport._recvfrom() is None
        assert transport.discarded == 1


def test_missing_af_mctp_is_reported_plainly():
    try:
        socket.socket(mctp.AF_MCTP, socket.SOCK_DGRAM, 0).close()
    except OSError:
        pass
    else:
        pytest.skip("this kernel has AF_MCTP; the VM suite covers the real socket")
    with pytest.raises(TransportError, match="CONFIG_MCTP"):
        mctp.MctpTransport(eid=20)


def test_sockaddr_layout_matches_linux_uapi():
    assert [f[0] for f in mctp.SockaddrMctp._fields_] == [
        "smctp_family",
        "smctp_pad0",
        "smctp_network",
        "smctp_addr",
        "smctp_type",
        "smctp_tag",
        "smctp_pad1",
    ]
    assert SOCKADDR.size == ctypes.sizeof(mctp.SockaddrMctp)
    assert mctp.SockaddrMctp.smctp_network.offset == 4
    assert mctp.SockaddrMctp.smctp_tag.offset == 10
