"""A synthetic fleet replayed at once, each charge point on its own connection, against the lab CSMS."""

from __future__ import annotations

from pathlib import Path

import pytest
from replay_lab_helpers import run

import workbench as wb
from workbench.lab import LabCSMS
from workbench.lab.synth import generate
from workbench.replay import Plan, ReplayOptions
from workbench.replay.run import make_connector, replay_async
from workbench.replay.verdict import DEFAULT_IGNORE

pytestmark = [pytest.mark.network, pytest.mark.slow]
# The synthetic CSMS answers StopTransaction without idTagInfo, the lab CSMS with it: both valid.
IGNORE = (*DEFAULT_IGNORE, "StopTransaction:/idTagInfo")


def _fleet(tmp_path: Path, chargers: int, days: float) -> tuple[Path, Plan]:
    path = tmp_path / "fleet.ocpp.jsonl"
    generate(path, chargers=chargers, days=days, seed=11, write_sidecar=False)
    # The synthetic CSMS's own requests (ChangeConfiguration, RemoteStart...) are not expected of the lab CSMS.
    return path, Plan.from_capture(path).drop(kind="expect")


def _replay(plan: Plan, out: Path, options: ReplayOptions):
    async def scenario():
        async with LabCSMS(pki=None, passwords={}, unknown_ids="accept") as csms:
            result = await replay_async(plan, make_connector(plan, target=csms.url), out=out, options=options)
            return result, csms.connections_accepted, len(csms.transactions)

    return run(scenario(), timeout_s=120)


def test_fleet_at_max_speed_holds_every_connection_and_loses_no_step(tmp_path: Path) -> None:
    source, plan = _fleet(tmp_path, chargers=12, days=0.1)
    out = tmp_path / "replay.ocpp.jsonl"
    result, accepted, transactions = _replay(plan, out, ReplayOptions(reply_timeout_s=10, ignore=IGNORE))
    assert result.verdict.clean, result.verdict.to_text()
    assert len(result.verdict.rows) == len(plan.select(kind="send"))  # one matched row per request
    recorded = wb.load(source)
    assert accepted == len(recorded.connections)  # reconnects and reboots included
    assert transactions == len(recorded.transactions)
    replayed = wb.load(out)
    assert sorted(replayed.transactions["energy_wh"]) == sorted(recorded.transactions["energy_wh"])


def test_fleet_at_a_speed_keeps_the_charge_points_relative_timing(tmp_path: Path) -> None:
    _source, plan = _fleet(tmp_path, chargers=6, days=0.05)
    speed = 2400.0  # 72 recorded minutes in 1.8 s
    out = tmp_path / "replay.ocpp.jsonl"
    result, _accepted, _transactions = _replay(plan, out, ReplayOptions(speed=speed, ignore=IGNORE))
    assert result.verdict.clean, result.verdict.to_text()
    frames = wb.load(out).frames
    sent = frames[frames["direction"] == "charger_to_csms"]
    start = frames["ts"].min()
    recorded_offsets = {cp: min(s.t_s for _i, s in plan.steps_of(cp) if s.kind == "send") for cp in plan.charge_point_ids}
    t0 = min(recorded_offsets.values())
    for cp, offset in recorded_offsets.items():
        replayed = (sent[sent["charge_point_id"] == cp]["ts"].min() - start).total_seconds()
        assert abs(replayed - (offset - t0) / speed) < 0.15, (cp, replayed, (offset - t0) / speed)
    last = max(s.t_s for s in plan.steps) - t0
    assert (frames["ts"].max() - start).total_seconds() == pytest.approx(last / speed, abs=0.5)
