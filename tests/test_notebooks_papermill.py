"""The notebooks are templates: each runs unchanged on another capture or a foreign log (papermill
``-p CAPTURE``), and its figures draw in the notebook exported to HTML, offline."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

import workbench as wb

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
FAULT = NOTEBOOKS / "01-field-fault-investigation.ipynb"
ENERGY = NOTEBOOKS / "02-energy-audit.ipynb"
REPLAY = NOTEBOOKS / "03-replay-regression.ipynb"
SYNTH = ROOT / "captures" / "synth-small.ocpp.jsonl"
FOREIGN_LOG = ROOT / "tests" / "importers" / "fixtures" / "steve.log"

pytestmark = pytest.mark.slow


def run_notebook(notebook: Path, out: Path, **parameters: object) -> dict:
    import papermill

    papermill.execute_notebook(str(notebook), str(out), parameters=parameters, cwd=str(NOTEBOOKS),
                               kernel_name="python3", progress_bar=False, log_output=False)
    return json.loads(out.read_text(encoding="utf-8"))


def _outputs(book: dict) -> list[dict]:
    return [output for cell in book["cells"] if cell["cell_type"] == "code" for output in cell.get("outputs", [])]


def test_notebooks_have_a_parameters_cell_and_no_outputs() -> None:
    for notebook in (FAULT, ENERGY, REPLAY):
        book = json.loads(notebook.read_text(encoding="utf-8"))
        tagged = [c for c in book["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(tagged) == 1 and "CAPTURE = " in "".join(tagged[0]["source"])
        assert all(not c.get("outputs") and c.get("execution_count") is None
                   for c in book["cells"] if c["cell_type"] == "code"), f"{notebook.name}: strip the outputs"


def test_field_fault_notebook_on_another_capture(tmp_path: Path) -> None:
    book = run_notebook(FAULT, tmp_path / "01.ipynb", CAPTURE=str(SYNTH))
    text = json.dumps(book)
    assert "SYNTH00001" in text and "LAB-CP3-FAULTY" not in "".join(
        o.get("text", "") if isinstance(o.get("text"), str) else "".join(o.get("text", [])) for o in _outputs(book))
    assert "faults injected by the simulator" in text  # synth-small has a truth sidecar
    # Every figure output carries HTML (plotly.js embedded once), not only plotly's mime type.
    figures = [o for o in _outputs(book) if "application/vnd.plotly.v1+json" in o.get("data", {})]
    assert len(figures) == 6
    assert all("text/html" in o["data"] for o in figures)


def test_both_notebooks_on_a_foreign_log(tmp_path: Path) -> None:
    csv = tmp_path / "energy.csv"
    run_notebook(FAULT, tmp_path / "01.ipynb", CAPTURE=str(FOREIGN_LOG))
    book = run_notebook(ENERGY, tmp_path / "02.ipynb", CAPTURE=str(FOREIGN_LOG), CSV_OUT=str(csv))
    assert "no ground-truth sidecar" in json.dumps(book)
    assert csv.read_text(encoding="utf-8").startswith("charge_point_id,connector_id,transaction_id")


def test_energy_notebook_on_another_capture_with_tariff_and_csv(tmp_path: Path) -> None:
    import pandas as pd

    csv = tmp_path / "energy.csv"
    run_notebook(ENERGY, tmp_path / "02.ipynb", CAPTURE=str(SYNTH), TARIFF_PER_KWH=0.5, CURRENCY="GBP",
                 CSV_OUT=str(csv))
    sessions = pd.read_csv(csv)
    assert len(sessions) > 0 and {"billed_kwh", "cost_GBP", "notes", "register_minus_meter_wh"} <= set(sessions.columns)
    assert (sessions["cost_GBP"] - (sessions["billed_kwh"] * 0.5).round(4)).abs().max() < 1e-9
    assert sessions["notes"].fillna("").str.contains("kWh sent as Wh").any()  # synth-small's kwh_as_wh fault


@pytest.mark.timeout(1200)  # may install Chromium first (see tests/test_report.py)
def test_executed_notebook_exported_to_html_draws_its_plots_offline(tmp_path: Path) -> None:
    import nbformat
    from nbconvert import HTMLExporter

    from test_report import chromium_or_skip, inspect_page

    run_notebook(FAULT, tmp_path / "01.ipynb", CAPTURE=str(SYNTH))
    body, _ = HTMLExporter().from_notebook_node(nbformat.read(tmp_path / "01.ipynb", as_version=4))
    page = tmp_path / "01.html"
    page.write_text(body, encoding="utf-8")
    facts = asyncio.run(inspect_page(chromium_or_skip(), page))
    assert len(facts["plots"]) == 6
    for plot in facts["plots"]:
        assert plot["svg"] >= 1 and plot["traces"] >= 1, plot
    # nbconvert's own template asks a CDN for require.js and MathJax (the browser here is offline);
    # anything else is an error of ours.
    ours = [e for e in facts["console_errors"]
            if not (e.startswith("log: Failed to load resource") and "cdnjs.cloudflare.com" in e)]
    assert ours == []


@pytest.mark.network  # starts the lab CSMS on loopback and replays against it
def test_replay_regression_notebook_on_another_capture(tmp_path: Path) -> None:
    from workbench.lab.synth import generate

    # A short fault-free fleet (2 chargers, 72 recorded minutes, a reconnect): the replay is clean. synth-small
    # would not be: its injected faults (an unanswered Heartbeat) are real differences from the lab CSMS.
    capture = tmp_path / "short.ocpp.jsonl"
    generate(capture, chargers=2, days=0.05, seed=3, write_sidecar=False)
    out = tmp_path / "replay.ocpp.jsonl"
    book = run_notebook(REPLAY, tmp_path / "03.ipynb", CAPTURE=str(capture), OUT=str(out))
    texts = "".join("".join(o["text"]) if isinstance(o.get("text"), list) else o.get("text", "")
                    for o in _outputs(book))
    assert "replay: clean: 49 rows (49 matched)" in texts and "regression: clean" in texts
    assert "LAB-CP" not in texts  # nothing of the sample leaks into another capture's run
    replayed = wb.load(out)
    assert replayed.header["proxy_mode"] == "replay" and set(replayed.frames["charge_point_id"]) == {
        "SYNTH00001", "SYNTH00002"}
    figures = [o for o in _outputs(book) if "application/vnd.plotly.v1+json" in o.get("data", {})]
    assert len(figures) == 2  # recorded and replayed sequence charts


CONFORMANCE = NOTEBOOKS / "04-conformance.ipynb"


def _printed(book: dict) -> str:
    return "".join(o.get("text", "") if isinstance(o.get("text"), str) else "".join(o.get("text", []))
                   for o in _outputs(book))


@pytest.mark.network
def test_conformance_notebook_passive_on_captures_and_probing_a_misbehaving_lab_charger(tmp_path: Path) -> None:
    """04-conformance: stripped, one parameters cell; passive on the sample (its asserts run) and on a
    foreign log (they do not); the probe against the lab charger told to ignore charging limits
    fails R6 alone, in the notebook and in its capture judged again."""
    book = json.loads(CONFORMANCE.read_text(encoding="utf-8"))
    tagged = [c for c in book["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1 and 'CAPTURE = ""' in "".join(tagged[0]["source"])
    assert all(not c.get("outputs") and c.get("execution_count") is None
               for c in book["cells"] if c["cell_type"] == "code"), "04-conformance: strip the outputs"

    sample = run_notebook(CONFORMANCE, tmp_path / "04-sample.ipynb", CAPTURE=str(ROOT / "captures" / "sample.ocpp.jsonl"))
    assert "\nR9: " in _printed(sample) and "nothing fails" not in _printed(sample)  # and its asserts ran
    foreign = run_notebook(CONFORMANCE, tmp_path / "04-foreign.ipynb", CAPTURE=str(FOREIGN_LOG))
    assert "imported log" in json.dumps(foreign)  # R1/R3 not_observed for a foreign log, no assert tripped

    out_dir = tmp_path / "probe"
    probed = run_notebook(CONFORMANCE, tmp_path / "04-probe.ipynb", MISBEHAVIOURS=["ignore_charging_limit"],
                          OUT_DIR=str(out_dir))
    printed = _printed(probed)
    assert "-> SetChargingProfile TxProfile 0 W: Accepted" in printed
    assert "R6: " in printed and "drawn after it" in json.dumps(probed)
    from workbench.conformance.probe import check_params

    again = wb.check(wb.load(out_dir / "out" / "probe.ocpp.jsonl"), "ev-energy", params=check_params(1.0, 1.5))
    assert [row.requirement.id for row in again.rows if row.verdict == "fail"] == ["R6"]
