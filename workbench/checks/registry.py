"""The check registry: named, pure checks that turn a capture's tables into findings.

A check is a function ``fn(cap, config) -> Iterable[Finding]`` registered with :func:`check`
under a unique name and the spec clause it encodes. It reads only ``cap``'s tables
(``.frames .calls .connections .meter_values .status .transactions``) and ``.header``, never
mutates them, and keeps no state between charge points. :func:`run_checks` runs them all
(or some) and assembles the findings table; a check that raises is run again charge point by
charge point and becomes an ``error`` finding for each one it fails on, so a bug in one check never
hides the others' results nor the other charge points' (:func:`crashed` finds those rows).
"""

from __future__ import annotations

import dataclasses
import re
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..tables._columns import str_column

SEVERITIES = ("error", "warning", "info")
"""Finding severities, worst first. ``error``: the spec is violated; ``warning``: legal but
suspicious or an interoperability risk; ``info``: worth knowing, no fault."""


@dataclass(frozen=True)
class Finding:
    """One thing a check found. ``frame_seqs`` are the ``frames.seq`` values that prove it."""

    check: str
    severity: str
    ts: pd.Timestamp | None
    charge_point_id: str | None
    connector_id: int | None
    transaction_id: int | None
    message: str
    frame_seqs: tuple[int, ...] = ()


@dataclass
class CheckConfig:
    """Thresholds of the checks. Every field has its unit in its name."""

    unanswered_timeout_s: float = 30.0
    """A request with no reply within this many seconds (and none at all) is unanswered."""
    slow_reply_s: float = 10.0
    """A reply later than this many seconds after its request is slow."""
    clock_skew_s: float = 60.0
    """Payload timestamps further than this from capture time are skewed."""
    energy_tolerance_wh: float = 1.0
    """Absolute slack (Wh) when comparing energy figures, on top of any sampling allowance."""
    power_idle_w: float = 100.0
    """Power at or below this (W) counts as "about zero"; above it as drawing power."""
    late_delivery_s: float = 300.0
    """A queued message delivered this many seconds after its payload timestamp is late."""
    interval_tolerance_factor: float = 1.5
    """A gap longer than this factor times the configured interval is a gap."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Free-form settings for checks outside this package (name -> value)."""
    status_settle_s: float = 30.0
    """Power readings closer than this (s) to a status change are not judged against either status
    (the EV needs time to ramp up or down; statuses are reported a little late or early)."""
    charging_start_grace_s: float = 60.0
    """Charging reported up to this many seconds (s) before its StartTransaction is not "without a transaction"."""
    energy_tolerance_fraction: float = 0.01
    """Relative slack (fraction of the session energy) when comparing integrated power with the register."""


CheckFunction = Callable[[Any, CheckConfig], Iterable[Finding]]


@dataclass(frozen=True)
class CheckInfo:
    """A registered check: its name, the spec clause it encodes, what it looks for, and the function."""

    name: str
    clause: str
    description: str
    fn: CheckFunction


CHECKS: dict[str, CheckInfo] = {}
"""Every registered check by name, in registration order."""


def check(name: str, *, clause: str) -> Callable[[CheckFunction], CheckFunction]:
    """Register ``fn(cap, config) -> Iterable[Finding]`` as the check ``name``.

    ``clause`` names the spec text it encodes (e.g. ``"OCPP-J 1.6 §4.1.1"``); the first line of the
    function's docstring is its description. Registering a different function under a taken name
    raises ValueError (re-importing the same module is allowed).
    """

    def register(fn: CheckFunction) -> CheckFunction:
        existing = CHECKS.get(name)
        if existing is not None and (existing.fn.__module__, existing.fn.__qualname__) != (
            fn.__module__, fn.__qualname__,
        ):
            raise ValueError(f"check {name!r} is already registered by {existing.fn.__module__}")
        doc = (fn.__doc__ or "").strip().splitlines()
        CHECKS[name] = CheckInfo(name, clause, doc[0] if doc else "", fn)
        return fn

    return register


