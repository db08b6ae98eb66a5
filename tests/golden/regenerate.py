"""Regenerate the golden tables: every table of every capture in ``captures/`` as sorted CSV.

    python tests/golden/regenerate.py            # (or `make golden`) rewrite tests/golden/<capture>/
    python tests/golden/regenerate.py --check    # compare only; exit 1 and show diffs on a change

One directory per capture (``tests/golden/sample/``, ``tests/golden/synth-small/``), one CSV per
table. Rows are sorted, object columns (payloads, lists) are written as sorted-key JSON, and the
fields that would only repeat the input are blanked (``frames.raw``; ``frames.payload``, which
calls.csv pins as ``request``/``response``), and paths on this machine read ``<repo>``.
``tests/golden/test_golden.py`` runs the same rendering and compares; after an intended change of
a table, run this script and review the diff in git.
"""

from __future__ import annotations

import argparse
import difflib
import json
import math
import sys
from pathlib import Path
from typing import Any

import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
CAPTURES = ROOT / "captures"
GOLDEN = Path(__file__).resolve().parent
TABLES = ("frames", "calls", "connections", "meter_values", "status", "transactions", "findings")
# Columns left blank: ``raw`` is the input itself; a frame's ``payload`` is pinned already as
# ``request``/``response`` in calls.csv (blanking it here halves the golden files).
BLANKED_COLUMNS = {"frames": {"raw", "payload"}}
# Captures written by other tools on demand (make demo) are not golden inputs.
SKIPPED_PREFIXES = ("demo",)


def golden_captures() -> list[Path]:
    """The capture files whose tables are pinned: ``captures/*.ocpp.jsonl`` (and ``.gz``)."""
    found = [path for path in CAPTURES.glob("*.ocpp.jsonl*")
             if not path.name.endswith(".truth.json") and not path.name.startswith(SKIPPED_PREFIXES)
             and path.name.endswith((".ocpp.jsonl", ".ocpp.jsonl.gz"))]
    return sorted(found)


def golden_dir(capture: Path) -> Path:
    name = capture.name
    for suffix in (".ocpp.jsonl.gz", ".ocpp.jsonl"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return GOLDEN / name


def _cell(value: Any) -> Any:
    """A cell as stable text: JSON for objects, blank for missing values."""
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return format(value, ".10g")
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    if hasattr(value, "tolist"):  # numpy arrays in object columns
        return json.dumps(value.tolist(), sort_keys=True, separators=(",", ":"), default=str)
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return str(value)


def render_table(table: pd.DataFrame, blanked: set[str] | frozenset[str] = frozenset({"raw"})) -> str:
    """One table as CSV text: columns in table order, ``blanked`` ones empty, rows sorted."""
    frame = pd.DataFrame({
        column: ["" if column in blanked else _cell(value) for value in table[column].tolist()]
        for column in table.columns
    }, dtype=object)
    text = frame.to_csv(index=False, lineterminator="\n")
    header, *rows = text.splitlines()
    # Machine paths (load problems, import reports) are not part of the result.
    rows = sorted(row.replace(str(ROOT), "<repo>") for row in rows)
    return "\n".join([header, *rows]) + "\n"


def render_capture(capture: Path) -> dict[str, str]:
    """Every table of one capture, rendered: table name -> CSV text."""
    from workbench.analysis import load

    cap = load(capture)
    return {name: render_table(getattr(cap, name), BLANKED_COLUMNS.get(name, frozenset())) for name in TABLES}


def diff(expected: str, actual: str, name: str, limit: int = 40) -> str:
    lines = list(difflib.unified_diff(expected.splitlines(), actual.splitlines(),
                                      f"golden/{name}", f"now/{name}", lineterm="", n=1))
    more = f"\n... {len(lines) - limit} more diff lines" if len(lines) > limit else ""
    return "\n".join(lines[:limit]) + more


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the golden files, write nothing")
    args = parser.parse_args(argv)
    captures = golden_captures()
    if not captures:
        print(f"no captures in {CAPTURES}", file=sys.stderr)
        return 1
    changed = 0
    for capture in captures:
        target = golden_dir(capture)
        for name, text in render_capture(capture).items():
            path = target / f"{name}.csv"
            old = path.read_text(encoding="utf-8") if path.exists() else ""
            if old == text:
                continue
            changed += 1
            if args.check:
                print(diff(old, text, f"{target.name}/{name}.csv"))
            else:
                target.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
                print(f"wrote {path.relative_to(ROOT)} ({text.count(chr(10)) - 1} rows)")
    if args.check:
        print(f"{changed} golden table(s) differ" if changed else "golden tables match")
        return 1 if changed else 0
    if not changed:
        print("golden tables unchanged")
    return 0


if __name__ == "__main__":
    sys.exit(main())
