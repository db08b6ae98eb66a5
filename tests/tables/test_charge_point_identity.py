"""Charge point identity from any URL (issue 9 item 1): Django-style URLs ending in '/', the Basic Auth user,
and connections that name no charge point, which must never be merged into one."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from checks.scenarios import clean_day
from workbench.analysis import Capture
from workbench.capture.identity import (
    connection_charge_point_id,
    derive_charge_point_id,
    unknown_charge_point_id,
)
from workbench.testing import merge_records


@pytest.mark.parametrize(
    ("url", "user", "expected"),
    [("/ocpp/CP1", None, ("CP1", "url_path")),
     ("/ws/ocpp/CP1/", None, ("CP1", "url_path")),
     ("/ws/ocpp/CP%201//", None, ("CP 1", "url_path")),
     ("/ocpp/CP1/?token=x#f", None, ("CP1", "url_path")),
     ("wss://host:443/ws/ocpp/CP2/", None, ("CP2", "url_path")),
     ("/", "CP3", ("CP3", "auth_user")),
     ("", "", (None, "connection")),
     (None, None, (None, "connection"))],
)
def test_the_id_is_the_last_non_empty_segment_else_the_auth_user(url: str | None, user: str | None,
                                                                  expected: tuple[str | None, str]) -> None:
    assert derive_charge_point_id(url, user) == expected


def _as_old_addon_wrote(records: list[dict[str, Any]], url_path: str, auth_user: str | None = None
                        ) -> list[dict[str, Any]]:
    """The records as the addon wrote them before: charge_point_id None for a URL ending in '/'."""
    for record in records:
        if record["type"] == "connection_open":
            record.update(charge_point_id=None, url_path=url_path, auth_user=auth_user)
    return records


def test_two_stations_behind_django_urls_are_two_charge_points_and_raise_no_false_alarms() -> None:
    cp1 = _as_old_addon_wrote(clean_day("CP1")[0].records(), "/ws/ocpp/CP1/")
    cp2 = _as_old_addon_wrote(clean_day("CP2")[0].records(), "/ws/ocpp/CP2/")
    cap = Capture.from_records(merge_records(cp1, cp2))
    assert cap.charge_point_ids == ["CP1", "CP2"]
    assert cap.summary()["charge_points"] == 2
    assert set(cap.connections["charge_point_id"]) == {"CP1", "CP2"}
    assert set(cap.transactions["charge_point_id"]) == {"CP1", "CP2"}
    assert len(cap.transactions) == 6 and (cap.transactions["completeness"] == "complete").all()
    findings = cap.findings
    assert not findings["severity"].isin(["warning", "error"]).any(), findings[["check", "message"]].to_string()


def test_connections_naming_no_charge_point_are_never_merged() -> None:
    first = _as_old_addon_wrote(clean_day("A")[0].records(), "/")
    second = _as_old_addon_wrote(clean_day("B")[0].records(), "/")
    cap = Capture.from_records(merge_records(first, second))
    assert cap.charge_point_ids == sorted([unknown_charge_point_id("A-1"), unknown_charge_point_id("B-1")])
    per_cp = cap.frames.groupby("charge_point_id")["connection_id"].nunique()
    assert (per_cp == 1).all()
    assert not cap.findings["severity"].isin(["warning", "error"]).any()


def test_the_auth_user_names_a_connection_whose_url_does_not() -> None:
    records = _as_old_addon_wrote(clean_day("CP7")[0].records(), "/", auth_user="CP7")
    assert connection_charge_point_id(records[0]) == "CP7"
    cap = Capture.from_records(records)
    assert cap.charge_point_ids == ["CP7"]


def test_frames_of_a_connection_without_its_open_record_get_a_charge_point_of_their_own() -> None:
    first = [r for r in clean_day("A")[0].records() if r["type"] != "connection_open"]
    second = [r for r in clean_day("B")[0].records() if r["type"] != "connection_open"]
    frames = Capture.from_records(merge_records(first, second)).frames
    assert frames.groupby("connection_id")["charge_point_id"].nunique().eq(1).all()
    assert frames["charge_point_id"].nunique() == 2 and not frames["charge_point_id"].isna().any()
    assert pd.Series(frames["charge_point_id"].unique()).str.startswith("unknown:").all()


def test_redaction_hides_an_id_that_only_the_url_path_names() -> None:
    import json

    from workbench.redact import redact_records

    records = _as_old_addon_wrote(clean_day("STATION-42")[0].records(), "/ws/ocpp/STATION-42/")
    _, redacted, _ = redact_records({}, records, b"k" * 32)
    connection_records = [r for r in redacted if r["type"] != "frame"]  # (the script's message ids name it too)
    assert "STATION-42" not in json.dumps(connection_records)
    ids = Capture.from_records(redacted).charge_point_ids
    assert len(ids) == 1 and ids[0].startswith("cp-")
