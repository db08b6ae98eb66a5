"""Benchmark the analysis: load + every table + every check on synthetic captures of 1M and 2M frames.

Prints, per size: frames, the time of a bare ``json.loads`` of every line of the same file, the
time of ``load`` and of each table and of the findings (all checks), frames/s, the ratio to the
bare decode and the peak memory (ru_maxrss) of the process that did the analysis; then the
2M/1M time ratio and the targets (1M frames in at most 15 s, at most 5x the bare decode, peak
memory at most 2 GB, 2M at most 2.2x 1M).

Each measurement runs in a fresh subprocess so its peak memory is its own. The analysis runs three
times per size (``--repeat``), sizes alternating; the median run is the figure, so one slow spell of
this shared VM does not decide a target. Not a unit test.

    python bench/analyze.py              # 1M and 2M frames
    python bench/analyze.py --quick      # 100k frames, a smoke run
    python bench/analyze.py --profile    # also cProfile the analysis of the smallest size (extra run)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_SECONDS_1M = 15.0
TARGET_DECODE_RATIO = 5.0
TARGET_PEAK_MB = 2048.0
TARGET_GROWTH = 2.2
TABLES = ("frames", "calls", "connections", "meter_values", "status", "transactions", "findings")


def _peak_mb() -> float:
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def child_decode(path: str) -> dict:
    """Bare decode: ``json.loads`` of every line, nothing else (the floor any loader pays)."""
    began = time.perf_counter()
    cpu_began = time.process_time()
    lines = 0
    with open(path, "rb") as stream:
        for line in stream:
            json.loads(line)
            lines += 1
    return {"decode_s": time.perf_counter() - began, "cpu_s": time.process_time() - cpu_began, "lines": lines,
            "peak_mb": _peak_mb()}


def child_analyze(path: str, profile_out: str | None, partitions: int = 1) -> dict:
    """``load`` and every table and check, each timed; the findings per check for a sanity look."""
    from workbench import load

    profiler = None
    if profile_out:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    stages: dict[str, float] = {}
    peaks: dict[str, float] = {}  # peak RSS after each stage: which stage raised the peak
    began = time.perf_counter()
    cpu_began = time.process_time()
    cap = load(path, partitions=partitions)
    stages["load"] = time.perf_counter() - began
    peaks["load"] = _peak_mb()
    shapes = {}
    for name in TABLES:
        start = time.perf_counter()
        table = getattr(cap, name)
        stages[name] = time.perf_counter() - start
        peaks[name] = _peak_mb()
        shapes[name] = len(table)
    total = time.perf_counter() - began
    cpu = time.process_time() - cpu_began
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(profile_out)
    findings = cap.findings
    by_check = findings.groupby("check").size().to_dict() if len(findings) else {}
    return {"total_s": total, "cpu_s": cpu, "stages_s": stages, "peaks_mb": peaks, "rows": shapes,
            "peak_mb": _peak_mb(),
            "partition_peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0,
            "findings_by_check": {str(k): int(v) for k, v in by_check.items()}}


def _run_child(*args: str) -> dict:
    command = [sys.executable, __file__, *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=1800, check=False)
    if done.returncode != 0:
        raise SystemExit(f"child {' '.join(args)} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def make_capture(directory: Path, target_frames: int, seed: int) -> tuple[Path, int, float]:
    """A synthetic capture of about ``target_frames`` frames (clean fleet, one day)."""
    from workbench.lab import synth

    # Calibrate frames per charger-day on a small fleet, then size the fleet.
    probe = synth.generate(directory / "probe.ocpp.jsonl", chargers=20, days=1, seed=seed, write_sidecar=False)
    per_charger = probe.frames / 20
    probe.path.unlink()
    chargers = max(1, math.ceil(target_frames / per_charger))
    path = directory / f"bench-{target_frames}.ocpp.jsonl"
    began = time.perf_counter()
    result = synth.generate(path, chargers=chargers, days=1, seed=seed, write_sidecar=False)
    return path, result.frames, time.perf_counter() - began


def print_profile(profile_path: str, limit: int = 25) -> None:
    """Top functions by own time, and own time summed per module."""
    import pstats

    stats = pstats.Stats(profile_path)
    by_module: dict[str, float] = {}
    rows = []
    for (filename, line, function), (_cc, _nc, tottime, cumtime, _callers) in stats.stats.items():
        module = filename.split("site-packages/")[-1].split("/main/")[-1]
        by_module[module] = by_module.get(module, 0.0) + tottime
        rows.append((tottime, cumtime, f"{module}:{line}({function})"))
    print("\nOwn time by module (s):")
    for module, seconds in sorted(by_module.items(), key=lambda item: -item[1])[:limit]:
        print(f"  {seconds:7.2f}  {module}")
    print("\nTop functions by own time (own s, cumulative s):")
    for tottime, cumtime, name in sorted(rows, reverse=True)[:limit]:
        print(f"  {tottime:7.2f} {cumtime:7.2f}  {name}")


def _print_size(frames: int, decode: dict, analysis: dict, runs: list[dict]) -> None:
    """One size's figures: every run's time, then the median run in detail."""
    stages = "  ".join(f"{name} {seconds:.2f}" for name, seconds in analysis["stages_s"].items())
    peaks = "  ".join(f"{name} {mb:.0f}" for name, mb in analysis["peaks_mb"].items())
    times = ", ".join(f"{run['total_s']:.2f}" for run in runs)
    print(
        f"{frames:>9} frames: analysis {analysis['total_s']:.2f} s (median of {times}; "
        f"{frames / analysis['total_s']:,.0f} frames/s), "
        f"bare decode {decode['decode_s']:.2f} s, ratio {analysis['total_s'] / decode['decode_s']:.2f}x, "
        f"peak {analysis['peak_mb']:.0f} MB\n"
        f"           CPU time (s): analysis {analysis['cpu_s']:.2f}, bare decode {decode['cpu_s']:.2f} "
        f"(ratio {analysis['cpu_s'] / decode['cpu_s']:.2f}x; wall > CPU means the machine was busy)\n"
        f"           stages (s): {stages}\n"
        f"           peak RSS after each stage (MB): {peaks}\n"
        f"           findings: {analysis['findings_by_check'] or 'none'}",
        flush=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one size of 100k frames (smoke run)")
    parser.add_argument("--sizes", type=int, nargs="+", help="frame counts (default 1000000 2000000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dir", type=Path, help="keep the captures here (default: a temporary directory)")
    parser.add_argument("--profile", action="store_true", help="cProfile the analysis of the smallest size")
    parser.add_argument("--partitions", type=int, default=2, metavar="N",
                        help="also time load(partitions=N) (charge-point partitions in N processes; 1: skip)")
    parser.add_argument("--repeat", type=int, default=3, metavar="N",
                        help="analyse each size N times, sizes alternating; the median run is the figure (default 3)")
    parser.add_argument("--child", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    parser.add_argument("--profile-out", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        kind, path = args.child
        if kind == "decode":
            result = child_decode(path)
        elif kind.startswith("generate-"):
            _, target_frames, seed = kind.split("-")
            made, frames, seconds = make_capture(Path(path), int(target_frames), int(seed))
            result = {"path": str(made), "frames": frames, "generate_s": seconds}
        else:
            result = child_analyze(path, args.profile_out, int(kind.split("-")[1]) if "-" in kind else 1)
        print(json.dumps(result))
        return 0

    sizes = sorted(args.sizes or ([100_000] if args.quick else [1_000_000, 2_000_000]))
    with tempfile.TemporaryDirectory(prefix="ocpp-bench-") as scratch:
        directory = args.dir or Path(scratch)
        directory.mkdir(parents=True, exist_ok=True)
        captures = []
        for size in sizes:
            # In a child: a parent grown by generating would pass its peak RSS on to every later child
            # (Linux keeps the larger of the two across fork and exec), inflating their figures.
            made = _run_child("--child", f"generate-{size}-{args.seed}", str(directory))
            path, frames, generate_s = Path(made["path"]), made["frames"], made["generate_s"]
            size_mb = os.path.getsize(path) / 1e6
            print(f"generated {frames} frames ({size_mb:.0f} MB) in {generate_s:.1f} s: {path.name}", flush=True)
            captures.append((path, frames, _run_child("--child", "decode", str(path))))
        # Sizes alternate from run to run, so that a change in the machine's load hits every size alike.
        runs: list[list[dict]] = [[] for _ in captures]
        for _ in range(args.repeat):
            for (path, _, _), size_runs in zip(captures, runs):
                size_runs.append(_run_child("--child", "analyze", str(path)))
        results = []
        for (path, frames, decode), size_runs in zip(captures, runs):
            analysis = sorted(size_runs, key=lambda run: run["total_s"])[len(size_runs) // 2]  # the median run
            results.append((frames, decode, analysis))
            _print_size(frames, decode, analysis, size_runs)
            if args.partitions > 1:
                split = _run_child("--child", f"analyze-{args.partitions}", str(path))
                print(f"           partitioned ({args.partitions} processes, not the targets' figure): "
                      f"{split['total_s']:.2f} s wall, peak {split['peak_mb']:.0f} MB in this process "
                      f"+ {split['partition_peak_mb']:.0f} MB per partition process", flush=True)
            if args.profile and frames == captures[0][1]:
                # A separate run: the profiler's overhead must not count in the figures above.
                profile_out = str(directory / "analysis.prof")
                _run_child("--child", "analyze", str(path), "--profile-out", profile_out)
                print_profile(profile_out)
            if args.dir is None:
                path.unlink()

    print("\nTargets:")
    verdicts = []
    for frames, decode, analysis in results:
        per_million = analysis["total_s"] * 1_000_000 / frames
        ratio = analysis["total_s"] / decode["decode_s"]
        checks = [
            (f"{frames} frames: {per_million:.1f} s per 1M frames <= {TARGET_SECONDS_1M:.0f} s",
             per_million <= TARGET_SECONDS_1M),
            (f"{frames} frames: {ratio:.2f}x bare decode <= {TARGET_DECODE_RATIO:.0f}x", ratio <= TARGET_DECODE_RATIO),
            (f"{frames} frames: peak {analysis['peak_mb']:.0f} MB <= {TARGET_PEAK_MB:.0f} MB",
             analysis["peak_mb"] <= TARGET_PEAK_MB),
        ]
        verdicts.extend(checks)
    if len(results) >= 2:
        (f1, _, a1), (f2, _, a2) = results[0], results[-1]
        growth = a2["total_s"] / a1["total_s"]
        allowed = TARGET_GROWTH * f2 / f1 / 2  # 2.2x for twice the frames, scaled to the real counts
        verdicts.append((f"growth {f2}/{f1} frames: {growth:.2f}x time <= {allowed:.2f}x", growth <= allowed))
    for text, ok in verdicts:
        print(f"  {'PASS' if ok else 'FAIL'}  {text}")
    if len(results) >= 2:
        # Wall time suffers when other processes share the cores; CPU time does not.
        print(f"  (CPU-time growth {results[-1][2]['cpu_s'] / results[0][2]['cpu_s']:.2f}x)")
    return 0 if all(ok for _, ok in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
