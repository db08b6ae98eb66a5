"""The lazy payload column: it keeps no decoded dicts, yet reads like an object column of dicts."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pandas as pd

from workbench.analysis import Capture
from workbench.tables.frames import build_frames
from workbench.tables.payloads import PayloadArray, PayloadDtype
from workbench.testing import call, charger_records, clean_session_script, error, result


def _frames() -> pd.DataFrame:
    script = [
        (0, "up", call("b1", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})),
        (1, "down", result("b1", {"status": "Accepted", "currentTime": "2025-01-06T08:00:01Z", "interval": 60})),
        (2, "up", call("h1", "Heartbeat", {})),
        (3, "down", error("h1", "InternalError", "busy", {"why": 1})),
        (4, "up", "not json"),
        (5, "up", call("h2", "Heartbeat", {})),
    ]
    return build_frames(charger_records("CP1", script))


def test_reads_like_an_object_column_of_dicts() -> None:
    frames = _frames()
    column = frames["payload"]
    assert isinstance(column.dtype, PayloadDtype) and isinstance(column.array, PayloadArray)
    assert frames.loc[0, "payload"] == {"chargePointVendor": "V", "chargePointModel": "M"}
    assert column.tolist() == [{"chargePointVendor": "V", "chargePointModel": "M"},
                               {"status": "Accepted", "currentTime": "2025-01-06T08:00:01Z", "interval": 60},
                               {}, {"why": 1}, None, {}]
    assert list(column) == column.tolist()
    assert column.isna().tolist() == [False, False, False, False, True, False]
    assert column.to_numpy(dtype=object)[3] == {"why": 1}
    assert column.map(lambda p: None if p is None else len(p)).tolist()[:2] == [2, 3]
    assert frames[frames["action"] == "Heartbeat"]["payload"].tolist() == [{}, {"why": 1}, {}]
    assert (column == {}).tolist() == [False, False, True, False, False, True]
    assert "chargePointVendor" in repr(frames[["payload"]].head(1))


def test_holds_references_not_decoded_values() -> None:
    frames = _frames()
    array = frames["payload"].array
    # A pointer to the raw text and a one-byte slot per row; no dict is kept.
    assert array.nbytes <= 17 * len(array)
    assert all(value is None for value in array._objects[[0, 1, 2, 5]])
    changed = frames.loc[0, "payload"]
    changed["chargePointVendor"] = "X"
    assert frames.loc[0, "payload"]["chargePointVendor"] == "V"  # each read decodes afresh


def test_take_filter_concat_assign_and_pickle() -> None:
    frames = _frames()
    array = frames["payload"].array
    taken = array.take(np.array([2, -1, 0]), allow_fill=True)
    assert taken.tolist() == [{}, None, frames.loc[0, "payload"]]
    assert array.take([1]).tolist() == [frames.loc[1, "payload"]]
    both = pd.concat([frames, frames], ignore_index=True)
    assert both["payload"].tolist() == frames["payload"].tolist() * 2
    copy = frames.copy()
    copy.at[2, "payload"] = {"set": True}
    assert copy.loc[2, "payload"] == {"set": True} and frames.loc[2, "payload"] == {}
    restored = pickle.loads(pickle.dumps(frames))
    pd.testing.assert_frame_equal(restored, frames)
    built = pd.array([{"a": 1}, None], dtype="ocpp_payload")
    assert built.tolist() == [{"a": 1}, None]
    assert pd.Series(built).nunique() == 1 and pd.Series(PayloadArray.from_objects([{}, {}])).nunique() == 1


def test_parquet_gets_json_text(tmp_path) -> None:
    frames = _frames()
    path = tmp_path / "frames.parquet"
    frames[["seq", "payload"]].to_parquet(path)
    back = pd.read_parquet(path)
    assert [None if pd.isna(v) else json.loads(v) for v in back["payload"].tolist()] == frames["payload"].tolist()


def test_calls_request_and_response_stay_lazy() -> None:
    cap = Capture.from_records(charger_records("CP1", clean_session_script()))
    calls = cap.calls
    assert isinstance(calls["request"].array, PayloadArray) and isinstance(calls["response"].array, PayloadArray)
    frames = cap.frames.set_index("seq")
    for request_seq, request in zip(calls["request_seq"].tolist(), calls["request"].tolist()):
        assert request == (None if pd.isna(request_seq) else frames.loc[request_seq, "payload"])
