"""Passive evaluation: a capture against a requirement profile, one row per requirement.

``evaluate(cap, "ev-energy")`` runs each requirement's evaluator (:mod:`.requirements`) and returns a
:class:`ConformanceResult`: rows with verdict, evidence (frame seqs and values), warnings and advice.
An evaluator that raises becomes a ``fail`` row naming the error, so one bug never hides the others.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..checks.registry import CheckConfig
from .profile import Profile, Requirement, load_profile
from .requirements import EVALUATORS, VERDICTS, Context, Outcome


@dataclass
class RequirementResult:
    """The verdict on one requirement."""

    requirement: Requirement
    verdict: str
    summary: str
    evidence: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def advice(self) -> str | None:
        """The profile's advice when the requirement fails, else None."""
        return self.requirement.advice or None if self.verdict == "fail" else None

    def to_dict(self) -> dict[str, Any]:
        req = self.requirement
        return {"id": req.id, "title": req.title, "level": req.level, "verdict": self.verdict,
                "summary": self.summary, "evidence": strict_json(self.evidence), "warnings": list(self.warnings),
                "advice": self.advice, "checks": list(req.checks), "oca_test_case": req.oca_test_case or None}


@dataclass
class ConformanceResult:
    """A capture judged against a profile: ``rows`` in the profile's order."""

    profile: Profile
    capture: str
    rows: list[RequirementResult]

    @property
    def failed(self) -> bool:
        """True when a requirement fails (the command's exit status 1)."""
        return any(row.verdict == "fail" for row in self.rows)

    def counts(self) -> dict[str, int]:
        """Rows per verdict, every verdict present."""
        return {verdict: sum(row.verdict == verdict for row in self.rows) for verdict in VERDICTS}

    def to_dict(self) -> dict[str, Any]:
        """The JSON document: ``{"profile", "capture", "requirements": [...]}`` (strict JSON: no NaN)."""
        return {"profile": self.profile.name, "capture": self.capture,
                "requirements": [row.to_dict() for row in self.rows]}

    def to_frame(self) -> pd.DataFrame:
        """One row per requirement: id, title, level, verdict, summary, warnings, advice, frame_seqs."""
        return pd.DataFrame([{
            "id": row.requirement.id, "title": row.requirement.title, "level": row.requirement.level,
            "verdict": row.verdict, "summary": row.summary, "warnings": list(row.warnings), "advice": row.advice,
            "frame_seqs": evidence_seqs(row.evidence),
        } for row in self.rows])

    def _repr_html_(self) -> str:
        from .render import render_html_table

        return render_html_table(self)

    def __repr__(self) -> str:
        from .render import render_text

        return render_text(self)


def evidence_seqs(evidence: list[dict[str, Any]], limit: int = 50) -> list[int]:
    """Every frame seq cited by the evidence, in order, without duplicates."""
    out: list[int] = []
    for item in evidence:
        for seq in item.get("frame_seqs", []) or []:
            if seq not in out:
                out.append(seq)
    return out[:limit]


def strict_json(value: Any) -> Any:
    """``value`` with NaN/inf as None, numpy scalars and timestamps as plain JSON types."""
    if isinstance(value, dict):
        return {str(k): strict_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [strict_json(v) for v in value]
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            value = value.item()
        except (ValueError, AttributeError):
            pass
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return str(value)


TABLES = ("frames", "calls", "connections", "meter_values", "status", "transactions")


def for_charge_point(cap: Any, charge_point_id: str) -> Any:
    """A Capture of one charge point's rows of every table (refused TLS handshakes, which name no charge
    point, are kept: they may be its own). WorkbenchError when the capture does not hold it."""
    from ..analysis import Capture
    from ..errors import WorkbenchError

    known = sorted(set(cap.frames["charge_point_id"].dropna().astype(str)))
    if charge_point_id not in known:
        raise WorkbenchError(f"charge point {charge_point_id!r} is not in the capture; it holds "
                             f"{', '.join(known[:10]) or 'none'}" + (" ..." if len(known) > 10 else ""))
    tables = {}
    for name in TABLES:
        table = getattr(cap, name)
        mine = (table["charge_point_id"].astype(object) == charge_point_id).to_numpy(dtype=bool, na_value=False)
        if name == "connections":
            mine = mine | table["charge_point_id"].isna().to_numpy()
        tables[name] = table[mine].reset_index(drop=True)
    view = Capture.from_tables(cap.headers, tables, cap.load_problems, cap.paths)
    view._connection_records = getattr(cap, "_connection_records", [])
    return view


def evaluate(cap: Any, profile: str | Profile = "ev-energy", *, config: CheckConfig | None = None,
             params: dict[str, dict[str, Any]] | None = None, capture_name: str | None = None,
             charge_point_id: str | None = None) -> ConformanceResult:
    """Judge ``cap`` against ``profile`` (a shipped profile's name or a :class:`Profile`).

    ``params`` overrides requirement parameters by id, e.g. ``{"R2": {"tolerance_s": 5}}``.
    ``charge_point_id`` judges that charge point only (default: every charge point of the capture;
    a requirement then fails when it fails for one of them).
    """
    if isinstance(profile, str):
        profile = load_profile(profile)
    if charge_point_id is not None:
        cap = for_charge_point(cap, charge_point_id)
    ctx = Context(config or CheckConfig())
    rows = []
    for req in profile.requirements:
        if params and req.id in params:
            req = Requirement(**{**req.__dict__, "params": {**req.params, **params[req.id]}})
        try:
            outcome = EVALUATORS[req.evaluator](cap, req, ctx)
        except Exception as exc:  # noqa: BLE001  (a crashing evaluator is a failed row, by contract)
            outcome = Outcome("fail", f"could not be evaluated: {type(exc).__name__}: {exc}")
        rows.append(RequirementResult(req, outcome.verdict, outcome.summary, outcome.evidence, outcome.warnings))
    name = capture_name if capture_name is not None else ", ".join(str(p) for p in getattr(cap, "paths", [])) or "<capture>"
    return ConformanceResult(profile, name, rows)
