"""TLS policies a CSMS may sit behind: versions and cipher suites (OpenSSL names).

Plain data (no pandas): the proxy's ``--tls-policy`` imports it inside mitmdump, and requirement R1 of
the ``ev-energy`` profile judges the charger leg's negotiated version and cipher against it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TlsPolicy:
    """What a server behind the policy offers: TLS versions (``TLSv1.2`` ...) and cipher suites."""

    name: str
    title: str
    versions: tuple[str, ...]
    ciphers: tuple[str, ...]


ELB_2018_06 = TlsPolicy(
    name="elb-2018-06",
    title="AWS ELBSecurityPolicy-TLS-1-2-Ext-2018-06",
    versions=("TLSv1.2",),
    # The policy's list as the ev.energy requirement document (R1) gives it, OpenSSL names, in its order.
    ciphers=(
        "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES128-SHA256",
        "ECDHE-RSA-AES128-SHA256", "ECDHE-ECDSA-AES128-SHA", "ECDHE-RSA-AES128-SHA",
        "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-ECDSA-AES256-SHA384",
        "ECDHE-RSA-AES256-SHA384", "ECDHE-RSA-AES256-SHA", "ECDHE-ECDSA-AES256-SHA", "AES128-GCM-SHA256",
        "AES128-SHA256", "AES128-SHA", "AES256-GCM-SHA384", "AES256-SHA256", "AES256-SHA",
    ),
)

TLS_POLICIES: dict[str, TlsPolicy] = {ELB_2018_06.name: ELB_2018_06}
"""Known policies by the name ``--tls-policy`` and profiles use."""
