"""The small exception hierarchy. Protocol faults are data (rows, findings), not exceptions:
these are for I/O problems and API misuse only."""


class WorkbenchError(Exception):
    """Base of every error the workbench raises on purpose."""


class CaptureFormatError(WorkbenchError):
    """A file is not a capture this version can read (no header, unknown or newer version)."""


class CaptureWriteError(WorkbenchError):
    """A capture record could not be written; the proxy stops rather than pass traffic unrecorded."""


class UnsafeTargetError(WorkbenchError):
    """A network target outside loopback was given without the explicit flag that allows it."""
