"""Factories for tests and notebooks: capture records and small capture files from a script of frames.

A script is a list of ``(t_s, direction, message)``: ``t_s`` seconds after ``start``,
``direction`` a :class:`~workbench.capture.Direction` (or ``"up"`` = charger_to_csms,
``"down"`` = csms_to_charger), ``message`` an OCPP-J list (encoded compactly), a str (sent
verbatim, so it can be malformed) or bytes (a binary frame)::

    from workbench.testing import make_capture, clean_session_script
    path = make_capture(tmp_path / "cp1.ocpp.jsonl", "CP1", clean_session_script())
    cap = workbench.load(path)
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from . import __version__
from .capture import records as rec
from .capture.records import Direction
from .capture.writer import CaptureWriter

DEFAULT_START = dt.datetime(2025, 1, 6, 8, 0, 0, tzinfo=dt.timezone.utc)
"""Start of every factory capture unless told otherwise (a Monday, 08:00 UTC)."""

_DIRECTION_ALIASES = {"up": Direction.CHARGER_TO_CSMS, "down": Direction.CSMS_TO_CHARGER}

ScriptEntry = tuple[float, "Direction | str", "list[Any] | str | bytes"]


def direction_of(value: Direction | str) -> Direction:
    """``Direction`` from a Direction, its value, or the aliases ``"up"``/``"down"``."""
    if isinstance(value, str) and value in _DIRECTION_ALIASES:
        return _DIRECTION_ALIASES[value]
    return Direction(value)


def ts_at(t_s: float, start: dt.datetime = DEFAULT_START) -> str:
    """The capture timestamp ``t_s`` seconds after ``start``."""
    return rec.format_ts(start + dt.timedelta(seconds=t_s))


def iso_at(t_s: float, start: dt.datetime = DEFAULT_START) -> str:
    """An OCPP payload timestamp ``t_s`` seconds after ``start`` (UTC, milliseconds, ``Z``)."""
    when = start + dt.timedelta(seconds=t_s)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def encode(message: list[Any] | str | bytes) -> str | bytes:
    """A script message as frame content: lists become compact JSON, str/bytes pass unchanged."""
    if isinstance(message, (str, bytes)):
        return message
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False)


def factory_header(**extra: Any) -> dict[str, Any]:
    """A capture header for factory-made captures (``proxy_mode`` ``"synthetic"``)."""
    return rec.header(tool="workbench.testing", tool_version=__version__,
                      started_at=rec.format_ts(DEFAULT_START), proxy_mode="synthetic", **extra)


def charger_records(
    charge_point_id: str,
    script: Iterable[ScriptEntry],
    *,
    start: dt.datetime = DEFAULT_START,
    connection_id: str | None = None,
    open_at_s: float | None = None,
    close_at_s: float | None = None,
    close_code: int | None = 1000,
    closed_by: str = "charger",
    subprotocol: str | None = "ocpp1.6",
    tls_version: str | None = "TLSv1.2",
    cipher: str | None = "ECDHE-RSA-AES128-GCM-SHA256",
    auth_user: str | None = None,
    auth_password_present: bool = True,
    proxy_actions: dict[int, str] | None = None,
) -> list[dict[str, Any]]:
    """Records of one WebSocket connection: ``connection_open``, one ``frame`` per script entry, and a
    ``connection_close`` when ``close_at_s`` is given.

    The connection opens at ``open_at_s`` (default: 0.1 s before the first frame) and
    ``connection_id`` defaults to ``"<charge_point_id>-1"``. ``proxy_actions`` maps a script index to
    a ProxyAction value for that frame. TLS facts and Basic Auth user default to a profile-2 charger.
    """
    entries = list(script)
    connection_id = connection_id or f"{charge_point_id}-1"
    first_s = min((float(e[0]) for e in entries), default=0.0)
    open_s = first_s - 0.1 if open_at_s is None else open_at_s
    tls = rec.tls_facts(tls_version, cipher, "csms.example") if tls_version or cipher else None
    records: list[dict[str, Any]] = [rec.connection_open(
        ts=ts_at(open_s, start), connection_id=connection_id, charge_point_id=charge_point_id,
        url_path=f"/ocpp/{charge_point_id}", client_address="127.0.0.1:50000",
        subprotocols_offered=["ocpp1.6"], subprotocol=subprotocol, charger_tls=tls, csms_tls=tls,
        auth_scheme="Basic" if auth_password_present else None,
        auth_user=(auth_user or charge_point_id) if auth_password_present else None,
        auth_password_present=auth_password_present,
    )]
    for index, (t_s, direction, message) in enumerate(entries):
        action = (proxy_actions or {}).get(index)
        records.append(rec.frame(ts=ts_at(float(t_s), start), connection_id=connection_id,
                                 direction=direction_of(direction), content=encode(message),
                                 proxy_action=action))
    if close_at_s is not None:
        records.append(rec.connection_close(ts=ts_at(close_at_s, start), connection_id=connection_id,
                                            close_code=close_code, closed_by=closed_by))
    return records


def merge_records(*record_lists: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Interleave several connections' records by ``ts`` (stable), as a proxy would have written them."""
    merged = [r for records in record_lists for r in records]
    return sorted(merged, key=lambda r: r.get("ts", ""))


