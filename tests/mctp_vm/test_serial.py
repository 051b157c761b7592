"""DSP0253 framing as Linux mctp-serial does it, on the host."""

from __future__ import annotations

import pytest
from tests.mctp_vm.serial import FrameDecoder, crc_ccitt, encode_frame


def test_crc_check_value() -> None:
    """Reflected 0x8408, init 0xFFFF, no final XOR is CRC-16/MCRF4XX: its
    catalogue check value over "123456789" is 0x6F91."""
    assert crc_ccitt(b"123456789") == 0x6F91


# A 5-byte GET_VERSION packet: header 01 14 08 c8, type 05, SPDM 10 84 00 00.
PACKET = bytes.fromhex("011408c80510840000")


def test_frame_layout() -> None:
    frame = encode_frame(PACKET)
    fcs = crc_ccitt(bytes((1, len(PACKET))) + PACKET)
    assert frame == b"\x7e\x01\x09" + PACKET + bytes((fcs >> 8, fcs & 0xFF)) + b"\x7e"


def test_escapes_flag_and_escape_bytes_but_fcs_covers_raw_bytes() -> None:
    packet = b"\x01\x7e\x7d\xc8\x05"
    frame = encode_frame(packet)
    assert frame[3:10] == b"\x01\x7d\x5e\x7d\x5d\xc8\x05"
    fcs = crc_ccitt(b"\x01\x05" + packet)
    assert frame[10:12] == bytes((fcs >> 8, fcs & 0xFF))


@pytest.mark.parametrize(
    "packet", [PACKET, b"\x01\x7e\x7d\xc8\x05", bytes(range(0x70, 0x70 + 68))]
)
def test_decoder_whole_bytewise_and_with_trailing(packet: bytes) -> None:
    frame = encode_frame(packet)
    assert FrameDecoder().feed(frame) == [packet]
    d = FrameDecoder()
    assert [p for b in frame for p in d.feed(bytes((b,)))] == [packet]
    d = FrameDecoder()
    # Two frames back to back, then the start of a third.
    assert d.feed(frame + frame + frame[:4]) == [packet, packet]
    assert d.feed(frame[4:]) == [packet]


def test_decoder_drops_bad_fcs_and_recovers() -> None:
    frame = bytearray(encode_frame(PACKET))
    frame[-2] ^= 1
    d = FrameDecoder()
    assert d.feed(bytes(frame)) == []
    assert d.errors == 1
    assert d.feed(encode_frame(PACKET)) == [PACKET]


@pytest.mark.parametrize(
    "junk",
    [
        pytest.param(b"\x7e\x02\x05abcde\x00\x00\x7e", id="bad-revision"),
        pytest.param(b"\x7e\x01\x00\x7e", id="zero-length"),
        pytest.param(b"\x7e\x01\x7f", id="too-long"),
        pytest.param(b"\x7e\x01\x09\x01\x14\x7e", id="flag-inside-data"),
    ],
)
def test_decoder_rejects_then_resynchronises(junk: bytes) -> None:
    d = FrameDecoder()
    assert d.feed(junk) == []
    assert d.errors >= 1
    assert d.feed(encode_frame(PACKET)) == [PACKET]


def test_encode_refuses_oversize() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        encode_frame(bytes(75))


# Captured on the host side of qemu's chardev while the guest (Linux 6.1.192,
# drivers/net/mctp/mctp-serial.c, scripts/mctp-vm) sent Get Endpoint ID from
# EID 10 to EID 30 (guest_test_mctp.py::test_control_message_over_serial).
KERNEL_FRAME = bytes.fromhex("7e0107011e0ac80081025f837e")
KERNEL_PACKET = bytes.fromhex("011e0ac8008102")


def test_frame_sent_by_the_linux_driver_both_ways() -> None:
    assert FrameDecoder().feed(KERNEL_FRAME) == [KERNEL_PACKET]
    assert encode_frame(KERNEL_PACKET) == KERNEL_FRAME
