"""Replay as the charger against a CSMS nobody here wrote: ``ocpp-csms`` from PyPI (aiohttp), over
ws and over wss with Basic Auth. Its own view of each transaction must match the recording's energy."""

from __future__ import annotations

from pathlib import Path

import pytest
from ocpp_csms import CentralSystem, TransactionStoppedEvent
from replay_lab_helpers import SAMPLE, run

import workbench as wb
from workbench.lab.certs import LabPKI
from workbench.replay import Plan, ReplayOptions
from workbench.replay.run import make_connector, password_source, replay_async
from workbench.replay.verdict import DEFAULT_IGNORE

pytestmark = pytest.mark.network
# ocpp-csms answers a StopTransaction carrying an idTag without idTagInfo (optional in 1.6); the lab
# CSMS that was recorded sent one. A real difference between two valid CSMSs, scoped to that action.
IGNORE = (*DEFAULT_IGNORE, "StopTransaction:/idTagInfo")


def _replay(tmp_path: Path, plan: Plan, *, pki: LabPKI | None = None, passwords: dict[str, str] | None = None):
    stopped = []
    out = tmp_path / "replay.ocpp.jsonl"

    async def authenticate(charge_point_id: str, password: str | None) -> bool:
        return passwords is None or passwords.get(charge_point_id) == password

    async def scenario():
        ssl_context = pki.server_ssl_context() if pki else None
        async with CentralSystem(host="127.0.0.1", port=0, heartbeat_interval=60, ssl_context=ssl_context,
                                 authenticate=authenticate) as central:
            central.add_listener(lambda e: stopped.append(e.transaction)
                                 if isinstance(e, TransactionStoppedEvent) else None)
            url = f"{'wss' if pki else 'ws'}://127.0.0.1:{central.port}/ocpp"
            connector = make_connector(plan, target=url, ca=pki.ca_cert if pki else None,
                                       passwords=password_source(passwords=passwords))
            return await replay_async(plan, connector, out=out,
                                      options=ReplayOptions(reply_timeout_s=5, ignore=IGNORE))

    return run(scenario()), stopped, out


def _sessions(transactions) -> list[tuple[int, int, int]]:
    return sorted(transactions)


def test_sample_against_ocpp_csms_over_ws(tmp_path: Path) -> None:
    plan = Plan.from_capture(SAMPLE).drop(kind="expect")  # ocpp-csms sends no requests of its own here
    result, stopped, out = _replay(tmp_path, plan)
    assert result.verdict.clean, result.verdict.to_text()
    recorded = wb.load(SAMPLE).transactions
    # ocpp-csms's own record: its ids (the ones the replay mapped to), meterStart and meterStop
    assert sorted(t.transaction_id for t in stopped) == sorted(result.transaction_ids.values())
    assert _sessions((t.connector_id, t.meter_start, t.meter_stop - t.meter_start) for t in stopped) == _sessions(
        (r.connector_id, int(r.meter_start_wh), int(r.energy_wh)) for r in recorded.itertuples())
    replayed = wb.load(out).transactions
    assert sorted(replayed["energy_wh"]) == sorted(recorded["energy_wh"])
    assert set(replayed["transaction_id"]) == {t.transaction_id for t in stopped}


def test_one_charger_against_ocpp_csms_over_wss_with_basic_auth(tmp_path: Path, lab_pki: LabPKI) -> None:
    plan = Plan.from_capture(SAMPLE, charge_point="LAB-CP2").drop(kind="expect")
    result, stopped, out = _replay(tmp_path, plan, pki=lab_pki, passwords={"LAB-CP2": "s3cret-cp2"})
    assert result.verdict.clean, result.verdict.to_text()
    assert len(stopped) == 4
    assert sum(t.meter_stop - t.meter_start for t in stopped) == 48
    assert b"s3cret-cp2" not in out.read_bytes()
    opened = next(r for r in wb.read_capture(out)[1] if r["type"] == "connection_open")
    assert opened["charger_tls"]["version"].startswith("TLSv1.")


def test_ocpp_csms_refusing_the_password_is_exit_code_2(tmp_path: Path, lab_pki: LabPKI) -> None:
    plan = Plan.from_capture(SAMPLE, charge_point="LAB-CP2").drop(kind="expect")
    stopped: list = []

    async def authenticate(charge_point_id: str, password: str | None) -> bool:
        return False

    async def scenario():
        async with CentralSystem(host="127.0.0.1", port=0, ssl_context=lab_pki.server_ssl_context(),
                                 authenticate=authenticate) as central:
            connector = make_connector(plan, target=f"wss://127.0.0.1:{central.port}/ocpp", ca=lab_pki.ca_cert,
                                       passwords=password_source(passwords={"LAB-CP2": "x"}))
            return await replay_async(plan, connector, options=ReplayOptions(connect_timeout_s=5))

    verdict = run(scenario(), timeout_s=20).verdict
    assert verdict.exit_code == 2 and "HTTP 401" in verdict.rows[0].detail
    assert stopped == []