def write_capture(path: str | os.PathLike[str], records: Iterable[dict[str, Any]],
                  header: dict[str, Any] | None = None) -> Path:
    """Write ``records`` (header excluded) to ``path`` with the real CaptureWriter; returns the path."""
    path = Path(path)
    with CaptureWriter(path, header or factory_header()) as writer:
        for record in records:
            writer.write(record)
    return path


def make_capture(path: str | os.PathLike[str], charge_point_id: str, script: Iterable[ScriptEntry],
                 **options: Any) -> Path:
    """Write a one-connection capture of ``script`` to ``path``; ``options`` as :func:`charger_records`."""
    return write_capture(path, charger_records(charge_point_id, script, **options))


# --- OCPP message builders (lists, ready for a script) ---------------------------------------

def call(unique_id: str, action: str, payload: dict[str, Any]) -> list[Any]:
    """A CALL message: ``[2, id, action, payload]``."""
    return [2, unique_id, action, payload]


def result(unique_id: str, payload: dict[str, Any] | None = None) -> list[Any]:
    """A CALLRESULT message: ``[3, id, payload]``."""
    return [3, unique_id, payload or {}]


def error(unique_id: str, code: str = "InternalError", description: str = "",
          details: dict[str, Any] | None = None) -> list[Any]:
    """A CALLERROR message: ``[4, id, code, description, details]``."""
    return [4, unique_id, code, description, details or {}]


def exchange(t_s: float, unique_id: str, action: str, request: dict[str, Any],
             response: dict[str, Any] | None = None, *, from_charger: bool = True,
             latency_s: float = 0.05) -> list[ScriptEntry]:
    """A CALL and its CALLRESULT ``latency_s`` later: two script entries."""
    there, back = ("up", "down") if from_charger else ("down", "up")
    return [(t_s, there, call(unique_id, action, request)),
            (t_s + latency_s, back, result(unique_id, response or {}))]


def sampled_energy_power(energy_wh: float, power_w: float, *, context: str = "Sample.Periodic") -> list[dict[str, Any]]:
    """Two sampled values: the energy register (Wh, as a decimal string) and active power (W)."""
    return [
        {"value": f"{energy_wh:.1f}", "context": context, "measurand": "Energy.Active.Import.Register",
         "location": "Outlet", "unit": "Wh"},
        {"value": f"{power_w:.1f}", "context": context, "measurand": "Power.Active.Import",
         "location": "Outlet", "unit": "W"},
    ]


