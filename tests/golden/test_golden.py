"""Golden tables: every table of every capture in captures/ must equal its pinned CSV.

After an intended change, `make golden` (tests/golden/regenerate.py) rewrites the files and the
diff shows in git. Volatile fields are blanked by the same rendering (see regenerate.py).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_SPEC = importlib.util.spec_from_file_location("golden_regenerate", Path(__file__).with_name("regenerate.py"))
regenerate = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(regenerate)

CAPTURES = regenerate.golden_captures()


def test_there_are_golden_captures():
    names = [capture.name for capture in CAPTURES]
    assert "synth-small.ocpp.jsonl" in names


@pytest.mark.parametrize("capture", CAPTURES, ids=[capture.name for capture in CAPTURES])
def test_tables_match_golden(capture):
    target = regenerate.golden_dir(capture)
    assert target.is_dir(), f"no golden tables for {capture.name}: run `make golden`"
    rendered = regenerate.render_capture(capture)
    differences = []
    for name, text in rendered.items():
        path = target / f"{name}.csv"
        if not path.exists():
            differences.append(f"{path.name} missing: run `make golden`")
            continue
        expected = path.read_text(encoding="utf-8")
        if expected != text:
            differences.append(regenerate.diff(expected, text, f"{target.name}/{name}.csv"))
    assert not differences, "\n\n".join(differences)


def test_golden_rendering_blanks_volatile_fields_and_sorts():
    import pandas as pd

    table = pd.DataFrame({"seq": [2, 1], "raw": ["[2,\"b\"]", "[2,\"a\"]"],
                          "payload": [{"b": 1, "a": [1, 2]}, None], "value": [float("nan"), 0.1]})
    text = regenerate.render_table(table)
    assert text.splitlines() == [
        "seq,raw,payload,value",
        "1,,,0.1",
        '2,,"{""a"":[1,2],""b"":1}",',
    ]


def test_no_golden_directory_without_its_capture():
    expected = {regenerate.golden_dir(capture).name for capture in CAPTURES}
    present = {path.name for path in regenerate.GOLDEN.iterdir()
               if path.is_dir() and not path.name.startswith(("_", "."))}
    assert present <= expected, f"golden tables of captures that are gone: {sorted(present - expected)}"
