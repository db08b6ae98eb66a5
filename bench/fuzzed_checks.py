"""Benchmark every check on fuzzed traffic: how the check time grows with frames on hostile content.

Generates a capture of ``--frames`` frames of :func:`workbench.testing.fuzzed_script` (most CALLs
unanswered, message ids repeating, replies to random ids, frames no decoder likes) from
``--charge-points`` chargers, loads it, builds every table, then times each registered check on it.
Prints the frames, the time of the tables, the time of all checks, and the slowest checks. Every
check should grow at most as n log n with frames: ``--quick`` runs 10k and 20k frames and prints the
growth ratio of the check time (about 2 is linear; 4 quadratic). Not a unit test.

    python bench/fuzzed_checks.py              # 100k frames, one charge point
    python bench/fuzzed_checks.py --quick      # 10k and 20k frames, under a minute
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import workbench
import workbench.checks  # noqa: F401  (registers every check)
from workbench.checks.registry import CHECKS, CheckConfig
from workbench.testing import charger_records, fuzzed_script, merge_records, write_capture


def measure(frames: int, charge_points: int, directory: Path) -> float:
    """Print the figures of one size; returns the time of all checks in seconds."""
    path = directory / f"fuzzed-{frames}.ocpp.jsonl"
    per_cp = frames // charge_points
    write_capture(path, merge_records(*[charger_records(f"FUZZ{i:03d}", fuzzed_script(per_cp, seed=i))
                                         for i in range(charge_points)]))
    started = time.perf_counter()
    cap = workbench.load(path)
    for name in cap.TABLES[:-1]:
        getattr(cap, name)
    tables_s = time.perf_counter() - started
    config = CheckConfig()
    times: dict[str, float] = {}
    crashed = []
    for name, info in CHECKS.items():
        begun = time.perf_counter()
        try:
            list(info.fn(cap, config))
        except Exception as exc:  # noqa: BLE001  (a benchmark reports a crash, it does not stop)
            crashed.append(f"{name}: {type(exc).__name__}")
        times[name] = time.perf_counter() - begun
    checks_s = sum(times.values())
    slowest = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in sorted(times.items(), key=lambda kv: -kv[1])[:4])
    print(f"{len(cap.frames):>8,} frames: tables {tables_s:6.2f} s, checks {checks_s:7.2f} s (slowest: {slowest})"
          + (f"; crashed: {', '.join(crashed)}" if crashed else ""), flush=True)
    return checks_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--charge-points", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="10k and 20k frames, with the growth ratio")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.quick:
            small = measure(10_000, args.charge_points, Path(tmp))
            large = measure(20_000, args.charge_points, Path(tmp))
            print(f"check time growth for 2x frames: {large / small:.2f}x")
        else:
            measure(args.frames, args.charge_points, Path(tmp))


if __name__ == "__main__":
    main()
