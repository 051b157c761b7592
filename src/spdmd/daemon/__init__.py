"""The spdmd daemon: D-Bus objects, policy, discovery and scheduling (see docs/daemon.md)."""
