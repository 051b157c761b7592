*** Settings ***
Documentation     spdmd on an AST2600 EVB emulated by Renode, driven over the
...               console UART. Needs a Renode build with an AST2600 platform
...               (none upstream yet, see docs/image-tests.md) and a test image:
...               renode-test --variable PLATFORM:/path/ast2600-evb.repl
...               --variable IMAGE:/path/obmc-phosphor-image-evb-ast2600.static.mtd
...               meta-spdm-python/recipes-tests/renode/spdmd-renode.robot
Resource          ${RENODEKEYWORDS}
Suite Setup       Boot The BMC
Suite Teardown    Teardown
Test Teardown     Test Teardown


*** Variables ***
${PLATFORM}       ${EMPTY}
${IMAGE}          ${EMPTY}
${RESC}           ${CURDIR}/ast2600-evb.resc
${UART}           sysbus.uart5
${BOOT_TIMEOUT}   900
${PROMPT}         root@evb-ast2600:~#
${SERVICE}        xyz.openbmc_project.spdmd
${CI_ROOT}        /xyz/openbmc_project/component_integrity
${AUTH_IFACE}     xyz.openbmc_project.Attestation.IdentityAuthentication
${CI_IFACE}       xyz.openbmc_project.Attestation.ComponentIntegrity
${RESPONDER_IFACE}    xyz.openbmc_project.spdmd.Responder1


*** Keywords ***
Boot The BMC
    [Documentation]    Loads the platform and image, boots, logs in as root.
    Setup
    Skip If    '${PLATFORM}' == ''    no PLATFORM given: Renode has no AST2600 platform upstream (pass --variable PLATFORM:<ast2600-evb.repl>)
    Skip If    '${IMAGE}' == ''    no IMAGE given (pass --variable IMAGE:<obmc-phosphor-image-evb-ast2600.static.mtd>)
    Execute Command    $platform=@${PLATFORM}
    Execute Command    $image=@${IMAGE}
    Execute Script    ${RESC}
    Create Terminal Tester    ${UART}    timeout=${BOOT_TIMEOUT}
    Start Emulation
    Wait For Line On Uart    login:    includeUnfinishedLine=true
    Write Line To Uart    root
    Wait For Line On Uart    Password:    includeUnfinishedLine=true
    Write Line To Uart    0penBmc
    Wait For Prompt On Uart    ${PROMPT}

Run On Console
    [Documentation]    Types a command and waits for a line matching the pattern.
    [Arguments]    ${command}    ${pattern}
    Write Line To Uart    ${command}
    Wait For Line On Uart    ${pattern}    treatAsRegex=true    timeout=120
    Wait For Prompt On Uart    ${PROMPT}


*** Test Cases ***
Service Is Active
    [Documentation]    systemd started spdmd on the emulated AST2600.
    Run On Console    systemctl is-active ${SERVICE}    ^active\\s*$

Bus Name Is Owned
    [Documentation]    spdmd owns its bus name.
    Run On Console    busctl status ${SERVICE} | grep -c ^PID=    ^1\\s*$

Good Responder Is Verified
    [Documentation]    The test image's good responder ends in Success.
    Run On Console
    ...    for i in $(seq 60); do busctl get-property ${SERVICE} ${CI_ROOT}/test_good ${AUTH_IFACE} ResponderVerificationStatus 2>/dev/null | grep -q Success && break; sleep 5; done; busctl get-property ${SERVICE} ${CI_ROOT}/test_good ${AUTH_IFACE} ResponderVerificationStatus
    ...    VerificationStatus\\.Success

Wrong Key Responder Is Failed
    [Documentation]    The wrong-key responder ends in Failed.
    Run On Console
    ...    busctl get-property ${SERVICE} ${CI_ROOT}/test_wrong_key ${AUTH_IFACE} ResponderVerificationStatus
    ...    VerificationStatus\\.Failed

MCTP Responder Is Verified By spdmd Over The Emulated Kernel
    [Documentation]    test_mctp (the static mctp entry for EID 8 on lo) ends in
    ...                Success; spdmd reached it over AF_MCTP.
    Run On Console
    ...    for i in $(seq 60); do busctl get-property ${SERVICE} ${CI_ROOT}/test_mctp ${AUTH_IFACE} ResponderVerificationStatus 2>/dev/null | grep -q Success && break; sleep 5; done; busctl get-property ${SERVICE} ${CI_ROOT}/test_mctp ${AUTH_IFACE} ResponderVerificationStatus
    ...    VerificationStatus\\.Success
    Run On Console
    ...    busctl get-property ${SERVICE} ${CI_ROOT}/test_mctp ${CI_IFACE} TypeVersion
    ...    ^s "1\\.[0-3]"\\s*$
    Run On Console
    ...    busctl get-property ${SERVICE} ${CI_ROOT}/test_mctp ${RESPONDER_IFACE} Transport
    ...    ^s "mctp net 1 eid 8"\\s*$

Signed Measurements Over MCTP Through D-Bus
    [Documentation]    SPDMGetSignedMeasurements for test_mctp via spdmtool: base64
    ...                measurements and the DSP0274 algorithm names (3 lines).
    Run On Console
    ...    spdmtool dbus-measurements test_mctp | grep -c -e '^signed measurements: [A-Za-z0-9+/=]\\{8,\\}$' -e '^hashing algorithm: TPM_ALG_SHA_' -e '^signing algorithm: TPM_ALG_'
    ...    ^3\\s*$

SPDM Over MCTP On The Emulated Kernel
    [Documentation]    spdmtool over AF_MCTP to the loopback responder at EID 8.
    Run On Console
    ...    spdmtool attest --transport mctp --net 1 --eid 8 --trust-anchor /run/spdm-test-responder/mctp.pem
    ...    Success