def clean_session_script(
    *,
    connector_id: int = 1,
    transaction_id: int = 1001,
    id_tag: str = "TAG0001",
    meter_start_wh: float = 10000.0,
    power_w: float = 7200.0,
    charge_s: float = 1800.0,
    sample_interval_s: float = 60.0,
    heartbeat_interval_s: int = 300,
    start: dt.datetime = DEFAULT_START,
    t0_s: float = 0.0,
) -> list[ScriptEntry]:
    """A spec-clean exchange of one charger, all schema-valid with prompt replies: boot (Accepted),
    status of connectors 0 and ``connector_id``, a transaction charging at constant ``power_w`` for
    ``charge_s`` with a Transaction.Begin reading, MeterValues every ``sample_interval_s`` and a
    Transaction.End reading in the StopTransaction, then back to Available and one Heartbeat.

    The energy delivered is exactly ``power_w * charge_s / 3600`` Wh and every register sample
    agrees with it. Payload timestamps equal capture times. ``t0_s`` shifts the whole script.
    """
    entries: list[ScriptEntry] = []
    counter = iter(range(1, 1_000_000))

    def uid() -> str:
        return f"m{next(counter)}"

    t = t0_s
    entries += exchange(t, uid(), "BootNotification",
                        {"chargePointVendor": "Workbench", "chargePointModel": "Factory"},
                        {"status": "Accepted", "currentTime": iso_at(t, start), "interval": heartbeat_interval_s})
    for cid in (0, connector_id):
        t += 1.0
        entries += exchange(t, uid(), "StatusNotification",
                            {"connectorId": cid, "errorCode": "NoError", "status": "Available",
                             "timestamp": iso_at(t, start)})
    t += 10.0
    entries += exchange(t, uid(), "StatusNotification",
                        {"connectorId": connector_id, "errorCode": "NoError", "status": "Preparing",
                         "timestamp": iso_at(t, start)})
    t += 2.0
    entries += exchange(t, uid(), "Authorize", {"idTag": id_tag}, {"idTagInfo": {"status": "Accepted"}})
    t += 2.0
    begin_s = t
    entries += exchange(t, uid(), "StartTransaction",
                        {"connectorId": connector_id, "idTag": id_tag, "meterStart": int(meter_start_wh),
                         "timestamp": iso_at(t, start)},
                        {"transactionId": transaction_id, "idTagInfo": {"status": "Accepted"}})
    t += 0.5
    entries += exchange(t, uid(), "StatusNotification",
                        {"connectorId": connector_id, "errorCode": "NoError", "status": "Charging",
                         "timestamp": iso_at(t, start)})
    entries += exchange(begin_s + 1.0, uid(), "MeterValues", {
        "connectorId": connector_id, "transactionId": transaction_id,
        "meterValue": [{"timestamp": iso_at(begin_s, start),
                        "sampledValue": sampled_energy_power(meter_start_wh, power_w, context="Transaction.Begin")}],
    })
    elapsed = sample_interval_s
    while elapsed < charge_s:
        ts = begin_s + elapsed
        entries += exchange(ts, uid(), "MeterValues", {
            "connectorId": connector_id, "transactionId": transaction_id,
            "meterValue": [{"timestamp": iso_at(ts, start),
                            "sampledValue": sampled_energy_power(meter_start_wh + power_w * elapsed / 3600.0,
                                                                 power_w)}],
        })
        elapsed += sample_interval_s
    end_s = begin_s + charge_s
    meter_stop_wh = meter_start_wh + power_w * charge_s / 3600.0
    entries += exchange(end_s, uid(), "StatusNotification",
                        {"connectorId": connector_id, "errorCode": "NoError", "status": "Finishing",
                         "timestamp": iso_at(end_s, start)})
    entries += exchange(end_s + 0.5, uid(), "StopTransaction",
                        {"transactionId": transaction_id, "idTag": id_tag, "meterStop": int(round(meter_stop_wh)),
                         "timestamp": iso_at(end_s + 0.5, start), "reason": "Local",
                         "transactionData": [{"timestamp": iso_at(end_s, start),
                                              "sampledValue": sampled_energy_power(meter_stop_wh, 0.0,
                                                                                   context="Transaction.End")}]},
                        {"idTagInfo": {"status": "Accepted"}})
    entries += exchange(end_s + 20.0, uid(), "StatusNotification",
                        {"connectorId": connector_id, "errorCode": "NoError", "status": "Available",
                         "timestamp": iso_at(end_s + 20.0, start)})
    t = end_s + 20.0 + heartbeat_interval_s
    entries += exchange(t, uid(), "Heartbeat", {}, {"currentTime": iso_at(t, start)})
    return entries


# --- hostile traffic ---------------------------------------------------------------------------

HOSTILE_NUMBERS: tuple[Any, ...] = (0, 1, -1, 2, 7, 2**31, 2**63 - 1, 2**63, 2**64 + 1, -(2**70), 10**30, 1.5, -0.0,
                                    1e300, float("nan"), float("inf"), float("-inf"), True, None, "12", "x", [], {})
"""Values a fuzzing charger puts where OCPP wants a number: beyond 64 bits, NaN/Infinity, other JSON types."""
HOSTILE_TEXTS: tuple[Any, ...] = ("TAG1", "", "\udc80", "W\ud800h", "Energy.Active.Import.Register", "Charging",
                                  "Power.Active.Import", "x" * 300, 5, None, ["a"], {"k": "v"})
"""Values a fuzzing charger puts where OCPP wants a string: lone surrogates, huge, empty, other JSON types."""
_FUZZ_ACTIONS = ("MeterValues", "StartTransaction", "StopTransaction", "StatusNotification", "Heartbeat",
                 "BootNotification", "Authorize", "DataTransfer", "NoSuchAction")


