"""The embedded lab: a throw-away PKI, a real OCPP 1.6J CSMS and a charger simulator.

Used by ``ocpp-workbench demo``, the end-to-end proxy tests and the notebooks. Every peer speaks
real WebSockets over real TLS 1.2 on loopback, through the ``ocpp`` library. See docs/lab.md.
"""

from .certs import LabPKI, make_lab_pki
from .charger import (
    FAULT_NAMES,
    ChargerConfig,
    ChargerConnectError,
    Fault,
    LabCharger,
    run_lab_chargers,
    write_chargers_truth,
)
from .csms import LabCSMS
from .truth import GroundTruth, InjectedFault, SessionTruth, read_truth, truth_path, write_truth

__all__ = [
    "FAULT_NAMES",
    "ChargerConfig",
    "ChargerConnectError",
    "Fault",
    "GroundTruth",
    "InjectedFault",
    "LabCSMS",
    "LabCharger",
    "LabPKI",
    "SessionTruth",
    "make_lab_pki",
    "read_truth",
    "run_lab_chargers",
    "truth_path",
    "write_chargers_truth",
    "write_truth",
]
