"""The body of scripts/demo: a BMC's view of four emulated devices.

A private system bus with the mapper, mctpd (one PLDM-only endpoint) and
Entity Manager stand-ins, four
emulated responders configured as Entity Manager SpdmTcpResponder records
(genuine, signing with the wrong key, chaining to an untrusted root, and
one that never answers), and the real spdmd. It prints what a BMC
engineer checks: each responder's status, SPDM version and failure reason
as busctl shows them, then fetches one signed measurement set through
D-Bus and verifies its signature with the device's certificate. Exit
status 0 when every device ended as expected.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dbus
from tests.env.harness import BUS_NAME, IA, Environment
from tests.env.verify import SignatureMismatch, verify_signed_measurements

MS = "xyz.openbmc_project.Attestation.MeasurementSet"
CERT = "xyz.openbmc_project.Certs.Certificate"
# (name, faults, expected status, expected failing step)
DEVICES = [
    ("gpu0", (), "Success", ""),
    ("nic_wrong_key", ("wrong_key",), "Failed", "CHALLENGE"),
    ("ssd_untrusted_root", ("untrusted_root",), "Failed", "CERTIFICATE_CHAIN"),
    # Accepts the connection and never answers: fails at the deadline.
    ("fpga_silent", ("silent",), "Failed", "GET_VERSION"),
]


def busctl_status(env: Environment, ident: str) -> str:
    """`busctl get-property ... ResponderVerificationStatus`, as an engineer types it."""
    exe = shutil.which("busctl")
    if exe is None:
        return "(busctl not installed)"
    out = subprocess.run(
        [
            exe,
            f"--address={env.bus.address}",
            "get-property",
            BUS_NAME,
            env.responder_path(ident),
            IA,
            "ResponderVerificationStatus",
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=10,
    )
    return (out.stdout or out.stderr).strip()


def main() -> int:
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="spdmd-demo-"))
    ok = True
    try:
        with Environment(workdir, config={"deadline_seconds": 3}) as env:
            print("demo: private system bus at", env.bus.address)
            env.start_mapper()
            # mctpd knows one PLDM-only endpoint: spdmd must leave it alone.
            env.start_mctpd([{"net": 1, "eid": 9, "types": [0, 1]}])
            records = [env.device(n, *f).em_record() for n, f, _s, _t in DEVICES]
            env.start_entity_manager(
                [{"Name": "Demo Tray", "Type": "Board", "Exposes": records}]
            )
            daemon = env.start_daemon()
            print(f"demo: spdmd (pid {daemon.pid}) owns {BUS_NAME}; attesting ...\n")
            expected = [(n, s, t) for n, _f, s, t in DEVICES]
            print(f"{'RESPONDER':20} {'STATUS':8} {'VERSION':8} {'STEP':18} REASON")
            for name, want_status, want_step in expected:
                st = env.wait_status(name, timeout=20)
                print(
                    f"{name:20} {st['status']:8} {st['TypeVersion'] or '-':8} "
                    f"{st['FailedStep'] or '-':18} {st['FailureReason'] or '-'}"
                )
                ok &= (st["status"], st["FailedStep"]) == (want_status, want_step)
            skipped = "mctp_1_9" not in env.responder_ids()
            print(
                f"{'mctp_1_9':20} {'-':8} {'-':8} {'-':18} "
                f"{'not SPDM (message types 0, 1): skipped' if skipped else 'NOT SKIPPED'}"
            )
            ok &= skipped
            print("\nas busctl shows it:")
            for name, _s, _t in expected:
                print(f"  {name:20} {busctl_status(env, name)}")

            nonce = os.urandom(32).hex()
            path = env.responder_path("gpu0")
            print(
                f"\ndemo: SPDMGetSignedMeasurements([255], nonce {nonce[:16]}..., slot 0)"
                f" on {path}"
            )
            cert_path, hash_alg, _key, signed, sign_alg, version = env.client.call(
                BUS_NAME,
                path,
                MS,
                "SPDMGetSignedMeasurements",
                "atst",
                (dbus.Array([255], signature="t"), nonce, 0),
                timeout=30,
            )
            from cryptography import x509

            pem = env.client.get(BUS_NAME, cert_path, CERT, "CertificateString")
            leaf = x509.load_pem_x509_certificates(pem.encode())[0]
            try:
                l2 = verify_signed_measurements(signed, leaf, version, nonce)
                print(
                    f"  {len(l2)} bytes signed with {sign_alg} over {hash_alg}, "
                    f"SPDM {version}, certificate {cert_path}"
                )
                print(
                    f"  signature VERIFIED with {leaf.subject.rfc4514_string()}"
                    " and the nonce is in the signed transcript"
                )
            except SignatureMismatch as exc:
                print(f"  signature NOT verified: {exc}")
                ok = False
            print(
                f"\ndemo: {'all responders as expected' if ok else 'UNEXPECTED RESULT'}"
                f" in {time.monotonic() - started:.1f} s; stopping everything"
            )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
