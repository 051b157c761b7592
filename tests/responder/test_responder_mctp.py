"""serve_mctp (the emulator's AF_MCTP side for the VM) against the
requester's MctpTransport, both through stand-in kernels linked back to
back: the requester's sendto becomes a request with TO set on the
responder's socket, and the responder's sendto a reply on the requester's.
The real kernel run is in tests/mctp_vm."""

from __future__ import annotations

import threading

from tests.responder.harness import (
    MEASUREMENT_INDICES,
    emulator_config,
    requester_config,
)
from tests.transport.mctp_standin import StandInKernel

from spdmd.attest import attest, get_signed_measurements
from spdmd.responder.responder import Responder
from spdmd.responder.server import serve_mctp
from spdmd.transport import mctp

REQUESTER_EID, RESPONDER_EID, NET = 8, 20, 1


class Link:
    def __init__(self, faults=()) -> None:
        self.replies = []
        self.requester = StandInKernel(self._to_responder)
        self.responder = StandInKernel(self._to_requester)
        self.stop = threading.Event()
        self.thread = threading.Thread(
            target=serve_mctp,
            args=(Responder(emulator_config(faults=faults)),),
            kwargs={
                "stop": self.stop,
                "sock": self.responder.sock,
                "libc": self.responder,
            },
            daemon=True,
        )
        self.thread.start()

    def _to_responder(self, kernel, sent):
        # The kernel gives the responder the requester's EID and the
        # allocated tag with TO set.
        self.responder.deliver(
            sent.data,
            net=NET,
            eid=REQUESTER_EID,
            tag=kernel.last_tag | mctp.MCTP_TAG_OWNER,
        )

    def _to_requester(self, kernel, sent):
        self.replies.append(sent)
        self.requester.deliver(sent.data, net=NET, eid=RESPONDER_EID, tag=sent.tag)

    def transport(self):
        return mctp.MctpTransport(
            eid=RESPONDER_EID, net=NET, sock=self.requester.sock, libc=self.requester
        )

    def close(self):
        self.stop.set()
        self.thread.join(5)


def test_attest_and_measure_over_linked_mctp_standins():
    link = Link()
    try:
        transport = link.transport()
        assert attest(transport, requester_config()).ok
        result = get_signed_measurements(transport, requester_config())
        assert result.ok, result.reason
        assert [b.index for b in result.blocks] == MEASUREMENT_INDICES
    finally:
        link.close()
    # The responder bound (ANY net, ANY eid, type 5) once and the requester
    # never bound at all.
    assert link.responder.binds == [(mctp.MCTP_NET_ANY, mctp.MCTP_ADDR_ANY, 5)]
    assert link.requester.binds == []
    # Every reply went back to the requester with TO clear and its tag.
    requests = link.requester.sent
    assert len(link.replies) == len(requests)
    assert all(
        r.eid == REQUESTER_EID and r.net == NET and r.type == 5 for r in link.replies
    )
    assert all(not r.tag & mctp.MCTP_TAG_OWNER for r in link.replies)


def test_silent_mctp_endpoint_fails_and_others_are_unaffected():
    silent, good = Link(("silent",)), Link()
    try:
        result = attest(silent.transport(), requester_config(deadline=2.0))
        assert (result.status, result.step, result.unreachable) == (
            "Failed",
            "GET_VERSION",
            True,
        )
        assert attest(good.transport(), requester_config()).ok
    finally:
        silent.close()
        good.close()


def test_responder_ignores_messages_that_are_not_requests():
    link = Link()
    try:
        # A reply-shaped message (TO clear) and a secured-type message.
        link.responder.deliver(b"\x10\x84\x00\x00", net=NET, eid=REQUESTER_EID, tag=0)
        link.responder.deliver(
            b"\x10\x84\x00\x00", net=NET, eid=REQUESTER_EID, type=6, tag=8
        )
        assert attest(link.transport(), requester_config()).ok
        assert len(link.replies) == len(link.requester.sent)
    finally:
        link.close()
