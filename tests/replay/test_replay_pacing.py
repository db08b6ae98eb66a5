"""``--speed X`` scales the recorded gaps, ``--speed max`` ignores them; ``--pace reply`` (the only
pace) holds under both. The command line as a user runs it, against the lab CSMS on loopback."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest
from replay_lab_helpers import run

import workbench as wb
from workbench.lab import LabCSMS
from workbench.testing import exchange, make_capture

pytestmark = pytest.mark.network
ROOT = Path(__file__).resolve().parents[2]
GAP_S = 1.0  # recorded gap between consecutive requests
REQUESTS = 4


def _capture(tmp_path: Path) -> Path:
    script = []
    for i in range(REQUESTS):
        script += exchange(i * GAP_S, f"h{i}", "Heartbeat", {}, {"currentTime": "2025-01-06T08:00:00.000Z"})
    return make_capture(tmp_path / "gaps.ocpp.jsonl", "PACE-1", script, close_at_s=REQUESTS * GAP_S)


def _replay(capture: Path, out: Path, *speed: str) -> tuple[int, str, list[float]]:
    """Run the command against a fresh lab CSMS; (exit code, stderr, gaps in s between the requests sent)."""

    async def go() -> tuple[int, str]:
        async with LabCSMS(pki=None, passwords={}, unknown_ids="accept") as csms:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "workbench", "replay", str(capture), "--target", csms.url, "--pace", "reply",
                *speed, "--out", str(out), "--quiet", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                env={**os.environ, "PYTHONPATH": str(ROOT)})
            _out, err = await asyncio.wait_for(process.communicate(), 60)
            return process.returncode, err.decode()

    code, err = run(go(), timeout_s=90)
    frames = wb.load(out).frames
    sent = frames[frames["direction"] == "charger_to_csms"]["ts"].tolist()
    return code, err, [(b - a).total_seconds() for a, b in zip(sent, sent[1:], strict=False)]


def test_speed_2_halves_the_recorded_gaps(tmp_path: Path) -> None:
    code, err, gaps = _replay(_capture(tmp_path), tmp_path / "x2.ocpp.jsonl", "--speed", "2")
    assert code == 0, err
    assert len(gaps) == REQUESTS - 1
    for gap in gaps:  # 0.5 s each; the tolerance covers a loaded shared machine
        assert gap == pytest.approx(GAP_S / 2, abs=0.12), gaps


def test_speed_max_ignores_the_recorded_gaps(tmp_path: Path) -> None:
    code, err, gaps = _replay(_capture(tmp_path), tmp_path / "max.ocpp.jsonl", "--speed", "max")
    assert code == 0, err
    assert len(gaps) == REQUESTS - 1
    assert max(gaps) < GAP_S / 4, gaps  # only the reply is waited for: milliseconds, not the recorded second


def test_the_default_is_max(tmp_path: Path) -> None:
    code, err, gaps = _replay(_capture(tmp_path), tmp_path / "default.ocpp.jsonl")
    assert code == 0, err
    assert max(gaps) < GAP_S / 4, gaps


@pytest.mark.parametrize("speed, message", [
    ("reply", "reply is a --pace"), ("0", "positive"), ("-1", "positive"), ("inf", "finite"), ("fast", "'max'"),
])
def test_a_speed_that_is_not_a_number_or_max_is_a_usage_error(tmp_path: Path, speed: str, message: str) -> None:
    async def go() -> tuple[int, str]:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "workbench", "replay", str(_capture(tmp_path)), "--speed", speed, "--plan",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)})
        _out, err = await asyncio.wait_for(process.communicate(), 60)
        return process.returncode, err.decode()

    code, err = run(go(), timeout_s=90)
    assert code == 2 and message in err and "Traceback" not in err
