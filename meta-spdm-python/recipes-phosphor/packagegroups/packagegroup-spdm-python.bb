SUMMARY = "spdmd, the Python SPDM attestation daemon, for OpenBMC images"
DESCRIPTION = "What a BMC image needs to attest its devices with spdmd. \
               obmc-phosphor-image installs it on machines whose \
               MACHINE_FEATURES contain spdm-python; other images can add \
               it to their install lists."
BUGTRACKER = "https://git.example.invalid/meta-spdm-python/issues"
SECTION = "console/network"

inherit packagegroup

RDEPENDS:${PN} = "python3-spdmd"
