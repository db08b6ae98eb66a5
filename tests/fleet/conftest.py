"""A faulty synthetic fleet spread over rotated, gzip and damaged files, and a 2-worker Dask LocalCluster."""

from __future__ import annotations

import gzip
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from workbench.analysis import Capture, load
from workbench.capture.reader import read_capture
from workbench.capture.writer import CaptureWriter
from workbench.lab import synth
from workbench.testing import charger_records, clean_session_script


def write_faulty_fleet(folder: Path) -> Path:
    """A folder of captures with every synth fault, rotated files, a gzip file, damaged and cut lines and
    the frames of a connection never opened."""
    source = folder.parent / f"{folder.name}-source.ocpp.jsonl"
    synth.generate(source, chargers=6, days=1, faults="all", seed=11, write_sidecar=False)
    header, records, _ = read_capture(source)
    orphan = [dict(r, connection_id="lost") for r in charger_records("CP-LOST", clean_session_script())
              if r["type"] == "frame"]
    with CaptureWriter(folder / "site.ocpp.jsonl", header, rotate_bytes=900_000) as writer:
        for record in records:
            writer.write(record)
    files = sorted(folder.iterdir())
    assert len(files) >= 3
    with open(files[1], "ab") as fh:  # damaged lines in the middle of the rotation
        fh.write(b'{"type":"frame","ts":"2025-01-06T09:00:00Z","connection_id":"CP2-1","direction": broken\n')
        fh.write(b"not json at all\n")
        fh.write(b'["a list"]\n')
    with open(files[-1], "ab") as fh:  # the last file was cut by a crash
        fh.write(b'{"type":"frame","ts":"2025-01-06T09:00:01Z","connection_id":"CP1-1","dir')
    other = folder / "other-site.ocpp.jsonl"
    with CaptureWriter(other, header) as writer:
        for record in orphan:
            writer.write(record)
    with open(other, "rb") as plain, gzip.open(folder / "other-site.ocpp.jsonl.gz", "wb") as packed:
        shutil.copyfileobj(plain, packed)
    other.unlink()
    source.unlink()
    return folder


@pytest.fixture(scope="session")
def faulty_fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_faulty_fleet(tmp_path_factory.mktemp("fleet") / "captures")


@pytest.fixture(scope="session")
def serial(faulty_fleet: Path) -> Capture:
    """The faulty fleet loaded by one process, every table built: what every engine must equal
    (shared by the tests, which only read it)."""
    cap = load(faulty_fleet)
    cap.tables()
    return cap


@pytest.fixture(scope="session")
def dask_client() -> Iterator[object]:
    import distributed  # make test installs the [dask] extra
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, distributed.Client(cluster) as client:
        yield client
