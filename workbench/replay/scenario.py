"""Replay scenarios: YAML files (under ``replays/``) naming a source capture, a role, edits,
expectations and an ignore list, runnable as ``ocpp-workbench replay replays/NAME.yaml``.

Format (every key but ``capture`` optional; paths relative to the YAML file)::

    description: one line
    capture: ../captures/sample.ocpp.jsonl
    role: charger                     # or csms
    charge_point: LAB-CP1             # or a list; absent: every charge point
    speed: max                        # or a number (1 = real time)
    timeouts: {reply_s: 10, peer_s: 10, connect_s: 10}
    ignore: [/interval]               # JSON pointers added to the default ignore list
    drop_peer_requests: false         # true: do not expect the recorded peer requests
    edits:
      - drop: {action: StopTransaction, occurrence: 0}
      - set: {action: StatusNotification, pointer: /status, value: Faulted, occurrence: 1}
      - scale_energy: {factor: 0.001}
      - reboot: {after: {action: MeterValues, occurrence: 1}}
      - rename: {charge_points: {OLD: NEW}, id_tags: {OLD: NEW}}
      - rebase_energy: {start_wh: 0}
    expect:
      - reply: {action: StartTransaction, pointer: /idTagInfo/status, equals: Accepted}
      - request: {action: RemoteStopTransaction, within_s: 30}
      - finding: {check: energy_kwh_as_wh, present: true}

``occurrence`` (0-based) picks one of the matching steps; without it, every matching step.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import WorkbenchError
from .answers import ABSENT, get_pointer
from .plan import ROLES, Plan, Step
from .verdict import VerdictRow

if TYPE_CHECKING:
    from ..analysis import Capture

SCENARIO_SUFFIXES = (".yaml", ".yml")
_TOP_KEYS = {"description", "capture", "role", "charge_point", "speed", "timeouts", "ignore", "edits",
             "expect", "drop_peer_requests"}
_EDIT_KINDS = {"drop", "set", "scale_energy", "reboot", "rename", "rebase_energy"}
_SELECT_KEYS = {"action", "kind", "charge_point", "occurrence", "index"}


class ScenarioError(WorkbenchError):
    """A scenario file that cannot be used; the message names the file and the problem."""


@dataclass
class Scenario:
    path: Path
    capture: Path
    role: str = "charger"
    charge_points: list[str] | None = None
    speed: float | None = None
    timeouts: dict[str, float] = field(default_factory=dict)
    ignore: list[str] = field(default_factory=list)
    edits: list[dict[str, Any]] = field(default_factory=list)
    expectations: list[dict[str, Any]] = field(default_factory=list)
    drop_peer_requests: bool = False
    description: str = ""

    def plan(self) -> Plan:
        """The plan of the source capture with every edit applied."""
        plan = Plan.from_capture(self.capture, charge_point=self.charge_points, role=self.role)
        if self.drop_peer_requests:
            plan = plan.drop(kind="expect")
        try:
            return apply_edits(plan, self.edits)
        except (KeyError, IndexError, ValueError, TypeError) as exc:
            raise ScenarioError(f"{self.path}: an edit does not apply to the capture: {exc}") from None


def is_scenario(path: str | os.PathLike[str]) -> bool:
    return str(path).lower().endswith(SCENARIO_SUFFIXES)


def load_scenario(path: str | os.PathLike[str]) -> Scenario:
    """Read and check a scenario file; raises :class:`ScenarioError` with one clear line."""
    import yaml

    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScenarioError(f"cannot read scenario {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(document, dict) or "capture" not in document:
        raise ScenarioError(f"{path}: a scenario is a mapping with at least 'capture'")
    unknown = set(document) - _TOP_KEYS
    if unknown:
        raise ScenarioError(f"{path}: unknown key(s) {', '.join(sorted(unknown))}")
    role = document.get("role", "charger")
    if role not in ROLES:
        raise ScenarioError(f"{path}: role must be charger or csms, not {role!r}")
    charge_points = document.get("charge_point")
    if isinstance(charge_points, str):
        charge_points = [charge_points]
    speed = document.get("speed", "max")
    if speed in (None, "max"):
        speed = None
    elif not isinstance(speed, (int, float)) or speed <= 0:
        raise ScenarioError(f"{path}: speed must be 'max' or a positive number, not {speed!r}")
    edits = document.get("edits") or []
    for edit in edits:
        if not isinstance(edit, dict) or len(edit) != 1 or next(iter(edit)) not in _EDIT_KINDS:
            raise ScenarioError(f"{path}: each edit is one of {', '.join(sorted(_EDIT_KINDS))}: got {edit!r}")
    expectations = document.get("expect") or []
    for expectation in expectations:
        if not isinstance(expectation, dict) or len(expectation) != 1 or \
                next(iter(expectation)) not in ("reply", "request", "finding"):
            raise ScenarioError(f"{path}: each expectation is reply, request or finding: got {expectation!r}")
    return Scenario(
        path=path, capture=(path.parent / str(document["capture"])).resolve(), role=role,
        charge_points=charge_points, speed=float(speed) if speed is not None else None,
        timeouts=dict(document.get("timeouts") or {}), ignore=list(document.get("ignore") or []),
        edits=edits, expectations=expectations, drop_peer_requests=bool(document.get("drop_peer_requests")),
        description=str(document.get("description") or ""),
    )


# -- edits ------------------------------------------------------------------------------------

def _selected(plan: Plan, spec: dict[str, Any]) -> list[int]:
    unknown = set(spec) - _SELECT_KEYS - {"pointer", "value", "in_reply", "factor", "after"}
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(sorted(unknown))}")
    chosen = plan.select(action=spec.get("action"), kind=spec.get("kind"),
                         charge_point_id=spec.get("charge_point"), index=spec.get("index"))
    if "occurrence" in spec:
        occurrence = int(spec["occurrence"])
        if occurrence >= len(chosen):
            raise IndexError(f"only {len(chosen)} step(s) match {spec}")
        chosen = [chosen[occurrence]]
    if not chosen:
        raise ValueError(f"no step matches {spec}")
    return chosen


def apply_edits(plan: Plan, edits: list[dict[str, Any]]) -> Plan:
    """``plan`` with each scenario edit applied in order (see the module docstring)."""
    for edit in edits:
        (kind, spec), = edit.items()
        spec = spec or {}
        if kind == "drop":
            plan = plan.drop(index=_selected(plan, spec))
        elif kind == "set":
            plan = plan.set_field(spec["pointer"], spec["value"], in_reply=bool(spec.get("in_reply")),
                                  index=_selected(plan, spec))
        elif kind == "scale_energy":
            spec = {"kind": "send", **spec}
            plan = plan.scale_energy(float(spec["factor"]), index=_selected(plan, spec))
        elif kind == "rebase_energy":
            plan = plan.rebase_energy(float(spec.get("start_wh", 0.0)))
        elif kind == "rename":
            plan = plan.rename(spec.get("charge_points"), spec.get("id_tags"))
        elif kind == "reboot":
            plan = insert_reboot(plan, _selected(plan, spec.get("after") or {})[0])
    return plan


def insert_reboot(plan: Plan, after: int) -> Plan:
    """A plan where the charger loses power after plan index ``after``: the link drops without a
    close frame (1006), a new connection opens and the charger boots again (its recorded
    BootNotification) before the rest of its steps, which move to the new connection."""
    step = plan.steps[after]
    cp = step.charge_point_id
    boot = next((s for s in plan.steps if s.charge_point_id == cp and s.action == "BootNotification"
                 and s.kind == "send"), None)
    if boot is None:
        raise ValueError(f"{cp} has no BootNotification to repeat after the reboot")
    new_connection = step.connection + 1
    inserted = [
        Step(cp, "close", t_s=step.t_s, connection=step.connection, close_code=1006),
        Step(cp, "connect", t_s=step.t_s, connection=new_connection, auth_user=boot.auth_user),
        replace_step(boot, t_s=step.t_s, connection=new_connection),
    ]
    steps = [copy.deepcopy(s) for s in plan.steps]
    for later in steps[after + 1:]:
        if later.charge_point_id == cp:
            later.connection += 1
    steps[after + 1:after + 1] = inserted
    return Plan(role=plan.role, steps=steps, source=plan.source, recorded_start=plan.recorded_start)


def replace_step(step: Step, **changes: Any) -> Step:
    out = copy.deepcopy(step)
    for key, value in changes.items():
        setattr(out, key, value)
    return out


# -- expectations -----------------------------------------------------------------------------

def check_expectations(expectations: list[dict[str, Any]], replay: Capture, role: str) -> list[VerdictRow]:
    """One ``expectation`` row per expectation, judged on the replay's capture."""
    rows = []
    calls = replay.calls
    peer_direction = "csms_to_charger" if role == "charger" else "charger_to_csms"
    start = replay.frames["ts"].min() if len(replay.frames) else None
    for expectation in expectations:
        (kind, spec), = expectation.items()
        spec = spec or {}
        label = f"{kind} {spec}"
        row = VerdictRow("*", None, "expectation", spec.get("action") or spec.get("check"), "matched", detail=label)
        if kind == "reply":
            chosen = calls[calls["action"] == spec["action"]]
            if not len(chosen):
                row.status, row.detail = "missing", f"{label}: no {spec['action']} in the replay"
            else:
                values = [get_pointer(r, spec["pointer"]) if isinstance(r, dict) else ABSENT for r in chosen["response"]]
                bad = [v for v in values if v != spec["equals"]]
                if bad:
                    row.status, row.detail = "differs", f"{label}: got {bad[0]!r} in {len(bad)} of {len(values)}"
        elif kind == "request":
            chosen = calls[(calls["action"] == spec["action"]) & (calls["direction"] == peer_direction)]
            within = float(spec.get("within_s", 1e12))
            if not len(chosen) or start is None:
                row.status, row.detail = "missing", f"{label}: the peer never sent it"
            elif (chosen["ts"].min() - start).total_seconds() > within:
                row.status, row.detail = "timeout", f"{label}: it came after {within:g} s"
        elif kind == "finding":
            found = bool((replay.findings["check"] == spec["check"]).any())
            if found != bool(spec.get("present", True)):
                row.status = "differs"
                row.detail = f"{label}: the replay's findings {'have' if found else 'lack'} it"
        rows.append(row)
    return rows
