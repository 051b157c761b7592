"""Test infrastructure for the real Linux MCTP stack (docs/mctp-vm.md).

- `mctp`: DSP0236 packets, fragmentation, reassembly and control messages.
- `serial`: DSP0253 framing (the mctp-serial link type).
- `netlink`: rtnetlink messages that give a link an EID and routes.
- `endpoint`: emulated MCTP endpoints serving the SPDM responder emulator
  on a TUN device or a serial byte stream.

None of this is shipped; it runs on the host (unit tests) and in the guest.
"""
