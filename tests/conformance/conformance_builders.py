"""Hand-built captures for the conformance tests: a clean session plus CSMS requests spliced in."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import workbench as wb
from workbench.analysis import Capture
from workbench.capture import records as rec
from workbench.testing import (DEFAULT_START, call, charger_records, clean_session_script, exchange, factory_header,
                               iso_at, result, sampled_energy_power, write_capture)

CP = "CP1"
BEGIN_S = 16.0  # StartTransaction time of clean_session_script() (t0 0): boot 0, statuses 1, 2, 12, authorize 14
TX = 1001


def session(**options: Any) -> list[Any]:
    """clean_session_script() with its options: 7.2 kW for 30 min from t=16 s, samples every 60 s."""
    return clean_session_script(**options)


def down(t_s: float, uid: str, action: str, request: dict[str, Any], response: dict[str, Any] | None,
         *, error_code: str | None = None) -> list[Any]:
    """A CSMS request at ``t_s`` and the charger's answer (a CALLERROR when ``error_code``)."""
    entries: list[Any] = [(t_s, "down", call(uid, action, request))]
    if error_code:
        entries.append((t_s + 0.05, "up", [4, uid, error_code, "", {}]))
    elif response is not None:
        entries.append((t_s + 0.05, "up", result(uid, response)))
    return entries


def up(t_s: float, uid: str, action: str, request: dict[str, Any], response: dict[str, Any] | None = None) -> list[Any]:
    """A charger request at ``t_s`` answered by the CSMS."""
    return exchange(t_s, uid, action, request, response or {})


def status(t_s: float, uid: str, value: str, connector: int = 1) -> list[Any]:
    return up(t_s, uid, "StatusNotification", {"connectorId": connector, "errorCode": "NoError", "status": value,
                                               "timestamp": iso_at(t_s)})


def meter(t_s: float, uid: str, energy_wh: float, power_w: float, *, measurands: list[str] | None = None) -> list[Any]:
    """A MeterValues of transaction TX at ``t_s`` (energy and power, or only ``measurands`` of them)."""
    values = sampled_energy_power(energy_wh, power_w)
    if measurands is not None:
        values = [v for v in values if v["measurand"] in measurands]
    return up(t_s, uid, "MeterValues", {"connectorId": 1, "transactionId": TX,
                                        "meterValue": [{"timestamp": iso_at(t_s), "sampledValue": values}]})


def replace_meter_values(script: list[Any], power_after: dict[float, float]) -> list[Any]:
    """``script`` with the power of MeterValues from each time in ``power_after`` on set to its value
    (the energy register left as it was: only R6 reads the power here)."""
    out = []
    for t_s, direction, message in script:
        if isinstance(message, list) and message[0] == 2 and message[2] == "MeterValues":
            new_power = None
            for since, power in sorted(power_after.items()):
                if t_s >= since:
                    new_power = power
            if new_power is not None:
                payload = message[3]
                for item in payload["meterValue"]:
                    for sv in item["sampledValue"]:
                        if sv["measurand"] == "Power.Active.Import":
                            sv["value"] = f"{new_power:.1f}"
        out.append((t_s, direction, message))
    return out


def build(script: list[Any], *, records: list[dict[str, Any]] | None = None, header: dict[str, Any] | None = None,
          tmp_path: Path | None = None, **options: Any) -> Capture:
    """A Capture of one connection running ``script`` (sorted by time) plus extra ``records``; written to
    and loaded from a file when ``tmp_path`` is given (the real reader), else from records."""
    ordered = sorted(script, key=lambda entry: entry[0])
    all_records = charger_records(CP, ordered, **options) + list(records or [])
    all_records.sort(key=lambda r: r.get("ts", ""))
    if tmp_path is not None:
        path = write_capture(tmp_path / "cap.ocpp.jsonl", all_records, header or factory_header())
        return wb.load(path)
    return Capture.from_records(all_records, header or factory_header())


def tls_failed_record(t_s: float, *, versions: list[str], ciphers: list[str]) -> dict[str, Any]:
    return rec.tls_handshake_failed(ts=_ts(t_s), connection_id="CP1-tls", client_address="127.0.0.1:50001",
                                    error="no protocols available", failure="protocol_version", sni="csms.example",
                                    offered_versions=versions, offered_ciphers=ciphers, client_hello_read=True)


def rejected_record(t_s: float, *, status_code: int = 401, user: str | None = CP, password: bool = True,
                    tls: bool = True) -> dict[str, Any]:
    return rec.upgrade_rejected(ts=_ts(t_s), connection_id="CP1-rej", charge_point_id=CP, url_path=f"/ocpp/{CP}",
                                status_code=status_code, reason="Unauthorized",
                                charger_tls=rec.tls_facts("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256", "csms.example")
                                if tls else None,
                                auth_scheme="Basic" if password else None, auth_user=user if password else None,
                                auth_password_present=password)


def _ts(t_s: float) -> str:
    return rec.format_ts(DEFAULT_START + dt.timedelta(seconds=t_s))


def verdict(cap: Capture, rid: str, profile: str = "ev-energy", **params: Any) -> Any:
    """The row of requirement ``rid``."""
    res = wb.check(cap, profile, params={rid: params} if params else None)
    return next(row for row in res.rows if row.requirement.id == rid)
