"""The ground-truth sidecar: what a simulator really did, next to the capture it produced.

``<capture>.truth.json`` holds, per charging session, the energy truly delivered (Wh) and the
meter readings reported, plus every fault deliberately injected. The lab charger and the
synthetic generator write it; tests and notebooks read it to check the analysis against the truth.

File format (version 1)::

    {"format": "ocpp-workbench-truth", "version": 1,
     "sessions": [{"charge_point_id", "connector_id", "transaction_id", "id_tag", "start_ts",
                   "stop_ts", "energy_wh", "meter_start_wh", "meter_stop_wh"}],
     "faults": [{"fault", "charge_point_id", "connector_id", "ts", "detail"}]}

Timestamps are ISO 8601 UTC strings ending in ``Z``; ``energy_wh`` is a float.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from ..capture.records import format_ts, parse_ts
from ..errors import WorkbenchError

TRUTH_FORMAT = "ocpp-workbench-truth"
TRUTH_VERSION = 1
TRUTH_SUFFIX = ".truth.json"


class TruthFormatError(WorkbenchError):
    """A file is not a ground-truth sidecar this version can read."""


@dataclass(frozen=True)
class SessionTruth:
    """One charging session as it really happened."""

    charge_point_id: str
    connector_id: int
    transaction_id: int | None
    """Id the CSMS assigned, or None when the CSMS never answered the StartTransaction."""
    id_tag: str
    start_ts: dt.datetime
    """When the session started (UTC, the StartTransaction timestamp)."""
    stop_ts: dt.datetime | None
    """When it stopped (UTC), None when still running at the end."""
    energy_wh: float
    """Energy truly delivered during the session (Wh)."""
    meter_start_wh: float
    """The register value reported as meterStart (Wh, as the meter holds it)."""
    meter_stop_wh: float | None
    """The register value reported as meterStop (Wh), None when not stopped."""


@dataclass(frozen=True)
class InjectedFault:
    """One fault a simulator was told to show, and when it showed it."""

    fault: str
    """Fault name, e.g. ``"reboot_during_transaction"`` or ``"kwh_as_wh"``."""
    charge_point_id: str
    connector_id: int | None
    ts: dt.datetime
    """When the fault took effect (UTC)."""
    detail: str = ""


@dataclass(frozen=True)
class GroundTruth:
    """The content of a sidecar file."""

    sessions: tuple[SessionTruth, ...]
    faults: tuple[InjectedFault, ...]

    def energy_by_transaction(self) -> dict[tuple[str, int], float]:
        """True energy (Wh) keyed by (charge_point_id, transaction_id), sessions with an id only."""
        return {
            (session.charge_point_id, session.transaction_id): session.energy_wh
            for session in self.sessions
            if session.transaction_id is not None
        }


def truth_path(capture_path: str | os.PathLike[str]) -> Path:
    """The sidecar path of a capture: ``site.ocpp.jsonl`` -> ``site.ocpp.jsonl.truth.json``."""
    capture_path = Path(capture_path)
    return capture_path.with_name(capture_path.name + TRUTH_SUFFIX)


def _ts_text(value: dt.datetime | str | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = parse_ts(value)
    return format_ts(value)


def _as_dict(item: Any) -> dict[str, Any]:
    if isinstance(item, Mapping):
        return dict(item)
    return asdict(item)


def _session_json(item: SessionTruth | Mapping[str, Any]) -> dict[str, Any]:
    data = _as_dict(item)
    meter_stop = data.get("meter_stop_wh")
    return {
        "charge_point_id": str(data["charge_point_id"]),
        "connector_id": int(data["connector_id"]),
        "transaction_id": None if data.get("transaction_id") is None else int(data["transaction_id"]),
        "id_tag": str(data["id_tag"]),
        "start_ts": _ts_text(data["start_ts"]),
        "stop_ts": _ts_text(data.get("stop_ts")),
        "energy_wh": float(data["energy_wh"]),
        "meter_start_wh": float(data["meter_start_wh"]),
        "meter_stop_wh": None if meter_stop is None else float(meter_stop),
    }


def _fault_json(item: InjectedFault | Mapping[str, Any]) -> dict[str, Any]:
    data = _as_dict(item)
    connector = data.get("connector_id")
    return {
        "fault": str(data["fault"]),
        "charge_point_id": str(data["charge_point_id"]),
        "connector_id": None if connector is None else int(connector),
        "ts": _ts_text(data["ts"]),
        "detail": str(data.get("detail") or ""),
    }


def write_truth(
    path: str | os.PathLike[str],
    truths: Iterable[SessionTruth | Mapping[str, Any]],
    faults_injected: Iterable[InjectedFault | Mapping[str, Any]] = (),
) -> Path:
    """Write a sidecar to ``path`` (replacing it atomically); returns the path.

    ``truths`` and ``faults_injected`` may be the dataclasses above or mappings with the same
    keys; timestamps may be aware datetimes or ISO 8601 strings.
    """
    path = Path(path)
    document = {
        "format": TRUTH_FORMAT,
        "version": TRUTH_VERSION,
        "sessions": [_session_json(item) for item in truths],
        "faults": [_fault_json(item) for item in faults_injected],
    }
    # Write then rename, so a reader never sees half a file.
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    os.replace(temporary, path)
    return path


def _parse_optional_ts(value: Any) -> dt.datetime | None:
    return None if value is None else parse_ts(value)


def read_truth(path: str | os.PathLike[str]) -> GroundTruth:
    """Read a sidecar written by :func:`write_truth`.

    Raises :class:`TruthFormatError` (with the path and the reason) for anything else.
    """
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise TruthFormatError(f"{path}: cannot read ground truth: {error}") from error
    if not isinstance(document, dict) or document.get("format") != TRUTH_FORMAT:
        raise TruthFormatError(f"{path}: not an ocpp-workbench truth file")
    if document.get("version") != TRUTH_VERSION:
        raise TruthFormatError(
            f"{path}: truth file version {document.get('version')!r}, this version reads {TRUTH_VERSION}"
        )
    try:
        sessions = tuple(
            SessionTruth(
                charge_point_id=item["charge_point_id"],
                connector_id=int(item["connector_id"]),
                transaction_id=None if item["transaction_id"] is None else int(item["transaction_id"]),
                id_tag=item["id_tag"],
                start_ts=parse_ts(item["start_ts"]),
                stop_ts=_parse_optional_ts(item["stop_ts"]),
                energy_wh=float(item["energy_wh"]),
                meter_start_wh=float(item["meter_start_wh"]),
                meter_stop_wh=None if item["meter_stop_wh"] is None else float(item["meter_stop_wh"]),
            )
            for item in document["sessions"]
        )
        faults = tuple(
            InjectedFault(
                fault=item["fault"],
                charge_point_id=item["charge_point_id"],
                connector_id=None if item["connector_id"] is None else int(item["connector_id"]),
                ts=parse_ts(item["ts"]),
                detail=item.get("detail", ""),
            )
            for item in document["faults"]
        )
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise TruthFormatError(f"{path}: damaged truth file: {error!r}") from error
    return GroundTruth(sessions=sessions, faults=faults)


SESSION_FIELDS = tuple(field.name for field in fields(SessionTruth))
FAULT_FIELDS = tuple(field.name for field in fields(InjectedFault))
