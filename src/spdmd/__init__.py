"""SPDM requester library, attestation daemon and tools for OpenBMC."""

__version__ = "0.1.0"
