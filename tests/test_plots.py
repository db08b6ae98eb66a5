"""The plots: every figure on the sample, on an empty capture and on a foreign log; what each must show."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import pytest

import workbench as wb
from workbench import plots
from workbench.analysis import Capture
from workbench.testing import call, charger_records, clean_session_script, error, make_capture, result, write_capture

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "captures" / "sample.ocpp.jsonl"
FOREIGN_LOG = ROOT / "tests" / "importers" / "fixtures" / "steve.log"


@pytest.fixture(scope="module")
def sample() -> Capture:
    return wb.load(SAMPLE)


def _all_figures(cap: Capture) -> dict[str, go.Figure]:
    tx = cap.transactions
    first_tx = int(tx["transaction_id"].iloc[0]) if len(tx) else 1
    return {
        "status_timeline": wb.status_timeline(cap),
        "session_view": wb.session_view(cap, first_tx),
        "energy_reconciliation": wb.energy_reconciliation(cap),
        "sequence_chart": wb.sequence_chart(cap),
        "latency_by_action": wb.latency_by_action(cap),
        "meter_interval_histogram": wb.meter_interval_histogram(cap),
    }


def test_every_plot_draws_the_sample(sample: Capture) -> None:
    for name, figure in _all_figures(sample).items():
        assert isinstance(figure, go.Figure), name
        assert len(figure.data) > 0, f"{name} drew nothing"
        assert figure.layout.title.text, name


def test_an_empty_capture_gives_titled_empty_figures() -> None:
    cap = Capture.from_records([])
    for name, figure in _all_figures(cap).items():
        assert isinstance(figure, go.Figure), name
        assert figure.layout.title.text, name
        assert len(figure.data) == 0, name
        assert figure.layout.annotations[0].text  # says why it is empty


def test_plots_work_on_an_imported_foreign_log() -> None:
    cap = wb.load(FOREIGN_LOG)
    assert len(cap.frames)
    figures = _all_figures(cap)
    assert len(figures["sequence_chart"].data) > 0
    for figure in figures.values():
        figure.to_json()  # serialisable: what the browser will get


# --- energy reconciliation -----------------------------------------------------------------------

def test_kwh_as_wh_session_is_a_labelled_bar_with_the_fault_in_words(sample: Capture) -> None:
    figure = wb.energy_reconciliation(sample)
    register = next(trace for trace in figure.data if trace.name == "register samples")
    at = list(register.x).index("LAB-CP3-FAULTY tx 3")
    assert register.y[at] == pytest.approx(0.012)
    assert register.text[at] == "0.012"  # the value is written on its stub of a bar, not left invisible
    words = [a.text for a in figure.layout.annotations if a.x == "LAB-CP3-FAULTY tx 3"]
    assert words and "kWh sent as Wh" in words[0] and "1/1,000 of 12 Wh" in words[0]
    # Clean sessions get no note.
    assert not [a for a in figure.layout.annotations if a.x == "LAB-CP1 tx 1"]


def test_integrated_power_carries_its_tolerance(sample: Capture) -> None:
    figure = wb.energy_reconciliation(sample)
    integrated = next(trace for trace in figure.data if trace.name == "integrated power")
    tolerance = sample.transactions["energy_tolerance_wh"].tolist()
    assert list(integrated.error_y.array) == pytest.approx(tolerance)


def test_energy_reconciliation_keeps_sessions_with_notes_when_cut(sample: Capture) -> None:
    figure = wb.energy_reconciliation(sample, max_sessions=2)
    bars = next(trace for trace in figure.data if trace.name == "register samples")
    assert len(bars.x) == 2
    assert set(bars.x) == {"LAB-CP3-FAULTY tx 3", "LAB-CP3-FAULTY tx 12"}
    assert "2 of 12 sessions" in figure.layout.title.text


# --- session view --------------------------------------------------------------------------------

def _gap_capture(tmp_path: Path) -> Capture:
    """One clean 30-minute session at 7.2 kW, samples every 60 s, with no MeterValues from 10 to 20 minutes."""
    script = clean_session_script(charge_s=1800, sample_interval_s=60)
    begin = next(t for t, _, m in script if isinstance(m, list) and m[0] == 2 and m[2] == "StartTransaction")
    dropped = {m[1] for t, _, m in script if isinstance(m, list) and m[0] == 2 and m[2] == "MeterValues"
               and begin + 600 < t < begin + 1200}
    script = [e for e in script if not (isinstance(e[2], list) and e[2][1] in dropped)]
    return wb.load(make_capture(tmp_path / "gap.ocpp.jsonl", "CP-GAP", script))


def test_session_view_breaks_the_power_line_across_a_gap(tmp_path: Path) -> None:
    cap = _gap_capture(tmp_path)
    figure = wb.session_view(cap, 1001)
    power = next(trace for trace in figure.data if trace.name == "power (W)")
    ys = list(power.y)
    assert None in ys, "a 10-minute hole in the readings must break the line"
    assert power.connectgaps is False
    xs = [pd.Timestamp(x) for x in power.x if x is not None]
    hole = ys.index(None)
    assert (pd.Timestamp(power.x[hole + 1]) - pd.Timestamp(power.x[hole - 1])).total_seconds() >= 600
    assert max(y for y in ys if y is not None) == pytest.approx(7200)
    assert len(xs) == len(ys) - 1


def test_session_view_marks_meter_start_stop_and_register(sample: Capture) -> None:
    figure = wb.session_view(sample, 1, "LAB-CP1")
    names = {trace.name for trace in figure.data}
    assert {"power (W)", "register since start (Wh)", "meterStart / meterStop", "integrated power (Wh)"} <= names
    marks = next(trace for trace in figure.data if trace.name == "meterStart / meterStop")
    assert list(marks.y) == [0.0, 12.0]
    # SuspendedEV and SuspendedEVSE of that session are shaded.
    shaded = {shape.fillcolor for shape in figure.layout.shapes}
    assert {plots.STATUS_COLOURS["SuspendedEV"], plots.STATUS_COLOURS["SuspendedEVSE"]} <= shaded


def test_session_view_draws_a_kwh_register_scaled_back_and_flagged(sample: Capture) -> None:
    figure = wb.session_view(sample, 3, "LAB-CP3-FAULTY")
    register = next(trace for trace in figure.data if trace.name == "register since start (Wh)")
    assert min(y for y in register.y if y is not None) >= 0  # not -999,988 Wh
    assert any(trace.name.startswith("register ~1000x off") for trace in figure.data)


def test_session_view_of_an_unknown_session_is_an_empty_figure(sample: Capture) -> None:
    figure = wb.session_view(sample, 999)
    assert len(figure.data) == 0 and "999" in figure.layout.title.text


# --- status timeline -----------------------------------------------------------------------------

def test_status_timeline_lanes_links_and_findings(sample: Capture) -> None:
    figure = wb.status_timeline(sample)
    lanes = list(figure.layout.yaxis.categoryarray)
    assert lanes[:4] == ["LAB-CP1 link", "LAB-CP1 #0", "LAB-CP1 #1", "LAB-CP1 #2"]
    disconnected = next(trace for trace in figure.data if trace.name == "disconnected")
    assert list(disconnected.y) == ["LAB-CP3-FAULTY link"]  # the faulty charger's reconnect
    # A status ends when its connection closes: no connector bar of the faulty charger covers the outage.
    outage_start = pd.Timestamp(disconnected.base[0])
    outage_end = outage_start + pd.Timedelta(milliseconds=float(disconnected.x[0]))
    for trace in figure.data:
        if isinstance(trace, go.Bar) and trace.name not in ("connected", "disconnected"):
            for lane, base, width in zip(trace.y, trace.base, trace.x):
                if lane.startswith("LAB-CP3-FAULTY #"):
                    start = pd.Timestamp(base)
                    end = start + pd.Timedelta(milliseconds=float(width))
                    # (payload times of the charger's clock may run a few ms from the proxy's)
                    slack = pd.Timedelta(milliseconds=100)
                    assert end <= outage_start + slack or start >= outage_end - slack
    errors = next(trace for trace in figure.data if trace.name == "finding: error")
    assert len(errors.x) == 2 and all("energy_kwh_as_wh" in h for h in errors.hovertext)
    assert all('"MeterValues"' in h or '"StartTransaction"' in h or '"StopTransaction"' in h for h in errors.hovertext)
    charging = next(trace for trace in figure.data if trace.name == "Charging")
    assert '"status":"Charging"' in charging.hovertext[0].replace(" ", "")  # hover shows the frame


def test_status_timeline_window(sample: Capture) -> None:
    start, end = plots.window_around(sample.findings["ts"].iloc[0], 1.0)
    figure = wb.status_timeline(sample, "LAB-CP3-FAULTY", start=start, end=end)
    for trace in figure.data:
        if isinstance(trace, go.Bar):
            assert all(pd.Timestamp(b) >= start.tz_convert(None) for b in trace.base)


def test_status_timeline_thins_past_the_point_budget(sample: Capture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plots, "MAX_POINTS", 20)
    figure = wb.status_timeline(sample)
    bars = sum(len(trace.x) for trace in figure.data if isinstance(trace, go.Bar) and trace.legendgroup == "status")
    assert bars <= 20
    assert "status period" in figure.layout.title.text


# --- sequence chart ------------------------------------------------------------------------------

def _error_capture(tmp_path: Path) -> Capture:
    script = [
        (0.0, "up", call("a1", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})),
        (0.2, "down", result("a1", {"status": "Accepted", "currentTime": "2026-01-01T00:00:00Z", "interval": 60})),
        (1.0, "down", call("c1", "Reset", {"type": "Hard"})),
        (1.3, "up", error("c1", "NotSupported", "no")),
        (2.0, "up", call("a2", "Heartbeat", {"unexpected": 1})),
        (2.1, "down", result("a2", {"currentTime": "2026-01-01T00:00:02Z"})),
    ]
    return wb.load(write_capture(tmp_path / "err.ocpp.jsonl", charger_records("CP-ERR", script)))


def test_sequence_chart_arrows_links_and_red_errors(tmp_path: Path) -> None:
    cap = _error_capture(tmp_path)
    figure = wb.sequence_chart(cap, highlight_seqs=[3])
    assert list(figure.layout.xaxis.ticktext) == ["CP-ERR", "CSMS"]
    by_name = {trace.name: trace for trace in figure.data if trace.name}
    assert by_name["CALLERROR"].line.color == plots.MESSAGE_COLOURS["CALLERROR"] == "#d62728"
    assert by_name["schema error"].line.color == "#d62728"  # the Heartbeat with an extra property
    # One arrow per frame: 6 frames, each two points and a break.
    arrows = [t for t in figure.data if t.mode == "lines+markers"]
    assert sum(len(t.x) for t in arrows) == 6 * 3
    # The CSMS's Reset goes right to left, its CALLERROR left to right.
    calls = next(t for t in arrows if t.name == "CALL")
    pairs = [(calls.x[i], calls.x[i + 1]) for i in range(0, len(calls.x), 3)]
    assert pairs[0][0] == 0 and pairs[0][1] > 0.9  # BootNotification: charger (0) to CSMS (1)
    assert pairs[1][0] == 1 and pairs[1][1] < 0.1  # Reset: CSMS to charger
    # Request and reply linked: three pairs, the latency in the hover.
    links = by_name["request ↔ reply"]
    assert sum(1 for x in links.x if x is None) == 3
    assert any("reply after 0.300 s" in (h or "") for h in links.hovertext)
    labels = [t for t in figure.data if t.mode == "markers+text"]
    hovers = [h for t in labels for h in t.hovertext]
    assert any("NotSupported" in h for h in hovers) and any("&quot;" not in h and '"type":"Hard"' in h for h in hovers)
    assert "finding frames" in by_name


def test_sequence_chart_window_and_frame_limit(sample: Capture) -> None:
    figure = wb.sequence_chart(sample, "LAB-CP1", max_frames=10)
    labels = [t for t in figure.data if t.mode == "markers+text"]
    assert sum(len(t.x) for t in labels) == 10
    assert "first 10 of 144 frames" in figure.layout.title.text
    late = sample.frames["ts"].max() + pd.Timedelta(hours=1)
    empty = wb.sequence_chart(sample, start=late)
    assert len(empty.data) == 0


# --- timing --------------------------------------------------------------------------------------

def test_latency_by_action_counts_requests(sample: Capture) -> None:
    figure = wb.latency_by_action(sample)
    boxes = {trace.name: trace for trace in figure.data}
    assert set(boxes) == {"charger → CSMS", "CSMS → charger"}
    assert "MeterValues (72)" in set(boxes["charger → CSMS"].x)
    assert "far below the slow_reply threshold" in figure.layout.title.text


def test_latency_by_action_uses_quartiles_past_the_point_budget(sample: Capture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plots, "MAX_POINTS", 10)
    figure = wb.latency_by_action(sample)
    box = next(trace for trace in figure.data if trace.name == "charger → CSMS")
    assert box.y is None and box.median is not None


def test_meter_interval_histogram_against_the_configured_interval(tmp_path: Path) -> None:
    script = [(0.0, "down", call("k1", "ChangeConfiguration", {"key": "MeterValueSampleInterval", "value": "60"})),
              (0.1, "up", result("k1", {"status": "Accepted"}))]
    script += clean_session_script(charge_s=1200, sample_interval_s=60, t0_s=1.0)
    cap = wb.load(make_capture(tmp_path / "mv.ocpp.jsonl", "CP-MV", script))
    intervals = plots.meter_intervals(cap)
    assert intervals["interval_s"].tolist() == pytest.approx([60.0] * len(intervals))
    figure = wb.meter_interval_histogram(cap)
    lines = {shape.x0 for shape in figure.layout.shapes}
    assert lines == {60.0, 90.0}  # configured, and the gap threshold at 1.5x
    texts = [a.text for a in figure.layout.annotations]
    assert "configured 60 s" in texts


def test_power_curve_puts_each_connector_in_its_own_row(sample: Capture) -> None:
    figure = plots.power_curve(sample, "LAB-CP1")
    assert {trace.yaxis for trace in figure.data} == {"y", "y2"}
    assert any(None in list(trace.y) for trace in figure.data)  # the pause between sessions is a break


def test_repeated_transaction_begin_readings_are_marks_not_a_saw_tooth() -> None:
    times = pd.date_range("2026-01-01", periods=7, freq="10s", tz="UTC")
    register = pd.DataFrame({
        "ts": times, "seq": range(7), "value_normalized": [100.0, 110, 100, 120, 100, 130, 130],
        "context": ["Transaction.Begin", "Sample.Periodic", "Transaction.Begin", "Sample.Periodic",
                    "Transaction.Begin", "Transaction.End", "Transaction.End"]})
    line, repeated = plots._split_boundary_readings(register)
    assert line["seq"].tolist() == [0, 1, 3, 6]  # first Begin, periodic readings, last End
    assert repeated["seq"].tolist() == [2, 4, 5]


def test_many_energy_notes_are_written_upwards(sample: Capture) -> None:
    from types import SimpleNamespace

    sessions = sample.transactions.iloc[:6]
    extra = pd.DataFrame({"ts": sessions["start_ts"], "check": "energy_integrated_mismatch", "severity": "warning",
                          "charge_point_id": sessions["charge_point_id"], "connector_id": sessions["connector_id"],
                          "transaction_id": sessions["transaction_id"], "message": "m", "frame_seqs": [()] * 6})
    fake = SimpleNamespace(transactions=sample.transactions,
                           findings=pd.concat([sample.findings, extra], ignore_index=True))
    figure = wb.energy_reconciliation(fake)
    notes = [a for a in figure.layout.annotations if a.textangle == -90]
    assert len(notes) == 7 and all(len(a.text) <= 44 for a in notes)  # the first 6 sessions, and tx 12 (its kWh finding)


def test_meter_interval_histogram_shows_a_long_gap_beside_the_usual_interval() -> None:
    cap = wb.load(ROOT / "captures" / "synth-small.ocpp.jsonl")  # its truth has one meter_gap fault
    figure = wb.meter_interval_histogram(cap)
    longer = next(trace for trace in figure.data if trace.name == "longer")
    assert sum(longer.y) == 1
    assert "1 interval longer than" in figure.layout.title.text
    usual = next(trace for trace in figure.data if trace.name == "observed")
    assert max(usual.y) > 1000 and max(usual.x) < 130  # the 60 s interval keeps its own axis


def test_status_timeline_of_a_large_fleet_keeps_the_charge_points_with_findings(
        sample: Capture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plots, "MAX_LANES", 3)  # room for one charge point
    figure = wb.status_timeline(sample)
    assert figure.layout.yaxis.categoryarray[0] == "LAB-CP3-FAULTY link"
    assert "1 of 3 charge points, those with the most findings" in figure.layout.title.text
