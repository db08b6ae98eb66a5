"""Fixtures for the lab tests: one throw-away PKI per test session."""

from __future__ import annotations

import pytest

from workbench.lab.certs import LabPKI, make_lab_pki


@pytest.fixture(scope="session")
def lab_pki(tmp_path_factory: pytest.TempPathFactory) -> LabPKI:
    return make_lab_pki(tmp_path_factory.mktemp("lab-pki"))
