"""ocpp-workbench: capture, analyse and replay OCPP 1.6J traffic between chargers and a CSMS.

The public API fits on one screen (pinned by tests/test_exported_members.py)::

    import workbench as wb
    cap = wb.load("site.ocpp.jsonl")        # or several files, a folder, or a foreign log
    cap.frames, cap.calls, cap.connections, cap.transactions, cap.meter_values, cap.status
    cap.findings                            # every registered check, run once
"""

__version__ = "0.1.0"

from .analysis import Capture, load  # noqa: E402
from .capture import CaptureReader, CaptureWriter, Direction, read_capture  # noqa: E402
from .checks.registry import CHECKS, CheckConfig, Finding  # noqa: E402
from .errors import CaptureFormatError, CaptureWriteError, UnsafeTargetError, WorkbenchError  # noqa: E402

__all__ = [
    "CHECKS",
    "Capture",
    "CaptureFormatError",
    "CaptureReader",
    "CaptureWriteError",
    "CaptureWriter",
    "CheckConfig",
    "Direction",
    "Finding",
    "UnsafeTargetError",
    "WorkbenchError",
    "__version__",
    "load",
    "read_capture",
]
