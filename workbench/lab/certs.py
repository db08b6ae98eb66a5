"""A small PKI: one CA and one server leaf, for the lab and for the proxy a real charger meets.

Everything is generated fresh on each call into a directory the caller owns. The CA certificate
is what clients (chargers) trust; the leaf serves the given names and addresses (by default
127.0.0.1, ::1 and localhost). Keys are EC P-256 (or RSA 2048 for chargers that need it) with
SHA-256 signatures, accepted by OpenSSL's TLS 1.2 defaults. The CA's private key is never
written (nothing else can be signed with it later); the leaf's key files are mode 0600 and never
logged. :func:`make_lab_pki` is the lab's throw-away variant, :func:`make_pki` the general one
behind ``ocpp-workbench certs``.
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
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# Certificates are backdated a little so a peer with a slightly slow clock still accepts them.
_BACKDATE = dt.timedelta(hours=1)
_VALIDITY = dt.timedelta(days=30)
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")
KEY_TYPES = ("ec", "rsa")
"""``ec``: P-256 (the default); ``rsa``: 2048 bits, for TLS stacks without ECDSA."""


@dataclass(frozen=True)
class PKIFileNames:
    """File names (inside the PKI directory) of the four PEM files a PKI writes."""

    ca_cert: str
    server_cert: str
    server_key: str
    server_combined: str

    def all(self) -> tuple[str, ...]:
        return (self.ca_cert, self.server_cert, self.server_key, self.server_combined)


LAB_FILE_NAMES = PKIFileNames("lab-ca.pem", "lab-server.pem", "lab-server-key.pem", "lab-server-combined.pem")
PROXY_FILE_NAMES = PKIFileNames("ca.pem", "proxy-cert.pem", "proxy-key.pem", "proxy-key-and-cert.pem")
"""What ``ocpp-workbench certs`` writes: the CA chargers trust, the proxy's certificate and key,
and key + certificate in one file for mitmproxy's ``certs`` option."""


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
        return ServerCertificate(self.server_cert, self.server_key).server_ssl_context()


@dataclass(frozen=True)
class ServerCertificate:
    """A server certificate (chain) and its key from PEM files, e.g. what ``ocpp-workbench certs``
    wrote; what the lab CSMS presents when it is not given a whole :class:`LabPKI`."""

    cert: Path
    key: Path | None = None
    """None when ``cert`` holds the key too."""

    def server_ssl_context(self) -> ssl.SSLContext:
        """A server context presenting the certificate, TLS 1.2 minimum."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(certfile=str(self.cert), keyfile=None if self.key is None else str(self.key))
        return context


def _subject_alt_names(hosts: Sequence[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def _new_key(key_type: str) -> ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey:
    if key_type == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    raise ValueError(f"key type must be one of {', '.join(KEY_TYPES)}, not {key_type!r}")


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` readable by the owner only (0600), replacing any old file."""
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)


def make_lab_pki(directory: Path, hosts: Sequence[str] = LOOPBACK_HOSTS) -> LabPKI:
    """Generate a fresh lab CA and a server leaf for ``hosts`` into ``directory`` (created if needed),
    valid for 30 days. Returns the :class:`LabPKI` naming the files. Existing files of a previous
    call are replaced.
    """
    return make_pki(directory, hosts)


def make_pki(
    directory: Path,
    hosts: Sequence[str] = LOOPBACK_HOSTS,
    *,
    file_names: PKIFileNames = LAB_FILE_NAMES,
    organization: str = "ocpp-workbench lab",
    validity: dt.timedelta = _VALIDITY,
    key_type: str = "ec",
) -> LabPKI:
    """Generate a CA and a server leaf whose SANs are ``hosts`` (IP addresses become IP SANs,
    names DNS SANs; the first is also the leaf's common name) into ``directory``.

    ``validity`` counts from now (the certificates are backdated an hour for slow clocks).
    Existing files of the same names are replaced; callers that must not lose a CA check first.
    """
    if not hosts:
        raise ValueError("a PKI needs at least one host name or address")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.timezone.utc)
    not_before, not_after = now - _BACKDATE, now + validity

    ca_key = _new_key(key_type)
    ca_name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{organization} CA"),
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

    server_key = _new_key(key_type)
    server_name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
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
        ca_cert=directory / file_names.ca_cert,
        server_cert=directory / file_names.server_cert,
        server_key=directory / file_names.server_key,
        server_combined=directory / file_names.server_combined,
    )
    pki.ca_cert.write_bytes(ca_pem)
    pki.server_cert.write_bytes(server_pem)
    _write_private(pki.server_key, key_pem)
    _write_private(pki.server_combined, key_pem + server_pem)
    return pki
