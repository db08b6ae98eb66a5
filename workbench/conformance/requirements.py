"""Evaluators: functions that decide one requirement from a capture's tables and registered checks.

``evaluator(cap, requirement, ctx) -> Outcome``. They read ``cap.connections``, ``cap.calls``,
``cap.meter_values``, ``cap.status``, ``cap.transactions`` and the findings of registered checks; they
never parse frames again. Verdicts:

- ``pass``: the capture shows the requirement met;
- ``fail``: the capture shows it not met;
- ``not_observed``: the capture holds nothing that could show it either way;
- ``not_applicable``: the requirement does not apply to this charger (e.g. firmware never managed).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .. import spec16
from ..checks.registry import CHECKS, SEVERITIES, CheckConfig, run_checks
from .profile import Requirement
from .tls_policies import TLS_POLICIES

VERDICTS = ("pass", "fail", "not_observed", "not_applicable")

CHARGER_TO_CSMS = "charger_to_csms"
CSMS_TO_CHARGER = "csms_to_charger"


@dataclass
class Outcome:
    """What an evaluator decided: the verdict, the evidence (dicts with ``frame_seqs`` where frames prove
    it), warnings (worth knowing, not a failure) and a one-line summary."""

    verdict: str
    summary: str
    evidence: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass
class Context:
    """What evaluators share: the check thresholds and the findings of the checks run so far."""

    config: CheckConfig
    _findings: dict[tuple[str, float], pd.DataFrame] = field(default_factory=dict)

    def findings(self, cap: Any, names: Iterable[str], config: CheckConfig | None = None) -> pd.DataFrame:
        """Findings of the registered checks ``names`` (names not registered are skipped)."""
        config = config or self.config
        wanted = [name for name in names if name in CHECKS]
        parts = []
        for name in wanted:
            key = (name, config.clock_skew_s)
            if key not in self._findings:
                self._findings[key] = run_checks(cap, config, [name])
            parts.append(self._findings[key])
        if not parts:
            return run_checks(cap, config, [])
        return pd.concat(parts, ignore_index=True)


Evaluator = Callable[[Any, Requirement, Context], Outcome]
EVALUATORS: dict[str, Evaluator] = {}


def evaluator(name: str) -> Callable[[Evaluator], Evaluator]:
    """Register an evaluator under ``name`` (the ``evaluator`` field of a profile's requirement)."""

    def register(fn: Evaluator) -> Evaluator:
        EVALUATORS[name] = fn
        return fn

    return register


# --- small helpers ---------------------------------------------------------------------------------

def _clean(value: Any) -> Any:
    """None for pandas' missing markers and NaN; Python ints/floats/str for numpy scalars."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(float(value)) else float(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


def _seqs(*values: Any) -> list[int]:
    out: list[int] = []
    for value in values:
        value = _clean(value)
        if value is not None and int(value) not in out:
            out.append(int(value))
    return out


def _imported(cap: Any) -> bool:
    """True when the capture came from a foreign log (no TLS or upgrade facts recorded)."""
    mode = str((cap.header or {}).get("proxy_mode") or "")
    return mode.startswith("import:")


def _finding_evidence(findings: pd.DataFrame, limit: int = 10) -> list[dict[str, Any]]:
    rows = []
    for row in findings.head(limit).to_dict("records"):
        rows.append({"check": row["check"], "severity": row["severity"], "charge_point_id": _clean(row["charge_point_id"]),
                     "message": row["message"], "frame_seqs": [int(s) for s in row["frame_seqs"]][:20]})
    if len(findings) > limit:
        rows.append({"note": f"{len(findings) - limit} more finding(s) of the same checks in cap.findings"})
    return rows


def _at_least(findings: pd.DataFrame, severity: str) -> pd.DataFrame:
    worst = SEVERITIES[: SEVERITIES.index(severity) + 1]
    return findings[findings["severity"].isin(worst)]


def _calls(cap: Any, action: str, direction: str) -> pd.DataFrame:
    calls = cap.calls
    mask = ((calls["action"] == action).to_numpy(dtype=bool, na_value=False)
            & (calls["direction"] == direction).to_numpy(dtype=bool, na_value=False))
    return calls[mask]


def _status_of(response: Any) -> str | None:
    return response.get("status") if isinstance(response, dict) else None


def _reply_text(row: dict[str, Any]) -> str:
    """The answer to a call in a word: its status, the CALLERROR code, or 'unanswered'."""
    if row["outcome"] == "error":
        return f"CALLERROR {row['error_code']}"
    if row["outcome"] != "answered":
        return str(row["outcome"])
    return str(_status_of(row["response"]))


def _first_frame_seq(cap: Any, connection_id: str) -> int | None:
    frames = cap.frames
    mine = frames["seq"][(frames["connection_id"] == connection_id).to_numpy(dtype=bool, na_value=False)]
    return int(mine.iloc[0]) if len(mine) else None


# --- R1 -------------------------------------------------------------------------------------------

@evaluator("tls_policy")
def tls_policy(cap: Any, req: Requirement, ctx: Context) -> Outcome:
    """Every charger-leg connection is TLS in the policy's versions with one of its ciphers; plain ws fails;
    TLS 1.3 negotiated (a laxer server than the policy) is a warning: the charger may still lack 1.2."""
    policy = TLS_POLICIES[req.params.get("policy", "elb-2018-06")]
    conns = cap.connections
    if _imported(cap):
        return Outcome("not_observed", "imported log: the charger leg's TLS was not recorded")
    if not len(conns):
        return Outcome("not_observed", "no connection in the capture")
    evidence: list[dict[str, Any]] = []
    warnings: list[str] = []
    bad = ok = 0
    for row in conns.to_dict("records"):
        version, cipher, state = _clean(row["charger_tls_version"]), _clean(row["charger_cipher"]), row["state"]
        item = {"connection_id": row["connection_id"], "charge_point_id": _clean(row["charge_point_id"]),
                "state": state, "tls_version": version, "cipher": cipher}
        if state == "tls_failed":
            item.update(result="fail", tls_failure=_clean(row["tls_failure"]), tls_error=_clean(row["tls_error"]),
                        note=f"TLS handshake failed against a server offering {policy.title}")
            offer = _offered(cap, row["connection_id"])
            if offer:
                item.update(offer)
            bad += 1
        elif version is None:
            # Also a refused upgrade: the proxy records TLS facts for every upgrade that came over TLS.
            refused = f" (upgrade refused with {_clean(row['http_status'])})" if state == "rejected" else ""
            item.update(result="fail", note=f"plain ws:// connection (no TLS){refused}")
            bad += 1
        elif version in policy.versions and cipher in policy.ciphers:
            item.update(result="pass")
            ok += 1
        elif version == "TLSv1.3" and "TLSv1.2" in policy.versions:
            item.update(result="warning", note="TLS 1.3 negotiated: the server was laxer than the policy; "
                                               "the charger may lack TLS 1.2 (test with --tls-policy)")
            warnings.append(f"{row['connection_id']}: TLS 1.3 negotiated, TLS 1.2 support not shown")
            ok += 1
        else:
            why = (f"{version} is not allowed by {policy.title}" if version not in policy.versions
                   else f"cipher {cipher} is not in {policy.title}")
            item.update(result="fail", note=why)
            bad += 1
        seq = _first_frame_seq(cap, row["connection_id"])
        item["frame_seqs"] = [] if seq is None else [seq]
        evidence.append(item)
    header = cap.header or {}
    if header.get("charger_tls_policy") == policy.name:
        evidence.insert(0, {"note": f"captured through `ocpp-workbench proxy --tls-policy {policy.name}`: the "
                                    "charger leg offered exactly the policy, so each handshake is a direct test"})
    elif header.get("charger_tls_max"):
        evidence.insert(0, {"note": f"the proxy offered chargers TLS up to {header['charger_tls_max']} "
                                    "(not the policy's cipher list): capture with --tls-policy for a direct test"})
    if bad:
        return Outcome("fail", f"{bad} of {bad + ok} connection(s) outside {policy.title}", evidence, warnings)
    if not ok:
        return Outcome("not_observed", "no connection with recorded TLS facts", evidence, warnings)
    return Outcome("pass", f"{ok} connection(s) within {policy.title}", evidence, warnings)


def _offered(cap: Any, connection_id: str) -> dict[str, Any]:
    """The ClientHello offer of a failed handshake (versions, ciphers) from its connection record."""
    for record in getattr(cap, "_connection_records", []):
        if record.get("type") == "tls_handshake_failed" and record.get("connection_id") == connection_id:
            return {key: record[key] for key in ("offered_versions", "offered_ciphers") if key in record}
    return {}


# --- R2 -------------------------------------------------------------------------------------------

@evaluator("clock")
def clock(cap: Any, req: Requirement, ctx: Context) -> Outcome:
    """Payload timestamps within ``tolerance_s`` of capture time (check clock_skew, with that threshold)."""
    from ..checks.timing import _classify_times

    tolerance = float(req.params.get("tolerance_s", 10.0))
    config = CheckConfig(**{**ctx.config.__dict__, "clock_skew_s": tolerance})
    times = _classify_times(cap, config)
    if not len(times):
        return Outcome("not_observed", "no payload timestamp to compare with capture time")
    skewed = ctx.findings(cap, req.checks or ["clock_skew"], config)
    worst = float(np.abs(times["offset_s"].to_numpy(dtype=float)).max())
    fresh = times[times["kind"] == "ok"]
    fresh_worst = float(np.abs(fresh["offset_s"].to_numpy(dtype=float)).max()) if len(fresh) else worst
    summary_values = {"timestamps_compared": int(len(times)), "tolerance_s": tolerance,
                      "max_offset_s": round(fresh_worst if not len(skewed) else worst, 3)}
    if len(skewed):
        return Outcome("fail", f"charger clock off by up to {worst:,.0f} s (tolerance {tolerance:g} s)",
                       [summary_values, *_finding_evidence(skewed)])
    late = int((times["kind"] == "late").sum())
    warnings = [f"{late} queued message(s) delivered late (not clock skew)"] if late else []
    return Outcome("pass", f"{len(times)} payload timestamp(s) within {tolerance:g} s of capture time",
                   [summary_values], warnings)


# --- R3 -------------------------------------------------------------------------------------------

@evaluator("basic_auth")
def basic_auth(cap: Any, req: Requirement, ctx: Context) -> Outcome:
    """Basic Auth on every upgrade with user name = charge point id; a 401 is evidence."""
    if _imported(cap):
        return Outcome("not_observed", "imported log: the upgrade requests were not recorded")
    conns = cap.connections
    conns = conns[conns["state"] != "tls_failed"]
    if not len(conns):
        return Outcome("not_observed", "no WebSocket upgrade in the capture")
    evidence, warnings = [], []
    bad = ok = 0
    for row in conns.to_dict("records"):
        cp, user = _clean(row["charge_point_id"]), _clean(row["auth_user"])
        scheme, present, status = _clean(row["auth_scheme"]), bool(row["auth_password_present"]), _clean(row["http_status"])
        item = {"connection_id": row["connection_id"], "charge_point_id": cp, "auth_scheme": scheme,
                "auth_user": user, "password_sent": present, "http_status": status}
        seq = _first_frame_seq(cap, row["connection_id"])
        item["frame_seqs"] = [] if seq is None else [seq]
        if scheme != "Basic" or not present:
            item.update(result="fail", note="upgrade without Basic Auth" + (f" (CSMS answered {status})" if status else ""))
            bad += 1
        elif user != cp:
            item.update(result="fail", note=f"Basic Auth user {user!r} is not the charge point id {cp!r}")
            bad += 1
        elif status == 401:
            item.update(result="warning", note="Basic Auth sent as required, but the CSMS refused the password (401)")
            warnings.append(f"{row['connection_id']}: credentials refused with 401")
            ok += 1
        else:
            item.update(result="pass")
            ok += 1
        evidence.append(item)
    if bad:
        return Outcome("fail", f"{bad} of {bad + ok} upgrade(s) without correct Basic Auth", evidence, warnings)
    return Outcome("pass", f"{ok} upgrade(s) with Basic Auth, user = charge point id", evidence, warnings)


# --- R4 -------------------------------------------------------------------------------------------

def _periodic_samples(cap: Any) -> pd.DataFrame:
    mv = cap.meter_values
    return mv[(mv["source"] == "MeterValues").to_numpy(dtype=bool, na_value=False)]


def _measurand_evidence(samples: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for measurand, group in samples.groupby(samples["measurand"].astype(str), sort=True, observed=True):
        out.append({"measurand": measurand, "samples": int(len(group)), "frame_seqs": _seqs(*group["seq"].head(3))})
    return out


@evaluator("measurands")
def measurands(cap: Any, req: Requirement, ctx: Context) -> Outcome:
    """MeterValues carry Power.Active.Import, or Current.Import and Voltage."""
    samples = _periodic_samples(cap)
    if not len(samples):
        return Outcome("not_observed", "no MeterValues in the capture")
    seen = set(samples["measurand"].astype(str))
    evidence = _measurand_evidence(samples)
    if spec16.POWER_IMPORT in seen:
        return Outcome("pass", "MeterValues carry Power.Active.Import", evidence)
    if spec16.CURRENT_IMPORT in seen and spec16.VOLTAGE in seen:
        return Outcome("pass", "MeterValues carry Current.Import and Voltage", evidence)
    return Outcome("fail", f"MeterValues carry only {', '.join(sorted(seen))}", evidence)


# --- R5 -------------------------------------------------------------------------------------------

@evaluator("firmware")
def firmware(cap: Any, req: Requirement, ctx: Context) -> Outcome:
    """Firmware management reported when seen (UpdateFirmware answered, FirmwareStatusNotification
    after it); not_applicable when the capture shows none."""
    updates = _calls(cap, "UpdateFirmware", CSMS_TO_CHARGER)
    statuses = _calls(cap, "FirmwareStatusNotification", CHARGER_TO_CSMS)
    if not len(updates) and not len(statuses):
        return Outcome("not_applicable", "no firmware management in the capture (UpdateFirmware, "
                                         "FirmwareStatusNotification)")
    evidence: list[dict[str, Any]] = []
    failed = []
    for row in updates.to_dict("records"):
        after = statuses[(statuses["ts"] >= row["ts"]).to_numpy(dtype=bool) &
                         (statuses["charge_point_id"] == row["charge_point_id"]).to_numpy(dtype=bool, na_value=False)]
        reported = [s.get("status") for s in after["request"].tolist() if isinstance(s, dict)]
        item = {"charge_point_id": _clean(row["charge_point_id"]), "update_firmware": _reply_text(row),
                "firmware_statuses": reported, "frame_seqs": _seqs(row["request_seq"], row["reply_seq"], *after["request_seq"].head(5))}
        if row["outcome"] != "answered":
            failed.append("UpdateFirmware not answered with a CALLRESULT")
        elif not reported:
            failed.append("no FirmwareStatusNotification after UpdateFirmware")
        evidence.append(item)
    if not len(updates):
        evidence.append({"firmware_statuses": [s.get("status") for s in statuses["request"].tolist() if isinstance(s, dict)],
                         "frame_seqs": _seqs(*statuses["request_seq"].head(5))})
    if failed:
        return Outcome("fail", "; ".join(sorted(set(failed))), evidence)
    return Outcome("pass", "firmware management seen and reported", evidence)


# --- R6 -------------------------------------------------------------------------------------------

def _profile_limit(request: Any) -> tuple[str | None, float | None, str | None, int | None]:
    """(purpose, first period's limit, unit A/W, numberPhases) of a SetChargingProfile request."""
    if not isinstance(request, dict):
        return None, None, None, None
    profile = request.get("csChargingProfiles") or {}
    schedule = profile.get("chargingSchedule") or {} if isinstance(profile, dict) else {}
    periods = schedule.get("chargingSchedulePeriod") or [] if isinstance(schedule, dict) else []
    first = periods[0] if periods and isinstance(periods[0], dict) else {}
    limit = first.get("limit")
    phases = first.get("numberPhases")
    return (profile.get("chargingProfilePurpose") if isinstance(profile, dict) else None,
            float(limit) if isinstance(limit, (int, float)) and not isinstance(limit, bool)
            and math.isfinite(limit) else None,
            schedule.get("chargingRateUnit") if isinstance(schedule, dict) else None,
            phases if isinstance(phases, int) else None)


@evaluator("smart_charging")
def smart_charging(cap: Any, req: Requirement, ctx: Context) -> Outcome:
    """SetChargingProfile (TxProfile or ChargePointMaxProfile) Accepted AND the next meter values within
    the limit: the first ``max_samples`` readings from ``settle_s`` after the answer until the charge
    point's next SetChargingProfile/ClearChargingProfile (at most ``window_s`` later, 0: no bound). A
    charger that says Accepted and keeps charging at full power fails. Readings are placed by arrival
    time (``capture_ts``), so a charger with a wrong clock is judged on R2, not here. GetCompositeSchedule
    answers (what the charger says it applied) are added to the evidence."""
    purposes = ("TxProfile", "ChargePointMaxProfile")
    settle, window = float(req.params.get("settle_s", 15.0)), float(req.params.get("window_s", 0.0))
    max_samples = int(req.params.get("max_samples", 5))
    tolerance = float(req.params.get("tolerance_fraction", 0.1))
    volts = float(req.params.get("volts_per_phase", 230.0))
    idle_w = ctx.config.power_idle_w
    calls = _calls(cap, "SetChargingProfile", CSMS_TO_CHARGER)
    rows = [r for r in calls.to_dict("records") if _profile_limit(r["request"])[0] in purposes]
    if not rows:
        return Outcome("not_observed", "no SetChargingProfile with TxProfile or ChargePointMaxProfile")
    changes = pd.concat([calls, _calls(cap, "ClearChargingProfile", CSMS_TO_CHARGER)])
    mv = _periodic_samples(cap)
    power = mv[(mv["measurand"] == spec16.POWER_IMPORT).to_numpy(dtype=bool, na_value=False)
               & mv["phase"].isna().to_numpy()]
    current = mv[(mv["measurand"] == spec16.CURRENT_IMPORT).to_numpy(dtype=bool, na_value=False)]
    evidence = []
    accepted = followed = ignored = 0
    for row in rows:
        purpose, limit, unit, phases = _profile_limit(row["request"])
        connector = row["request"].get("connectorId") if isinstance(row["request"], dict) else None
        answer = _reply_text(row)
        item: dict[str, Any] = {"charge_point_id": _clean(row["charge_point_id"]), "purpose": purpose,
                                "connector_id": connector, "limit": limit, "unit": unit, "answer": answer,
                                "frame_seqs": _seqs(row["request_seq"], row["reply_seq"])}
        evidence.append(item)
        if answer != "Accepted":
            item["result"] = "fail"
            continue
        accepted += 1
        start = (row["reply_ts"] if _clean(row["reply_ts"]) is not None else row["ts"]) + pd.Timedelta(seconds=settle)
        same_cp = (changes["charge_point_id"] == row["charge_point_id"]).to_numpy(dtype=bool, na_value=False)
        later = changes[same_cp & (changes["ts"] > row["ts"]).to_numpy(dtype=bool, na_value=False)]["ts"]
        end = later.min() if len(later) else None
        if window > 0:
            bound = row["ts"] + pd.Timedelta(seconds=window)
            end = bound if end is None else min(end, bound)
        use_current = unit == "A" and len(current)
        table = current if use_current else power
        keep = ((table["charge_point_id"].astype(str) == str(row["charge_point_id"])).to_numpy()
                & (table["capture_ts"] >= start).to_numpy(dtype=bool, na_value=False))
        if end is not None:
            keep &= (table["capture_ts"] < end).to_numpy(dtype=bool, na_value=False)
        mine = table[keep]
        if purpose == "TxProfile" and isinstance(connector, int):
            mine = mine[(mine["connector_id"] == connector).to_numpy(dtype=bool, na_value=False)]
        mine = mine[mine["value_normalized"].notna().to_numpy()]
        first_seqs = mine["seq"].drop_duplicates().head(max_samples)
        mine = mine[mine["seq"].isin(first_seqs).to_numpy()]
        values = mine["value_normalized"].to_numpy(dtype=float)
        if limit is None or not len(values):
            item.update(result="not_observed", note="no meter values after the profile to show it was applied")
            continue
        if use_current:
            allowed, what = limit * (1 + tolerance) + 0.5, "A"  # half an ampere of measurement slack
        elif unit == "A":
            allowed, what = limit * volts * (phases or 3) * (1 + tolerance) + idle_w, "W"
        else:
            allowed, what = limit * (1 + tolerance) + idle_w, "W"
        measured = float(values.max())
        item.update(max_after=measured, max_allowed=round(allowed, 1), measured_unit=what,
                    readings=int(len(first_seqs)), frame_seqs=item["frame_seqs"] + _seqs(*first_seqs))
        if measured > allowed:
            item.update(result="fail", note=f"Accepted, but {measured:,.0f} {what} drawn after it (limit {limit:g} {unit})")
            ignored += 1
        else:
            item.update(result="pass")
            followed += 1
    evidence.extend(_composite_schedules(cap))
    if ignored:
        return Outcome("fail", f"{ignored} accepted profile(s) not obeyed: power stayed above the limit", evidence)
    if not accepted:
        return Outcome("fail", "no SetChargingProfile with TxProfile or ChargePointMaxProfile Accepted", evidence)
    if followed:
        rejected = len(rows) - accepted
        warnings = [f"{rejected} profile(s) not Accepted"] if rejected else []
        return Outcome("pass", f"{followed} accepted profile(s) obeyed by the meter values", evidence, warnings)
    return Outcome("not_observed", "profile Accepted, but no meter values after it show whether power followed",
                   evidence)


def _composite_schedules(cap: Any) -> list[dict[str, Any]]:
    """Evidence items of the GetCompositeSchedule answers: the limit the charger says it applies."""
    items = []
    for row in _calls(cap, "GetCompositeSchedule", CSMS_TO_CHARGER).to_dict("records"):
        request = row["request"] if isinstance(row["request"], dict) else {}
        response = row["response"] if isinstance(row.get("response"), dict) else {}
        schedule = response.get("chargingSchedule") if isinstance(response.get("chargingSchedule"), dict) else {}
        periods = schedule.get("chargingSchedulePeriod") or []
        first = periods[0] if periods and isinstance(periods[0], dict) else {}
        items.append({"charge_point_id": _clean(row["charge_point_id"]), "get_composite_schedule": request.get("connectorId"),
                      "answer": _reply_text(row), "limit": _clean(first.get("limit")),
                      "unit": _clean(schedule.get("chargingRateUnit")),
                      "frame_seqs": _seqs(row["request_seq"], row["reply_seq"])})
    return items


# --- R7 -------------------------------------------------------------------------------------------

@evaluator("trigger")
def trigger(cap: Any, req: Requirement, ctx: Context) -> Outcome:
    """TriggerMessage of each of ``messages`` Accepted and followed by that message within ``timeout_s``."""
    wanted = list(req.params.get("messages", ["BootNotification", "StatusNotification"]))
    timeout = float(req.params.get("timeout_s", 30.0))
    triggers = _calls(cap, "TriggerMessage", CSMS_TO_CHARGER)
    evidence: list[dict[str, Any]] = []
    results: dict[str, str] = {}
    for row in triggers.to_dict("records"):
        message = row["request"].get("requestedMessage") if isinstance(row["request"], dict) else None
        if message not in wanted:
            continue
        answer = _reply_text(row)
        item = {"charge_point_id": _clean(row["charge_point_id"]), "requested_message": message, "answer": answer,
                "frame_seqs": _seqs(row["request_seq"], row["reply_seq"])}
        evidence.append(item)
        if answer != "Accepted":
            item.update(result="fail", note=f"TriggerMessage {message} answered {answer}")
            results.setdefault(message, "fail")
            continue
        after = row["reply_ts"] if _clean(row["reply_ts"]) is not None else row["ts"]
        sent = _calls(cap, message, CHARGER_TO_CSMS)
        sent = sent[(sent["charge_point_id"] == row["charge_point_id"]).to_numpy(dtype=bool, na_value=False)
                    & (sent["ts"] >= row["ts"]).to_numpy(dtype=bool, na_value=False)
                    & (sent["ts"] <= after + pd.Timedelta(seconds=timeout)).to_numpy(dtype=bool, na_value=False)]
        if len(sent):
            first = sent.iloc[0]
            item.update(result="pass", delay_s=round((first["ts"] - row["ts"]).total_seconds(), 3),
                        frame_seqs=item["frame_seqs"] + _seqs(first["request_seq"]))
            results[message] = "pass" if results.get(message) != "fail" else "fail"
        else:
            item.update(result="fail", note=f"Accepted, but no {message} within {timeout:g} s")
            results[message] = "fail"
    failed = sorted(m for m, r in results.items() if r == "fail")
    missing = [m for m in wanted if m not in results]
    if failed:
        return Outcome("fail", f"TriggerMessage not honoured for {', '.join(failed)}", evidence)
    if missing:
        verdict_note = f"no TriggerMessage {', '.join(missing)} in the capture"
        return Outcome("not_observed", verdict_note, evidence)
    return Outcome("pass", f"TriggerMessage {', '.join(wanted)} Accepted and followed by the message", evidence)


# --- R8 -------------------------------------------------------------------------------------------

@evaluator("configuration")
def configuration(cap: Any, req: Requirement, ctx: Context) -> Outcome:
    """Per charge point: ChangeConfiguration of the sampled-data key (either spelling) and the interval key
    Accepted, then periodic MeterValues about every ``interval_s`` with the requested measurands."""
    keys = list(req.params.get("keys", ["MeterValuesSampledData", "MeterValuesSampleData"]))
    interval_key = req.params.get("interval_key", spec16.METER_VALUE_SAMPLE_INTERVAL)
    changes = _calls(cap, "ChangeConfiguration", CSMS_TO_CHARGER)
    wanted = [isinstance(r, dict) and r.get("key") in (*keys, interval_key) for r in changes["request"].tolist()]
    changes = changes[wanted]
    if not len(changes):
        return Outcome("not_observed", "no ChangeConfiguration of the sampled-data or interval key")
    evidence: list[dict[str, Any]] = []
    warnings: list[str] = []
    verdicts: list[tuple[str, str]] = []
    for cp, mine in changes.groupby(changes["charge_point_id"].astype(str), sort=False):
        verdict, summary, items, notes = _configuration_of(cap, req, str(cp), mine, keys, interval_key)
        verdicts.append((verdict, f"{cp}: {summary}"))
        evidence.extend(items)
        warnings.extend(f"{cp}: {note}" for note in notes)
    for wanted_verdict in ("fail", "not_observed"):
        chosen = [text for v, text in verdicts if v == wanted_verdict]
        if chosen:
            return Outcome(wanted_verdict, "; ".join(chosen), evidence, warnings)
    return Outcome("pass", "; ".join(text for _, text in verdicts), evidence, warnings)


def _configuration_of(cap: Any, req: Requirement, cp: str, changes: pd.DataFrame, keys: list[str],
                      interval_key: str) -> tuple[str, str, list[dict[str, Any]], list[str]]:
    """R8 for one charge point: (verdict, summary, evidence, warnings)."""
    interval_s = float(req.params.get("interval_s", 60.0))
    slack = float(req.params.get("interval_tolerance_s", 10.0))
    evidence: list[dict[str, Any]] = []
    accepted_keys: dict[str, Any] = {}
    answers: dict[str, str | None] = {}  # sampled-data key -> the charger's last answer to it
    interval_state = "not requested"
    last_accept_ts = None
    for row in changes.to_dict("records"):
        key, value = row["request"].get("key"), row["request"].get("value")
        answer = _reply_text(row)
        evidence.append({"charge_point_id": cp, "key": key, "value": value, "answer": answer,
                         "frame_seqs": _seqs(row["request_seq"], row["reply_seq"])})
        good = answer in ("Accepted", "RebootRequired")
        if key in keys:
            answers[key] = answer
        if key in keys and good:
            accepted_keys[key] = value
        if key == interval_key:
            number = _number(value)
            if number is None or abs(number - interval_s) > 1e-9:
                interval_state = "other value" if interval_state != "accepted" else interval_state
            elif good:
                interval_state = "accepted"
            elif interval_state != "accepted":
                interval_state = f"answered {answer}"
        if good:
            last_accept_ts = row["reply_ts"] if _clean(row["reply_ts"]) is not None else row["ts"]
    spelled = {key: ("accepted" if key in accepted_keys else "not accepted / not sent") for key in keys}
    evidence.insert(0, {"charge_point_id": cp, "sampled_data_key_spellings": spelled,
                        f"{interval_key}={interval_s:g}": interval_state})
    warnings = ([f"sampled-data key accepted only as {', '.join(accepted_keys)}"]
                if accepted_keys and len(accepted_keys) < len(keys) else [])
    problems = []
    standard = keys[0]  # the OCPP key (profiles list it first); the others are a document's spellings
    if not accepted_keys:
        problems.append(f"neither {' nor '.join(keys)} was accepted")
    elif standard not in accepted_keys and standard in answers:
        # Accepting only the standard key is spec-conformant (a warning above); refusing it while taking a
        # document's spelling means a CSMS that uses the OCPP key cannot configure sampled data.
        problems.append(f"the OCPP key {standard} was answered {answers[standard]}; only "
                        f"{', '.join(accepted_keys)} was accepted")
    if interval_state not in ("accepted", "not requested", "other value"):
        problems.append(f"{interval_key} = {interval_s:g} {interval_state}")
    if problems:
        return "fail", "; ".join(problems), evidence, warnings
    requested = set(req.params.get("measurands", []))
    for value in accepted_keys.values():
        if isinstance(value, str):
            requested |= {m.strip() for m in value.split(",") if m.strip()}
    samples = _periodic_samples(cap)
    samples = samples[(samples["charge_point_id"].astype(str) == cp).to_numpy()
                      & (samples["capture_ts"] > last_accept_ts).to_numpy(dtype=bool, na_value=False)
                      & (samples["context"].astype(str) == spec16.SAMPLE_PERIODIC).to_numpy()]
    if not len(samples):
        return "not_observed", "configuration Accepted, but no periodic MeterValues after it", evidence, warnings
    messages = samples.drop_duplicates("seq")
    gaps: list[float] = []
    for _, group in messages.groupby(messages["connector_id"], sort=False):
        times = group["ts"].dropna().sort_values()
        gaps.extend(times.diff().dt.total_seconds().dropna().tolist())
    seen = set(samples["measurand"].astype(str))
    missing = sorted(requested - seen)
    median = float(np.median(gaps)) if gaps else None
    evidence.append({"charge_point_id": cp, "periodic_meter_values": int(len(messages)), "median_interval_s": median,
                     "measurands_seen": sorted(seen), "frame_seqs": _seqs(*messages["seq"].head(5))})
    failures = []
    if missing:
        failures.append(f"MeterValues lack {', '.join(missing)}")
    if interval_state == "accepted" and median is not None and abs(median - interval_s) > slack:
        failures.append(f"MeterValues every {median:.0f} s, not {interval_s:g} s")
    if failures:
        return "fail", "; ".join(failures), evidence, warnings
    if interval_state != "accepted":
        return "not_observed", (f"sampled data Accepted and sent; {interval_key} = {interval_s:g} not requested "
                                "in the capture"), evidence, warnings
    if median is None:
        return "not_observed", "configuration Accepted, but fewer than two periodic MeterValues after it", evidence, warnings
    return "pass", (f"configuration Accepted; MeterValues every {median:.0f} s with "
                    f"{', '.join(sorted(requested))}"), evidence, warnings


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


# --- R9 -------------------------------------------------------------------------------------------

@evaluator("energy")
def energy(cap: Any, req: Requirement, ctx: Context) -> Outcome:
    """Per complete session, meterStop - meterStart, the register span and integrated power agree
    (the energy checks of the registry decide; their warnings fail the requirement)."""
    tx = cap.transactions
    complete = tx[(tx["completeness"] == "complete").to_numpy(dtype=bool, na_value=False)]
    three = complete[complete[["energy_wh", "energy_register_wh", "energy_integrated_wh"]].notna().all(axis=1)]
    findings = _at_least(ctx.findings(cap, req.checks), req.params.get("fail_on", "warning"))
    evidence = []
    for row in complete.head(10).to_dict("records"):
        evidence.append({"charge_point_id": _clean(row["charge_point_id"]), "transaction_id": _clean(row["transaction_id"]),
                         "energy_meter_wh": _clean(row["energy_wh"]), "energy_register_wh": _clean(row["energy_register_wh"]),
                         "energy_integrated_wh": _clean(row["energy_integrated_wh"]),
                         "frame_seqs": _seqs(row["start_seq"], row["stop_seq"])})
    if len(findings):
        return Outcome("fail", f"{len(findings)} energy disagreement(s)", [*_finding_evidence(findings), *evidence])
    if not len(complete):
        return Outcome("not_observed", "no complete session (StartTransaction and StopTransaction)", evidence)
    if not len(three):
        return Outcome("not_observed", "no session with meterStart/meterStop, register samples and power samples",
                       evidence)
    return Outcome("pass", f"{len(three)} session(s): meter, register and integrated power agree", evidence)


# --- R10 ------------------------------------------------------------------------------------------

@evaluator("status_power")
def status_power(cap: Any, req: Requirement, ctx: Context) -> Outcome:
    """The statuses used, and Charging with power / Suspended* without (findings of the power-vs-status
    checks fail it)."""
    status = cap.status
    if not len(status):
        return Outcome("not_observed", "no StatusNotification in the capture")
    used = status["status"].astype(str).value_counts()
    evidence: list[dict[str, Any]] = [{"statuses_used": {k: int(v) for k, v in used.items()}}]
    findings = _at_least(ctx.findings(cap, req.checks), req.params.get("fail_on", "warning"))
    if len(findings):
        return Outcome("fail", f"{len(findings)} status/power disagreement(s)", [*evidence, *_finding_evidence(findings)])
    power = _periodic_samples(cap)
    power = power[(power["measurand"] == spec16.POWER_IMPORT).to_numpy(dtype=bool, na_value=False)]
    if spec16.CHARGING_STATUS not in used.index or not len(power):
        return Outcome("not_observed", "no Charging status with power readings to compare", evidence)
    return Outcome("pass", "statuses agree with power", evidence)


# --- generic and manual -----------------------------------------------------------------------------

@evaluator("checks")
def checks(cap: Any, req: Requirement, ctx: Context) -> Outcome:
    """Generic: pass when the actions in ``needs`` occur and no listed check reports a finding at
    ``fail_on`` severity (default error) or worse; lesser findings become warnings."""
    needs = list(req.params.get("needs", []))
    if not len(cap.frames):
        return Outcome("not_observed", "no frames in the capture")
    actions = set(cap.frames["action"].dropna().astype(str))
    missing = [a for a in needs if a not in actions]
    if missing:
        return Outcome("not_observed", f"no {', '.join(missing)} in the capture")
    findings = ctx.findings(cap, req.checks)
    failing = _at_least(findings, req.params.get("fail_on", "error"))
    lesser = findings.drop(failing.index)
    warnings = [f"{row['check']}: {row['message']}" for row in lesser.head(5).to_dict("records")]
    if len(failing):
        return Outcome("fail", f"{len(failing)} finding(s) of {', '.join(sorted(set(failing['check'])))}",
                       _finding_evidence(failing), warnings)
    return Outcome("pass", f"no {req.params.get('fail_on', 'error')} from {', '.join(req.checks)}",
                   _finding_evidence(lesser), warnings)


@evaluator("manual")
def manual(cap: Any, req: Requirement, ctx: Context) -> Outcome:
    """Requirements OCPP traffic cannot show (remote access, connectivity): always not_observed."""
    return Outcome("not_observed", "not visible in OCPP traffic: to be confirmed by the manufacturer")
