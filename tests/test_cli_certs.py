"""``ocpp-workbench certs``: the files, their modes, the SANs, the printed trust line, and a real
TLS 1.2 handshake on loopback against a client that trusts only the written CA."""

from __future__ import annotations

import ipaddress
import socket
import ssl
import stat
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from workbench.cli import main
from workbench.lab.certs import ServerCertificate


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(["certs", *argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _handshake(cert: Path, key: Path, ca: Path, server_hostname: str) -> str:
    """One TLS handshake over 127.0.0.1 with hostname checking; returns the client's TLS version."""
    server_context = ServerCertificate(cert, key).server_ssl_context()
    client_context = ssl.create_default_context(cafile=str(ca))
    client_context.minimum_version = ssl.TLSVersion.TLSv1_2
    client_context.maximum_version = ssl.TLSVersion.TLSv1_2
    with socket.socket() as listener:
        listener.settimeout(5)
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)

        def serve() -> None:
            try:
                connection, _ = listener.accept()
                with server_context.wrap_socket(connection, server_side=True) as tls:
                    tls.recv(5)
            except (ssl.SSLError, OSError):
                pass

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        try:
            with socket.create_connection(listener.getsockname(), timeout=5) as raw, \
                    client_context.wrap_socket(raw, server_hostname=server_hostname) as tls:
                tls.sendall(b"hello")
                return str(tls.version())
        finally:
            thread.join(timeout=5)


def test_writes_ca_and_proxy_certificate_with_ip_and_dns_names(tmp_path: Path, capsys) -> None:
    out = tmp_path / "pki"
    status, stdout, stderr = _run(capsys, "--out", str(out), "--host", "192.168.1.10",
                                  "--host", "charger-gw.example.net")
    assert status == 0, stderr
    for name in ("ca.pem", "proxy-cert.pem", "proxy-key.pem", "proxy-key-and-cert.pem"):
        assert (out / name).is_file(), name
    assert stat.S_IMODE((out / "proxy-key.pem").stat().st_mode) == 0o600
    assert stat.S_IMODE((out / "proxy-key-and-cert.pem").stat().st_mode) == 0o600
    assert not any("PRIVATE KEY" in (out / name).read_text() for name in ("ca.pem", "proxy-cert.pem"))
    assert "PRIVATE KEY" not in stdout + stderr

    leaf = x509.load_pem_x509_certificate((out / "proxy-cert.pem").read_bytes())
    ca = x509.load_pem_x509_certificate((out / "ca.pem").read_bytes())
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(names.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address("192.168.1.10"), ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")}
    assert set(names.get_values_for_type(x509.DNSName)) == {"charger-gw.example.net", "localhost"}
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    leaf.verify_directly_issued_by(ca)
    assert isinstance(leaf.public_key(), ec.EllipticCurvePublicKey)
    days = (leaf.not_valid_after_utc - leaf.not_valid_before_utc).days
    assert 365 <= days <= 366

    # The line that says what the charger must trust names the CA file and its fingerprint.
    trust = [line for line in stdout.splitlines() if "must trust" in line]
    assert len(trust) == 1 and str(out / "ca.pem") in trust[0] and "SHA-256" in trust[0]
    assert "wss://192.168.1.10:" in trust[0]


@pytest.mark.network
def test_a_client_trusting_only_the_ca_accepts_the_proxy_certificate(tmp_path: Path, capsys) -> None:
    out = tmp_path / "pki"
    assert _run(capsys, "--out", str(out), "--host", "proxy.example.net")[0] == 0
    cert, key, ca = out / "proxy-cert.pem", out / "proxy-key.pem", out / "ca.pem"
    assert _handshake(cert, key, ca, "proxy.example.net") == "TLSv1.2"
    assert _handshake(cert, key, ca, "127.0.0.1") == "TLSv1.2"
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(cert, key, ca, "other.example.net")
    # The combined file alone (what mitmdump's certs option takes) serves too.
    assert _handshake(out / "proxy-key-and-cert.pem", None, ca, "localhost") == "TLSv1.2"


def test_rsa_keys_on_request(tmp_path: Path, capsys) -> None:
    out = tmp_path / "pki"
    assert _run(capsys, "--out", str(out), "--key-type", "rsa", "--days", "30")[0] == 0
    leaf = x509.load_pem_x509_certificate((out / "proxy-cert.pem").read_bytes())
    assert isinstance(leaf.public_key(), rsa.RSAPublicKey) and leaf.public_key().key_size == 2048


def test_refuses_to_replace_a_ca_without_overwrite(tmp_path: Path, capsys) -> None:
    out = tmp_path / "pki"
    assert _run(capsys, "--out", str(out))[0] == 0
    first_ca = (out / "ca.pem").read_bytes()
    status, stdout, stderr = _run(capsys, "--out", str(out))
    assert status == 2 and "--overwrite" in stderr and len(stderr.strip().splitlines()) == 1
    assert (out / "ca.pem").read_bytes() == first_ca
    assert _run(capsys, "--out", str(out), "--overwrite")[0] == 0
    assert (out / "ca.pem").read_bytes() != first_ca
    assert stat.S_IMODE((out / "proxy-key.pem").stat().st_mode) == 0o600


@pytest.mark.parametrize("argv, message", [
    (["--days", "0"], "--days"),
    (["--host", ""], "--host"),
    (["--host", "https://proxy.example.net:8443"], "neither an IP address nor a DNS name"),
])
def test_bad_arguments_are_one_line_errors(tmp_path: Path, capsys, argv: list[str], message: str) -> None:
    status, _, stderr = _run(capsys, "--out", str(tmp_path / "pki"), *argv)
    assert status == 2 and message in stderr and "Traceback" not in stderr
