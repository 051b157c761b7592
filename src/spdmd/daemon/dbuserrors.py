"""Every D-Bus error the daemon sends, with its fixed text, in one place.

Callers raise these classes (dbus-python turns a raised `DBusException`
into an error reply with `_dbus_error_name`). The texts are short and
fixed so that tests and scripts can match them; the only variable part is
the step and reason of a device failure, which `device_failure` formats
as "<STEP> failed: <reason>".
"""

from __future__ import annotations

import dbus

from spdmd.errors import SpdmError, UsageError

__all__ = [
    "COMMON",
    "DBusError",
    "InternalFailure",
    "InvalidArgs",
    "InvalidArgument",
    "NotAllowed",
    "PropertyReadOnly",
    "Unavailable",
    "UnknownInterface",
    "UnknownProperty",
    "UnsupportedRequest",
    "WrongArguments",
    "device_failure",
    "from_spdm_error",
]

COMMON = "xyz.openbmc_project.Common.Error"


class DBusError(dbus.DBusException):
    """Base: a D-Bus error reply with a fixed name and a default text."""

    _dbus_error_name = "org.freedesktop.DBus.Error.Failed"
    text = "Failed"

    def __init__(self, text: str | None = None) -> None:
        super().__init__(text or self.text)


class UnknownInterface(DBusError):
    _dbus_error_name = "org.freedesktop.DBus.Error.UnknownInterface"
    text = "No such interface"


class UnknownProperty(DBusError):
    _dbus_error_name = "org.freedesktop.DBus.Error.UnknownProperty"
    text = "No such property"


class PropertyReadOnly(DBusError):
    _dbus_error_name = "org.freedesktop.DBus.Error.PropertyReadOnly"
    text = "Property is read-only"


class InvalidArgs(DBusError):
    """Set with a value whose D-Bus type is not the property's."""

    _dbus_error_name = "org.freedesktop.DBus.Error.InvalidArgs"
    text = "Wrong type for property"


class WrongArguments(DBusError):
    """A method call whose argument types differ from the declared ones."""

    _dbus_error_name = "org.freedesktop.DBus.Error.InvalidArgs"
    text = "Wrong argument types"


class InvalidArgument(DBusError):
    """A well-typed argument or property value that is out of range."""

    _dbus_error_name = f"{COMMON}.InvalidArgument"
    text = "Invalid argument"


class InternalFailure(DBusError):
    _dbus_error_name = f"{COMMON}.InternalFailure"
    text = "Internal failure"


class NotAllowed(DBusError):
    _dbus_error_name = f"{COMMON}.NotAllowed"
    text = "Not allowed"


class Unavailable(DBusError):
    _dbus_error_name = f"{COMMON}.Unavailable"
    text = "Unavailable"


class UnsupportedRequest(DBusError):
    _dbus_error_name = f"{COMMON}.UnsupportedRequest"
    text = "Unsupported request"


# Fixed texts, referenced by the code that raises them and by docs/dbus-api.md.
TEXT_BAD_INDICES = "Invalid MeasurementIndices: use unique values 0-254 or a single 255"
TEXT_BAD_NONCE = "Invalid Nonce: use 64 hexadecimal characters or an empty string"
TEXT_BAD_SLOT = "Invalid SlotId: use 0-7 or 15"
TEXT_NO_PUBLIC_KEY = "SlotId 15 (a provisioned public key) is not supported"
TEXT_POLICY_DISABLED = "SPDM is disabled by policy"
TEXT_RESPONDER_DISABLED = "Responder is disabled"
TEXT_NOT_PRESENT = "Responder is not present"
TEXT_BAD_POLICY_VALUE = "Invalid policy value"
TEXT_CANNOT_SAVE_RESPONDER = "Cannot save the responder settings"
TEXT_NO_SESSIONS = "Secure sessions are not supported"
TEXT_NO_EXTENDED = "Extended algorithms are not supported"


def device_failure(step: str | None, reason: str) -> InternalFailure:
    """InternalFailure naming the SPDM step that failed."""
    return InternalFailure(f"{step or 'TRANSPORT'} failed: {reason}")


def from_spdm_error(exc: SpdmError) -> DBusError:
    """Caller misuse -> InvalidArgument; anything the device did -> InternalFailure."""
    if isinstance(exc, UsageError):
        return InvalidArgument(exc.message)
    return device_failure(exc.step, exc.message)
