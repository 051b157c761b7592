# A machine opts in with MACHINE_FEATURES:append = " spdm-python" (in its
# machine .conf, or in local.conf for a trial); everyone else is unaffected.
# MACHINE_FEATURES is OpenBMC's per-machine switch; an override would need
# every machine to edit MACHINEOVERRIDES instead.
# nooelint: oelint.vars.noncoreoverride
OBMC_IMAGE_EXTRA_INSTALL:append = "${@bb.utils.contains('MACHINE_FEATURES', 'spdm-python', ' packagegroup-spdm-python', '', d)}"

# meta-phosphor's C++ spdm (DISTRO_FEATURES "spdm") serves the same bus name;
# say so when the image is parsed instead of failing late in do_rootfs.
# nooelint: oelint.task.noanonpython,oelint.vars.noncoreoverride
python () {
    if bb.utils.contains('MACHINE_FEATURES', 'spdm-python', True, False, d) and \
            bb.utils.contains('DISTRO_FEATURES', 'spdm', True, False, d):
        bb.fatal("MACHINE_FEATURES spdm-python and DISTRO_FEATURES spdm both install a daemon for xyz.openbmc_project.spdmd; keep one of them")
}
