"""Fixtures for the replay tests: small factory captures and a throw-away lab PKI."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.lab.certs import LabPKI, make_lab_pki
from workbench.testing import call, clean_session_script, make_capture, result


@pytest.fixture(scope="session")
def lab_pki(tmp_path_factory: pytest.TempPathFactory) -> LabPKI:
    return make_lab_pki(tmp_path_factory.mktemp("replay-pki"))


@pytest.fixture
def session_capture(tmp_path: Path) -> Path:
    """One charger, one clean session (transaction 1001, 5 MeterValues), and one CSMS request
    (ChangeConfiguration) answered Accepted, at 5 s."""
    script = clean_session_script(charge_s=300.0, sample_interval_s=60.0)
    script += [(5.0, "down", call("c1", "ChangeConfiguration", {"key": "HeartbeatInterval", "value": "60"})),
               (5.1, "up", result("c1", {"status": "Accepted"}))]
    script.sort(key=lambda entry: entry[0])
    return make_capture(tmp_path / "session.ocpp.jsonl", "CP-1", script, close_at_s=700.0)

