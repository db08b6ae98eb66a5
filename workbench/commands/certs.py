"""``ocpp-workbench certs``: a CA and a proxy certificate for putting the proxy in front of a real charger.

Writes into ``--out``: ``ca.pem`` (what the charger must trust), ``proxy-cert.pem`` and
``proxy-key.pem`` (for ``ocpp-workbench proxy --cert/--key``) and ``proxy-key-and-cert.pem`` (for
mitmdump's ``certs`` option). Key files are mode 0600; the CA's key is never written. Built on
:func:`workbench.lab.certs.make_pki`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import re
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from ..errors import WorkbenchError
from ..lab.certs import KEY_TYPES, LOOPBACK_HOSTS, PROXY_FILE_NAMES, make_pki

NAME = "certs"
HELP = "Make a CA and a proxy certificate (IP and DNS names) a real charger can be told to trust."
DEFAULT_DAYS = 365
# Letters, digits, hyphens and dots; a leading "*." for a wildcard certificate.
_DNS_NAME = re.compile(r"(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, type=Path, metavar="DIR",
                        help="directory for ca.pem, proxy-cert.pem, proxy-key.pem, proxy-key-and-cert.pem")
    parser.add_argument("--host", action="append", default=[], metavar="NAME|IP",
                        help="a name or address the charger uses to reach the proxy (repeatable); "
                             "127.0.0.1, ::1 and localhost are always included")
    parser.add_argument("--days", type=int, default=DEFAULT_DAYS,
                        help=f"validity in days (default {DEFAULT_DAYS})")
    parser.add_argument("--key-type", choices=KEY_TYPES, default="ec",
                        help="ec: P-256 (default); rsa: 2048 bits, for chargers without ECDSA")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace existing files in --out (a charger that trusts the old CA then refuses the proxy)")


def subject_hosts(given: list[str]) -> list[str]:
    """The SANs: the given names first (the first is the common name), then loopback, no repeats."""
    hosts: list[str] = []
    for host in [*given, *LOOPBACK_HOSTS]:
        host = host.strip().strip("[]")
        if not host:
            raise WorkbenchError("--host must not be empty")
        if not _is_ip(host) and not _DNS_NAME.fullmatch(host):
            raise WorkbenchError(f"--host {host!r} is neither an IP address nor a DNS name "
                                 "(give the bare name or address, without scheme, port or path)")
        if host not in hosts:
            hosts.append(host)
    return hosts


def ca_fingerprint(path: Path) -> str:
    """SHA-256 fingerprint of a PEM certificate, ``AB:CD:...`` (what charger UIs often show)."""
    certificate = x509.load_pem_x509_certificate(path.read_bytes())
    return certificate.fingerprint(hashes.SHA256()).hex(":").upper()


def run(args: argparse.Namespace) -> int:
    if args.days < 1:
        raise WorkbenchError("--days must be at least 1")
    hosts = subject_hosts(args.host)
    out: Path = args.out
    if out.exists() and not out.is_dir():
        raise WorkbenchError(f"--out {out} is a file, not a directory")
    existing = [name for name in PROXY_FILE_NAMES.all() if (out / name).exists()]
    if existing and not args.overwrite:
        raise WorkbenchError(f"{out} already holds {', '.join(existing)}; pass --overwrite to replace them "
                             "(chargers that trust the old CA will then refuse the proxy)")
    pki = make_pki(out, hosts, file_names=PROXY_FILE_NAMES, organization="ocpp-workbench",
                   validity=dt.timedelta(days=args.days), key_type=args.key_type)
    until = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=args.days)).date().isoformat()
    print(f"proxy certificate: {pki.server_cert} (key {pki.server_key}, mode 0600), "
          f"valid until {until} for {', '.join(hosts)}")
    print(f"mitmdump certs file: {pki.server_combined} (key and certificate, mode 0600)")
    print(f"The charger must trust the CA certificate {pki.ca_cert} "
          f"(SHA-256 {ca_fingerprint(pki.ca_cert)}) and connect to wss://{_url_host(hosts[0])}:PORT/...")
    return 0


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