def fuzzed_script(frames: int, *, seed: int = 0, start: dt.datetime = DEFAULT_START, id_pool: int = 40,
                  huge_frame_bytes: int = 0) -> list[ScriptEntry]:
    """``frames`` script entries of hostile traffic from one fuzzing charger and a careless CSMS.

    Deterministic for a ``seed``. Most CALLs stay unanswered, message ids repeat (drawn from ``id_pool``
    ids), replies answer random earlier ids, payload fields hold :data:`HOSTILE_NUMBERS` and
    :data:`HOSTILE_TEXTS`, and some frames are NaN/Infinity, lone surrogate escapes, integers beyond 64
    bits, nested far beyond any limit, or not JSON at all. ``huge_frame_bytes`` > 0 adds one DataTransfer
    CALL of about that many bytes.
    """
    import random

    rng = random.Random(seed)
    sent: list[str] = []

    def number() -> Any:
        return rng.choice(HOSTILE_NUMBERS)

    def text() -> Any:
        return rng.choice(HOSTILE_TEXTS)

    def when(t_s: float) -> Any:
        return rng.choice((iso_at(t_s, start), iso_at(t_s, start), "9999-12-31T23:59:59Z", "0001-01-01T00:00:00",
                           "2025-13-45T99:99:99Z", "", number()))

    def sampled() -> dict[str, Any]:
        sample = {"value": rng.choice((str(rng.randint(0, 10**6)), "1e400", "NaN", "-5", "\udc80", number())),
                  "measurand": text(), "unit": rng.choice(("Wh", "kWh", "W", "kW", text()))}
        if rng.random() < 0.3:
            sample.update(context=text(), phase=text(), location=text(), format=text())
        return sample

    def payload(action: str, t_s: float) -> dict[str, Any]:
        if action == "MeterValues":
            return {"connectorId": number(), "transactionId": number(),
                    "meterValue": [{"timestamp": when(t_s), "sampledValue": [sampled() for _ in range(rng.randint(0, 3))]}
                                   for _ in range(rng.randint(0, 2))]}
        if action == "StartTransaction":
            return {"connectorId": number(), "idTag": text(), "meterStart": number(), "timestamp": when(t_s)}
        if action == "StopTransaction":
            return {"transactionId": number(), "meterStop": number(), "timestamp": when(t_s), "reason": text(),
                    "transactionData": [{"timestamp": when(t_s), "sampledValue": [sampled()]}]}
        if action == "StatusNotification":
            return {"connectorId": number(), "errorCode": text(), "status": text(), "timestamp": when(t_s)}
        if action == "DataTransfer":
            return {"vendorId": text(), "data": text()}
        return {"idTag": text()} if action == "Authorize" else {}

    def message_id() -> str:
        return f"id{rng.randrange(id_pool)}" if rng.random() < 0.5 else f"u{rng.getrandbits(40):x}"

    entries: list[ScriptEntry] = []
    t_s = 0.0
    for _ in range(frames):
        t_s += rng.choice((0.0, 0.001, 0.5, 3.0, 40.0))
        roll = rng.random()
        if roll < 0.50:  # a CALL, most of them never answered
            unique_id, action = message_id(), rng.choice(_FUZZ_ACTIONS)
            sent.append(unique_id)
            entries.append((t_s, "up", call(unique_id, action, payload(action, t_s))))
        elif roll < 0.60:
            unique_id = message_id()
            sent.append(unique_id)
            entries.append((t_s, "down", call(unique_id, rng.choice(("Reset", "RemoteStartTransaction")),
                                              {"type": text(), "idTag": text()})))
        elif roll < 0.78 and sent:  # a reply to some earlier id, in either direction
            answered = rng.choice(sent)
            response = {"transactionId": number(), "idTagInfo": {"status": text()}, "currentTime": when(t_s),
                        "interval": number(), "status": text()}
            entries.append((t_s, rng.choice(("down", "down", "up")), result(answered, response)))
        elif roll < 0.82 and sent:
            entries.append((t_s, "down", error(rng.choice(sent), text() if rng.random() < 0.5 else "InternalError",
                                               "\udc80", {"n": number()})))
        else:  # a frame no decoder likes
            unique_id = message_id()
            entries.append((t_s, rng.choice(("up", "down")), rng.choice((
                f'[2,"{unique_id}","MeterValues",{{"connectorId":NaN,"transactionId":Infinity,"meterValue":[]}}]',
                f'[2,"{unique_id}","Heartbeat",{{"n":{rng.choice((2**64, -(2**80), 10**40))}}}]',
                f'[3,"{unique_id}",{{"transactionId":{10**25},"idTagInfo":{{"status":"Accepted"}}}}]',
                '[2,"\\ud800","StatusNotification",{"connectorId":1,"errorCode":"\\udc80","status":"\\udfff"}]',
                f'[{2**70},"{unique_id}","Heartbeat",{{}}]',
                '[2,"deep","Heartbeat",' + '{"a":' * 1200 + "{}" + "}" * 1200 + "]",
                '[' * 200_000,
                "not json at all", "", '[2,"cut","MeterValues",{"connectorId":1,', "[]", "{}", "null",
            ))))
    if huge_frame_bytes > 0:
        entries.append((t_s + 1.0, "up", call("huge", "DataTransfer", {"vendorId": "V", "data": "x" * huge_frame_bytes})))
    # As a charger sends them: UTF-8 text, so a lone surrogate travels as its JSON escape.
    return [(t, d, m if isinstance(m, str) else json.dumps(m, separators=(",", ":"))) for t, d, m in entries]
