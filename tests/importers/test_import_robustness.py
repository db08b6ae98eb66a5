"""No importer raises on any fixture, on garbage, or on mutated frames; every frame found is a row."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.capture.importers import FORMATS, import_file
from workbench.capture.importers.found import FoundFrame
from workbench.capture.importers.report import COLUMNS, build_report

FIXTURES = Path(__file__).parent / "fixtures"
FIXTURE_NAMES = sorted(p.name for p in FIXTURES.iterdir())


def _accounted(result) -> None:
    """Every frame record is a report row (recovered or damaged) and vice versa."""
    frames = sum(1 for r in result.records if r["type"] == "frame")
    assert frames == result.frames_recovered + result.frames_damaged
    assert set(result.report["status"]) <= {"damaged", "skipped", "note"}


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_importer_over_every_fixture(fmt):
    for name in FIXTURE_NAMES:
        result = import_file(FIXTURES / name, format=fmt, charge_point_id="CP")
        _accounted(result)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=400))
def test_garbage_bytes_never_raise(tmp_path, data):
    path = tmp_path / "garbage.log"
    path.write_bytes(data)
    for fmt in (None, *FORMATS):
        _accounted(import_file(path, format=fmt))


FRAGMENTS = ['[2,"', '"]', "{", "}", "[", "]", ",", '\\"', "\n", "send CP1: ", "Received: ", "[MO] Send: ",
             "2024-05-01 10:00:00", "+02:00", "Z", "...", '"Heartbeat"', "{}", "> ", "csms-1  | ", '{"msg":"']


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), name=st.sampled_from(FIXTURE_NAMES[:]), cuts=st.integers(1, 8))
def test_mutated_fixtures_never_raise_and_keep_every_frame(tmp_path, seed, name, cuts):
    rng = random.Random(seed)
    text = (FIXTURES / name).read_bytes()
    if name.endswith(".mitm"):
        data = bytearray(text)
        for _ in range(cuts):
            data[rng.randrange(len(data))] = rng.randrange(256)
    else:
        chars = list(text.decode("utf-8"))
        for _ in range(cuts):
            at = rng.randrange(len(chars) + 1)
            if rng.random() < 0.5 and chars:
                del chars[at: at + rng.randint(1, 20)]
            else:
                chars.insert(at, rng.choice(FRAGMENTS))
        data = "".join(chars).encode("utf-8")
    path = tmp_path / name
    path.write_bytes(bytes(data))
    _accounted(import_file(path))


@given(text=st.text(max_size=300))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_arbitrary_text_lines_never_raise(tmp_path, text):
    path = tmp_path / "t.log"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    _accounted(import_file(path))


def test_report_keeps_lone_surrogates_and_its_documented_dtypes() -> None:
    # A damaged binary-ish frame decoded with surrogateescape, from a charge point whose id is damaged too.
    frame = FoundFrame(line_no=3, text='[2,"\udcc0"', problem="not JSON: cut")
    report = build_report([frame], ["CP\udcc0"], [{"line_no": 9, "status": "skipped", "reason": "no frame \udcff",
                                                   "text": "garbage \udcc0"}])
    assert report["text"].tolist() == ['[2,"\udcc0"', "garbage \udcc0"]
    assert report["reason"].tolist() == ["not JSON: cut", "no frame \udcff"]
    assert report["charge_point_id"].tolist() == ["CP\udcc0", None]
    assert {name: str(report[name].dtype) for name in COLUMNS} == {name: dtype for name, (dtype, _, _) in COLUMNS.items()}


@pytest.mark.parametrize("shape", ["ndjson object", "json trace", "json array"])
def test_a_message_nested_thousands_deep_is_no_crash(tmp_path, shape):
    """A message that is a raw JSON value nested 3,000 deep: format detection and every importer
    must treat it as damaged input (json.loads raises RecursionError there, not ValueError)."""
    deep = "[" * 3000 + "]" * 3000
    good = '{"direction": "CS_TO_CSMS", "message": [2, "1", "Heartbeat", {}]}'
    text = {
        "ndjson object": f'{good}\n{{"direction": "CS_TO_CSMS", "message": {deep}}}\n',
        "json trace": f'{{"events": [{good}, {{"direction": "CS_TO_CSMS", "message": {deep}}}]}}\n',
        "json array": f'[{deep}]\n',
    }[shape]
    path = tmp_path / "deep.json"
    path.write_text(text)
    for fmt in (None, *FORMATS):
        _accounted(import_file(path, format=fmt, charge_point_id="CP"))
