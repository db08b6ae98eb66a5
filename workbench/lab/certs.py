"""A throw-away PKI for the lab: one CA and one server leaf for loopback names.

Everything is generated fresh on each call into a directory the caller owns (usually a
temporary one). The CA certificate is what clients trust; the leaf serves 127.0.0.1, ::1 and
localhost. Keys are EC P-256 with SHA-256 signatures: fast to generate, accepted by OpenSSL's
TLS 1.2 defaults. The private key files are written with mode 0600 and never logged.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# Certificates are backdated a little so a peer with a slightly slow clock still accepts them.
_BACKDATE = dt.timedelta(hours=1)
_VALIDITY = dt.timedelta(days=30)


@dataclass(frozen=True)
class LabPKI:
    """Paths of the lab's PEM files, and SSL contexts built from them."""

    directory: Path
    ca_cert: Path
    """PEM, the lab CA certificate (what clients trust)."""
    server_cert: Path
    """PEM, the leaf certificate for the loopback names, signed by the CA."""
    server_key: Path
    """PEM, the leaf's private key (file mode 0600)."""
    server_combined: Path
    """PEM, key then certificate in one file (what mitmproxy's ``certs`` option wants)."""

    def client_ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts only the lab CA, TLS 1.2 minimum, hostname checked."""
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(self.ca_cert))
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.check_hostname = True
        context.verify_mode = ssl.CERT_REQUIRED
        return context

    def server_ssl_context(self) -> ssl.SSLContext:
        """A server context presenting the leaf certificate, TLS 1.2 minimum."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(certfile=str(self.server_cert), keyfile=str(self.server_key))
        return context


def _subject_alt_names(hosts: Sequence[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` readable by the owner only (0600), replacing any old file."""
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)


def make_lab_pki(
    directory: Path, hosts: Sequence[str] = ("127.0.0.1", "::1", "localhost")
) -> LabPKI:
    """Generate a fresh CA and a server leaf for ``hosts`` into ``directory`` (created if needed).

    Returns the :class:`LabPKI` naming the files. Existing files of a previous call are replaced.
    """
    if not hosts:
        raise ValueError("make_lab_pki needs at least one host name or address")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.timezone.utc)
    not_before, not_after = now - _BACKDATE, now + _VALIDITY

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ocpp-workbench lab"),
            x509.NameAttribute(NameOID.COMMON_NAME, "ocpp-workbench lab CA"),
        ]
    )
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    server_key = ec.generate_private_key(ec.SECP256R1())
    server_name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ocpp-workbench lab"),
            x509.NameAttribute(NameOID.COMMON_NAME, hosts[0]),
        ]
    )
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(server_name)
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(_subject_alt_names(hosts)), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )

    pem = serialization.Encoding.PEM
    ca_pem = ca_cert.public_bytes(pem)
    server_pem = server_cert.public_bytes(pem)
    key_pem = server_key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )

    pki = LabPKI(
        directory=directory,
        ca_cert=directory / "lab-ca.pem",
        server_cert=directory / "lab-server.pem",
        server_key=directory / "lab-server-key.pem",
        server_combined=directory / "lab-server-combined.pem",
    )
    pki.ca_cert.write_bytes(ca_pem)
    pki.server_cert.write_bytes(server_pem)
    _write_private(pki.server_key, key_pem)
    _write_private(pki.server_combined, key_pem + server_pem)
    return pki