FINDING_COLUMNS: dict[str, tuple[str, str, str]] = {
    # name: (dtype, unit, meaning)
    "ts": ("datetime64[us, UTC]", "UTC", "when it happened (the first proving frame), or NaT"),
    "check": ("str", "", "name of the check that found it (see CHECKS)"),
    "severity": ("str", "", "error | warning | info"),
    "charge_point_id": ("str", "", "charge point concerned, or None for the capture as a whole"),
    "connector_id": ("Int64", "", "connector concerned, or <NA>"),
    "transaction_id": ("Int64", "", "transaction concerned, or <NA>"),
    "message": ("str", "", "what is wrong, in one sentence"),
    "frame_seqs": ("object", "", "list[int] of frames.seq that prove it"),
}


def _to_ts(value: Any) -> pd.Timestamp | None:
    if value is None:
        return None
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError):
        return None
    if stamp is pd.NaT:
        return None
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _optional_int(value: Any) -> int | None:
    if value is None or value is pd.NA:
        return None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return None


_INT64_RANGE = range(-2**63, 2**63)


def _representable(finding: Finding) -> Finding:
    """``finding`` with every id an Int64 column can hold: one that cannot (a charger can send any integer)
    is left out of its column and quoted in the message instead, so the finding is never lost."""
    changes: dict[str, Any] = {}
    notes = []
    for name in ("connector_id", "transaction_id"):
        value = _optional_int(getattr(finding, name))
        if value is not None and value not in _INT64_RANGE:
            changes[name] = None
            notes.append(f"{name} {value} does not fit a 64-bit integer")
    seqs = tuple(s for s in finding.frame_seqs if _optional_int(s) in _INT64_RANGE)
    if len(seqs) != len(finding.frame_seqs):
        changes["frame_seqs"] = seqs
    if notes:
        changes["message"] = f"{finding.message} ({'; '.join(notes)})"
    return dataclasses.replace(finding, **changes) if changes else finding


def findings_frame(findings: Iterable[Finding]) -> pd.DataFrame:
    """The findings table (columns as in :data:`FINDING_COLUMNS`), in the order of :func:`sort_findings`."""
    rows = [_representable(f) for f in findings]
    ts = pd.array([_to_ts(f.ts) for f in rows], dtype="datetime64[us, UTC]") if rows else pd.array(
        [], dtype="datetime64[us, UTC]")
    frame = pd.DataFrame({
        "ts": ts,
        "check": str_column([f.check for f in rows]),
        "severity": str_column([f.severity for f in rows]),
        "charge_point_id": str_column([f.charge_point_id for f in rows]),
        "connector_id": pd.array([_optional_int(f.connector_id) for f in rows], dtype="Int64"),
        "transaction_id": pd.array([_optional_int(f.transaction_id) for f in rows], dtype="Int64"),
        "message": str_column([f.message for f in rows]),
        "frame_seqs": pd.Series([[int(s) for s in f.frame_seqs] for f in rows], dtype="object"),
    })
    return sort_findings(frame)


def sort_findings(frame: pd.DataFrame) -> pd.DataFrame:
    """Findings ordered by ts (NaT last), check, charge point, first frame cited, then as the checks gave
    them: findings of separately analysed charge points merge into the order one analysis gives."""
    if not len(frame):
        return frame
    first_seq = [seqs[0] if len(seqs) else -1 for seqs in frame["frame_seqs"].tolist()]
    keyed = frame.assign(_first_seq=first_seq)
    keyed = keyed.sort_values(["ts", "check", "charge_point_id", "_first_seq"],
                              na_position="last", kind="stable")
    return keyed.drop(columns="_first_seq").reset_index(drop=True)


def run_checks(cap: Any, config: CheckConfig | None = None, names: Iterable[str] | None = None) -> pd.DataFrame:
    """Run the named checks (all registered ones by default) on ``cap``; returns the findings table.

    A check that raises is run again on each charge point's rows alone: the charge points it fails on get one
    ``error`` finding ``"check X crashed on CP: ..."`` each (``"check X crashed: ..."`` when it fails on the
    capture as a whole), the others keep their findings. :func:`crashed` tells these findings apart. An unknown
    name raises ValueError (API misuse).
    """
    import workbench.checks  # noqa: F401  (registers every check module)

    config = config or CheckConfig()
    selected = list(CHECKS) if names is None else list(names)
    unknown = [name for name in selected if name not in CHECKS]
    if unknown:
        raise ValueError(f"unknown check(s): {', '.join(unknown)}; known: {', '.join(CHECKS)}")
    findings: list[Finding] = []
    by_charge_point: list[tuple[str | None, Any]] | None = None
    for name in selected:
        info = CHECKS[name]
        try:
            findings.extend(_run_one(info, cap, config))
            continue
        except Exception as exc:  # noqa: BLE001  (a crashing check is itself a finding, by contract)
            failure = exc
        if by_charge_point is None:
            by_charge_point = _by_charge_point(cap)
        if len(by_charge_point) < 2:
            findings.append(_crash(name, failure, None))  # one charge point (or none): the capture's crash
            continue
        for charge_point_id, part in by_charge_point:
            try:
                findings.extend(_run_one(info, part, config))
            except Exception as exc:  # noqa: BLE001
                findings.append(_crash(name, exc, charge_point_id))
    return findings_frame(findings)


