"""The lab PKI: files, modes, and a real TLS 1.2 handshake on loopback with hostname checking."""

from __future__ import annotations

import socket
import ssl
import stat
import threading
from pathlib import Path

import pytest
from cryptography import x509
from lab_wire import ipv6_loopback_available

from workbench.lab.certs import make_lab_pki


def _handshake(pki, server_host: str, client_hostname: str, family: int) -> tuple[str, str]:
    """Run one TLS handshake over loopback; returns (client version, server-received bytes)."""
    server_context = pki.server_ssl_context()
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.settimeout(5)
    listener.bind((server_host, 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    received: list[bytes] = []

    def serve() -> None:
        try:
            connection, _ = listener.accept()
        except OSError:
            return
        with connection:
            connection.settimeout(5)
            try:
                with server_context.wrap_socket(connection, server_side=True) as tls:
                    received.append(tls.recv(16))
            except (ssl.SSLError, OSError):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        with socket.create_connection((server_host, port), timeout=5) as raw:
            with pki.client_ssl_context().wrap_socket(raw, server_hostname=client_hostname) as tls:
                tls.sendall(b"hello")
                version = tls.version()
    finally:
        thread.join(timeout=5)
        listener.close()
    return version, b"".join(received).decode()


def test_files_exist_with_private_key_mode_0600(tmp_path: Path) -> None:
    pki = make_lab_pki(tmp_path / "pki")
    for path in (pki.ca_cert, pki.server_cert, pki.server_key, pki.server_combined):
        assert path.is_file() and path.parent == tmp_path / "pki"
    assert stat.S_IMODE(pki.server_key.stat().st_mode) == 0o600
    assert stat.S_IMODE(pki.server_combined.stat().st_mode) == 0o600
    combined = pki.server_combined.read_text()
    assert "PRIVATE KEY" in combined and "BEGIN CERTIFICATE" in combined
    assert "PRIVATE KEY" not in pki.server_cert.read_text()


def test_leaf_names_loopback_and_is_signed_by_ca(tmp_path: Path) -> None:
    pki = make_lab_pki(tmp_path)
    leaf = x509.load_pem_x509_certificate(pki.server_cert.read_bytes())
    ca = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {str(ip) for ip in names.get_values_for_type(x509.IPAddress)} == {"127.0.0.1", "::1"}
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert leaf.issuer == ca.subject
    leaf.verify_directly_issued_by(ca)


def test_fresh_files_each_call(tmp_path: Path) -> None:
    first = make_lab_pki(tmp_path).ca_cert.read_bytes()
    second = make_lab_pki(tmp_path).ca_cert.read_bytes()
    assert first != second


@pytest.mark.network
def test_tls12_handshake_on_ipv4_with_hostname_check(tmp_path: Path) -> None:
    pki = make_lab_pki(tmp_path)
    version, received = _handshake(pki, "127.0.0.1", "127.0.0.1", socket.AF_INET)
    assert version in ("TLSv1.2", "TLSv1.3")
    assert received == "hello"


@pytest.mark.network
def test_client_rejects_a_name_not_in_the_leaf(tmp_path: Path) -> None:
    pki = make_lab_pki(tmp_path)
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(pki, "127.0.0.1", "charger.example", socket.AF_INET)


def test_contexts_require_tls12_and_verify_the_server(tmp_path: Path) -> None:
    pki = make_lab_pki(tmp_path)
    context = pki.client_ssl_context()
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert pki.server_ssl_context().minimum_version == ssl.TLSVersion.TLSv1_2
    assert context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED


@pytest.mark.network
@pytest.mark.skipif(not ipv6_loopback_available(), reason="this host cannot listen on ::1")
def test_ipv6_loopback_handshake(tmp_path: Path) -> None:
    pki = make_lab_pki(tmp_path)
    version, received = _handshake(pki, "::1", "::1", socket.AF_INET6)
    assert received == "hello" and version in ("TLSv1.2", "TLSv1.3")
