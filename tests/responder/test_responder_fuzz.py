"""Arbitrary bytes into the emulator and into the framing parsers: the
emulator always answers with a well-formed SPDM message (or, for faults,
nothing), and the parsers raise only TransportError."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.responder.harness import emulator_config

from spdmd.errors import TransportError
from spdmd.responder.responder import Responder
from spdmd.spdm import messages as m
from spdmd.transport import emu, tcp

VCA_12 = [
    m.GetVersion().encode(),
    m.GetCapabilities(
        version=0x12, data_transfer_size=4096, max_spdm_msg_size=4096
    ).encode(),
    m.NegotiateAlgorithms(version=0x12, base_asym=0x80, base_hash=0x02).encode(),
]

# Requests that look like SPDM (a known version and code) reach deeper than
# purely random bytes.
spdm_like = st.builds(
    lambda version, code, rest: bytes((version, code)) + rest,
    st.sampled_from([0x10, 0x11, 0x12, 0x13, 0x14, 0x00]),
    st.sampled_from([0x81, 0x82, 0x83, 0x84, 0xE0, 0xE1, 0xE3, 0xFF, 0x7F, 0x05]),
    st.binary(max_size=80),
)
requests = st.one_of(st.binary(max_size=80), spdm_like)


def check_answer(answer: bytes) -> None:
    assert isinstance(answer, bytes) and len(answer) >= 4
    assert answer[0] in (0x10, 0x11, 0x12, 0x13)
    if answer[1] == 0x7F:
        m.ErrorMessage.decode(answer)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(requests, min_size=1, max_size=6), st.integers(0, 3))
def test_any_request_sequence_gets_a_well_formed_answer(sequence, prefix):
    """After 0..3 steps of a good VCA, whatever comes is answered sanely."""
    responder = Responder(emulator_config())
    for good in VCA_12[:prefix]:
        responder.handle(good)
    for request in sequence:
        check_answer(responder.handle(request))


@given(st.binary(max_size=16))
def test_dsp0287_header_parser_raises_only_transport_error(data):
    try:
        length, message_type = tcp.parse_header(data)
    except TransportError:
        return
    assert 0 <= length <= 0xFFFD and 0 <= message_type <= 0xFF


@pytest.mark.parametrize("mode", list(emu.PayloadMode))
@given(data=st.binary(max_size=40))
def test_emu_payload_unwrapping_raises_only_transport_error(mode, data):
    try:
        message = emu.unwrap_spdm(mode, data, "peer")
    except TransportError:
        return
    assert emu.wrap_spdm(mode, message) == data
