"""The merge of bucket tables (workbench.fleet.merge): rows written into place as buckets arrive give the
serial tables, whatever order the buckets arrive in; rows that break the placing rule fall back to sorting."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from workbench.analysis import Capture
from workbench.fleet import merge, pipeline, route
from workbench.fleet.buckets import BucketTables, concat_tables, merge_tables
from workbench.fleet.executors import SerialExecutor
from workbench.fleet.merge import PLACED, TableMerge

BUCKETS = 3


@pytest.fixture(scope="module")
def buckets(faulty_fleet: Path) -> tuple[pipeline.Plan, list[dict[str, pd.DataFrame]]]:
    """Every bucket's tables (packed again, as a worker ships them, for each merge)."""
    plan, parts = pipeline.run(route.fleet_inputs(faulty_fleet), SerialExecutor(), BUCKETS, receive=lambda _: _tables_of)
    return plan, parts


def _tables_of(result: BucketTables) -> dict[str, pd.DataFrame]:
    return result.tables


def frames_of(plan: pipeline.Plan) -> int:
    return sum(s["frame_count"] for s in plan.summaries)


def merged(plan: pipeline.Plan, parts: list[dict[str, pd.DataFrame]], arrival: list[int]) -> tuple[Capture, TableMerge]:
    """The Capture of ``parts`` when the buckets arrive in the order ``arrival`` (as Dask's as_completed may)."""
    merge_ = TableMerge(frames_of(plan))
    added: list[dict[str, pd.DataFrame] | None] = [None] * len(parts)
    for index in arrival:
        added[index] = merge_.add(BucketTables({n: t.copy() for n, t in parts[index].items()}).pack())
    return merge_.capture(added, plan.headers, plan.problems, []), merge_


def assert_tables_equal(expected: Capture, got: Capture) -> None:
    for name in Capture.TABLES:
        pd.testing.assert_frame_equal(getattr(expected, name), getattr(got, name), obj=name)


def test_the_buckets_interleave_and_carry_every_kind_of_row(buckets, serial: Capture) -> None:
    plan, parts = buckets
    assert len(parts) == BUCKETS
    spans = sorted((p["frames"]["seq"].min(), p["frames"]["seq"].max()) for p in parts)
    assert all(later[0] < earlier[1] for earlier, later in zip(spans, spans[1:]))  # seqs interleave
    for name in ("calls", "meter_values", "status", "transactions", "findings"):
        assert sum(len(p[name]) > 0 for p in parts) >= 2, name
    # A transaction whose start and stop frames are in different rotated files.
    files = np.searchsorted(np.array(sorted(plan.offsets.values())), serial.transactions[["start_seq", "stop_seq"]]
                            .dropna().to_numpy(dtype=np.int64), side="right")
    assert (files[:, 0] != files[:, 1]).any()


@pytest.mark.parametrize("arrival", [[0, 1, 2], [2, 0, 1], [1, 2, 0]])
def test_rows_placed_as_buckets_arrive_equal_serial(buckets, serial: Capture, arrival: list[int]) -> None:
    plan, parts = buckets
    cap, merge_ = merged(plan, parts, arrival)
    assert_tables_equal(serial, cap)
    assert all(merge_._placements[name].ok for name in PLACED)  # placed, not sorted
    coded = merge_._coders
    assert {"direction", "action", "error_code"} <= set(coded["frames"])  # error_code: mostly missing
    assert "unique_id" not in coded["frames"] and "direction" in coded["calls"]


def test_tables_written_into_reserved_arrays_equal_serial(buckets, serial: Capture,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(merge, "RESERVE_MIN_ROWS", 1)  # the fixture's tables are small: reserve them anyway
    used: list[str] = []
    real_init = merge._Column.__init__

    def spy(self, template, rows, reserved=None, coder=None):
        real_init(self, template, rows, reserved, coder)
        if reserved is not None and self.parts is not None:
            used.append(type(template).__name__)

    monkeypatch.setattr(merge._Column, "__init__", spy)
    plan, parts = buckets
    ratio = [len(p["meter_values"]) / len(p["frames"]) for p in parts]
    # Sized from the first bucket to arrive: the one of most meter values a frame (long enough) or fewest (short).
    for first in (int(np.argmax(ratio)), int(np.argmin(ratio))):
        used.clear()
        cap, _ = merged(plan, parts, [first] + [b for b in range(BUCKETS) if b != first])
        assert_tables_equal(serial, cap)
        if first == int(np.argmax(ratio)):
            assert {"DatetimeArray", "Categorical", "IntegerArray", "ArrowStringArray"} <= set(used)


def test_placement_puts_each_frames_rows_after_the_rows_of_earlier_frames() -> None:
    placement = merge._Placement(frames=6)
    a = np.array([0, 0, 2, 5])
    b = np.array([1, 3, 3, 4])
    runs_a, runs_b = placement.add(a), placement.add(b)
    assert placement.positions(runs_a, len(a)).tolist() == [0, 1, 3, 7]
    assert placement.positions(runs_b, len(b)).tolist() == [2, 4, 5, 6]
    assert placement.add(np.array([2])) is None and not placement.ok  # frame 2's rows are in another bucket


@pytest.mark.parametrize("damage", ["shuffled", "frame_in_two_buckets", "no_frame"])
def test_rows_that_break_the_rule_are_merged_by_sorting(buckets, damage: str) -> None:
    plan, parts = buckets
    parts = [{n: t.copy() for n, t in p.items()} for p in parts]
    if damage == "shuffled":  # not in frame order
        parts[1]["meter_values"] = parts[1]["meter_values"].iloc[::-1].reset_index(drop=True)
    elif damage == "frame_in_two_buckets":  # still in frame order within each bucket
        # Rows of one bucket's frames copied to the end of another bucket whose rows they follow.
        for source, target in [(s, t) for s in range(BUCKETS) for t in range(BUCKETS) if s != t]:
            other = parts[target]["meter_values"]
            after = parts[source]["meter_values"]
            after = after[after["seq"] > other["seq"].max()].iloc[:3]
            if len(after):
                parts[target]["meter_values"] = concat_tables([other, after.reset_index(drop=True)])
                break
        else:
            raise AssertionError("no bucket has meter values after another's")
    else:  # a call with neither request nor reply
        parts[1]["calls"].loc[0, ["request_seq", "reply_seq"]] = pd.NA
    expected = merge_tables([{n: t.copy() for n, t in p.items()} for p in parts], plan.headers, plan.problems, [])
    cap, merge_ = merged(plan, parts, [2, 1, 0])
    assert_tables_equal(expected, cap)
    broken = "calls" if damage == "no_frame" else "meter_values"
    assert not merge_._placements[broken].ok and merge_._placements["frames"].ok
