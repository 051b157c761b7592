"""DSP0236 packets, fragmentation, reassembly and control messages, on the host."""

from __future__ import annotations

import pytest
from tests.mctp_vm.mctp import (
    CompletionCode,
    ControlCommand,
    ControlEndpoint,
    ControlRequest,
    ControlResponse,
    Message,
    Packet,
    PacketError,
    Reassembler,
    encode_version,
    fragment,
)

# (packet, bytes): the header byte 3 is SOM EOM seq(2) TO tag(3).
PACKETS = [
    pytest.param(
        Packet(20, 8, True, True, 0, True, 3, b"\x05\x10\x84"),
        bytes.fromhex("011408cb051084"),
        id="single-request",
    ),
    pytest.param(
        Packet(8, 20, True, False, 0, False, 3, b"\x05"),
        bytes.fromhex("0108148305"),
        id="first-of-reply",
    ),
    pytest.param(
        Packet(8, 20, False, False, 2, False, 7, b"\xaa"),
        bytes.fromhex("01081427aa"),
        id="middle-seq2",
    ),
    pytest.param(
        Packet(8, 20, False, True, 3, False, 0, b"\xbb"),
        bytes.fromhex("01081470bb"),
        id="last-seq3",
    ),
]


@pytest.mark.parametrize(("packet", "raw"), PACKETS)
def test_packet_golden_both_ways(packet: Packet, raw: bytes) -> None:
    assert packet.encode() == raw
    assert Packet.decode(raw) == packet


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        pytest.param(b"\x01\x08\x14\xc8", "at least 5", id="no-payload"),
        pytest.param(b"\x02\x08\x14\xc8\x05", "version 2", id="version"),
    ],
)
def test_packet_decode_rejects(raw: bytes, match: str) -> None:
    with pytest.raises(PacketError, match=match):
        Packet.decode(raw)


def test_fragment_splits_to_mtu_with_type_in_first_packet_only() -> None:
    """512 bytes of SPDM at MTU 68 need 9 packets, as the kernel sends them."""
    body = bytes(range(256)) * 2
    packets = fragment(Message(8, 20, False, 5, 5, body), 68)
    assert len(packets) == 9
    assert [p.som for p in packets] == [True] + [False] * 8
    assert [p.eom for p in packets] == [False] * 8 + [True]
    assert [p.seq for p in packets] == [0, 1, 2, 3, 0, 1, 2, 3, 0]
    assert all(len(p.encode()) <= 68 for p in packets)
    assert packets[0].payload[0] == 5
    assert b"".join(p.payload for p in packets) == b"\x05" + body


def test_fragment_single_packet_at_exact_fit() -> None:
    packets = fragment(Message(8, 20, False, 0, 5, bytes(63)), 68)
    assert len(packets) == 1 and packets[0].som and packets[0].eom


@pytest.mark.parametrize("size", [0, 1, 63, 64, 65, 1000, 4096])
def test_reassembly_round_trip(size: int) -> None:
    message = Message(20, 8, True, 2, 5, bytes((i * 7) & 0xFF for i in range(size)))
    r = Reassembler()
    results = [r.push(p) for p in fragment(message, 68)]
    assert results[-1] == message
    assert all(x is None for x in results[:-1])
    assert r.dropped == 0


def test_reassembly_interleaved_by_tag() -> None:
    """Two messages in flight from one source, told apart by their tags."""
    a = Message(20, 8, True, 1, 5, b"A" * 200)
    b = Message(20, 8, True, 2, 5, b"B" * 200)
    r = Reassembler()
    out = []
    for pa, pb in zip(fragment(a, 68), fragment(b, 68), strict=True):
        out += [r.push(pa), r.push(pb)]
    assert [m for m in out if m is not None] == [a, b]


def test_reassembly_drops_out_of_sequence_and_orphans() -> None:
    packets = fragment(Message(20, 8, True, 1, 5, b"x" * 200), 68)
    r = Reassembler()
    assert r.push(packets[0]) is None
    assert r.push(packets[2]) is None  # seq 2 after 0: drop the message
    assert r.push(packets[3]) is None  # now an orphan
    assert r.dropped == 2
    # A fresh start afterwards reassembles normally.
    assert [r.push(p) for p in packets][-1] is not None