def _run_one(info: CheckInfo, cap: Any, config: CheckConfig) -> list[Finding]:
    found = list(info.fn(cap, config))
    bad = [f for f in found if not isinstance(f, Finding) or f.severity not in SEVERITIES]
    if bad:
        raise TypeError(f"returned {len(bad)} item(s) that are not Findings with a known severity")
    return found


_CRASH = re.compile(r"check \S+ crashed[: ]")


def _crash(name: str, exc: BaseException, charge_point_id: str | None) -> Finding:
    where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    at = f" at {where.filename.rsplit('/', 1)[-1]}:{where.lineno}" if where else ""
    on = f" on {charge_point_id}" if charge_point_id is not None else ""
    return Finding(name, "error", None, charge_point_id, None, None,
                   f"check {name} crashed{on}: {type(exc).__name__}: {exc}{at}")


def crashed(findings: pd.DataFrame) -> pd.Series:
    """Which rows of a findings table say that their check crashed (bool Series)."""
    if not len(findings):
        return pd.Series([], dtype=bool)
    messages = findings["message"].astype(object).fillna("")
    return pd.Series([_CRASH.match(m) is not None and m.startswith(f"check {c} ")
                      for m, c in zip(messages.tolist(), findings["check"].astype(object).tolist())],
                     index=findings.index, dtype=bool)


TABLE_NAMES = ("frames", "calls", "connections", "meter_values", "status", "transactions")
"""The tables a check may read (``cap.<name>``)."""


class ChargePointView:
    """The rows of one charge point of a capture, as a check sees a capture: its tables and header, no load
    problems (those belong to the capture as a whole)."""

    def __init__(self, header: Any, tables: dict[str, pd.DataFrame]) -> None:
        self.header = header
        self.load_problems: list[Any] = []
        for name, table in tables.items():
            setattr(self, name, table)


def _by_charge_point(cap: Any) -> list[tuple[str | None, Any]]:
    """``cap`` split into one view per charge point (rows without one form their own), for running a check
    that crashed on the whole again; [] when the tables cannot be built (then the crash is the whole's).
    Each table is grouped once (n log n), however many charge points there are."""
    try:
        tables = {name: getattr(cap, name) for name in TABLE_NAMES}
        rows = {name: _rows_by_charge_point(table["charge_point_id"]) for name, table in tables.items()
                if "charge_point_id" in table.columns}
        keys = sorted({key for by_key in rows.values() for key in by_key if key is not None})
        if any(None in by_key for by_key in rows.values()):
            keys.append(None)
        parts: list[tuple[str | None, Any]] = []
        for key in keys:
            part = {}
            for name, table in tables.items():
                if name in rows:
                    taken = rows[name].get(key)
                    table = table.iloc[:0] if taken is None else table.take(taken).reset_index(drop=True)
                part[name] = table
            parts.append((key, ChargePointView(getattr(cap, "header", {}), part)))
        return parts
    except Exception:  # noqa: BLE001  (tables that cannot be built: the crash stays the whole capture's)
        return []


def _rows_by_charge_point(column: pd.Series) -> dict[str | None, np.ndarray]:
    """Row positions of each charge point id in ``column`` (None: rows without one), in row order."""
    codes, uniques = pd.factorize(column.astype(object).to_numpy(), use_na_sentinel=True)
    order = np.argsort(codes, kind="stable")
    ends = np.cumsum(np.bincount(codes + 1, minlength=len(uniques) + 1))
    keys: list[str | None] = [None, *(str(u) for u in uniques)]
    out: dict[str | None, np.ndarray] = {}
    start = 0
    for key, end in zip(keys, ends.tolist()):
        if end > start:
            out[key] = order[start:end]
        start = end
    return out
