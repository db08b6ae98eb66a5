"""The connections table: one row per WebSocket connection, rejected upgrade or failed TLS handshake
(Zeek's conn.log is the model).

Built from the ``connection_open`` / ``upgrade_rejected`` / ``tls_handshake_failed`` /
``connection_close`` records and the frame counts of the frames table. A connection seen only through its frames (its open record is
in an earlier file that was not loaded) still gets a row, with what is known.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..capture.identity import connection_charge_point_id
from ._columns import int64_column, str_column, utc_times
from ._fields import int_or_none, text_or_none

COLUMNS: dict[str, tuple[str, str, str]] = {
    # name: (dtype, unit, meaning)
    "ts": ("datetime64[us, UTC]", "UTC", "when the upgrade was accepted/rejected (or the first frame seen)"),
    "connection_id": ("str", "", "connection id (joins frames and calls)"),
    "charge_point_id": ("str", "", "charge point identity from the upgrade URL"),
    "close_ts": ("datetime64[us, UTC]", "UTC", "when the connection closed, or NaT"),
    "duration_s": ("float64", "s", "close_ts - ts; up to the last frame when open at end; NaN when rejected or tls_failed"),
    "url_path": ("str", "", "the upgrade request's path"),
    "client_address": ("str", "", "charger address as host:port"),
    "charger_tls_version": ("str", "", "TLS version on the charger leg (e.g. TLSv1.2), missing for plain ws"),
    "charger_cipher": ("str", "", "OpenSSL cipher name on the charger leg"),
    "charger_sni": ("str", "", "server name the charger sent (SNI), also of a failed handshake"),
    "csms_tls_version": ("str", "", "TLS version on the proxy-to-CSMS leg"),
    "csms_cipher": ("str", "", "OpenSSL cipher name on the proxy-to-CSMS leg"),
    "subprotocol": ("str", "", "negotiated Sec-WebSocket-Protocol (ocpp1.6), missing if none"),
    "auth_scheme": ("str", "", "HTTP auth scheme of the upgrade (Basic), missing if none"),
    "auth_user": ("str", "", "Basic Auth user name (the password is never captured)"),
    "auth_password_present": ("bool", "", "whether a Basic Auth password was sent"),
    "close_code": ("Int64", "", "WebSocket close code, or <NA>"),
    "close_reason": ("str", "", "WebSocket close reason"),
    "closed_by": ("str", "", "charger | csms | proxy | unknown"),
    "frames_charger_to_csms": ("int64", "frames", "frames sent by the charger on this connection"),
    "frames_csms_to_charger": ("int64", "frames", "frames sent by the CSMS on this connection"),
    "state": ("str", "", "open_at_end | closed | rejected | tls_failed"),
    "http_status": ("Int64", "", "HTTP status of a rejected upgrade (401, 404, ...), else <NA>"),
    "tls_failure": ("str", "", "why the charger's TLS handshake failed (protocol_version, no_shared_cipher, "
                    "certificate_rejected, ...), missing unless tls_failed"),
    "tls_error": ("str", "", "the proxy's TLS error text (with OpenSSL's reason or the charger's alert), missing unless tls_failed"),
}

STATES = ("open_at_end", "closed", "rejected", "tls_failed")
_NO_WEBSOCKET = {"upgrade_rejected": "rejected", "tls_handshake_failed": "tls_failed"}
"""Record types of a connection that never became a WebSocket, and the state their row gets."""


def _tls(record: Mapping[str, Any], leg: str) -> Mapping[str, Any]:
    facts = record.get(leg)
    return facts if isinstance(facts, dict) else {}


def build_connections(connection_records: Iterable[Mapping[str, Any]], frames: pd.DataFrame) -> pd.DataFrame:
    """The connections table from connection records (any order) and the frames table, ordered by ts."""
    opens: dict[str, Mapping[str, Any]] = {}
    closes: dict[str, Mapping[str, Any]] = {}
    for record in connection_records:
        connection_id = text_or_none(record.get("connection_id"))
        if connection_id is None:
            continue
        kind = record.get("type")
        if kind == "connection_open" or kind in _NO_WEBSOCKET:
            opens.setdefault(connection_id, record)  # rotated files repeat the open record of live connections
        elif kind == "connection_close":
            closes[connection_id] = record

    counts: dict[tuple[str, str], int] = {}
    first_ts: dict[str, pd.Timestamp] = {}
    last_ts: dict[str, pd.Timestamp] = {}
    frame_cp: dict[str, Any] = {}
    if len(frames):
        # Group on integer codes: grouping a million Arrow strings directly is several times slower.
        codes, uniques = pd.factorize(frames["connection_id"], use_na_sentinel=True)
        known = codes >= 0
        names = [str(u) for u in uniques]
        for side in ("charger_to_csms", "csms_to_charger"):
            # A mask, not direction.to_numpy(dtype=object): a million Python strings cost far more.
            on_side = (frames["direction"] == side).to_numpy(dtype=bool, na_value=False)
            tally = np.bincount(codes[known & on_side], minlength=len(names))
            counts.update({(name, side): int(n) for name, n in zip(names, tally.tolist())})
        by_code = frames[["ts", "charge_point_id"]][known].groupby(codes[known], sort=True)
        first = by_code["ts"].min()
        last = by_code["ts"].max()
        cps = by_code["charge_point_id"].first()
        first_ts = {names[c]: t for c, t in first.items()}
        last_ts = {names[c]: t for c, t in last.items()}
        frame_cp = {names[c]: cp for c, cp in cps.items()}

    ids = list(opens) + [c for c in first_ts if c not in opens]
    rows: dict[str, list[Any]] = {name: [] for name in COLUMNS}
    for connection_id in ids:
        record = opens.get(connection_id, {})
        close = closes.get(connection_id, {})
        never_opened = _NO_WEBSOCKET.get(record.get("type"))
        rejected = never_opened == "rejected"
        tls_failed = never_opened == "tls_failed"
        charger_tls, csms_tls = _tls(record, "charger_tls"), _tls(record, "csms_tls")
        rows["ts"].append(record.get("ts") or first_ts.get(connection_id))
        rows["connection_id"].append(connection_id)
        rows["charge_point_id"].append(connection_charge_point_id(record) if record
                                       else text_or_none(frame_cp.get(connection_id)))
        rows["close_ts"].append(close.get("ts"))
        rows["duration_s"].append(np.nan)  # filled below, vectorised
        rows["url_path"].append(text_or_none(record.get("url_path")))
        rows["client_address"].append(text_or_none(record.get("client_address")))
        rows["charger_tls_version"].append(text_or_none(charger_tls.get("version")))
        rows["charger_cipher"].append(text_or_none(charger_tls.get("cipher")))
        rows["charger_sni"].append(text_or_none(record.get("sni") if tls_failed else charger_tls.get("sni")))
        rows["csms_tls_version"].append(text_or_none(csms_tls.get("version")))
        rows["csms_cipher"].append(text_or_none(csms_tls.get("cipher")))
        rows["subprotocol"].append(text_or_none(record.get("subprotocol")))
        rows["auth_scheme"].append(text_or_none(record.get("auth_scheme")))
        rows["auth_user"].append(text_or_none(record.get("auth_user")))
        rows["auth_password_present"].append(bool(record.get("auth_password_present")))
        rows["close_code"].append(int_or_none(close.get("close_code")))
        rows["close_reason"].append(text_or_none(close.get("close_reason")))
        rows["closed_by"].append(text_or_none(close.get("closed_by")))
        rows["frames_charger_to_csms"].append(counts.get((connection_id, "charger_to_csms"), 0))
        rows["frames_csms_to_charger"].append(counts.get((connection_id, "csms_to_charger"), 0))
        rows["state"].append(never_opened or ("closed" if close else "open_at_end"))
        rows["http_status"].append(int_or_none(record.get("status_code")) if rejected else None)
        rows["tls_failure"].append(text_or_none(record.get("failure")) if tls_failed else None)
        rows["tls_error"].append(text_or_none(record.get("error")) if tls_failed else None)

    ts = utc_times([_ts_text(v) for v in rows["ts"]])
    close_ts = utc_times([_ts_text(v) for v in rows["close_ts"]])
    last = utc_times([_ts_text(last_ts.get(c)) for c in ids])
    state = np.asarray(rows["state"], dtype=object)
    end = close_ts.where(state == "closed", last)
    duration = (end - ts).total_seconds().to_numpy(dtype=np.float64, copy=True) if len(ids) else np.empty(0)
    duration[(state == "rejected") | (state == "tls_failed")] = np.nan

    table = pd.DataFrame({
        "ts": ts,
        "connection_id": str_column(rows["connection_id"]),
        "charge_point_id": str_column(rows["charge_point_id"]),
        "close_ts": close_ts,
        "duration_s": duration,
        **{name: str_column(rows[name]) for name in (
            "url_path", "client_address", "charger_tls_version", "charger_cipher", "charger_sni",
            "csms_tls_version", "csms_cipher", "subprotocol", "auth_scheme", "auth_user")},
        "auth_password_present": pd.array(rows["auth_password_present"], dtype="bool"),
        "close_code": int64_column(rows["close_code"]),
        "close_reason": str_column(rows["close_reason"]),
        "closed_by": str_column(rows["closed_by"]),
        "frames_charger_to_csms": pd.array(rows["frames_charger_to_csms"], dtype="int64"),
        "frames_csms_to_charger": pd.array(rows["frames_csms_to_charger"], dtype="int64"),
        "state": str_column(rows["state"]),
        "http_status": int64_column(rows["http_status"]),
        "tls_failure": str_column(rows["tls_failure"]),
        "tls_error": str_column(rows["tls_error"]),
    })
    # connection_id breaks ties, so tables of separately analysed charge points merge into this order.
    return table.sort_values(["ts", "connection_id"], kind="stable", na_position="last").reset_index(drop=True)


def _ts_text(value: Any) -> Any:
    if isinstance(value, pd.Timestamp):
        return None if value is pd.NaT else value.isoformat()
    return value
