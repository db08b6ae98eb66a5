"""``ocpp-workbench report``: the page's content, and the page itself opened in headless Chromium."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

import workbench as wb
from workbench.analysis import Capture
from workbench.checks.registry import CHECKS
from workbench.cli import main
from workbench.report import NEXT_STEPS, next_step, report_html, report_markdown, write_report
from workbench.testing import call, make_capture, result

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "captures" / "sample.ocpp.jsonl"
FOREIGN_LOG = ROOT / "tests" / "importers" / "fixtures" / "steve.log"
# The sample's findings, worst first (tests/test_plots.py and the notebooks rely on the same three).
SAMPLE_FINDINGS = [("error", "energy_kwh_as_wh"), ("error", "energy_kwh_as_wh"), ("warning", "status_transition")]


@pytest.fixture(scope="module")
def sample_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "sample.report.html"
    assert main(["report", str(SAMPLE), "-o", str(out)]) == 0
    return out


def test_html_report_is_self_contained(sample_report: Path) -> None:
    from plotly.offline import get_plotlyjs

    text = sample_report.read_text(encoding="utf-8")
    plotly_js = get_plotlyjs()
    assert text.count(plotly_js) == 1  # plotly.js embedded once, for every plot
    # Nothing to fetch (outside plotly.js itself): no script, style, image or font from the network.
    page = text.replace(plotly_js, "")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "cdn.plot.ly" not in page and "MathJax" not in page
    for section in ("Summary", "Findings", "Sessions, energy three ways", "Connections", "Plots"):
        assert f">{section}</h2>" in text
    assert text.count("class='plotly-graph-div'") + text.count('class="plotly-graph-div"') == 6


def test_html_report_lists_findings_with_frames_and_next_steps(sample_report: Path) -> None:
    text = sample_report.read_text(encoding="utf-8")
    rows = re.findall(r"<tr class='finding (\w+)' data-severity='(\w+)' data-check='(\w+)'>", text)
    assert [(severity, check) for _, severity, check in rows] == SAMPLE_FINDINGS
    # The frames that prove the kWh finding are quoted (escaped), and the check's next step is given.
    assert "&quot;meterStop&quot;:1000012" in text
    assert NEXT_STEPS["energy_kwh_as_wh"] in text.replace("&#x27;", "'")
    # The sessions table says what is wrong with the faulty session's energy, in words.
    assert "kWh sent as Wh" in text


def test_markdown_report(tmp_path: Path) -> None:
    out = tmp_path / "r.md"
    assert main(["report", str(SAMPLE), "-o", str(out)]) == 0  # format from the suffix
    text = out.read_text(encoding="utf-8")
    assert text.startswith("# OCPP capture report: sample.ocpp.jsonl")
    assert "| error | energy_kwh_as_wh | 2 |" in text
    assert text.count("### error: energy_kwh_as_wh") == 2
    assert "```json" in text and "<script" not in text
    assert "| LAB-CP3-FAULTY | 1 | 3 |" in text


def test_report_default_path_next_to_the_capture(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capture = tmp_path / "site.ocpp.jsonl"
    shutil.copy(SAMPLE, capture)
    assert main(["report", str(capture), "--format", "md"]) == 0
    assert (tmp_path / "site.report.md").exists()
    assert str(tmp_path / "site.report.md") in capsys.readouterr().out


def test_report_of_a_file_without_frames_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.log"
    empty.write_text("")
    assert main(["report", str(empty), "-o", str(tmp_path / "r.html")]) == 2
    assert "no OCPP frame" in capsys.readouterr().err and not (tmp_path / "r.html").exists()


def test_report_of_a_foreign_log_and_of_an_empty_capture(tmp_path: Path) -> None:
    out = tmp_path / "foreign.html"
    assert main(["report", str(FOREIGN_LOG), "-o", str(out)]) == 0
    assert "steve.log" in out.read_text(encoding="utf-8")
    empty = Capture.from_records([])
    assert "No check found anything." in report_html(empty)
    assert "No sessions." in report_markdown(empty)


def test_report_escapes_frame_text(tmp_path: Path) -> None:
    evil = '[2,"x1","DataTransfer",{"vendorId":"</pre><script>alert(1)</script>"}]'
    capture = make_capture(tmp_path / "evil.ocpp.jsonl", "CP-EVIL", [
        (0.0, "up", call("b1", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})),
        (0.1, "down", result("b1", {"status": "Accepted", "currentTime": "2026-01-01T00:00:00Z", "interval": 60})),
        (1.0, "up", evil), (1.1, "down", "<b>not json</b>")])
    text = write_report(wb.load(capture), tmp_path / "evil.html").read_text(encoding="utf-8")
    assert "<script>alert(1)" not in text and "&lt;script&gt;alert(1)" in text
    assert "<b>not json</b>" not in text


def test_report_refuses_an_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="html, md"):
        write_report(Capture.from_records([]), tmp_path / "x.pdf", format="pdf")


def test_every_check_has_a_next_step() -> None:
    missing = sorted(set(CHECKS) - set(NEXT_STEPS))
    assert not missing, f"add a suggested next step to workbench/report.py NEXT_STEPS for: {missing}"
    assert "rule the check encodes" in next_step("no_such_check")


def test_unwritable_report_path_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["report", str(SAMPLE), "-o", str(blocker / "sub" / "r.html")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"ocpp-workbench report: -o {blocker / 'sub' / 'r.html'}: cannot be created")
    assert err.count("\n") == 1 and "Traceback" not in err


# --- the page in a real browser ------------------------------------------------------------------

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", "--window-size=1400,1000"]


def chromium_or_skip() -> str:
    """The Chromium binary; installed with apt-get (Debian's ``chromium``) when missing and we are root.
    Skips, saying why, only where it cannot be installed."""
    for name in CHROMIUM_NAMES:
        if shutil.which(name):
            return str(shutil.which(name))
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip("SKIPPED: no Chromium, and it cannot be installed here (needs root and apt-get): "
                    "the report was NOT checked in a browser")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update"], ["apt-get", "install", "-y", "chromium"]):
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            pytest.skip(f"SKIPPED: Chromium could not be installed ({' '.join(command)}: "
                        f"{done.stderr.strip()[-300:]}): the report was NOT checked in a browser")
    found = shutil.which("chromium")
    if not found:
        pytest.skip("SKIPPED: apt-get installed chromium but no chromium binary is on PATH")
    return found


# JavaScript run in the page: every plotly div, whether it drew SVG with traces, and the findings rows.
PAGE_FACTS_JS = """(() => {
  const plots = [...document.querySelectorAll('div.plotly-graph-div')];
  return JSON.stringify({
    plots: plots.map(p => ({id: p.id, svg: p.querySelectorAll('svg.main-svg').length,
                            traces: p.querySelectorAll('g.trace, g.barlayer path, g.boxlayer path').length})),
    findings: [...document.querySelectorAll('#findings tr.finding')].map(r => [r.dataset.severity, r.dataset.check]),
    height: document.documentElement.scrollHeight,
  });
})()"""


class DevTools:
    """A minimal Chrome DevTools Protocol client over one page's WebSocket."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        my_id = self.next_id
        await self.ws.send(json.dumps({"id": my_id, "method": method, "params": params}))
        while True:
            message = json.loads(await asyncio.wait_for(self.ws.recv(), timeout=60))
            if message.get("id") == my_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    async def wait_event(self, method: str, timeout_s: float) -> None:
        if any(e.get("method") == method for e in self.events):
            return
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            message = json.loads(await asyncio.wait_for(self.ws.recv(), timeout=deadline - time.monotonic()))
            self.events.append(message)
            if message.get("method") == method:
                return
        raise TimeoutError(method)

    def console_errors(self) -> list[str]:
        errors = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                details = params.get("exceptionDetails", {})
                errors.append(f"exception: {details.get('exception', {}).get('description') or details.get('text')}")
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                errors.append("console." + params["type"] + ": " + " ".join(
                    str(a.get("value", a.get("description", ""))) for a in params.get("args", [])))
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                errors.append(f"log: {params['entry'].get('text')} {params['entry'].get('url', '')}")
        return errors


async def inspect_page(chromium: str, page: Path, screenshot: Path | None = None) -> dict[str, Any]:
    """Open ``page`` in headless Chromium: its facts (PAGE_FACTS_JS), console errors, and a full-page PNG."""
    from websockets.asyncio.client import connect

    profile = Path(tempfile.mkdtemp(prefix="wb-chromium-"))
    process = subprocess.Popen([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().strip()):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Chromium did not start (exit {process.poll()})")
            await asyncio.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as reply:
            targets = json.load(reply)
        target = next(t for t in targets if t.get("type") == "page")
        async with connect(target["webSocketDebuggerUrl"], max_size=None, open_timeout=20) as ws:
            tools = DevTools(ws)
            for domain in ("Runtime", "Log", "Page"):
                await tools.send(f"{domain}.enable")
            await tools.send("Page.navigate", url=page.resolve().as_uri())
            await tools.wait_event("Page.loadEventFired", 60)
            facts: dict[str, Any] = {}
            for _ in range(100):  # plotly draws right after load; allow it a few seconds on a busy machine
                evaluated = await tools.send("Runtime.evaluate", expression=PAGE_FACTS_JS, returnByValue=True)
                facts = json.loads(evaluated["result"]["value"])
                if facts["plots"] and all(p["svg"] and p["traces"] for p in facts["plots"]):
                    break
                await asyncio.sleep(0.1)
            if screenshot is not None:
                await tools.send("Emulation.setDeviceMetricsOverride", width=1400, height=min(facts["height"], 16000),
                                 deviceScaleFactor=1, mobile=False)
                await asyncio.sleep(1.0)  # responsive plots redraw at the new size
                shot = await tools.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)
                import base64

                screenshot.write_bytes(base64.b64decode(shot["data"]))
            await tools.send("Runtime.evaluate", expression="1")  # collect late console events
            facts["console_errors"] = tools.console_errors()
            return facts
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.mark.slow
@pytest.mark.timeout(1200)  # a fresh machine installs Chromium first (apt-get), minutes on a slow mirror
def test_report_in_headless_chromium(sample_report: Path, tmp_path: Path) -> None:
    chromium = chromium_or_skip()
    screenshot = tmp_path / "report.png"
    facts = asyncio.run(inspect_page(chromium, sample_report, screenshot))
    assert facts["console_errors"] == []
    assert [p["id"] for p in facts["plots"]] == ["plot-status-timeline", "plot-energy", "plot-session", "plot-sequence",
                                                 "plot-latency", "plot-intervals"]
    for plot in facts["plots"]:
        assert plot["svg"] >= 1 and plot["traces"] >= 1, f"{plot['id']} drew no SVG: {plot}"
    assert [tuple(row) for row in facts["findings"]] == SAMPLE_FINDINGS
    assert screenshot.stat().st_size > 50_000  # a drawn page, not a blank one


def test_report_leaves_out_the_proxy_mode_string(tmp_path: Path) -> None:
    # mitmproxy's mode string is kept in the header as typed; a user may have typed credentials into it.
    from workbench.capture import records
    from workbench.testing import charger_records, clean_session_script, write_capture

    header = records.header(tool="ocpp-workbench addon", tool_version="0.1.0",
                            proxy_mode="upstream:https://cp1:s3cret-pw@csms.example:443",
                            upstream_url="wss://csms.example/ocpp")
    capture = write_capture(tmp_path / "h.ocpp.jsonl", charger_records("CP1", clean_session_script()), header)
    cap = wb.load(capture)
    for text in (report_html(cap), report_markdown(cap)):
        assert "s3cret-pw" not in text and "wss://csms.example/ocpp" in text


def test_report_and_plots_of_a_damaged_capture(tmp_path: Path) -> None:
    from workbench import plots

    capture = make_capture(tmp_path / "bad.ocpp.jsonl", "CP-BAD", [
        (0.0, "up", '[2,"a","BootNotification",{"chargePointVendor":"V"'),   # cut JSON
        (0.5, "up", b"\x00\x01binary"),                                         # a binary frame
        (1.0, "down", result("nobody", {})),                                    # a reply without request
        (2.0, "up", call("m1", "MeterValues", {"connectorId": 1, "transactionId": 5, "meterValue": [
            {"timestamp": "not a time", "sampledValue": [{"value": "abc"}]}]})),
        (3.0, "up", call("s1", "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Charging",
                                                      "timestamp": "yesterday"})),
    ])
    with capture.open("a", encoding="utf-8") as fh:
        fh.write('{"type": "frame", "ts": "2026-01-01T00:0')  # a last line cut by a crash
    cap = wb.load(capture)
    assert len(cap.findings) > 3
    html = report_html(cap)
    assert html.count("<tr class='finding") == len(cap.findings)
    report_markdown(cap)
    for figure in (plots.status_timeline(cap), plots.sequence_chart(cap), plots.latency_by_action(cap),
                   plots.meter_interval_histogram(cap), plots.energy_reconciliation(cap), plots.session_view(cap, 5),
                   plots.findings_timeline(cap), plots.power_curve(cap, "CP-BAD")):
        figure.to_json()
