"""The sans-io plan: built from captures, edited, printed; no network."""

from __future__ import annotations

from pathlib import Path

import pytest

import workbench as wb
from workbench.replay.plan import Plan, Step
from workbench.replay.scenario import apply_edits, insert_reboot

SAMPLE = Path(__file__).resolve().parents[2] / "captures" / "sample.ocpp.jsonl"


def test_charger_plan_sends_charger_requests_and_expects_csms_requests(session_capture: Path) -> None:
    plan = Plan.from_capture(session_capture, role="charger")
    kinds = [s.kind for s in plan.steps]
    assert kinds[0] == "connect" and kinds[-1] == "close"
    sends = [s for s in plan.steps if s.kind == "send"]
    expects = [s for s in plan.steps if s.kind == "expect"]
    assert [s.action for s in expects] == ["ChangeConfiguration"]
    assert expects[0].reply == {"status": "Accepted"} and expects[0].reply_kind == "CALLRESULT"
    assert sends[0].action == "BootNotification" and sends[0].reply["status"] == "Accepted"
    start = next(s for s in sends if s.action == "StartTransaction")
    assert start.reply == {"transactionId": 1001, "idTagInfo": {"status": "Accepted"}}
    # seq references point at the recorded frames
    frames = wb.load(session_capture).frames.set_index("seq")
    assert frames.loc[start.seq, "action"] == "StartTransaction"
    assert frames.loc[start.reply_seq, "message_type"] == "CALLRESULT"
    assert plan.steps[-1].close_code == 1000


def test_csms_plan_is_the_mirror_image(session_capture: Path) -> None:
    charger = Plan.from_capture(session_capture, role="charger")
    csms = Plan.from_capture(session_capture, role="csms")
    swapped = {"send": "expect", "expect": "send", "connect": "connect", "close": "close"}
    assert [swapped[s.kind] for s in charger.steps] == [s.kind for s in csms.steps]


def test_plan_of_a_fleet_capture_keeps_each_charge_points_connections() -> None:
    plan = Plan.from_capture(SAMPLE)
    assert plan.charge_point_ids == ["LAB-CP1", "LAB-CP2", "LAB-CP3-FAULTY"]
    faulty = [s for _, s in plan.steps_of("LAB-CP3-FAULTY")]
    closes = [s for s in faulty if s.kind == "close"]
    assert [s.close_code for s in closes] == [1006, 1000]  # the reconnect fault dropped the link
    assert [s.connection for s in faulty if s.kind == "connect"] == [0, 1]
    assert all(a.t_s <= b.t_s for a, b in zip(plan.steps, plan.steps[1:]))
    one = Plan.from_capture(SAMPLE, charge_point="LAB-CP1")
    assert one.charge_point_ids == ["LAB-CP1"] and len(one) == len(plan.steps_of("LAB-CP1"))


def test_plan_from_an_edited_frames_table(session_capture: Path) -> None:
    cap = wb.load(session_capture)
    frames = cap.frames[cap.frames["action"] != "Heartbeat"]
    plan = Plan.from_frames(frames, cap.connections)
    assert "Heartbeat" not in {s.action for s in plan.steps}
    assert len(plan.select(kind="send")) == len(Plan.from_capture(cap).select(kind="send")) - 1


def test_edits_return_new_plans_and_leave_the_original(session_capture: Path) -> None:
    plan = Plan.from_capture(session_capture)
    before = plan.to_text()
    dropped = plan.drop(action="StopTransaction")
    assert not dropped.select(action="StopTransaction") and plan.select(action="StopTransaction")
    faulted = plan.set_field("/status", "Faulted", action="StatusNotification", kind="send")
    assert {plan.steps[i].payload["status"] for i in plan.select(action="StatusNotification")} != {"Faulted"}
    assert {faulted.steps[i].payload["status"] for i in faulted.select(action="StatusNotification")} == {"Faulted"}
    scaled = plan.scale_energy(0.001, action="MeterValues")
    first = scaled.steps[scaled.select(action="MeterValues")[0]].payload["meterValue"][0]["sampledValue"]
    assert first[0]["value"] == "10" and first[1]["value"] == "7200.0"  # power untouched
    inserted = plan.insert(1, Step("CP-1", "send", action="Heartbeat", payload={}))
    assert len(inserted) == len(plan) + 1 and inserted.steps[1].action == "Heartbeat"
    renamed = plan.rename({"CP-1": "CP-9"}, {"TAG0001": "TAG9"})
    assert renamed.charge_point_ids == ["CP-9"]
    start = renamed.steps[renamed.select(action="StartTransaction")[0]]
    assert start.payload["idTag"] == "TAG9"
    assert plan.to_text() == before


def test_to_frame_and_text(session_capture: Path) -> None:
    plan = Plan.from_capture(session_capture)
    table = plan.to_frame()
    assert len(table) == len(plan)
    assert list(table.columns[:3]) == ["charge_point_id", "kind", "t_s"]
    text = plan.to_text()
    assert text.splitlines()[0].startswith("plan: role charger")
    assert "StartTransaction" in text and len(text.splitlines()) == len(plan) + 1


def test_bad_role_and_step_kind_are_refused() -> None:
    with pytest.raises(ValueError, match="role"):
        Plan(role="proxy")
    with pytest.raises(ValueError, match="step kind"):
        Step("CP", "wait")


def test_reboot_edit_drops_the_link_and_boots_again(session_capture: Path) -> None:
    plan = Plan.from_capture(session_capture)
    after = plan.select(action="MeterValues")[1]
    rebooted = insert_reboot(plan, after)
    new = rebooted.steps[after + 1:after + 4]
    assert [(s.kind, s.close_code, s.action) for s in new] == [
        ("close", 1006, None), ("connect", None, None), ("send", None, "BootNotification")]
    assert rebooted.steps[-1].connection == 1
    via_yaml = apply_edits(plan, [{"reboot": {"after": {"action": "MeterValues", "occurrence": 1}}}])
    assert via_yaml.to_text() == rebooted.to_text()


def test_public_names_on_a_fresh_import() -> None:
    import subprocess
    import sys

    code = ("import workbench as wb; print(callable(wb.replay.replay), wb.Plan.__name__, "
            "wb.replay_diff.__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "Plan", "replay_diff"]


def test_rebase_energy_keeps_every_sessions_energy() -> None:
    plan = Plan.from_capture(SAMPLE, charge_point="LAB-CP1")
    rebased = plan.rebase_energy(500.0)

    def sessions(p: Plan) -> list[tuple[int, int]]:
        starts = [p.steps[i].payload["meterStart"] for i in p.select(action="StartTransaction")]
        stops = [p.steps[i].payload["meterStop"] for i in p.select(action="StopTransaction")]
        return list(zip(starts, stops, strict=True))

    assert [start for start, _ in sessions(rebased)] == [500, 500, 512, 512]
    assert [b - a for a, b in sessions(rebased)] == [b - a for a, b in sessions(plan)]
    first_meter = rebased.steps[rebased.select(action="MeterValues")[0]].payload["meterValue"][0]["sampledValue"]
    assert float(first_meter[0]["value"]) - 500 == float(
        plan.steps[plan.select(action="MeterValues")[0]].payload["meterValue"][0]["sampledValue"][0]["value"]) - 1_000_000
