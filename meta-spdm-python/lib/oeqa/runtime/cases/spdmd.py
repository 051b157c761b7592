# SPDX-License-Identifier: Apache-2.0
"""oeqa runtime cases for spdmd on a booted OpenBMC image.

testimage cannot boot *.static.mtd itself: start the image with
scripts/qemu-bmc --keep (or use a board), then run
"bitbake -c testimage obmc-phosphor-image" with kas/test-image.yml, which
sets TEST_TARGET = "simpleremote" and TEST_TARGET_IP = "127.0.0.1:2222".
The cases about emulated responders need spdmd-test-responder in the image
and skip without it.
"""

import json
import time

from oeqa.core.decorator.depends import OETestDepends
from oeqa.runtime.case import OERuntimeTestCase
from oeqa.runtime.decorator.package import OEHasPackage

SERVICE = "xyz.openbmc_project.spdmd"
CI_ROOT = "/xyz/openbmc_project/component_integrity"
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

    def wait_for_status(self, ident, wanted):
        deadline = time.monotonic() + ATTEST_WAIT_SECONDS
        last = ""
        while time.monotonic() < deadline:
            last = self.status_of(ident)
            if last.endswith(STATUS + 'Success"') or last.endswith(STATUS + 'Failed"'):
                break
            time.sleep(5)
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

    @OEHasPackage(["spdmd-test-responder"])
    @OETestDepends(["spdmd.SpdmdTest.test_good_responder_success"])
    def test_signed_measurements_over_dbus(self):
        reply = json.loads(self.run_ok("spdmtool dbus-measurements --json test_good"))
        self.assertTrue(reply["signed_measurements"])
        self.assertTrue(reply["hashing_algorithm"].startswith("TPM_ALG_SHA_"))

    @OEHasPackage(["spdmd-test-responder"])
    def test_spdm_over_af_mctp(self):
        result = json.loads(self.run_ok(
            "spdmtool attest --transport mctp --net 1 --eid 8 "
            "--trust-anchor /run/spdm-test-responder/mctp.pem --json"))
        self.assertEqual(result["status"], "Success", result)
