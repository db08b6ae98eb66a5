"""Replay as the charger against the lab CSMS: real websockets on loopback, ws and wss + Basic Auth."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from replay_lab_helpers import SAMPLE, energy_by_session, run, send_integrator_requests

import workbench as wb
from workbench.capture.writer import CaptureWriter
from workbench.lab import ChargerConfig, LabCharger, LabCSMS
from workbench.lab.certs import LabPKI
from workbench.replay import Plan, ReplayOptions, replay_header, run_plan
from workbench.replay.run import make_connector, password_source, replay_async

pytestmark = pytest.mark.network
FAST = ReplayOptions(reply_timeout_s=5, peer_timeout_s=5, connect_timeout_s=5)


def test_sample_replays_clean_against_the_lab_csms_and_keeps_the_energy(tmp_path: Path) -> None:
    plan = Plan.from_capture(SAMPLE)
    out = tmp_path / "replay.ocpp.jsonl"

    async def scenario():
        async with LabCSMS(pki=None, passwords={}, unknown_ids="accept", heartbeat_interval_s=60) as csms:
            integrator = send_integrator_requests(csms, plan.charge_point_ids)
            connector = make_connector(plan, target=csms.url)
            result = await replay_async(plan, connector, out=out, options=FAST, target_label=csms.url)
            for task in integrator:
                await task
            return csms, result

    csms, result = run(scenario())
    verdict = result.verdict
    assert verdict.clean, verdict.to_text()
    assert verdict.exit_code == 0
    assert verdict.counts()["matched"] == len(plan.select(kind="send")) + len(plan.select(kind="expect"))

    recorded, replayed = wb.load(SAMPLE), wb.load(out)
    assert replayed.load_problems == []
    assert replayed.header["proxy_mode"] == "replay"
    # the replay's transactions table holds the recording's sessions, energy equal to the Wh
    pd_equal = energy_by_session(recorded.transactions).equals(energy_by_session(replayed.transactions))
    assert pd_equal, (energy_by_session(recorded.transactions), energy_by_session(replayed.transactions))
    # ... and so does the CSMS's own view, under the ids it assigned
    assert sorted(result.transaction_ids.values()) == sorted(csms.transactions)
    assert sorted((t.charge_point_id, t.meter_start_wh, t.meter_stop_wh - t.meter_start_wh)
                  for t in csms.transactions.values()) == sorted(
        (r.charge_point_id, r.meter_start_wh, r.energy_wh) for r in recorded.transactions.itertuples())
    # the same checks fire on the replay as on the recording
    assert sorted(replayed.findings["check"]) == sorted(recorded.findings["check"])
    assert wb.replay_diff(SAMPLE, out).clean


def test_wss_with_basic_auth_from_a_password_file(tmp_path: Path, lab_pki: LabPKI) -> None:
    passwords = {"LAB-CP1": "pw-one-7f3a", "LAB-CP2": "pw-two-91bc"}
    secrets = tmp_path / "passwords.txt"
    secrets.write_text("".join(f"{cp}={pw}\n" for cp, pw in passwords.items()))
    os.chmod(secrets, 0o600)
    plan = Plan.from_capture(SAMPLE, charge_point=list(passwords)).drop(kind="expect")
    out = tmp_path / "replay.ocpp.jsonl"

    async def scenario():
        async with LabCSMS(pki=lab_pki, passwords=passwords, heartbeat_interval_s=60) as csms:
            connector = make_connector(plan, target=csms.url, ca=lab_pki.ca_cert,
                                       passwords=password_source(password_file=secrets))
            return await replay_async(plan, connector, out=out, options=FAST, target_label=csms.url)

    result = run(scenario())
    assert result.verdict.clean, result.verdict.to_text()
    opens = [r for r in wb.read_capture(out)[1] if r["type"] == "connection_open"]
    assert {o["charger_tls"]["version"] for o in opens} == {"TLSv1.2"}
    assert all(o["auth_user"] == o["charge_point_id"] and o["auth_password_present"] for o in opens)
    text = out.read_bytes()
    for password in passwords.values():
        assert password.encode() not in text


def test_a_wrong_password_is_an_error_row_and_exit_code_2(tmp_path: Path, lab_pki: LabPKI) -> None:
    plan = Plan.from_capture(SAMPLE, charge_point="LAB-CP1")

    async def scenario():
        async with LabCSMS(pki=lab_pki, passwords={"LAB-CP1": "right"}) as csms:
            connector = make_connector(plan, target=csms.url, ca=lab_pki.ca_cert,
                                       passwords=password_source(passwords={"LAB-CP1": "wrong"}))
            return await replay_async(plan, connector, options=FAST)

    verdict = run(scenario(), timeout_s=20).verdict
    errors = [r for r in verdict.rows if r.status == "error"]
    assert len(errors) == 1 and "HTTP 401" in errors[0].detail
    assert verdict.exit_code == 2


def test_password_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    secrets = tmp_path / "passwords.txt"
    secrets.write_text("CP=pw\n")
    os.chmod(secrets, 0o644)
    with pytest.raises(wb.WorkbenchError, match="chmod 600"):
        password_source(password_file=secrets)


def test_stale_transaction_ids_would_corrupt_the_csms(tmp_path: Path) -> None:
    """A CSMS that already runs transaction 1 for another charger: replaying LAB-CP1's recorded
    ids (1, 4, 7, 8) unchanged stops that charger's transaction with LAB-CP1's meter reading. With
    the mapping learnt from the live StartTransaction.conf, the other transaction is untouched."""
    plan = Plan.from_capture(SAMPLE, charge_point="LAB-CP1").drop(kind="expect")
    assert plan.steps[plan.select(action="StartTransaction")[0]].reply["transactionId"] == 1

    async def scenario(map_transactions: bool):
        async with LabCSMS(pki=None, passwords={}, unknown_ids="accept", first_transaction_id=1,
                           heartbeat_interval_s=60) as csms:
            other = LabCharger(ChargerConfig("OTHER-CP", meter_interval_s=60, heartbeat_after_boot=False),
                               csms.url, None)
            async with other:
                other_id = await other.start_transaction(1)
                options = ReplayOptions(reply_timeout_s=5, map_transactions=map_transactions)
                result = await run_plan(plan, make_connector(plan, target=csms.url), options=options)
                snapshot = {i: (t.charge_point_id, t.meter_stop_wh) for i, t in csms.transactions.items()}
            return other_id, result, snapshot

    other_id, stale, snapshot = run(scenario(map_transactions=False))
    assert other_id == 1
    assert stale.verdict.clean  # nothing on the wire says so: the corruption is silent
    assert snapshot[1][0] == "OTHER-CP" and snapshot[1][1] is not None  # OTHER-CP's session "stopped"
    open_replayed = [i for i, (cp, stop) in snapshot.items() if cp == "LAB-CP1" and stop is None]
    assert open_replayed  # and LAB-CP1's own sessions never end in the CSMS

    _other_id, mapped, snapshot = run(scenario(map_transactions=True))
    assert mapped.verdict.clean
    assert snapshot[1] == ("OTHER-CP", None)
    assert all(stop is not None for cp, stop in snapshot.values() if cp == "LAB-CP1")
    assert set(mapped.transaction_ids) == {1, 4, 7, 8}


def test_blocked_id_tag_gives_exactly_the_differs_rows(tmp_path: Path) -> None:
    plan = Plan.from_capture(SAMPLE, charge_point="LAB-CP1").drop(kind="expect")

    async def scenario():
        async with LabCSMS(pki=None, passwords={}, unknown_ids="accept", heartbeat_interval_s=60,
                           blocked_id_tags=frozenset({"LABTAG02"})) as csms:
            return await run_plan(plan, make_connector(plan, target=csms.url), options=FAST)

    verdict = run(scenario()).verdict
    blocked = [plan.steps[i] for i in plan.select(kind="send")
               if plan.steps[i].payload.get("idTag") == "LABTAG02"]  # Authorize, Start and StopTransaction
    problems = verdict.problems()
    assert {s.action for s in blocked} == {"Authorize", "StartTransaction", "StopTransaction"}
    assert [(r.action, r.status) for r in problems] == [(s.action, "differs") for s in blocked]
    assert all([(d.pointer, d.recorded, d.replayed) for d in r.diffs] == [
        ("/idTagInfo/status", "Accepted", "Blocked")] for r in problems)
    assert verdict.exit_code == 1


def test_edited_replay_gives_exactly_the_expected_diff_rows(tmp_path: Path) -> None:
    plan = Plan.from_capture(SAMPLE, charge_point="LAB-CP1").drop(kind="expect")
    statuses = plan.select(action="StatusNotification")
    stops = plan.select(action="StopTransaction")
    meters = plan.select(action="MeterValues")
    edited = (plan.set_field("/status", "Faulted", index=statuses[1])
              .set_field("/errorCode", "GroundFailure", index=statuses[1])
              .scale_energy(0.001, index=meters[0]))
    edited = edited.drop(index=stops[-1])
    out = tmp_path / "edited.ocpp.jsonl"

    async def scenario():
        async with LabCSMS(pki=None, passwords={}, unknown_ids="accept", heartbeat_interval_s=60) as csms:
            async def go():
                with CaptureWriter(out, replay_header(edited, csms.url)) as writer:
                    return await run_plan(edited, make_connector(edited, target=csms.url), writer=writer,
                                          options=FAST)
            return await go()

    assert run(scenario()).verdict.clean  # the lab CSMS accepts all of it
    diff = wb.replay_diff(SAMPLE, out, charge_point="LAB-CP1")
    rows = [(r.action, r.status, [d.pointer for d in r.diffs]) for r in diff.problems()
            if r.kind == "charger_to_csms"]
    # the CSMS requests were not sent by the lab CSMS this time (their expect steps were dropped)
    assert [(r.action, r.status) for r in diff.problems() if r.kind == "csms_to_charger"] == [
        ("ChangeConfiguration", "missing"), ("TriggerMessage", "missing"), ("SetChargingProfile", "missing")]
    energy = next(i for i, v in enumerate(plan.steps[meters[0]].payload["meterValue"][0]["sampledValue"])
                  if v.get("measurand", "Energy.Active.Import.Register") == "Energy.Active.Import.Register")
    assert rows == [
        ("StatusNotification", "differs", ["/request/errorCode", "/request/status"]),
        ("MeterValues", "differs", [f"/request/meterValue/0/sampledValue/{energy}/value"]),
        ("StopTransaction", "missing", []),
    ]
    assert wb.load(out).transactions["stop_ts"].isna().sum() == 1  # that session never ends


def test_rebased_meter_reaches_the_csms_with_the_same_energy(tmp_path: Path) -> None:
    plan = Plan.from_capture(SAMPLE, charge_point="LAB-CP2").drop(kind="expect").rebase_energy(0)

    async def scenario():
        async with LabCSMS(pki=None, passwords={}, unknown_ids="accept", heartbeat_interval_s=60) as csms:
            result = await run_plan(plan, make_connector(plan, target=csms.url), options=FAST)
            return result, list(csms.transactions.values())

    result, transactions = run(scenario())
    assert result.verdict.clean, result.verdict.to_text()
    assert sorted((t.connector_id, t.meter_start_wh, t.meter_stop_wh) for t in transactions) == [
        (1, 0, 12), (1, 12, 24), (2, 0, 12), (2, 12, 24)]
