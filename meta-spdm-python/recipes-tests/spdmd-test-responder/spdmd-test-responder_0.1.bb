# nooelint: oelint.var.bbclassextend,oelint.var.suggestedvar.CVE_PRODUCT - test-only target configuration, no upstream product
SUMMARY = "Emulated SPDM responders for spdmd test images"
DESCRIPTION = "Runs spdm-responder (python3-spdmd-responder) as systemd \
               instances that spdmd attests through its test \
               configuration: a good and a wrong-key responder on TCP, \
               and one on AF_MCTP behind a local EID on the loopback \
               interface, reached over the kernel's MCTP stack. Each \
               writes its per-boot test root, which the test \
               configuration trusts. Test images only."
HOMEPAGE = "https://github.com/openbmc/docs/blob/master/designs/redfish-component-integrity.md"
BUGTRACKER = "https://git.example.invalid/meta-spdm-python/issues"
SECTION = "console/network"
LICENSE = "Apache-2.0"
LIC_FILES_CHKSUM = "file://spdm-test-responder-setup;beginline=2;endline=2;md5=653b254f286b881bdce1d14afdede628"

SRC_URI = "file://spdm-test-responder@.service \
           file://spdm-test-responder-setup \
           file://spdmd-test.conf \
           file://test-config.json \
           file://good.conf \
           file://wrong-key.conf \
           file://mctp.conf"
S = "${UNPACKDIR}"

inherit allarch systemd

SYSTEMD_SERVICE:${PN} = "spdm-test-responder@good.service \
                         spdm-test-responder@wrong-key.service \
                         spdm-test-responder@mctp.service"

do_install() {
    install -d ${D}${libexecdir}/spdmd-test
    install -m 0755 ${S}/spdm-test-responder-setup ${D}${libexecdir}/spdmd-test/
    install -d ${D}${systemd_system_unitdir}
    sed -e 's,@LIBEXECDIR@,${libexecdir},g' -e 's,@BINDIR@,${bindir},g' \
        ${S}/spdm-test-responder@.service \
        >${D}${systemd_system_unitdir}/spdm-test-responder@.service
    chmod 0644 ${D}${systemd_system_unitdir}/spdm-test-responder@.service
    # A drop-in rather than a second copy of spdmd's unit: the test
    # configuration applies only while this package is installed.
    install -d ${D}${systemd_system_unitdir}/xyz.openbmc_project.spdmd.service.d
    install -m 0644 ${S}/spdmd-test.conf \
        ${D}${systemd_system_unitdir}/xyz.openbmc_project.spdmd.service.d/
    install -d ${D}${sysconfdir}/spdmd ${D}${sysconfdir}/spdm-test-responder
    install -m 0644 ${S}/test-config.json ${D}${sysconfdir}/spdmd/
    install -m 0644 ${S}/good.conf ${S}/wrong-key.conf ${S}/mctp.conf \
        ${D}${sysconfdir}/spdm-test-responder/
}

FILES:${PN} += "${systemd_system_unitdir}"

# mctp (meta-networking) provides the "mctp" tool that sets the loopback EID.
RDEPENDS:${PN} = "mctp \
                  python3-spdmd \
                  python3-spdmd-responder"
