"""A redacted capture can be replayed: the requests its chargers sent, sent again to a real CSMS (the
lab's, built on the `ocpp` library, which validates every payload against the 1.6 schemas and
answers a bad one with a CALLERROR), are each answered with a CALLRESULT."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from urllib.parse import quote

import pytest
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from workbench.capture import read_capture
from workbench.lab import LabCSMS, make_lab_pki
from workbench.redact import redact_capture

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.network


def _charger_requests(path: Path) -> dict[str, list[str]]:
    """Charge point id -> the exact CALL texts it sent, in capture order."""
    _, records, _ = read_capture(path)
    owner = {r["connection_id"]: r["charge_point_id"] for r in records if r["type"] == "connection_open"}
    sent: dict[str, list[str]] = {}
    for record in records:
        if record["type"] == "frame" and record["direction"] == "charger_to_csms" and record["text"].startswith("[2,"):
            sent.setdefault(owner[record["connection_id"]], []).append(record["text"])
    return sent


async def _replay(url: str, ssl_context, charge_point_id: str, requests: list[str]) -> list[list]:
    replies = []
    async with connect(f"{url}/{quote(charge_point_id, safe='')}", ssl=ssl_context,
                       subprotocols=[Subprotocol("ocpp1.6")], open_timeout=10) as ws:
        for text in requests:
            await ws.send(text)
            replies.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
    return replies


def test_redacted_lab_capture_replays_against_a_real_csms(tmp_path: Path) -> None:
    redacted = tmp_path / "sample.redacted.ocpp.jsonl"
    redact_capture(ROOT / "captures" / "sample.ocpp.jsonl", redacted, tmp_path / "key")
    original_ids = set(_charger_requests(ROOT / "captures" / "sample.ocpp.jsonl"))
    requests = _charger_requests(redacted)
    assert requests and not set(requests) & original_ids  # the identities really were replaced

    async def run() -> dict[str, list[list]]:
        pki = make_lab_pki(tmp_path / "pki")
        async with LabCSMS(pki=pki, passwords={}, unknown_ids="accept") as csms:
            results = await asyncio.gather(*(_replay(csms.url, pki.client_ssl_context(), cp, texts)
                                             for cp, texts in requests.items()))
        return dict(zip(requests, results))

    replies = asyncio.run(asyncio.wait_for(run(), 60))
    for charge_point_id, texts in requests.items():
        sent_ids = [json.loads(t)[1] for t in texts]
        assert [r[1] for r in replies[charge_point_id]] == sent_ids
        errors = [r for r in replies[charge_point_id] if r[0] != 3]
        assert errors == [], f"{charge_point_id}: the CSMS refused redacted requests: {errors[:3]}"
