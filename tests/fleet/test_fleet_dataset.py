"""``analyze --out DIR --dask`` writes a fleet dataset; ``wb.open_fleet`` reads it lazily, one charge point
in pandas, and summarises the fleet; a failed run leaves no dataset behind."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import workbench as wb
from workbench.analysis import Capture
from workbench.capture.reader import read_capture
from workbench.cli import main
from workbench.fleet import dataset, route
from workbench.fleet.executors import SerialExecutor


@pytest.fixture(scope="module")
def written(faulty_fleet: Path, dask_client, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dataset") / "fleet-ds"
    assert main(["analyze", str(faulty_fleet), "--out", str(out), "--dask", dask_client.scheduler.address,
                 "--buckets", "4", "--format", "json"]) == 0
    return out


def test_the_dataset_has_every_table_by_bucket_and_a_manifest(written: Path, serial: Capture) -> None:
    manifest = json.loads((written / "manifest.json").read_text())
    for name in Capture.TABLES:
        assert manifest["rows"][name] == len(getattr(serial, name)), name
        assert sorted(p.name for p in (written / name).iterdir() if p.name.startswith("bucket="))
    assert len(manifest["problems"]) == len(serial.load_problems)
    assert [i["path"] for i in manifest["inputs"]] == [str(p) for p in serial.paths]
    assert sum(i["frames"] for i in manifest["inputs"]) == len(serial.frames)
    assert {"ocpp-workbench", "pandas", "dask"} <= set(manifest["versions"])
    assert [p.name for p in written.parent.iterdir()] == [written.name]  # no temporary folder left


def test_open_fleet_gives_lazy_tables_equal_to_serial(written: Path, serial: Capture) -> None:
    import dask.dataframe as dd

    fleet = wb.open_fleet(written)
    assert isinstance(fleet.frames, dd.DataFrame) and fleet.frames.npartitions > 1
    frames = fleet.frames.compute().sort_values("seq").reset_index(drop=True)
    assert frames["seq"].tolist() == serial.frames["seq"].tolist()
    assert frames["raw"].tolist() == serial.frames["raw"].tolist()
    assert frames["charge_point_id"].fillna("-").tolist() == serial.frames["charge_point_id"].fillna("-").tolist()
    findings = fleet.findings.compute()
    assert findings["check"].value_counts().sort_index().to_dict() == \
        serial.findings["check"].value_counts().sort_index().to_dict()


def test_one_charge_point_equals_a_serial_load_of_its_records(written: Path, serial: Capture) -> None:
    fleet = wb.open_fleet(written)
    charge_point = serial.findings["charge_point_id"].dropna().value_counts().index[0]
    records: list[dict] = []
    for path in serial.paths:
        records.extend(read_capture(path)[1])
    mine = {r["connection_id"] for r in records if r["type"] in ("connection_open", "upgrade_rejected")
            and r.get("charge_point_id") == charge_point}
    expected = Capture.from_records([r for r in records if r.get("connection_id") in mine], serial.header)
    got = fleet.charge_point(charge_point)
    assert len(got.frames) > 100 and len(got.findings) > 0
    for name in Capture.TABLES:
        pd.testing.assert_frame_equal(getattr(expected, name), getattr(got, name), obj=name)


def test_fleet_summaries_are_small_pandas_frames(written: Path, serial: Capture) -> None:
    fleet = wb.open_fleet(written)
    by_check = fleet.findings_by_check()
    assert isinstance(by_check, pd.DataFrame) and by_check["findings"].sum() == len(serial.findings)
    top = fleet.top_chargers(3)
    counts = serial.findings["charge_point_id"].value_counts()
    assert top["findings"].tolist() == counts.head(3).tolist()
    energy = fleet.energy_per_day()
    tx = serial.transactions
    assert energy["sessions"].sum() == tx["start_ts"].notna().sum()
    assert energy["energy_kwh"].sum() == pytest.approx(tx.loc[tx["start_ts"].notna(), "energy_wh"].sum() / 1000)
    assert fleet.sessions_per_day()["sessions"].sum() == tx["start_ts"].notna().sum()


def test_a_failed_run_leaves_no_dataset_and_keeps_the_old_one(faulty_fleet: Path, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    files = route.fleet_inputs(faulty_fleet)
    out = tmp_path / "ds"
    dataset.write_fleet(files, SerialExecutor(), out, buckets=3)
    before = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
    real = dataset.analyse_bucket

    def crash_on_bucket_2(shares, offsets, headers, config=None):
        if any(len(share) for share in shares) and crash_on_bucket_2.calls == 1:
            raise MemoryError("worker lost")
        crash_on_bucket_2.calls += 1
        return real(shares, offsets, headers, config)

    crash_on_bucket_2.calls = 0
    monkeypatch.setattr(dataset, "analyse_bucket", crash_on_bucket_2)
    with pytest.raises(MemoryError):
        dataset.write_fleet(files, SerialExecutor(), out, buckets=3)
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == before  # the complete old dataset
    with pytest.raises(MemoryError):
        crash_on_bucket_2.calls = 0
        dataset.write_fleet(files, SerialExecutor(), tmp_path / "new", buckets=3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]  # no half dataset, no temporary folder
    with pytest.raises(wb.WorkbenchError, match="not a fleet dataset"):
        wb.open_fleet(tmp_path)


def test_each_fleet_summary_has_a_plot(written: Path, serial: Capture) -> None:
    from workbench.fleet import plots

    fleet = wb.open_fleet(written)
    by_check = plots.findings_by_check(fleet)
    assert sum(sum(trace.y) for trace in by_check.data) == len(serial.findings)
    assert len(plots.top_chargers(fleet, 3).data[0].x) == 3
    energy = plots.energy_per_day(fleet)
    assert {trace.name for trace in energy.data} == {"energy_kwh", "energy_register_kwh", "energy_integrated_kwh",
                                                      "mismatch_kwh"}
    assert sum(plots.sessions_per_day(fleet).data[0].y) == serial.transactions["start_ts"].notna().sum()
