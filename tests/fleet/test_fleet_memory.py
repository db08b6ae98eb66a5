"""A fleet dataset is written by workers whose memory limit is below what a serial load of the input needs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.capture.reader import CaptureReader
from workbench.capture.writer import CaptureWriter
from workbench.lab import synth

# A process's own peak resident memory (VmHWM), MB. Not ``ru_maxrss``: Linux keeps that across fork and
# exec, so a child of a large pytest process would report its parent's peak.
PEAK_MB = "next(int(line.split()[1]) / 1024 for line in open('/proc/self/status') if line.startswith('VmHWM:'))"
SERIAL_PEAK = ("import json, sys\n"
               "import workbench as wb\n"
               "cap = wb.load(sys.argv[1]); cap.tables()\n"
               f"print(json.dumps({{'frames': len(cap.frames), 'findings': len(cap.findings), 'peak_mb': {PEAK_MB}}}))\n")


@pytest.mark.slow
def test_workers_below_the_serial_peak_still_write_the_dataset(tmp_path: Path) -> None:
    import dask
    import distributed

    from workbench.fleet.dataset import write_fleet
    from workbench.fleet.executors import DaskExecutor
    from workbench.fleet.route import fleet_inputs

    source = tmp_path / "source.ocpp.jsonl"
    synth.generate(source, chargers=160, days=1, seed=4, write_sidecar=False)
    folder = tmp_path / "captures"
    reader = CaptureReader(source)
    with CaptureWriter(folder / "fleet.ocpp.jsonl", reader.header, rotate_bytes=8_000_000) as writer:
        for record in reader:
            writer.write(record)
    source.unlink()
    serial = json.loads(subprocess.run([sys.executable, "-c", SERIAL_PEAK, str(folder)], capture_output=True,
                                       text=True, check=True, timeout=300).stdout)
    # Below the serial peak, with room above the ~0.7x a worker needs here (a worker is killed at 95 %).
    limit_mb = int(serial["peak_mb"] * 0.9)
    # Pausing a worker near its limit would only wait for memory that a bucket does not give back. The
    # limit acts through spilling to disk; the nanny's kill at 95 % is off, since a worker restarted near
    # the limit proves nothing and only makes the test's time depend on the machine's other load.
    with dask.config.set({"distributed.worker.memory.pause": False, "distributed.worker.memory.terminate": False}), \
            distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                     memory_limit=f"{limit_mb}MB") as cluster, distributed.Client(cluster) as client:
        manifest = write_fleet(fleet_inputs(folder), DaskExecutor(client), tmp_path / "ds",
                               buckets=max(2, serial["frames"] // 10_000))
        peaks = client.run(eval, PEAK_MB)  # an expression string: nothing of this module to unpickle
    assert manifest["rows"]["frames"] == serial["frames"] and manifest["rows"]["findings"] == serial["findings"]
    print(f"serial {serial}, limit {limit_mb} MB, worker peaks {peaks}")
    assert max(peaks.values()) < serial["peak_mb"], (peaks, serial)
