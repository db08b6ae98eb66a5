"""Serial, local processes and Dask give equal tables; every input file is read once; URLs and bad input."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import workbench as wb
from workbench.analysis import Capture
from workbench.analysis import load as load_serial
from workbench.cli import main
from workbench.errors import WorkbenchError
from workbench.fleet import load_with, route
from workbench.fleet.buckets import bucket_of
from workbench.fleet.executors import SerialExecutor


def assert_same(serial: Capture, other: Capture, *, paths_too: bool = True) -> None:
    for name in Capture.TABLES:
        pd.testing.assert_frame_equal(getattr(serial, name), getattr(other, name), obj=name)
    if paths_too:
        assert serial.load_problems == other.load_problems
    assert serial.headers == other.headers


def test_the_fleet_is_faulty_and_spread_over_files(serial: Capture) -> None:
    assert len(serial.paths) >= 4 and any(p.name.endswith(".gz") for p in serial.paths)
    assert {p.kind for p in serial.load_problems} >= {"invalid_json", "not_a_record", "truncated_last_line"}
    assert len(serial.findings) > 20 and serial.frames["charge_point_id"].nunique() >= 6
    assert serial.frames["connection_id"].eq("lost").any()  # frames of a connection never opened
    assert serial.frames["charge_point_id"].eq("unknown:lost").any()


def test_bucketed_pipeline_in_this_process_equals_serial(faulty_fleet: Path, serial: Capture) -> None:
    buckets = 3
    owners = {bucket_of(cp, buckets) for cp in serial.frames["charge_point_id"].dropna().unique()}
    assert len(owners) > 1  # the work really is split
    assert_same(serial, load_with(route.fleet_inputs(faulty_fleet), SerialExecutor(), buckets=buckets))


def test_local_processes_equal_serial(faulty_fleet: Path, serial: Capture) -> None:
    cap = wb.load(faulty_fleet, partitions=2, buckets=3)
    assert_same(serial, cap)
    assert np.array_equal(cap.frames["seq"].to_numpy(), np.arange(len(cap.frames)))


def test_dask_equals_serial(faulty_fleet: Path, serial: Capture, dask_client) -> None:
    cap = wb.load(faulty_fleet, engine="dask", client=dask_client, buckets=5)
    assert_same(serial, cap)
    assert np.array_equal(cap.frames["seq"].to_numpy(), np.arange(len(cap.frames)))


def test_bucket_count_follows_the_frames() -> None:
    from workbench.fleet.pipeline import bucket_count

    assert bucket_count(9_000, workers=2) == 1  # a bucket's fixed cost outweighs splitting this
    assert bucket_count(60_000, workers=2) == 2
    assert bucket_count(1_000_000_000, workers=8) == 4_000


def test_each_file_is_read_once(faulty_fleet: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[str] = []
    real = route.read_routed

    def counting(index, path, *args):
        reads.append(str(path))
        return real(index, path, *args)

    import workbench.fleet.pipeline as pipeline

    monkeypatch.setattr(pipeline, "read_routed", counting)
    files = route.fleet_inputs(faulty_fleet)
    load_with(files, SerialExecutor(), buckets=4)
    assert sorted(reads) == sorted(str(f) for f in files)


def test_fsspec_urls_read_like_local_files(faulty_fleet: Path, serial: Capture) -> None:
    fsspec = pytest.importorskip("fsspec")
    memory = fsspec.filesystem("memory")
    for path in sorted(faulty_fleet.iterdir()):
        memory.pipe(f"/fleet-test/{path.name}", path.read_bytes())
    try:
        cap = wb.load("memory://fleet-test")
        assert [str(p).rsplit("/", 1)[-1] for p in cap.paths] == [p.name for p in serial.paths]
        for name in ("frames", "calls", "connections", "meter_values", "status", "transactions"):
            pd.testing.assert_frame_equal(getattr(serial, name), getattr(cap, name), obj=name)
        assert [(p.line_no, p.kind, p.raw) for p in serial.load_problems] == \
            [(p.line_no, p.kind, p.raw) for p in cap.load_problems]
        assert all(p.path.startswith("memory://") for p in cap.load_problems)
        file_url = wb.load([f"file://{p}" for p in serial.paths])  # URLs take the bucketed path in this process
        pd.testing.assert_frame_equal(serial.findings.drop(columns="message"), file_url.findings.drop(columns="message"))
    finally:
        memory.rm("/fleet-test", recursive=True)


def test_a_missing_input_is_one_line_before_any_work(faulty_fleet: Path, tmp_path: Path, capsys) -> None:
    with pytest.raises(FileNotFoundError, match="missing.ocpp.jsonl"):
        wb.load([faulty_fleet, tmp_path / "missing.ocpp.jsonl"], engine="dask", client="tcp://192.0.2.1:1")
    with pytest.raises(FileNotFoundError, match="memory://nowhere"):
        wb.load("memory://nowhere/x.ocpp.jsonl", engine="processes")
    # No cluster is started, no scheduler contacted: the address would not answer.
    assert main(["analyze", str(faulty_fleet), str(tmp_path / "gone.ocpp.jsonl"), "--dask", "tcp://192.0.2.1:1"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1 and "gone.ocpp.jsonl" in err


def test_without_dask_the_error_says_what_to_install(faulty_fleet: Path, monkeypatch, capsys) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if the [dask] extra were not installed
    with pytest.raises(WorkbenchError, match=r"pip install 'ocpp-workbench\[dask\]'"):
        wb.load(faulty_fleet, engine="dask")
    assert main(["analyze", str(faulty_fleet), "--dask"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1 and "pip install 'ocpp-workbench[dask]'" in err


def test_cli_dask_gives_the_serial_report(faulty_fleet: Path, dask_client, capsys) -> None:
    assert main(["analyze", str(faulty_fleet), "--format", "json"]) == 0
    serial_report = json.loads(capsys.readouterr().out)
    done = subprocess.run([sys.executable, "-m", "workbench", "analyze", str(faulty_fleet), "--format", "json",
                           "--dask", dask_client.scheduler.address, "--buckets", "3"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == serial_report


def test_a_worker_killed_mid_run_costs_a_retry_not_the_run(faulty_fleet: Path, serial: Capture) -> None:
    import os
    import signal

    import distributed

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, distributed.Client(cluster) as client:
        killed: list[str] = []
        done = threading.Event()

        def kill_a_busy_worker() -> None:
            while not done.is_set() and not killed:
                busy = [w for w, tasks in client.processing().items() if any("analyse" in t for t in tasks)]
                if busy:
                    pid = client.run(os.getpid, workers=[busy[0]])[busy[0]]
                    os.kill(pid, signal.SIGKILL)
                    killed.append(busy[0])
                time.sleep(0.02)

        killer = threading.Thread(target=kill_a_busy_worker)
        killer.start()
        try:
            cap = wb.load(faulty_fleet, engine="dask", client=client, buckets=4)
        finally:
            done.set()
            killer.join()
        assert killed, "no worker was killed while a bucket was being analysed"
        assert_same(serial, cap)


def test_foreign_logs_among_captures_are_imported_by_the_bucketed_path(tmp_path: Path) -> None:
    from workbench.export import export_capture
    from workbench.testing import charger_records, clean_session_script, write_capture

    folder = tmp_path / "mixed"
    folder.mkdir()
    write_capture(folder / "a.ocpp.jsonl", charger_records("CP-A", clean_session_script()))
    source = tmp_path / "b.ocpp.jsonl"
    write_capture(source, charger_records("CP-B", clean_session_script(), connection_id="B-1"))
    export_capture(source, folder / "b.jsonl", "ndjson")  # a foreign log: imported, not read as a capture
    with open(folder / "b.jsonl", "a", encoding="utf-8") as fh:
        fh.write("this line is no frame\n")
    serial = load_serial(folder)
    assert {p.source for p in serial.load_problems} == {"import"}
    assert set(serial.frames["charge_point_id"]) == {"CP-A", "CP-B"}
    assert_same(serial, load_with(route.fleet_inputs(folder), SerialExecutor(), buckets=2))


def test_two_imported_logs_stay_apart_on_every_engine(tmp_path: Path) -> None:
    """Each import numbers its connections from import-1; the second file's become import-1@2 in the
    serial load and in the bucketed one alike, so the two chargers' frames never merge."""
    from workbench.export import export_capture
    from workbench.testing import charger_records, clean_session_script, write_capture

    folder = tmp_path / "logs"
    folder.mkdir()
    for name in ("CP-B", "CP-C"):
        source = tmp_path / f"{name}.ocpp.jsonl"
        write_capture(source, charger_records(name, clean_session_script(), connection_id="same"))
        export_capture(source, folder / f"{name}.jsonl", "ndjson")
    serial = load_serial(folder)
    assert set(serial.connections["connection_id"]) == {"import-1", "import-1@2"}
    per_charge_point = serial.frames.groupby("charge_point_id", observed=True).size()
    assert per_charge_point["CP-B"] == per_charge_point["CP-C"] > 0
    assert not serial.findings["check"].isin(["duplicate_message_id", "unanswered_request"]).any()
    assert_same(serial, load_with(route.fleet_inputs(folder), SerialExecutor(), buckets=2))
