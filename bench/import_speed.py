"""Import speed of the structured formats against the native capture read of the same frames.

Builds one native capture (captures/synth-small.ocpp.jsonl's frames, repeated for distinct charge
points), writes the same frames as NDJSON (``export --to ndjson``), Open OCPP Trace v1.1
(``export --to open-ocpp-trace``) and a ``{metadata, events: [{timestamp, direction, message}]}``
JSON trace, then times, in the same process and run, per file:

- ``load(path).frames``: what a user waits for to see the frames of a file, the native capture read
  (``CaptureReader``) or the import path (``import_file``), then the same frames table: the
  stricter measure (the import's extra microseconds against ~4.5 us per frame), printed against
  0.5 too;
- the readers alone: ``read_capture(path)`` against ``import_file(path)`` (header, report and
  frames; the fast path makes capture records only when ``.records`` is read, as load() does not). The native
  reader is one orjson call per line (~1-3 us per frame); the import path must also find, classify
  and place every frame, so this ratio is far below 0.5 and printed for the record, not as the target;
- the full analysis: ``cap = load(path); cap.tables()`` (every table and every check, the findings
  included, as ``bench/analyze.py`` times it), native and imported timed in turns like
  ``load().frames``, with its ratio (fast path only: the general path's too would take ``--quick``
  past a minute). Its native side is the import written as a native capture
  (:func:`write_as_native`: the same frames, charge points and connections, so the same findings;
  a JSON trace names one charge point for the whole file, whose 18,546 frames then reuse the copies'
  message ids and give thousands of findings the native capture does not have), frames written
  compactly as a charger sends them. This is what issue 10's figures measured: 4.6 s for 356,800
  frames is 12.9 us per frame native, about the full analysis (``bench/analyze.py``: ~11.7 us per
  frame) and nearly three times ``load().frames`` (~4.5 us per frame); 18.5 s as a JSONL log was a
  ratio of 0.25. Issue 10's target (structured formats at no less than half the native speed, a
  ratio >= 0.5) is judged on this measure. The import costs the same extra microseconds per frame in
  both, so its ratio is higher here than in ``load().frames``.

Each is timed ``--repeat`` times in CPU time of this process, best kept (a shared machine's slow
spells only ever add time), twice per format: by the general import path (every frame a found-frame
object, direction and time inferred: what every import took before the fast path) and by the fast
path of regular structured records (``workbench.capture.importers.regular`` and ``uniform``), so
before and after are compared in the same run. Each import's ``load().frames`` is timed in turns
with the native one (:func:`best_of_alongside`), and its ratio is to that native time: the process
gets slower as it builds and drops tables, which would count against the formats timed last (the
ratio to the native time taken first is printed too).

    .venv/bin/python bench/import_speed.py --quick     # ~18.5k frames, under 60 s on a loaded 2-core VM
    .venv/bin/python bench/import_speed.py              # ~340k frames
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workbench.capture import CaptureWriter, read_capture  # noqa: E402
from workbench.capture import records as rec  # noqa: E402
from workbench.capture import importers  # noqa: E402
from workbench.capture.importers import import_file  # noqa: E402
from workbench.export import export_capture  # noqa: E402

SOURCE = ROOT / "captures" / "synth-small.ocpp.jsonl"
TARGET_RATIO = 0.5


def build_native(path: Path, copies: int) -> int:
    """``copies`` times the source's frames, each copy on its own charge points, shifted in time."""
    header, records, _ = read_capture(SOURCE)
    times = [rec.parse_ts(r["ts"]) for r in records]
    span = (max(times) - min(times)).total_seconds() + 1
    frames = 0
    with CaptureWriter(path, rec.header(tool="bench", tool_version="0", upstream_url=header.get("upstream_url"))) as out:
        for copy in range(copies):
            for record, when in zip(records, times):
                record = dict(record)
                record["ts"] = rec.format_ts(when.timestamp() + copy * span)
                record["connection_id"] = f"{record['connection_id']}-{copy}"
                if record["type"] in ("connection_open", "upgrade_rejected") and record.get("charge_point_id"):
                    record["charge_point_id"] = f"{record['charge_point_id']}-{copy}"
                    record["url_path"] = f"/ocpp/{record['charge_point_id']}"
                frames += record["type"] == "frame"
                out.write(record)
    return frames


def write_json_trace(native: Path, path: Path) -> None:
    """The ``{metadata, events}`` shape (@ocpp-debugkit's), one charge point per file as such tools write."""
    _, records, _ = read_capture(native)
    words = {"charger_to_csms": "CS_TO_CSMS", "csms_to_charger": "CSMS_TO_CS"}
    events = [{"timestamp": r["ts"], "direction": words[r["direction"]], "message": json.loads(r["text"])}
              for r in records if r["type"] == "frame" and not r.get("binary")]
    path.write_text(json.dumps({"metadata": {"tool": "bench", "stationId": "BENCH"}, "events": events},
                               ensure_ascii=False, indent=1))


def write_as_native(result: importers.ImportResult, path: Path) -> None:
    """The import's records as a native capture, each frame text written compactly (the same JSON
    value): what the proxy would have recorded of the traffic the import reads."""
    with CaptureWriter(path, result.header) as out:
        for record in result.records:
            if record["type"] == "frame" and isinstance(record.get("text"), str):
                record = {**record, "text": json.dumps(json.loads(record["text"]), ensure_ascii=False,
                                                       separators=(",", ":"))}
            out.write(record)


