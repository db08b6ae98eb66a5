"""Benchmark fleet scale: a serial load vs the Dask engine writing a fleet dataset, on a LocalCluster.

For each size: writes a synthetic clean fleet (``workbench.lab.synth``, one day, the number of chargers
sized from a 100-charger probe; a 4-charger probe's chargers were busier than a fleet's and left the
fleets 13 % short of their size), rotated into files of ``--file-mb`` MB as a capture proxy writes
them; then, each measured apart:

- serial: ``wb.load(folder)`` and every table, in a fresh subprocess (wall time, peak RSS);
- serial dataset: the same dataset the Dask run writes, written by ``write_fleet`` with the
  ``SerialExecutor`` (one process), in a fresh subprocess: the like-for-like reference of the Dask
  dataset run;
- Dask: ``analyze --out DIR --dask`` in-process (``write_fleet`` on a LocalCluster of ``--workers``
  worker processes, one thread each): wall time without the cluster start (printed apart; it includes
  ``import workbench`` on each worker, as the serial child imports it before its clock starts), peak RSS
  of each worker (``ru_maxrss``, read on the worker after the run), bytes read per worker (stage 1);
  then ``wb.load(engine="dask")`` on the same cluster (tables gathered into this process), timed.

Prints a few lines per size (with dask/serial ratios for the same job: dataset written, tables in
memory) and, between sizes, the scaling law: time ratio against frame ratio and the exponent k of
time ~ frames^k. Not a unit test.

    python bench/fleet.py --quick          # about 100k frames, under a minute
    python bench/fleet.py                  # 1M, 2M and 4M frames (long: not on a shared machine)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path


def _peak_mb() -> float:
    """This process's own peak resident memory, MB: VmHWM, not ru_maxrss, which Linux keeps across fork
    and exec (a worker started by a large parent would report the parent's peak)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def make_fleet(folder: Path, frames: int, file_mb: float, seed: int) -> int:
    """A rotated synthetic capture of about ``frames`` frames in ``folder``; returns its frames."""
    from workbench.capture.reader import CaptureReader
    from workbench.capture.writer import CaptureWriter
    from workbench.lab import synth

    probe_chargers = 100
    probe = synth.generate(folder.parent / "probe.ocpp.jsonl", chargers=probe_chargers, days=1, seed=seed,
                           write_sidecar=False)
    per_charger = max(1, probe.frames // probe_chargers)
    (folder.parent / "probe.ocpp.jsonl").unlink()
    chargers = max(1, round(frames / per_charger))
    source = folder.parent / "source.ocpp.jsonl"
    synth.generate(source, chargers=chargers, days=1, seed=seed, write_sidecar=False)
    reader = CaptureReader(source)
    count = 0
    folder.mkdir(parents=True, exist_ok=True)
    with CaptureWriter(folder / "fleet.ocpp.jsonl", reader.header, rotate_bytes=int(file_mb * 1e6)) as writer:
        for record in reader:
            writer.write(record)
            count += record["type"] == "frame"
    source.unlink()
    return count


def child_serial(folder: str) -> dict:
    import workbench as wb

    began, cpu = time.perf_counter(), time.process_time()
    cap = wb.load(folder)
    cap.tables()
    return {"wall_s": time.perf_counter() - began, "peak_mb": _peak_mb(), "frames": len(cap.frames),
            "cpu_s": time.process_time() - cpu}


def child_serial_dataset(folder: str, out: str) -> dict:
    from workbench.fleet.dataset import write_fleet
    from workbench.fleet.executors import SerialExecutor
    from workbench.fleet.route import fleet_inputs

    began, cpu = time.perf_counter(), time.process_time()
    manifest = write_fleet(fleet_inputs(folder), SerialExecutor(), out, buckets=int(os.environ["WB_BENCH_BUCKETS"]))
    return {"wall_s": time.perf_counter() - began, "peak_mb": _peak_mb(), "frames": manifest["rows"]["frames"],
            "cpu_s": time.process_time() - cpu}


def run_serial(folder: Path) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child-serial", str(folder)], capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_serial_dataset(folder: Path, out: Path, buckets: int) -> dict:
    """``write_fleet`` with the SerialExecutor and the Dask run's bucket count, in a fresh subprocess."""
    done = subprocess.run([sys.executable, __file__, "--child-serial-dataset", str(folder), str(out)],
                          capture_output=True, text=True, check=True, env={**os.environ, "WB_BENCH_BUCKETS": str(buckets)})
    shutil.rmtree(out, ignore_errors=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _import_workbench() -> None:
    import workbench  # noqa: F401


def run_dask(folder: Path, out: Path, workers: int, memory_limit: str) -> dict:
    import distributed

    from workbench.fleet import load_with
    from workbench.fleet.dataset import write_fleet
    from workbench.fleet.executors import DaskExecutor
    from workbench.fleet.route import fleet_inputs

    began = time.perf_counter()
    with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                                  memory_limit=memory_limit, silence_logs=40) as cluster, \
            distributed.Client(cluster) as client:
        client.run(_import_workbench)  # what the serial child has done before its clock starts
        started = time.perf_counter() - began
        executor = DaskExecutor(client)
        cpu = _cpu(client)
        began = time.perf_counter()
        manifest = write_fleet(fleet_inputs(folder), executor, out)
        wall = time.perf_counter() - began
        cpu_dataset, cpu = _cpu(client, cpu), _cpu(client)
        peaks = client.run(_peak_mb)
        began = time.perf_counter()
        load_with(fleet_inputs(folder), executor)  # the same analysis, tables gathered into this process
        in_memory = time.perf_counter() - began
        cpu_in_memory = _cpu(client, cpu)
    read = defaultdict(int)
    for item in manifest["inputs"]:
        read[item["worker"]] += item["bytes_read"]
    return {"cluster_start_s": started, "wall_s": wall, "in_memory_s": in_memory, "peak_mb_per_worker": sorted(peaks.values()),
            "bytes_read_per_worker": sorted(read.values()), "buckets": manifest["buckets"],
            "frames": manifest["rows"]["frames"], "client_peak_mb": _peak_mb(), "cpu_dataset": cpu_dataset,
            "cpu_in_memory": cpu_in_memory}


def _cpu(client: object, since: dict | None = None) -> dict:
    """CPU seconds of each worker, the client and the scheduler (minus ``since``): on a shared machine, where
    wall times of processes waiting for a core are long, what the work itself cost."""
    now = {"workers": sorted(client.run(time.process_time).items()), "client": time.process_time(),  # type: ignore[attr-defined]
           "scheduler": client.run_on_scheduler(time.process_time)}  # type: ignore[attr-defined]
    if since is None:
        return now
    return {"workers": [b - a for (_, a), (_, b) in zip(since["workers"], now["workers"])],
            "client": now["client"] - since["client"], "scheduler": now["scheduler"] - since["scheduler"]}


def _cpu_text(cpu: dict) -> str:
    return (f"cpu s: workers {', '.join(f'{c:.1f}' for c in cpu['workers'])}, client {cpu['client']:.1f}, "
            f"scheduler {cpu['scheduler']:.1f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one small fleet (about 100k frames)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 2_000_000, 4_000_000])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--memory-limit", default="1.5GB", help="per worker (the target bound)")
    parser.add_argument("--file-mb", type=float, default=64.0, help="size of each rotated input file")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--child-serial", metavar="FOLDER", help=argparse.SUPPRESS)
    parser.add_argument("--child-serial-dataset", nargs=2, metavar=("FOLDER", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_serial:
        print(json.dumps(child_serial(args.child_serial)))
        return 0
    if args.child_serial_dataset:
        print(json.dumps(child_serial_dataset(*args.child_serial_dataset)))
        return 0
    sizes = [100_000] if args.quick else args.sizes
    file_mb = 4.0 if args.quick else args.file_mb
    work = Path(tempfile.mkdtemp(prefix="wb-bench-fleet-"))
    results = []
    try:
        for size in sizes:
            folder = work / f"fleet-{size}"
            frames = make_fleet(folder, size, file_mb, args.seed)
            capture_mb = sum(p.stat().st_size for p in folder.iterdir()) / 1e6
            serial = run_serial(folder)
            dask = run_dask(folder, work / f"out-{size}", args.workers, args.memory_limit)
            shutil.rmtree(work / f"out-{size}", ignore_errors=True)
            serial_ds = run_serial_dataset(folder, work / f"out-{size}", dask["buckets"])
            results.append((frames, serial, serial_ds, dask))
            print(f"{frames:,} frames, {capture_mb:,.0f} MB in {len(list(folder.iterdir()))} files")
            print(f"  serial in memory      {serial['wall_s']:7.1f} s  peak {serial['peak_mb']:,.0f} MB  "
                  f"({frames / serial['wall_s']:,.0f} frames/s; cpu {serial['cpu_s']:.1f} s)")
            print(f"  dask x{args.workers} in memory      {dask['in_memory_s']:7.1f} s  (wb.load(engine='dask'), tables "
                  f"gathered into the client; {_cpu_text(dask['cpu_in_memory'])})")
            print(f"  serial dataset        {serial_ds['wall_s']:7.1f} s  peak {serial_ds['peak_mb']:,.0f} MB  "
                  f"(write_fleet, SerialExecutor, {dask['buckets']} buckets; {frames / serial_ds['wall_s']:,.0f} frames/s; "
                  f"cpu {serial_ds['cpu_s']:.1f} s)")
            print(f"  dask x{args.workers} dataset        {dask['wall_s']:7.1f} s  (+{dask['cluster_start_s']:.1f} s cluster "
                  f"start)  {dask['buckets']} buckets  peak per worker "
                  + ", ".join(f"{p:,.0f}" for p in dask["peak_mb_per_worker"])
                  + f" MB (all {sum(dask['peak_mb_per_worker']) + dask['client_peak_mb']:,.0f} MB with the client)  "
                  f"read per worker " + ", ".join(f"{b / 1e6:,.0f}" for b in dask["bytes_read_per_worker"]) + " MB  "
                  f"({frames / dask['wall_s']:,.0f} frames/s; {_cpu_text(dask['cpu_dataset'])})")
            print(f"  dask/serial: dataset {dask['wall_s'] / serial_ds['wall_s']:.2f}x, in memory "
                  f"{dask['in_memory_s'] / serial['wall_s']:.2f}x; dask dataset / serial in memory "
                  f"{dask['wall_s'] / serial['wall_s']:.2f}x")
            shutil.rmtree(folder, ignore_errors=True)
        for (f0, s0, t0, d0), (f1, s1, t1, d1) in zip(results, results[1:]):
            growth = f1 / f0
            print(f"scaling {f0:,} -> {f1:,} frames ({growth:.2f}x): time ratio (exponent k of time ~ frames^k) "
                  + ", ".join(f"{label} {b / a:.2f}x (k={math.log(b / a) / math.log(growth):.2f})" for label, a, b in (
                      ("serial in memory", s0["wall_s"], s1["wall_s"]), ("serial dataset", t0["wall_s"], t1["wall_s"]),
                      ("dask in memory", d0["in_memory_s"], d1["in_memory_s"]), ("dask dataset", d0["wall_s"], d1["wall_s"])))
                  + f"; peak per worker {max(d1['peak_mb_per_worker']) / max(d0['peak_mb_per_worker']):.2f}x")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore::DeprecationWarning")
    raise SystemExit(main())
