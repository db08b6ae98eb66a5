"""Helpers for the replay tests against real peers on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import pandas as pd

from workbench.lab import LabCSMS
from workbench.lab.demo import _integrator_requests

SAMPLE = Path(__file__).resolve().parents[2] / "captures" / "sample.ocpp.jsonl"
ENERGY_KEYS = ["charge_point_id", "connector_id", "meter_start_wh"]


def run(coroutine: Coroutine[Any, Any, Any], timeout_s: float = 60) -> Any:
    """Run a scenario in a fresh event loop, bounded in time."""

    async def bounded() -> Any:
        return await asyncio.wait_for(coroutine, timeout_s)

    return asyncio.run(bounded())


def send_integrator_requests(csms: LabCSMS, charge_point_ids: list[str]) -> list[asyncio.Task[None]]:
    """What the sample's CSMS sent each charger once connected (ChangeConfiguration, TriggerMessage,
    SetChargingProfile): the same as the demo that recorded the sample."""
    return [asyncio.create_task(_integrator_requests(csms, cp, lambda _line: None)) for cp in charge_point_ids]


def energy_by_session(transactions: pd.DataFrame) -> pd.DataFrame:
    """Energy (Wh) per session keyed by charge point, connector and meter start: the transaction
    ids differ between a recording and its replay, the sessions do not."""
    table = transactions[[*ENERGY_KEYS, "meter_stop_wh", "energy_wh"]]
    return table.sort_values(ENERGY_KEYS).reset_index(drop=True)