def best_of(repeat: int, work) -> float:
    """Best CPU time (s) of ``repeat`` runs: this process's CPU time, not wall time, which on a
    shared machine also counts the turns of every other process."""
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        work()
        best = min(best, time.process_time() - start)
    return best


def best_of_alongside(repeat: int, first, second) -> tuple[float, float]:
    """Best CPU times (s) of ``first`` and ``second``, timed in turns (first, second, first, ...), so
    both are measured in the same state of the process: a process that has built and dropped many
    tables gets slower at building the next (the native load().frames timed again at the end of a
    run took 0.113 s against 0.082 s at its start), which would count against what is timed last."""
    best_first = best_second = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        first()
        middle = time.process_time()
        second()
        best_first = min(best_first, middle - start)
        best_second = min(best_second, time.process_time() - middle)
    return best_first, best_second


def full_analysis(path: Path) -> None:
    """Every table and every check of ``path`` (what ``analyze`` builds; ``bench/analyze.py`` times the same)."""
    from workbench.analysis import load

    load(path).tables()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="6 copies (~18.5k frames) instead of 110 (~340k)")
    parser.add_argument("--repeat", type=int, default=3, help="timings per measurement, best kept (3)")
    args = parser.parse_args(argv)
    copies = 6 if args.quick else 110
    with tempfile.TemporaryDirectory(prefix="import-speed-") as tmp:
        folder = Path(tmp)
        native = folder / "native.ocpp.jsonl"
        frames = build_native(native, copies)
        # format as detected -> file: our NDJSON export is JSON objects per line.
        inputs = {"json-objects": folder / "frames.ndjson", "open-ocpp-trace": folder / "frames.open-ocpp-trace.jsonl",
                  "json-trace": folder / "frames.trace.json"}
        export_capture(native, inputs["json-objects"], "ndjson")
        export_capture(native, inputs["open-ocpp-trace"], "open-ocpp-trace")
        write_json_trace(native, inputs["json-trace"])
        from workbench.analysis import load

        native_load = best_of(args.repeat, lambda: load(native).frames)
        native_read = best_of(args.repeat, lambda: read_capture(native))
        print(f"{frames} frames ({copies} copies of {SOURCE.name}), best of {args.repeat}")
        print(f"  native   load().frames {native_load:7.3f} s {frames / native_load:8.0f} frames/s | "
              f"read_capture {native_read:6.3f} s")
        worst = worst_full = float("inf")
        for fmt, path in inputs.items():
            result = import_file(path)
            assert result.format == fmt and result.frames_recovered == frames, (fmt, result.summary())
            analysed = folder / f"{fmt}.ocpp.jsonl"  # the native side of the full analysis
            write_as_native(result, analysed)
            for way, regular_formats in (("general", ()), ("fast", importers.REGULAR_FORMATS)):
                saved, importers.REGULAR_FORMATS = importers.REGULAR_FORMATS, regular_formats
                try:
                    assert import_file(path).records == result.records  # both ways import the same
                    native_alongside, import_load = best_of_alongside(
                        args.repeat, lambda: load(native).frames, lambda p=path: load(p).frames)
                    import_read = best_of(args.repeat, lambda p=path: import_file(p))
                    if way == "fast":  # (the general path's too would take --quick past a minute)
                        native_full, import_full = best_of_alongside(
                            args.repeat, lambda a=analysed: full_analysis(a), lambda p=path: full_analysis(p))
                finally:
                    importers.REGULAR_FORMATS = saved
                ratio = native_alongside / import_load
                if way == "fast":
                    full_ratio = native_full / import_full
                    worst = min(worst, ratio)
                    worst_full = min(worst_full, full_ratio)
                print(f"  {fmt:<15} {way:<7} load().frames {import_load:7.3f} s {frames / import_load:8.0f} frames/s "
                      f"ratio {ratio:.2f} (native alongside {native_alongside:.3f} s; "
                      f"{native_load / import_load:.2f} to the first) | import_file {import_read:6.3f} s "
                      f"{import_read / frames * 1e6:5.1f} us/frame ratio {native_read / import_read:.2f}")
                if way == "fast":
                    per_frame = 1e6 / frames
                    print(f"  {'':<15} {way:<7} full analysis {import_full:7.3f} s "
                          f"{frames / import_full:8.0f} frames/s ratio {full_ratio:.2f} (native alongside "
                          f"{native_full:.3f} s, {native_full * per_frame:.1f} us/frame; "
                          f"import {import_full * per_frame:.1f} us/frame)")
        verdict = "meets" if worst_full >= TARGET_RATIO else "MISSES"
        print(f"slowest structured format at {worst_full:.2f} of the native speed in the full analysis "
              f"(load() and every table and check, fast path; issue 10's figures are of this): "
              f"{verdict} the target {TARGET_RATIO}")
        strict = "also at or above" if worst >= TARGET_RATIO else "below"
        print(f"slowest structured format at {worst:.2f} of the native speed in load().frames alone "
              f"(the stricter measure): {strict} {TARGET_RATIO}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
