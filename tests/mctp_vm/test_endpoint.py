"""The emulated endpoint bus, driven packet by packet on the host."""

from __future__ import annotations

import socket
import threading

import pytest
from tests.mctp_vm import serial
from tests.mctp_vm.endpoint import Bus, Endpoint, SerialLink, serve
from tests.mctp_vm.mctp import (
    ControlCommand,
    ControlRequest,
    ControlResponse,
    Message,
    Packet,
    Reassembler,
    fragment,
)

from spdmd.responder.responder import Responder, ResponderConfig

GET_VERSION = bytes.fromhex("10840000")


@pytest.fixture(scope="module")
def config() -> ResponderConfig:
    return ResponderConfig.generate()


def request(
    bus: Bus, body: bytes, *, dest: int = 20, tag: int = 1, msg_type: int = 5
) -> list[Message]:
    """Send one request from EID 8 and reassemble what comes back."""
    out = []
    for p in fragment(Message(dest, 8, True, tag, msg_type, body), 68):
        out += bus.receive(p.encode(), 0.0)
    r = Reassembler()
    return [m for _, raw in out if (m := r.push(Packet.decode(raw))) is not None]


def test_spdm_request_answered_with_same_tag_and_to_clear(
    config: ResponderConfig,
) -> None:
    bus = Bus([Endpoint(20, Responder(config))])
    (reply,) = request(bus, GET_VERSION, tag=6)
    assert (reply.dest, reply.src, reply.tag, reply.tag_owner, reply.msg_type) == (
        8,
        20,
        6,
        False,
        5,
    )
    assert reply.body[1] == 0x04  # VERSION


class BigReplies:
    """A handler whose every reply is 600 bytes, like a certificate portion."""

    def handle_timed(self, request: bytes) -> tuple[bytes | None, float]:
        return bytes((0x12, 0x02)) + bytes(598), 0.25


def test_large_reply_is_fragmented_to_mtu_and_delayed() -> None:
    ep = Endpoint(20, BigReplies())
    bus = Bus([ep])
    out = []
    for p in fragment(Message(20, 8, True, 1, 5, bytes(150)), 68):
        out += bus.receive(p.encode(), 10.0)
    assert ep.request_packets == [3]  # 151 bytes with the type byte
    assert ep.reply_packets == [10]  # 601 bytes in 64-byte payloads
    assert {when for when, _ in out} == {10.25}
    r = Reassembler()
    (reply,) = [m for _, raw in out if (m := r.push(Packet.decode(raw))) is not None]
    assert len(reply.body) == 600


def test_control_get_eid_and_set_eid(config: ResponderConfig) -> None:
    ep = Endpoint(20, Responder(config))
    bus = Bus([ep])
    (reply,) = request(
        bus, ControlRequest(1, ControlCommand.GET_ENDPOINT_ID).encode(), msg_type=0
    )
    assert ControlResponse.decode(reply.body).data[0] == 20
    (reply,) = request(
        bus,
        ControlRequest(2, ControlCommand.SET_ENDPOINT_ID, b"\x00\x31").encode(),
        msg_type=0,
    )
    assert ControlResponse.decode(reply.body).completion == 0
    assert request(bus, GET_VERSION, dest=20) == []  # it moved
    (reply,) = request(bus, GET_VERSION, dest=0x31)
    assert reply.src == 0x31


def test_silent_endpoint_answers_nothing(config: ResponderConfig) -> None:
    bus = Bus([Endpoint(20, Responder(config), silent=True)])
    assert request(bus, GET_VERSION) == []
    assert (
        request(
            bus, ControlRequest(1, ControlCommand.GET_ENDPOINT_ID).encode(), msg_type=0
        )
        == []
    )


def test_unknown_destination_and_responses_ignored(config: ResponderConfig) -> None:
    bus = Bus([Endpoint(20, Responder(config))])
    assert request(bus, GET_VERSION, dest=21) == []
    # A response (TO clear) is not a request to answer.
    assert (
        bus.receive(
            Packet(20, 8, True, True, 0, False, 1, b"\x05\x10\x04").encode(), 0.0
        )
        == []
    )
    assert bus.ignored == 2


def test_mismatched_replies_break_one_rule_each(config: ResponderConfig) -> None:
    bus = Bus([Endpoint(20, Responder(config), mismatched=True)])
    replies = request(bus, GET_VERSION, tag=2)
    assert [(m.src, m.tag) for m in replies] == [(20, 3), (20 ^ 0x40, 2), (20, 2)]


def test_stale_sends_previous_reply_first(config: ResponderConfig) -> None:
    bus = Bus([Endpoint(20, Responder(config), stale=True)])
    assert len(request(bus, GET_VERSION, tag=1)) == 1
    replies = request(bus, GET_VERSION, tag=2)
    assert [m.tag for m in replies] == [1, 2]


def test_hold_next_releases_late_reply_before_the_following_one(
    config: ResponderConfig,
) -> None:
    ep = Endpoint(20, Responder(config), hold_next=True)
    bus = Bus([ep])
    assert request(bus, GET_VERSION, tag=1) == []
    replies = request(bus, bytes.fromhex("10e10000"), tag=2)
    assert [(m.tag, m.body[1]) for m in replies] == [
        (1, 0x04),
        (2, 0x61),
    ]  # CAPABILITIES


def test_serve_over_serial_frames(config: ResponderConfig) -> None:
    """A whole round trip through serve() and DSP0253 framing on a socketpair."""
    ours, theirs = socket.socketpair()
    stop = threading.Event()
    thread = threading.Thread(
        target=serve,
        args=(SerialLink(ours), Bus([Endpoint(20, Responder(config))]), stop),
    )
    thread.start()
    try:
        for p in fragment(Message(20, 8, True, 4, 5, GET_VERSION), 68):
            theirs.sendall(serial.encode_frame(p.encode()))
        theirs.settimeout(5)
        decoder = serial.FrameDecoder()
        packets: list[bytes] = []
        while not packets:
            packets = decoder.feed(theirs.recv(4096))
        reply = Reassembler().push(Packet.decode(packets[0]))
        assert reply is not None and reply.tag == 4 and reply.body[1] == 0x04
    finally:
        stop.set()
        thread.join()
        theirs.close()
