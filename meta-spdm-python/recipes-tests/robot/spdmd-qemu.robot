*** Settings ***
Documentation     End-to-end checks of spdmd on a booted test image
...               (kas/evb-ast2600.yml:kas/test-image.yml), normally started
...               by scripts/qemu-bmc --robot. The image runs emulated
...               responders that spdmd attests from its test configuration:
...               test_good and test_wrong_key on TCP, and test_mctp on
...               AF_MCTP behind EID 8 on the loopback interface (a static
...               mctp entry), reached through the image's kernel.
...               robot --variable SSH_PORT:2222 --variable HTTPS_PORT:2443 spdmd-qemu.robot
Resource          bmc.resource
Suite Setup       BMC Run    true


*** Test Cases ***
Service Is Active
    [Documentation]    systemd reports the daemon's unit active.
    ${state}=    BMC Run    systemctl is-active ${SERVICE}
    Should Be Equal    ${state}    active

Bus Name Is Owned By spdmd
    [Documentation]    The bus name belongs to the process systemd started.
    ${pid}=    BMC Run    systemctl show -p MainPID --value ${SERVICE}
    ${owner}=    BMC Run    busctl status ${BUS_NAME} | sed -n 's/^PID=//p'
    Should Be Equal    ${owner}    ${pid}

Only One SPDM Daemon Is Installed
    [Documentation]    meta-phosphor's C++ spdm is absent (same bus name).
    BMC Run    test ! -e /usr/libexec/spdm/spdmd

Policy Object Is Served
    [Documentation]    The SPDM policy object exists with its defaults.
    ${enabled}=    BMC Property    ${CI_ROOT}    xyz.openbmc_project.Control.Security.SPDM.Policy    Enabled
    Should Be Equal    ${enabled}    b true

ComponentIntegrity Objects Appear For The Emulated Responders
    [Documentation]    Every configured responder gets an object under component_integrity.
    Wait Until Keyword Succeeds    ${ATTEST_TIMEOUT}    5 s
    ...    BMC Run    busctl tree --list ${BUS_NAME} | grep -x ${CI_ROOT}/${GOOD_ID}
    BMC Run    busctl tree --list ${BUS_NAME} | grep -x ${CI_ROOT}/${BAD_ID}
    BMC Run    busctl tree --list ${BUS_NAME} | grep -x ${CI_ROOT}/${MCTP_ID}

Good Responder Is Verified
    [Documentation]    test_good ends in Success, as SPDM with a negotiated version.
    Wait Until Keyword Succeeds    ${ATTEST_TIMEOUT}    5 s
    ...    Verification Status Should Be    ${GOOD_ID}    Success
    ${type}=    BMC Property    ${CI_ROOT}/${GOOD_ID}    ${CI_IFACE}    Type
    Should Be Equal    ${type}    s "xyz.openbmc_project.Attestation.ComponentIntegrity.SecurityTechnologyType.SPDM"
    ${version}=    BMC Property    ${CI_ROOT}/${GOOD_ID}    ${CI_IFACE}    TypeVersion
    Should Match Regexp    ${version}    ^s "1\\.[0-3]"$

Wrong Key Responder Is Failed
    [Documentation]    A device signing with a key its certificate does not hold
    ...                is Failed, and the journal names the step.
    Wait Until Keyword Succeeds    ${ATTEST_TIMEOUT}    5 s
    ...    Verification Status Should Be    ${BAD_ID}    Failed
    ${log}=    BMC Run    journalctl -b -u ${SERVICE} --no-pager -o cat | grep ${BAD_ID}
    Should Contain    ${log}    CHALLENGE

MCTP Responder Is Verified By spdmd Over The Kernel
    [Documentation]    test_mctp, the static mctp entry for EID 8 on lo, ends in
    ...                Success with a negotiated version. spdmd reached it over
    ...                AF_MCTP: its Transport names the MCTP address and its
    ...                process has no SPDMD_TEST_MCTP_MAP (the host-only test hook).
    Wait Until Keyword Succeeds    ${ATTEST_TIMEOUT}    5 s
    ...    Verification Status Should Be    ${MCTP_ID}    Success
    ${type}=    BMC Property    ${CI_ROOT}/${MCTP_ID}    ${CI_IFACE}    Type
    Should Be Equal    ${type}    s "xyz.openbmc_project.Attestation.ComponentIntegrity.SecurityTechnologyType.SPDM"
    ${version}=    BMC Property    ${CI_ROOT}/${MCTP_ID}    ${CI_IFACE}    TypeVersion
    Should Match Regexp    ${version}    ^s "1\\.[0-3]"$
    ${transport}=    BMC Property    ${CI_ROOT}/${MCTP_ID}    ${RESPONDER_IFACE}    Transport
    Should Be Equal    ${transport}    s "mctp net ${MCTP_NET} eid ${MCTP_EID}"
    BMC Run    pid=$(systemctl show -p MainPID --value ${SERVICE}); test -r /proc/$pid/environ && ! grep -q SPDMD_TEST_MCTP_MAP /proc/$pid/environ
    ${log}=    BMC Run    journalctl -b -u ${SERVICE} --no-pager -o cat | grep ${MCTP_ID}
    Should Contain    ${log}    Attested ${MCTP_ID} with SPDM

