"""open_transport: kinds, defaults and the option combinations refused."""

from __future__ import annotations

import pytest
from tests.transport.peers import ScriptedPeer

from spdmd.errors import TransportError, UsageError
from spdmd.transport.base import Transport, open_transport
from spdmd.transport.emu import EmuTransport, PayloadMode
from spdmd.transport.tcp import TcpTransport


@pytest.mark.parametrize(
    "kind, options, text",
    [
        pytest.param("serial", {}, "unknown transport 'serial'", id="unknown-kind"),
        pytest.param("mctp", {}, "needs an endpoint id", id="mctp-without-eid"),
        pytest.param(
            "mctp",
            {"eid": 9, "host": "h"},
            "do not apply to the mctp",
            id="mctp-with-host",
        ),
        pytest.param(
            "mctp",
            {"eid": 9, "port": 1},
            "do not apply to the mctp",
            id="mctp-with-port",
        ),
        pytest.param(
            "tcp",
            {"eid": 9},
            "apply only to the mctp transport, not tcp",
            id="tcp-with-eid",
        ),
        pytest.param(
            "emu-mctp", {"net": 1}, "apply only to the mctp", id="emu-with-net"
        ),
        pytest.param("tcp", {"port": 0}, "out of range", id="port-zero"),
        pytest.param("emu-tcp", {"port": 70000}, "out of range", id="port-high"),
        pytest.param("tcp", {"host": ""}, "empty host", id="empty-host"),
        pytest.param(
            "tcp", {"connect_timeout": 0}, "must be positive", id="zero-timeout"
        ),
    ],
)
def test_bad_combinations_are_usage_errors(kind, options, text):
    with pytest.raises(UsageError, match=text):
        open_transport(kind, **options)


@pytest.mark.parametrize(
    "kind, cls, mode",
    [
        pytest.param("tcp", TcpTransport, None, id="tcp"),
        pytest.param("emu-mctp", EmuTransport, PayloadMode.MCTP, id="emu-mctp"),
        pytest.param("emu-tcp", EmuTransport, PayloadMode.TCP, id="emu-tcp"),
        pytest.param("emu-none", EmuTransport, PayloadMode.NONE, id="emu-none"),
    ],
)
def test_kinds_open_the_right_transport(kind, cls, mode):
    peer = ScriptedPeer(lambda conn: conn.recv(1))
    try:
        transport = open_transport(kind, port=peer.port)
        assert isinstance(transport, cls)
        assert isinstance(transport, Transport)
        if mode is not None:
            assert transport.mode == mode
        transport.close()
    finally:
        peer.close()


def test_default_ports_are_dsp0287_and_spdm_emu(monkeypatch):
    """With no --port, tcp dials 4194 and the emu kinds 2323."""
    dialled = []

    def fake_connect(address, timeout):
        dialled.append(address)
        raise OSError(111, "Connection refused")

    monkeypatch.setattr("socket.create_connection", fake_connect)
    for kind in ("tcp", "emu-mctp"):
        with pytest.raises(TransportError):
            open_transport(kind)
    assert dialled == [("127.0.0.1", 4194), ("127.0.0.1", 2323)]
