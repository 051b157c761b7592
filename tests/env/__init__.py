"""Test environment shared by the daemon tests and scripts/demo.

A private system-bus-like dbus-daemon (dbus_daemon), stand-ins for the
ObjectMapper (mapper), mctpd (mctpd) and Entity Manager (entity_manager),
and helpers to run them and the daemon as processes (processes). See
docs/testing.md.
"""