Signed Measurements Through D-Bus
    [Documentation]    SPDMGetSignedMeasurements answers with base64 measurements,
    ...                the DSP0274 algorithm names and the certificate object.
    Signed Measurements Through D-Bus Should Be Served    ${GOOD_ID}

Signed Measurements Over MCTP Through D-Bus
    [Documentation]    The same for test_mctp: spdmd fetches them over AF_MCTP.
    Signed Measurements Through D-Bus Should Be Served    ${MCTP_ID}

Signed Measurements Of A Failed Responder Are Refused
    [Documentation]    The failed device gives a D-Bus error, not empty strings.
    ${out}=    BMC Run    spdmtool dbus-measurements ${BAD_ID}; echo "rc=$?"
    Should Not Contain    ${out}    rc=0

SPDM Over The Kernel's MCTP Stack
    [Documentation]    spdmtool attests the AF_MCTP responder at EID 8 on lo:
    ...                the real AST2600 kernel routes, tags and delivers.
    ${json}=    BMC Run
    ...    spdmtool attest --transport mctp --net ${MCTP_NET} --eid ${MCTP_EID} --trust-anchor /run/spdm-test-responder/mctp.pem --json
    ${result}=    Evaluate    json.loads($json)    modules=json
    Should Be Equal    ${result}[status]    Success

Redfish Lists ComponentIntegrity Members
    [Documentation]    bmcweb turns the objects into Redfish members (where built in).
    ${json}=    Skip Unless Redfish Serves ComponentIntegrity
    ${ids}=    Evaluate    [m['@odata.id'].rsplit('/', 1)[-1] for m in $json['Members']]
    List Should Contain Value    ${ids}    ${GOOD_ID}
    List Should Contain Value    ${ids}    ${BAD_ID}
    List Should Contain Value    ${ids}    ${MCTP_ID}
    ${code}    ${member}=    Redfish Get    /redfish/v1/ComponentIntegrity/${GOOD_ID}
    Should Be Equal    ${code}    200
    Should Be Equal    ${member}[SPDMinfo][IdentityAuthentication][ResponderAuthentication][VerificationStatus]    Success

Signed Measurements Through Redfish
    [Documentation]    The SPDMGetSignedMeasurements action returns base64 measurements.
    Skip Unless Redfish Serves ComponentIntegrity
    ${code}    ${reply}=    Redfish Post
    ...    /redfish/v1/ComponentIntegrity/${GOOD_ID}/Actions/ComponentIntegrity.SPDMGetSignedMeasurements
    ...    {"Nonce": "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"}
    Should Be Equal    ${code}    200
    Should Not Be Empty    ${reply}[SignedMeasurements]
    Should Match Regexp    ${reply}[HashingAlgorithm]    ^TPM_ALG_SHA_


*** Keywords ***
Signed Measurements Through D-Bus Should Be Served
    [Documentation]    SPDMGetSignedMeasurements of a verified responder, via
    ...                spdmtool dbus-measurements: base64 measurements, the
    ...                DSP0274 algorithm names and the certificate object.
    [Arguments]    ${id}
    Wait Until Keyword Succeeds    ${ATTEST_TIMEOUT}    5 s
    ...    Verification Status Should Be    ${id}    Success
    ${json}=    BMC Run    spdmtool dbus-measurements --json ${id}
    ${reply}=    Evaluate    json.loads($json)    modules=json
    Should Match Regexp    ${reply}[hashing_algorithm]    ^TPM_ALG_SHA_
    Should Match Regexp    ${reply}[signing_algorithm]    ^TPM_ALG_
    Should Not Be Empty    ${reply}[signed_measurements]
    Evaluate    base64.b64decode($reply['signed_measurements'], validate=True)    modules=base64
    Should Start With    ${reply}[certificate]    /xyz/openbmc_project/certs/devices/${id}/
