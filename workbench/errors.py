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


class NewerFormatError(CaptureFormatError):
    """A capture written by a newer ocpp-workbench, in a format_version this one cannot read."""


class NoFramesError(WorkbenchError):
    """The input holds no OCPP frame at all: nothing to analyse, import or export (exit 2, not "0 frames")."""

    def __init__(self, sources: list[str], detail: str = "") -> None:
        names = ", ".join(sources[:3]) + (f" and {len(sources) - 3} more" if len(sources) > 3 else "")
        super().__init__(f"no OCPP frame in {names}" + (f" ({detail})" if detail else ""))
