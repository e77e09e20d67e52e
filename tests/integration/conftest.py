"""Fixtures for the Rampart end-to-end suite.

`rampart`            module-scoped server (not --dev, deterministic root credentials via env),
                     shared by the tests of one module that don't interfere with each other.
`fresh_rampart`      function-scoped server of the same kind, for tests that restart/kill/reset.
`server_factory`     function-scoped factory for servers with other options (dev, generated
                     credentials, TLS, ...). Every server made by a factory is SIGKILLed at teardown.
`tls_cert`           a self-signed certificate/key for 127.0.0.1.

The server object (rampart_testlib.RampartServer) has: endpoint, creds (root), data_dir,
log_path, client(service, creds=None, **config), unsigned_client(service), cli(*args, creds=None),
query(...)/json_call(...) for raw signed HTTP, restart(), stop(), kill9().

On a failing test the tail of every live server's log (stdout+stderr) is attached to the report.
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
from pathlib import Path

import pytest

from rampart_testlib import RampartServer, live_servers

DEFAULT_TEST_TIMEOUT = 180  # seconds, per test (pytest-timeout)


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes more than a few seconds")


def pytest_collection_modifyitems(config, items):
    if not config.pluginmanager.hasplugin("timeout"):
        return
    for item in items:
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(DEFAULT_TEST_TIMEOUT))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for s in live_servers():
            rep.sections.append(
                (f"rampart log [{s.name}] {s.log_path} (last 200 lines)", s.log_tail(200))
            )


class _Factory:
    def __init__(self, base: Path, label: str):
        self.base = base
        self.label = label
        self.servers: list[RampartServer] = []

    def __call__(self, *, start: bool = True, name: str | None = None, **kw) -> RampartServer:
        name = name or f"{self.label}-{len(self.servers)}"
        s = RampartServer(self.base / name, name=name, **kw)
        self.servers.append(s)
        if start:
            s.start()
        return s

    def close(self) -> None:
        """Stop every server; SIGTERM must end a running server with exit code 0."""
        bad = []
        for s in self.servers:
            try:
                if s.is_running():
                    rc = s.stop()
                    if rc != 0:
                        bad.append(f"{s.name}: exit code {rc} on SIGTERM\n{s.log_tail(60)}")
            except AssertionError as e:  # did not stop in time (then it was SIGKILLed)
                bad.append(f"{s.name}: {e}\n{s.log_tail(60)}")
            finally:
                s.close()
        assert not bad, "unclean shutdown at teardown:\n" + "\n\n".join(bad)


@pytest.fixture
def server_factory(tmp_path):
    f = _Factory(tmp_path, "srv")
    try:
        yield f
    finally:
        f.close()


@pytest.fixture(scope="module")
def module_server_factory(tmp_path_factory, request):
    mod = request.module.__name__.rsplit(".", 1)[-1]
    f = _Factory(tmp_path_factory.mktemp(mod), mod)
    try:
        yield f
    finally:
        f.close()


@pytest.fixture(scope="module")
def rampart(module_server_factory) -> RampartServer:
    """A running non-dev server with deterministic root credentials, shared by a module."""
    return module_server_factory(name="shared")


@pytest.fixture
def fresh_rampart(server_factory) -> RampartServer:
    """A running non-dev server of its own, for tests that restart, kill or wipe it."""
    return server_factory(name="fresh")


@pytest.fixture
def iam(rampart):
    return rampart.client("iam")


@pytest.fixture
def sts(rampart):
    return rampart.client("sts")


@pytest.fixture
def cloudtrail(rampart):
    return rampart.client("cloudtrail")


@pytest.fixture(scope="session")
def tls_cert(tmp_path_factory) -> tuple[Path, Path]:
    """Self-signed certificate (CA:true, SAN 127.0.0.1/localhost) and its PKCS#8 key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    d = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = _dt.datetime.now(_dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _dt.timedelta(days=1))
        .not_valid_after(now + _dt.timedelta(days=7))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(digital_signature=True, key_cert_sign=True, content_commitment=False,
                          key_encipherment=False, data_encipherment=False, key_agreement=False,
                          crl_sign=False, encipher_only=False, decipher_only=False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = d / "cert.pem", d / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path
