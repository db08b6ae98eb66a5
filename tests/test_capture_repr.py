"""What the first screens show: the Capture text and HTML repr (frames, connections, charge points,
sessions, findings by severity, the worst findings, time span), the notebook view of a table
(timestamps to the millisecond, ``raw`` whole, nothing stored changed) and wb.load's progress bar
(large inputs in an interactive session only: a real pseudo-terminal and a real Jupyter kernel)."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

import markupsafe
import pandas as pd
import pytest

import workbench as wb
from workbench.analysis import Capture
from workbench.testing import charger_records, clean_session_script, exchange, make_capture

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "captures" / "sample.ocpp.jsonl"


@pytest.fixture(scope="module")
def sample() -> Capture:
    return wb.load(SAMPLE)


def test_text_repr_says_what_matters(sample: Capture) -> None:
    text = repr(sample)
    first = text.splitlines()[0]
    assert first == ("<Capture 432 frames, 4 connections, 3 charge points, 12 sessions, "
                     "2026-11-21 20:06:46.123Z .. 2026-11-21 20:07:01.309Z (15 s)")
    assert "  findings: 2 error, 1 warning, 0 info" in text
    worst = text.splitlines()[2:]
    assert [line.split()[0] for line in worst] == ["error", "error", "warning"]
    assert "2026-11-21 20:06:46.366Z LAB-CP3-FAULTY energy_kwh_as_wh: last register sample" in worst[0]
    assert text.endswith(">")


def test_html_repr_has_sessions_findings_and_the_worst_ones_in_order(sample: Capture) -> None:
    html = sample._repr_html_()
    for label, value in [("frames", "432"), ("connections", "4"), ("charge points", "3"), ("sessions", "12"),
                         ("findings", "2 error, 1 warning, 0 info")]:
        assert f">{label}</th><td style='text-align:left; padding:1px 8px'>{value}</td>" in html
    assert "2026-11-21 20:06:46.123Z .. 2026-11-21 20:07:01.309Z (15 s)" in html
    worst = html.split("worst findings", 1)[1]
    assert worst.index(">error<") < worst.index(">warning<")
    assert "energy_kwh_as_wh" in worst and "status_transition" in worst and "75, 217" in worst


def test_reprs_escape_what_came_from_the_wire_and_survive_an_empty_capture() -> None:
    script = [*clean_session_script(), *exchange(9_000, "x1", "<img src=x onerror=alert(1)>", {}, {})]
    cap = Capture.from_records(charger_records("CP1", script))
    html = cap._repr_html_()
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;: 1" in html
    empty = Capture.from_records([])
    assert repr(empty).startswith("<Capture 0 frames, 0 connections, 0 charge points, 0 sessions, no frames")
    assert "worst findings" not in empty._repr_html_()


def test_reprs_say_when_findings_cannot_be_computed(monkeypatch: pytest.MonkeyPatch) -> None:
    cap = Capture.from_records(charger_records("CP1", clean_session_script()))

    def broken_checks(self: Capture, config: object = None, names: object = None) -> pd.DataFrame:
        raise RuntimeError("a check fell over")

    monkeypatch.setattr(Capture, "check", broken_checks)
    assert "findings could not be computed: RuntimeError: a check fell over" in repr(cap)
    assert "could not be computed" in cap._repr_html_()


def test_view_shows_milliseconds_and_whole_raw_without_changing_the_table(sample: Capture) -> None:
    frames = sample.frames
    dtypes_before = frames.dtypes.copy()
    longest = frames.loc[frames["raw"].str.len().idxmax()]
    assert len(longest["raw"]) > pd.get_option("display.max_colwidth")  # pandas would cut it
    html = frames.ocpp.view(max_rows=None).to_html()
    assert "2026-11-21 20:06:46.157Z" in html and "20:06:46.157826" not in html
    assert str(markupsafe.escape(longest["raw"])) in html  # whole, escaped as the Styler escapes
    assert frames.dtypes.equals(dtypes_before) and str(frames["ts"].dtype) == "datetime64[us, UTC]"
    short = frames.ocpp.view(max_rows=10).to_html()
    assert "first and last 5 of 432 rows" in short and short.count("<tr>") == 11  # header + 10 rows


def test_view_escapes_markup_in_frames() -> None:
    cap = Capture.from_records(charger_records("CP1", clean_session_script()))
    frames = cap.frames.copy()
    frames.loc[0, "raw"] = "<script>alert(1)</script>"
    html = frames.ocpp.view().to_html()
    assert "<script>alert" not in html and "&lt;script&gt;" in html


# --- progress ------------------------------------------------------------------------------------

def test_progress_true_draws_a_bar_and_small_files_get_none_by_default(tmp_path: Path, capsys) -> None:
    path = make_capture(tmp_path / "small.ocpp.jsonl", "CP1", clean_session_script())
    wb.load(path)
    assert capsys.readouterr().err == ""
    wb.load(path, progress=True)
    assert "loading" in capsys.readouterr().err


def test_large_inputs_get_no_bar_outside_an_interactive_session(tmp_path: Path, capsys, monkeypatch) -> None:
    import workbench.progress

    monkeypatch.setattr(workbench.progress, "LARGE_INPUT_BYTES", 1)
    path = make_capture(tmp_path / "big.ocpp.jsonl", "CP1", clean_session_script())
    wb.load(path)
    assert capsys.readouterr().err == ""  # pytest: not interactive, stderr not a terminal


def _load_on_a_terminal(path: Path, *, interactive: bool, threshold: int | None) -> str:
    """Run wb.load in a child whose stderr is a pseudo-terminal; what it wrote there."""
    code = ("import workbench.progress as p\n"
            + (f"p.LARGE_INPUT_BYTES = {threshold}\n" if threshold is not None else "")
            + f"import workbench as wb; wb.load({str(path)!r}); print('loaded')\n")
    primary, secondary = pty.openpty()
    # A real terminal has a size; tqdm draws nothing on a 0-column one.
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    argv = [sys.executable, *(["-i"] if interactive else []), "-c", code]
    child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=secondary, env=env)
    os.close(secondary)
    written = b""
    while True:
        try:
            chunk = os.read(primary, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        written += chunk
    os.close(primary)
    stdout, _ = child.communicate(timeout=60)
    assert child.returncode == 0 and b"loaded" in stdout, written
    return written.decode("utf-8", "replace")


@pytest.mark.slow
def test_a_terminal_prompt_gets_a_bar_for_large_inputs_only(tmp_path: Path) -> None:
    path = make_capture(tmp_path / "day.ocpp.jsonl", "CP1", clean_session_script(charge_s=3_000))
    assert "loading:" in _load_on_a_terminal(path, interactive=True, threshold=1)
    assert "loading" not in _load_on_a_terminal(path, interactive=True, threshold=None)  # small file
    assert "loading" not in _load_on_a_terminal(path, interactive=False, threshold=1)  # a script


@pytest.mark.slow
def test_a_jupyter_kernel_gets_a_bar_for_large_inputs(tmp_path: Path) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    path = make_capture(tmp_path / "day.ocpp.jsonl", "CP1", clean_session_script(charge_s=3_000))
    cells = [
        f"import sys; sys.path.insert(0, {str(REPO)!r})\nimport workbench as wb\ncap = wb.load({str(path)!r})",
        f"import workbench.progress as p; p.LARGE_INPUT_BYTES = 1\ncap = wb.load({str(path)!r})",
    ]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in cells])
    nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
                            ).execute()
    small, large = ([output.get("text", "") for output in cell.outputs if output.get("name") == "stderr"]
                    for cell in notebook.cells)
    assert small == []
    assert any("loading" in text for text in large) and not any("Warning" in text for text in large)
