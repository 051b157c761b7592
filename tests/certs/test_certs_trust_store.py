"""Trust anchors load from DER, PEM, PEM bundles and directories; a broken
trust store configuration is a clear usage error."""

from __future__ import annotations

import pytest

from spdmd.errors import UsageError
from spdmd.responder.pki import generate_pki
from spdmd.spdm import certs
from spdmd.spdm.constants import AsymAlgo, HashAlgo


@pytest.fixture(scope="module")
def two_pkis():
    return (
        generate_pki(AsymAlgo.ECDSA_P256, HashAlgo.SHA_256, root_label="store-a"),
        generate_pki(AsymAlgo.ECDSA_P384, HashAlgo.SHA_256, root_label="store-b"),
    )


def _anchors(store: certs.TrustStore, *pkis) -> bool:
    return all(store.contains(p.root_cert) for p in pkis)


def test_der_and_pem_files(tmp_path, two_pkis):
    """One DER and one PEM file given together both become anchors."""
    a, b = two_pkis
    store = certs.TrustStore.from_paths(
        [a.write_root(tmp_path / "a.der", "der"), b.write_root(tmp_path / "b.pem")]
    )
    assert len(store.certificates) == 2 and _anchors(store, a, b)


def test_pem_bundle(tmp_path, two_pkis):
    """A PEM bundle with several roots trusts each of them."""
    a, b = two_pkis
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(a.root_pem + b.root_pem + a.root_pem)
    store = certs.TrustStore.from_paths([str(bundle)])
    assert len(store.certificates) == 2 and _anchors(store, a, b)


def test_directory_skips_dot_files(tmp_path, two_pkis):
    """A directory of anchors loads every file except hidden ones."""
    a, b = two_pkis
    a.write_root(tmp_path / "a.pem")
    b.write_root(tmp_path / "b.crt", "der")
    (tmp_path / ".editor-swap").write_bytes(b"not a certificate")
    store = certs.TrustStore.from_paths([tmp_path])
    assert _anchors(store, a, b)
    assert store.sources[a.root_der] == str(tmp_path / "a.pem")


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        pytest.param(
            lambda d: [d / "missing.pem"],
            "cannot read trust anchor .*missing.pem",
            id="missing",
        ),
        pytest.param(lambda d: [d], "holds no certificate files", id="empty-dir"),
        pytest.param(lambda d: [], "no trust anchor given", id="nothing"),
        pytest.param(
            lambda d: [d / "junk.pem"] if (d / "junk.pem").write_text("hello") else [],
            "junk.pem is not a DER or PEM X.509 certificate",
            id="garbage",
        ),
        pytest.param(
            lambda d: (
                [d / "bad.pem"]
                if (d / "bad.pem").write_text(
                    "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
                )
                else []
            ),
            "bad.pem is not a DER or PEM",
            id="broken-pem",
        ),
    ],
)
def test_bad_configuration(tmp_path, setup, message):
    """Misconfigured trust stores fail loudly, naming the path."""
    paths = setup(tmp_path)
    with pytest.raises(UsageError, match=message):
        certs.TrustStore.from_paths(paths)
