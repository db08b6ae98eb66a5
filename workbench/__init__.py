"""ocpp-workbench: capture, analyse and replay OCPP 1.6J traffic between chargers and a CSMS.

The public API fits on one screen (pinned by tests/test_exported_members.py)::

    import workbench as wb
    cap = wb.load("site.ocpp.jsonl")        # or several files, a folder, or a foreign log
    cap.frames, cap.calls, cap.connections, cap.transactions, cap.meter_values, cap.status
    cap.findings                            # every registered check, run once
    wb.check(cap, "ev-energy")              # pass/fail per requirement of a profile (wb.profiles())
    wb.status_timeline(cap)                 # plotly figures: also session_view, energy_reconciliation,
                                            # sequence_chart, latency_by_action, meter_interval_histogram
    plan = wb.Plan.from_capture(cap, charge_point="CP-1", role="charger")   # replay (docs/replay.md)
    wb.replay.replay(plan, target="ws://127.0.0.1:9000/ocpp").verdict; wb.replay_diff(recorded, replayed)

Names are imported on first use (PEP 562): the capture addon runs inside mitmdump and imports
``workbench.capture``; it must not pay for pandas and jsonschema at proxy start-up.
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING, Any

# jsonschema (imported by the ocpp library) loads rfc3987_syntax when it is installed (jupyter's
# dependencies bring it) for its "iri" format checker, and that module builds a lark grammar at
# import: 1.6 s in every process. Neither ocpp nor the workbench checks formats, so keep jsonschema
# from loading it. Only if jsonschema is not loaded yet; `import rfc3987_syntax` then fails here.
if "jsonschema" not in sys.modules:
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]

__version__ = "0.1.0"

_LAZY = {
    "Capture": "workbench.analysis",
    "load": "workbench.fleet",
    "open_fleet": "workbench.fleet.dataset",
    "CaptureReader": "workbench.capture",
    "CaptureWriter": "workbench.capture",
    "Direction": "workbench.capture",
    "read_capture": "workbench.capture",
    "CHECKS": "workbench.checks.registry",
    "CheckConfig": "workbench.checks.registry",
    "Finding": "workbench.checks.registry",
    "check": "workbench.conformance",
    "profiles": "workbench.conformance",
    "CaptureFormatError": "workbench.errors",
    "CaptureWriteError": "workbench.errors",
    "Plan": "workbench.replay.plan",
    "replay_diff": "workbench.replay.diff",
    "UnsafeTargetError": "workbench.errors",
    "WorkbenchError": "workbench.errors",
    "energy_reconciliation": "workbench.plots",
    "latency_by_action": "workbench.plots",
    "meter_interval_histogram": "workbench.plots",
    "sequence_chart": "workbench.plots",
    "session_view": "workbench.plots",
    "status_timeline": "workbench.plots",
}

__all__ = sorted([*_LAZY, "__version__"])

if TYPE_CHECKING:
    from .analysis import Capture
    from .fleet import load
    from .fleet.dataset import open_fleet
    from .capture import CaptureReader, CaptureWriter, Direction, read_capture
    from .checks.registry import CHECKS, CheckConfig, Finding
    from .conformance import check, profiles
    from .errors import CaptureFormatError, CaptureWriteError, UnsafeTargetError, WorkbenchError
    from .plots import (energy_reconciliation, latency_by_action, meter_interval_histogram, sequence_chart,
                        session_view, status_timeline)
    from .replay.diff import replay_diff
    from .replay.plan import Plan


def __getattr__(name: str) -> Any:
    if name == "replay":  # the subpackage (wb.replay.replay(plan, ...)), imported on first use too
        return importlib.import_module("workbench.replay")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'workbench' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # next access skips this function
    return value


def __dir__() -> list[str]:
    return __all__
