"""ocpp-workbench: capture, analyse and replay OCPP 1.6J traffic between chargers and a CSMS."""

__version__ = "0.1.0"

from .capture import CaptureReader, CaptureWriter, Direction, read_capture  # noqa: E402
from .errors import CaptureFormatError, CaptureWriteError, UnsafeTargetError, WorkbenchError  # noqa: E402

__all__ = [
    "CaptureFormatError",
    "CaptureReader",
    "CaptureWriteError",
    "CaptureWriter",
    "Direction",
    "UnsafeTargetError",
    "WorkbenchError",
    "__version__",
    "read_capture",
]
