# nooelint: oelint.var.bbclassextend - a daemon with a unit and config has no native or SDK use
SUMMARY = "SPDM attestation daemon for OpenBMC, in Python"
DESCRIPTION = "spdmd discovers SPDM responders behind MCTP (mctpd) and TCP \
               (Entity Manager), attests them with DMTF SPDM 1.0-1.3 and \
               serves the xyz.openbmc_project ComponentIntegrity and \
               TrustedComponent objects that bmcweb turns into Redfish \
               ComponentIntegrity. Also ships the spdmtool CLI."
HOMEPAGE = "https://github.com/openbmc/docs/blob/master/designs/redfish-component-integrity.md"
BUGTRACKER = "https://git.example.invalid/meta-spdm-python/issues"
SECTION = "console/network"
LICENSE = "Apache-2.0"
# The repository's Apache-2.0 text lives in the layer, one level below the
# repository root that is this recipe's source tree.
LIC_FILES_CHKSUM = "file://meta-spdm-python/COPYING.Apache-2.0;md5=3b83ef96387f14655fc854ddc3c6bd57"

PV = "0.1.0+git"

# The recipe builds the repository that contains this layer. There is no
# public URL yet: SPDMD_GIT_URI is a placeholder (".invalid" never resolves)
# that a product sets to its own mirror of this repository, with SRCREV, in
# local.conf or a bbappend. kas/local-dev.yml builds the working tree instead.
SPDMD_GIT_URI ?= "git://git.example.invalid/meta-spdm-python.git"
SPDMD_GIT_BRANCH ?= "main"
SRC_URI = "${SPDMD_GIT_URI};protocol=https;branch=${SPDMD_GIT_BRANCH} \
           file://run-ptest"
# The last commit of this repository the layer was checked against; it
# cannot name the commit that changes it, so a release bumps it afterwards.
SRCREV = "e3db9806b45cd68a2cf3104d5e67a727b04fce36"

# pyproject.toml: build-backend = "setuptools.build_meta".
inherit python_setuptools_build_meta systemd ptest

# The emulated responder is for test images only (recipes-tests); it must be
# matched before ${PN} takes the whole spdmd package directory.
PACKAGE_BEFORE_PN += "${PN}-responder"

SYSTEMD_SERVICE:${PN} = "xyz.openbmc_project.spdmd.service"

CVE_PRODUCT = "spdmd"

# Unit tests that need only Python on the target; tests/env is there for
# tests/conftest.py (its private-bus tests skip where dbus-daemon is absent).
SPDMD_PTEST_DIRS ?= "tests/env tests/spdm tests/certs tests/transport tests/responder"

do_install:append() {
    install -d ${D}${systemd_system_unitdir}
    install -m 0644 ${S}/data/systemd/xyz.openbmc_project.spdmd.service \
        ${D}${systemd_system_unitdir}/
    install -d ${D}${datadir}/dbus-1/system.d
    install -m 0644 ${S}/data/dbus/xyz.openbmc_project.spdmd.conf \
        ${D}${datadir}/dbus-1/system.d/
    install -d ${D}${sysconfdir}/spdmd/trust-anchors
    install -m 0644 ${S}/data/config/config.json ${D}${sysconfdir}/spdmd/
}

do_install_ptest() {
    install -m 0755 ${UNPACKDIR}/run-ptest ${D}${PTEST_PATH}/
    for dir in ${SPDMD_PTEST_DIRS}; do
        if [ -d ${S}/$dir ]; then
            install -d ${D}${PTEST_PATH}/$dir
            cp -R --no-dereference --preserve=mode,links ${S}/$dir/. \
                ${D}${PTEST_PATH}/$dir/
        fi
    done
    if [ -f ${S}/tests/conftest.py ]; then
        install -m 0644 ${S}/tests/conftest.py ${D}${PTEST_PATH}/tests/
    fi
    find ${D}${PTEST_PATH} -name __pycache__ -prune -exec rm -rf {} +
}

FILES:${PN} += "${datadir}/dbus-1/system.d"
FILES:${PN}-responder += "${bindir}/spdm-responder \
                          ${PYTHON_SITEPACKAGES_DIR}/spdmd/responder"
CONFFILES:${PN} = "${sysconfdir}/spdmd/config.json"

# Standard-library modules live in separate python3-* packages on the target
# (oe-core's python3-manifest.json) and bitbake does not derive them from
# imports; python3-core comes from the class, python3-dbus's libdbus and
# libglib from shlibdeps. tests/layer/test_wheel.py keeps this list equal to
# what src/spdmd imports: asyncio for concurrent.futures, crypt for hashlib,
# io for socket and tempfile, netclient for base64 and secrets, threading for
# queue (ThreadPoolExecutor), xml for ElementTree.
RDEPENDS:${PN} = "python3-asyncio \
                  python3-crypt \
                  python3-cryptography \
                  python3-ctypes \
                  python3-datetime \
                  python3-dbus \
                  python3-io \
                  python3-json \
                  python3-logging \
                  python3-netclient \
                  python3-threading \
                  python3-xml"
RDEPENDS:${PN}-responder = "${PN} \
                            python3-cryptography"
RDEPENDS:${PN}-ptest = "${PN}-responder \
                        python3-hypothesis \
                        python3-pytest \
                        python3-unittest-automake-output"
# Journal fields DEVICE, STEP and REASON need python3-systemd (meta-python);
# without it spdmd logs plain lines to stderr, which journald still records.
RRECOMMENDS:${PN} = "python3-systemd"

# Same bus name (xyz.openbmc_project.spdmd) as meta-phosphor's C++ spdm:
# installing both would make two daemons fight over it.
RCONFLICTS:${PN} = "spdm"
