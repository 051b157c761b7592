"""The objects spdmd publishes, exactly as docs/dbus-api.md lists them.

Each class only holds properties and forwards method calls and writes to
the daemon core (`spdmd.daemon.service.Daemon`), which owns the state. The
MeasurementSet method's `size` arguments take the width of the machine's
size_t, chosen at start, so the responder class is built per width.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import dbus
import dbus.service
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from spdmd.daemon import dbuserrors
from spdmd.daemon.bus import Prop, PropertiesObject
from spdmd.daemon.policy import (
    BOOL_PROPERTIES,
    POLICY_IFACE,
    Policy,
    PolicyError,
    validate,
)

if TYPE_CHECKING:
    from spdmd.daemon.service import Daemon

__all__ = [
    "ASSOC_IFACE",
    "BUS_NAME",
    "CERT_IFACE",
    "CERT_ROOT",
    "CI_IFACE",
    "CI_ROOT",
    "IA_IFACE",
    "MS_IFACE",
    "RESPONDER_IFACE",
    "ROOT",
    "TC_IFACE",
    "TC_ROOT",
    "CertificateObject",
    "TrustedComponentObject",
    "add_policy_interface",
    "certificate_properties",
    "responder_class",
]

BUS_NAME = "xyz.openbmc_project.spdmd"
ROOT = "/xyz/openbmc_project"
CI_ROOT = ROOT + "/component_integrity"
TC_ROOT = ROOT + "/trusted_components"
CERT_ROOT = ROOT + "/certs/devices"

CI_IFACE = "xyz.openbmc_project.Attestation.ComponentIntegrity"
IA_IFACE = "xyz.openbmc_project.Attestation.IdentityAuthentication"
MS_IFACE = "xyz.openbmc_project.Attestation.MeasurementSet"
ASSOC_IFACE = "xyz.openbmc_project.Association.Definitions"
TC_IFACE = "xyz.openbmc_project.Inventory.Item.TrustedComponent"
CERT_IFACE = "xyz.openbmc_project.Certs.Certificate"
RESPONDER_IFACE = "xyz.openbmc_project.spdmd.Responder1"

SPDM_TYPE = CI_IFACE + ".SecurityTechnologyType.SPDM"
STATUS_PREFIX = IA_IFACE + ".VerificationStatus."


def status_value(short: str) -> str:
    """ "Success" -> the enum string bmcweb expects."""
    return STATUS_PREFIX + short


class ResponderBase(PropertiesObject):
    """/xyz/openbmc_project/component_integrity/<id>."""

    def __init__(
        self,
        conn: dbus.connection.Connection,
        device_id: str,
        core: Daemon,
        transport: str,
        enabled: bool,
    ) -> None:
        super().__init__(conn, f"{CI_ROOT}/{device_id}")
        self.device_id = device_id
        self._core = core
        self.add_interface(
            CI_IFACE,
            {
                "Enabled": Prop("b", enabled, writable=True, on_set=self._set_enabled),
                "Type": Prop("s", SPDM_TYPE),
                "TypeVersion": Prop("s", ""),
                "LastUpdated": Prop("t", 0),
            },
        )
        self.add_interface(
            IA_IFACE,
            {"ResponderVerificationStatus": Prop("s", status_value("Unknown"))},
        )
        self.add_interface(ASSOC_IFACE, {"Associations": Prop("a(sss)", [])})
        self.add_interface(
            RESPONDER_IFACE,
            {
                "Transport": Prop("s", transport),
                "Connectivity": Prop("s", "Available"),
                "Attesting": Prop("b", False),
                "FailedStep": Prop("s", ""),
                "FailureReason": Prop("s", ""),
                "HashingAlgorithm": Prop("s", ""),
                "SigningAlgorithm": Prop("s", ""),
                "LeafSubject": Prop("s", ""),
            },
        )

    def _set_enabled(self, value: bool) -> bool:
        self._core.responder_enabled_changed(self.device_id, value)
        return value

    @dbus.service.method(RESPONDER_IFACE, in_signature="", out_signature="")
    def Reattest(self) -> None:
        self._core.reattest_request(self.device_id)


_CLASSES: dict[str, type[ResponderBase]] = {}


def responder_class(size_signature: str) -> type[ResponderBase]:
    """The responder object class whose `size` arguments are `u` or `t`."""
    if size_signature not in ("u", "t"):
        raise ValueError("size_t signature must be 'u' or 't'")
    cls = _CLASSES.get(size_signature)
    if cls is not None:
        return cls

    def SPDMGetSignedMeasurements(
        self: ResponderBase,
        MeasurementIndices: list[int],
        Nonce: str,
        SlotId: int,
        reply: Callable[..., None],
        error: Callable[[Exception], None],
    ) -> None:
        self._core.signed_measurements_request(
            self.device_id,
            [int(i) for i in MeasurementIndices],
            str(Nonce),
            int(SlotId),
            reply,
            error,
        )

    method = dbus.service.method(
        MS_IFACE,
        in_signature=f"a{size_signature}s{size_signature}",
        out_signature="osssss",
        async_callbacks=("reply", "error"),
    )(SPDMGetSignedMeasurements)
    # dbus-python keys its method tables by module and class name, so each
    # width needs its own class name.
    cls = type(
        f"Responder_{size_signature}",
        (ResponderBase,),
        {"SPDMGetSignedMeasurements": method, "__module__": __name__},
    )
    _CLASSES[size_signature] = cls
    return cls


class TrustedComponentObject(PropertiesObject):
    """/xyz/openbmc_project/trusted_components/<id>."""

    def __init__(
        self, conn: dbus.connection.Connection, device_id: str, attach_type: str
    ) -> None:
        super().__init__(conn, f"{TC_ROOT}/{device_id}")
        self.add_interface(TC_IFACE, {"TrustedComponentType": Prop("s", attach_type)})
        self.add_interface(ASSOC_IFACE, {"Associations": Prop("a(sss)", [])})


# Redfish KeyUsage names (DSP2046 "KeyUsage" enum) by cryptography attribute.
_KEY_USAGE_NAMES = (
    ("digital_signature", "DigitalSignature"),
    ("content_commitment", "NonRepudiation"),
    ("key_encipherment", "KeyEncipherment"),
    ("data_encipherment", "DataEncipherment"),
    ("key_agreement", "KeyAgreement"),
    ("key_cert_sign", "KeyCertSign"),
    ("crl_sign", "CRLSigning"),
)
_EKU_NAMES = {
    x509.oid.ExtendedKeyUsageOID.SERVER_AUTH: "ServerAuthentication",
    x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH: "ClientAuthentication",
    x509.oid.ExtendedKeyUsageOID.CODE_SIGNING: "CodeSigning",
    x509.oid.ExtendedKeyUsageOID.EMAIL_PROTECTION: "EmailProtection",
    x509.oid.ExtendedKeyUsageOID.TIME_STAMPING: "Timestamping",
    x509.oid.ExtendedKeyUsageOID.OCSP_SIGNING: "OCSPSigning",
}


def _name(name: x509.Name) -> str:
    # "C=US, O=Example, CN=Device": the certificate's own order, as
    # phosphor-certificate-manager prints Issuer and Subject.
    return ", ".join(rdn.rfc4514_string() for rdn in name.rdns)


def _key_usage(cert: x509.Certificate) -> list[str]:
    out: list[str] = []
    try:
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        ku = None
    if ku is not None:
        out += [label for attr, label in _KEY_USAGE_NAMES if getattr(ku, attr)]
        if ku.key_agreement:
            if ku.encipher_only:
                out.append("EncipherOnly")
            if ku.decipher_only:
                out.append("DecipherOnly")
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        eku = None
    if eku is not None:
        out += [_EKU_NAMES[oid] for oid in eku if oid in _EKU_NAMES]
    return out


def _ms(dt: Any) -> int:
    return max(0, int(dt.timestamp() * 1000))


def certificate_properties(certificates: list[x509.Certificate]) -> dict[str, Any]:
    """Certs.Certificate values for an SPDM chain (root first, leaf last).

    CertificateString is the whole chain in PEM, leaf first as in a TLS
    chain file; the other properties describe the leaf.
    """
    leaf = certificates[-1]
    pem = "".join(
        c.public_bytes(serialization.Encoding.PEM).decode()
        for c in reversed(certificates)
    )
    return {
        "CertificateString": pem,
        "KeyUsage": _key_usage(leaf),
        "Issuer": _name(leaf.issuer),
        "Subject": _name(leaf.subject),
        "ValidNotAfter": _ms(leaf.not_valid_after_utc),
        "ValidNotBefore": _ms(leaf.not_valid_before_utc),
    }


class CertificateObject(PropertiesObject):
    """/xyz/openbmc_project/certs/devices/<id>/<slot>."""

    def __init__(
        self,
        conn: dbus.connection.Connection,
        device_id: str,
        slot: int,
        props: dict[str, Any],
    ) -> None:
        super().__init__(conn, f"{CERT_ROOT}/{device_id}/{slot}")
        self.add_interface(
            CERT_IFACE,
            {
                "CertificateString": Prop("s", props["CertificateString"]),
                "KeyUsage": Prop("as", props["KeyUsage"]),
                "Issuer": Prop("s", props["Issuer"]),
                "Subject": Prop("s", props["Subject"]),
                "ValidNotAfter": Prop("t", props["ValidNotAfter"]),
                "ValidNotBefore": Prop("t", props["ValidNotBefore"]),
            },
        )
        self.add_interface(ASSOC_IFACE, {"Associations": Prop("a(sss)", [])})


def add_policy_interface(
    obj: PropertiesObject, policy: Policy, on_change: Callable[[str, Any], None]
) -> None:
    """Publish `policy` on `obj`; every accepted Set calls on_change(name, value)."""

    def setter(name: str) -> Callable[[Any], Any]:
        def on_set(value: Any) -> Any:
            try:
                value = validate(name, value)
            except PolicyError as exc:
                if exc.unsupported:
                    text = (
                        dbuserrors.TEXT_NO_SESSIONS
                        if name == "SecureSessionEnabled"
                        else dbuserrors.TEXT_NO_EXTENDED
                    )
                    raise dbuserrors.UnsupportedRequest(text) from None
                raise dbuserrors.InvalidArgument(
                    dbuserrors.TEXT_BAD_POLICY_VALUE
                ) from None
            on_change(name, value)
            return value

        return on_set

    props: dict[str, Prop] = {}
    for name, value in policy.to_json().items():
        signature = "b" if name in BOOL_PROPERTIES else "av"
        props[name] = Prop(signature, value, writable=True, on_set=setter(name))
    obj.add_interface(POLICY_IFACE, props)
