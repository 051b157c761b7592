"""The body of scripts/demo: a BMC's view of four emulated devices.

A private system bus with the mapper, mctpd (one PLDM-only endpoint) and
Entity Manager stand-ins, four
emulated responders configured as Entity Manager SpdmTcpResponder records
(genuine, signing with the wrong key, chaining to an untrusted root, and
one that never answers), and the real spdmd. It prints what a BMC
engineer checks: each responder's status, SPDM version and failure reason
as busctl shows them, the certificate objects, the daemon's log lines,
then fetches one signed measurement set through D-Bus and verifies its
signature with the device's certificate. Exit
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

from spdmd.daemon.main import size_t_signature

MS = "xyz.openbmc_project.Attestation.MeasurementSet"
CERT = "xyz.openbmc_project.Certs.Certificate"
CERTS = "/xyz/openbmc_project/certs/devices"
# (name, faults, what it emulates, expected status, expected failing step)
DEVICES = [
    ("gpu0", (), "a genuine device", "Success", ""),
    (
        "nic_wrong_key",
        ("wrong_key",),
        "signs with a key that is not its certificate's",
        "Failed",
        "CHALLENGE",
    ),
    (
        "ssd_untrusted_root",
        ("untrusted_root",),
        "a chain ending in a root that is not a trust anchor",
        "Failed",
        "CERTIFICATE_CHAIN",
    ),
    (
        "fpga_silent",
        ("silent",),
        "accepts the connection and never answers",
        "Failed",
        "GET_VERSION",
    ),
]
# The daemon's journal sentences worth showing (docs/daemon.md, Journal).
_OUTCOME_LINES = ("Attested ", "Failed to attest ", "No response from ")


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
            print(f"demo: a private D-Bus system bus at {env.bus.address}")
            print(
                "demo: with stand-ins for the object mapper, mctpd (one PLDM-only"
                " endpoint) and Entity Manager, which lists four emulated SPDM"
                " responders:"
            )
            for name, _f, what, _s, _t in DEVICES:
                print(f"  {name:20} {what}")
            env.start_mapper()
            # mctpd knows one PLDM-only endpoint: spdmd must leave it alone.
            env.start_mctpd([{"net": 1, "eid": 9, "types": [0, 1]}])
            records = [env.device(n, *f).em_record() for n, f, _w, _s, _t in DEVICES]
            env.start_entity_manager(
                [{"Name": "Demo Tray", "Type": "Board", "Exposes": records}]
            )
            daemon = env.start_daemon()
            print(
                f"demo: spdmd (pid {daemon.pid}) owns {BUS_NAME} and attests them"
                " in the background\n"
            )
            header = (
                f"{'RESPONDER':20} {'STATUS':8} {'VERSION':8} {'FAILED STEP':18} REASON"
            )
            print(header)
            for name, _f, _w, want_status, want_step in DEVICES:
                st = env.wait_status(name, timeout=20)
                print(
                    f"{name:20} {st['status']:8} {st['TypeVersion'] or '-':8} "
                    f"{st['FailedStep'] or '-':18} {st['FailureReason'] or '-'}"
                )
                ok &= (st["status"], st["FailedStep"]) == (want_status, want_step)
            skipped = "mctp_1_9" not in env.responder_ids()
            print(
                f"{'mctp_1_9':20} {'-':8} {'-':8} {'-':18} "
                + (
                    "skipped: MCTP endpoint 9 offers message types 0 (control) and"
                    " 1 (PLDM), not 5 (SPDM)"
                    if skipped
                    else "NOT SKIPPED, although it does not offer SPDM"
                )
            )
            ok &= skipped
            print(
                "\nResponderVerificationStatus, as `busctl get-property"
                f" {BUS_NAME} /xyz/openbmc_project/component_integrity/<RESPONDER>"
                f" {IA} ResponderVerificationStatus` shows it:"
            )
            for name, *_rest in DEVICES:
                print(f"  {name:20} {busctl_status(env, name)}")

            everything = env.client.managed_objects(BUS_NAME, "/xyz/openbmc_project")
            certs = sorted(p for p in everything if p.startswith(CERTS + "/"))
            print("\ncertificate objects (Redfish shows them as ComponentCertificate):")
            for cert_path in certs:
                print(f"  {cert_path}  {everything[cert_path][CERT]['Subject']}")
            print(
                "  (none for the failed responders: a chain that was not verified"
                " is not published as a device's identity)"
            )
            ok &= certs == [f"{CERTS}/gpu0/0"]

            print("\nspdmd's log (on a BMC: journalctl -u xyz.openbmc_project.spdmd):")
            for line in daemon.log().splitlines():
                if line.startswith(_OUTCOME_LINES):
                    print(f"  {line}")

            nonce = os.urandom(32).hex()
            path = env.responder_path("gpu0")
            width = size_t_signature()
            print(
                f"\ndemo: SPDMGetSignedMeasurements on {path}, the call bmcweb makes"
                " for a Redfish ComponentIntegrity SPDMGetSignedMeasurements POST:"
            )
            print(f"  MeasurementIndices [255] (all), Nonce {nonce}, SlotId 0")
            cert_path, hash_alg, _key, signed, sign_alg, version = env.client.call(
                BUS_NAME,
                path,
                MS,
                "SPDMGetSignedMeasurements",
                f"a{width}s{width}",
                (dbus.Array([255], signature=width), nonce, 0),
                timeout=30,
            )
            from cryptography import x509

            pem = env.client.get(BUS_NAME, cert_path, CERT, "CertificateString")
            leaf = x509.load_pem_x509_certificates(pem.encode())[0]
            print(
                f"  reply: SPDM {version}, {hash_alg}, {sign_alg}, certificate"
                f" {cert_path}, SignedMeasurements {len(signed)} base64 characters"
            )
            try:
                l2 = verify_signed_measurements(signed, leaf, version, nonce)
                print(
                    f"  checked here, independently of spdmd: the signature over the"
                    f" {len(l2)}-byte transcript verifies with the public key of"
                    f" {leaf.subject.rfc4514_string()}, and the transcript"
                    " contains our nonce"
                )
                print("  signature VERIFIED")
            except SignatureMismatch as exc:
                print(f"  signature NOT verified: {exc}")
                ok = False
            print(
                f"\ndemo: {'every responder ended as expected' if ok else 'UNEXPECTED RESULT'}"
                f" in {time.monotonic() - started:.1f} s; stopping everything"
            )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