def test_reassembly_enforces_max_size() -> None:
    r = Reassembler(max_size=100)
    results = [r.push(p) for p in fragment(Message(20, 8, True, 1, 5, bytes(300)), 68)]
    assert results[-1] is None and r.dropped >= 1


CONTROL = [
    pytest.param(
        ControlRequest(3, ControlCommand.GET_ENDPOINT_ID),
        bytes.fromhex("8302"),
        id="get-eid",
    ),
    pytest.param(
        ControlRequest(0x1F, ControlCommand.SET_ENDPOINT_ID, b"\x00\x21"),
        bytes.fromhex("9f010021"),
        id="set-eid",
    ),
    pytest.param(
        ControlRequest(1, ControlCommand.GET_MCTP_VERSION_SUPPORT, b"\xff"),
        bytes.fromhex("8104ff"),
        id="get-version",
    ),
]


@pytest.mark.parametrize(("request_", "raw"), CONTROL)
def test_control_request_golden_both_ways(request_: ControlRequest, raw: bytes) -> None:
    assert request_.encode() == raw
    assert ControlRequest.decode(raw) == request_


def ask(ep: ControlEndpoint, command: int, data: bytes = b"") -> ControlResponse:
    raw = ep.handle(ControlRequest(5, command, data).encode())
    assert raw is not None
    response = ControlResponse.decode(raw)
    assert (response.instance, response.command) == (5, command)
    return response


def test_get_endpoint_id() -> None:
    r = ask(ControlEndpoint(20), ControlCommand.GET_ENDPOINT_ID)
    assert (r.completion, r.data) == (0, bytes((20, 0x00, 0x00)))


def test_set_endpoint_id_changes_eid_and_reports_it() -> None:
    ep = ControlEndpoint(20)
    r = ask(ep, ControlCommand.SET_ENDPOINT_ID, b"\x00\x33")
    assert (r.completion, r.data) == (0, bytes((0x00, 0x33, 0x00)))
    assert ep.eid == 0x33
    assert ask(ep, ControlCommand.GET_ENDPOINT_ID).data[0] == 0x33


@pytest.mark.parametrize("eid", [0x00, 0xFF])
def test_set_endpoint_id_refuses_reserved(eid: int) -> None:
    ep = ControlEndpoint(20)
    r = ask(ep, ControlCommand.SET_ENDPOINT_ID, bytes((0, eid)))
    assert r.completion == CompletionCode.ERROR_INVALID_DATA and ep.eid == 20


def test_message_type_support_lists_spdm_not_control() -> None:
    r = ask(ControlEndpoint(20), ControlCommand.GET_MESSAGE_TYPE_SUPPORT)
    assert (r.completion, r.data) == (0, b"\x01\x05")


def test_mctp_version_support() -> None:
    ep = ControlEndpoint(20)
    r = ask(ep, ControlCommand.GET_MCTP_VERSION_SUPPORT, b"\xff")
    assert (r.completion, r.data) == (0, b"\x01\xf1\xf3\xf1\x00")
    r = ask(ep, ControlCommand.GET_MCTP_VERSION_SUPPORT, b"\x01")  # PLDM: not served
    assert r.completion == CompletionCode.MESSAGE_TYPE_NOT_SUPPORTED
    assert encode_version(1, 2) == b"\xf1\xf2\xff\x00"


def test_unsupported_and_malformed_control() -> None:
    ep = ControlEndpoint(20)
    assert ask(ep, 0x7A).completion == CompletionCode.ERROR_UNSUPPORTED_CMD
    assert (
        ask(ep, ControlCommand.GET_ENDPOINT_ID, b"\x00").completion
        == CompletionCode.ERROR_INVALID_LENGTH
    )
    assert ep.handle(b"\x05") is None  # too short
    assert ep.handle(ControlResponse(1, 2, 0).encode()) is None  # a response
    assert ep.handle(bytes((0xC1, 0x02))) is None  # datagram: not answered
