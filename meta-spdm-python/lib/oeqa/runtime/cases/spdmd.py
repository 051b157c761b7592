# SPDX-License-Identifier: Apache-2.0
"""oeqa runtime cases for spdmd on a booted OpenBMC image.

testimage cannot boot *.static.mtd itself: start the image with
scripts/qemu-bmc --keep (or use a board), then run
"bitbake -c testimage obmc-phosphor-image" with kas/test-image.yml, which
sets TEST_TARGET = "simpleremote" and TEST_TARGET_IP = "127.0.0.1:2222".
The cases about emulated responders need spdmd-test-responder in the image
and skip without it. test_mctp is the responder behind EID 8 on lo, which
spdmd reaches through the image kernel's AF_MCTP stack.
"""

import base64
import json
import time

from oeqa.core.decorator.depends import OETestDepends
from oeqa.runtime.case import OERuntimeTestCase
from oeqa.runtime.decorator.package import OEHasPackage

SERVICE = "xyz.openbmc_project.spdmd"
CI_ROOT = "/xyz/openbmc_project/component_integrity"
CI_IFACE = "xyz.openbmc_project.Attestation.ComponentIntegrity"
RESPONDER_IFACE = "xyz.openbmc_project.spdmd.Responder1"
AUTH_IFACE = "xyz.openbmc_project.Attestation.IdentityAuthentication"
STATUS = AUTH_IFACE + ".VerificationStatus."
# Attestation runs in the background after start; a TCG-emulated AST2600
# is slow, so wait generously for the first result.
ATTEST_WAIT_SECONDS = 180


class SpdmdTest(OERuntimeTestCase):
    def run_ok(self, command):
        status, output = self.target.run(command)
        self.assertEqual(status, 0, "%s failed (%d):\n%s" % (command, status, output))
        return output.strip()

    def status_of(self, ident):
        status, output = self.target.run(
            "busctl get-property %s %s/%s %s ResponderVerificationStatus"
            % (SERVICE, CI_ROOT, ident, AUTH_IFACE))
        return output.strip() if status == 0 else ""

    def wait_for_verdict(self, ident):
        deadline = time.monotonic() + ATTEST_WAIT_SECONDS
        last = ""
        while time.monotonic() < deadline:
            last = self.status_of(ident)
            if last.endswith(STATUS + 'Success"') or last.endswith(STATUS + 'Failed"'):
                break
            time.sleep(5)
        return last

    def wait_for_status(self, ident, wanted):
        last = self.wait_for_verdict(ident)
        self.assertEqual(last, 's "%s%s"' % (STATUS, wanted),
                         "%s: got %r instead of %s" % (ident, last, wanted))

    @OEHasPackage(["python3-spdmd"])
    def test_spdmd_active(self):
        self.assertEqual(self.run_ok("systemctl is-active %s" % SERVICE), "active")

    @OETestDepends(["spdmd.SpdmdTest.test_spdmd_active"])
    def test_spdmd_owns_bus_name(self):
        pid = self.run_ok("systemctl show -p MainPID --value %s" % SERVICE)
        owner = self.run_ok("busctl status %s | sed -n 's/^PID=//p'" % SERVICE)
        self.assertEqual(owner, pid)

    @OETestDepends(["spdmd.SpdmdTest.test_spdmd_active"])
    def test_spdmd_policy_object(self):
        output = self.run_ok("busctl introspect %s %s" % (SERVICE, CI_ROOT))
        self.assertIn("xyz.openbmc_project.Control.Security.SPDM.Policy", output)

    @OETestDepends(["spdmd.SpdmdTest.test_spdmd_active"])
    def test_spdmd_no_traceback(self):
        status, output = self.target.run(
            "journalctl -b -u %s --no-pager -o cat" % SERVICE)
        self.assertNotIn("Traceback", output)

    @OEHasPackage(["spdmd-test-responder"])
    @OETestDepends(["spdmd.SpdmdTest.test_spdmd_active"])
    def test_good_responder_success(self):
        self.wait_for_status("test_good", "Success")

    @OEHasPackage(["spdmd-test-responder"])
    @OETestDepends(["spdmd.SpdmdTest.test_spdmd_active"])
    def test_wrong_key_responder_failed(self):
        self.wait_for_status("test_wrong_key", "Failed")

    def property_of(self, ident, interface, name):
        return self.run_ok("busctl get-property %s %s/%s %s %s"
                           % (SERVICE, CI_ROOT, ident, interface, name))

    def assert_signed_measurements(self, ident):
        reply = json.loads(self.run_ok("spdmtool dbus-measurements --json %s" % ident))
        self.assertTrue(reply["signed_measurements"])
        base64.b64decode(reply["signed_measurements"], validate=True)
        self.assertTrue(reply["hashing_algorithm"].startswith("TPM_ALG_SHA_"))
        self.assertTrue(reply["signing_algorithm"].startswith("TPM_ALG_"))

    @OEHasPackage(["spdmd-test-responder"])
    @OETestDepends(["spdmd.SpdmdTest.test_good_responder_success"])
    def test_signed_measurements_over_dbus(self):
        self.assert_signed_measurements("test_good")

    @OEHasPackage(["spdmd-test-responder"])
    @OETestDepends(["spdmd.SpdmdTest.test_spdmd_active"])
    def test_mctp_responder_success(self):
        # The static mctp entry of the test configuration: spdmd itself talks
        # to EID 8 on lo over AF_MCTP (the unit sets no test hook).
        self.wait_for_status("test_mctp", "Success")
        self.assertRegex(self.property_of("test_mctp", CI_IFACE, "TypeVersion"),
                         r'^s "1\.[0-3]"$')
        self.assertEqual(self.property_of("test_mctp", RESPONDER_IFACE, "Transport"),
                         's "mctp net 1 eid 8"')
        self.run_ok("pid=$(systemctl show -p MainPID --value %s); "
                    "test -r /proc/$pid/environ && "
                    "! grep -q SPDMD_TEST_MCTP_MAP /proc/$pid/environ" % SERVICE)

    @OEHasPackage(["spdmd-test-responder"])
    @OETestDepends(["spdmd.SpdmdTest.test_mctp_responder_success"])
    def test_signed_measurements_over_mctp_through_dbus(self):
        self.assert_signed_measurements("test_mctp")

    @OEHasPackage(["spdmd-test-responder"])
    def test_spdm_over_af_mctp(self):
        # spdmd attests the same responder (test_mctp), whose state follows
        # the last GET_VERSION: start only after spdmd's first verdict.
        self.wait_for_verdict("test_mctp")
        result = json.loads(self.run_ok(
            "spdmtool attest --transport mctp --net 1 --eid 8 "
            "--trust-anchor /run/spdm-test-responder/mctp.pem --json"))
        self.assertEqual(result["status"], "Success", result)
