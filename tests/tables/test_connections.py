"""The connections table: opens, rejections, closes and frame counts."""

from __future__ import annotations

import numpy as np
import pandas as pd

from workbench.capture import records as rec
from workbench.tables.connections import COLUMNS, STATES, build_connections
from workbench.tables.frames import build_frames
from workbench.testing import call, charger_records, result, ts_at


def _table(records) -> pd.DataFrame:
    connection_records = [r for r in records if r["type"] != "frame"]
    return build_connections(connection_records, build_frames(records))


def test_closed_open_and_rejected_connections() -> None:
    closed = charger_records("CP1", [(0, "up", call("1", "Heartbeat", {})), (1, "down", result("1", {}))],
                             connection_id="a", close_at_s=10, close_code=1001, closed_by="csms")
    still_open = charger_records("CP2", [(5, "up", call("1", "Heartbeat", {}))], connection_id="b",
                                 tls_version=None, cipher=None, auth_password_present=False)
    rejected = [rec.upgrade_rejected(ts=ts_at(7), connection_id="c", charge_point_id="CP3", url_path="/ocpp/CP3",
                                     status_code=401, reason="Unauthorized", auth_scheme="Basic", auth_user="CP3",
                                     auth_password_present=True)]
    table = _table(closed + still_open + rejected)
    assert list(table.columns) == list(COLUMNS)
    for name, (dtype, _unit, _meaning) in COLUMNS.items():
        assert str(table[name].dtype) == dtype, name
    by_id = table.set_index("connection_id")
    assert set(table["state"]) <= set(STATES)
    a, b, c = by_id.loc["a"], by_id.loc["b"], by_id.loc["c"]
    assert a["state"] == "closed" and a["close_code"] == 1001 and a["closed_by"] == "csms"
    assert a["duration_s"] == 10.1  # opened 0.1 s before the first frame
    assert a["frames_charger_to_csms"] == 1 and a["frames_csms_to_charger"] == 1
    assert a["charger_tls_version"] == "TLSv1.2" and a["auth_user"] == "CP1" and a["auth_password_present"]
    assert b["state"] == "open_at_end" and pd.isna(b["charger_tls_version"]) and not b["auth_password_present"]
    assert b["duration_s"] == 0.1  # up to its last frame
    assert c["state"] == "rejected" and c["http_status"] == 401 and np.isnan(c["duration_s"])
    assert c["charge_point_id"] == "CP3" and c["frames_charger_to_csms"] == 0


def test_rotated_files_repeat_open_records_without_duplicating_rows() -> None:
    records = charger_records("CP1", [(0, "up", call("1", "Heartbeat", {}))], connection_id="a")
    table = _table([records[0]] + records)
    assert table["connection_id"].tolist() == ["a"]


def test_connection_known_only_from_frames_gets_a_row() -> None:
    frame = rec.frame(ts=ts_at(3), connection_id="lost", direction="charger_to_csms", content='[2,"1","Heartbeat",{}]')
    close = rec.connection_close(ts=ts_at(4), connection_id="lost", close_code=1006)
    table = build_connections([close], build_frames([frame]))
    row = table.iloc[0]
    assert row["connection_id"] == "lost" and row["state"] == "closed" and row["close_code"] == 1006
    assert row["ts"] == pd.Timestamp(ts_at(3)) and row["duration_s"] == 1.0


def test_no_password_column_exists() -> None:
    assert not [c for c in COLUMNS if "password" in c and c != "auth_password_present"]


def test_failed_tls_handshake_is_a_row_of_its_own() -> None:
    failed = rec.tls_handshake_failed(
        ts=ts_at(2), connection_id="t", client_address="127.0.0.1:50000", sni="csms.example",
        offered_versions=["TLSv1.1"], offered_ciphers=["ECDHE-RSA-AES128-SHA"], client_hello_read=True,
        failure="protocol_version", error="Client and mitmproxy cannot agree on a TLS version to use.",
    )
    opened = charger_records("CP1", [(5, "up", call("1", "Heartbeat", {}))], connection_id="a")
    table = _table([failed, *opened])
    for name, (dtype, _unit, _meaning) in COLUMNS.items():
        assert str(table[name].dtype) == dtype, name
    row = table.set_index("connection_id").loc["t"]
    assert row["state"] == "tls_failed" and row["tls_failure"] == "protocol_version"
    assert row["tls_error"].startswith("Client and mitmproxy cannot agree")
    assert row["client_address"] == "127.0.0.1:50000" and row["charger_sni"] == "csms.example"
    # No HTTP request was read, so no id: the connection is a charge point of its own (never merged).
    assert row["charge_point_id"] == "unknown:t"
    assert pd.isna(row["http_status"]) and np.isnan(row["duration_s"])
    other = table.set_index("connection_id").loc["a"]
    assert other["state"] == "open_at_end" and pd.isna(other["tls_failure"]) and pd.isna(other["tls_error"])
