"""energy_register_wh needs a baseline (issue 9 item 3): the Transaction.Begin sample, else a consistent
meterStart, else the first sample; NaN when there is no basis. Chargers that send no Transaction.Begin
sample and MeterValues every 60 s, as third-party simulators do."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from checks.scenarios import Script, samples

POWER_W = 7200.0  # 120 Wh per 60 s sample


def _session(script: Script, *, tx: int, t0: float, meter_start: int, register_start: float, sample_count: int,
             interval_s: float = 60.0, tail_s: float = 25.0, begin: bool = False) -> int:
    """A session whose register reads ``register_start`` at the start and grows at POWER_W; periodic samples
    every ``interval_s`` from the first interval on, the stop ``tail_s`` after the last sample. Returns meterStop."""
    script.start_tx(t0 - 1, 1, tx, meter_start)
    if begin:
        script.meter(t0 + 0.5, 1, tx, samples(register_start, 0.0, "Transaction.Begin", three_phase=False))
    for k in range(1, sample_count + 1):
        register = register_start + POWER_W * k * interval_s / 3600.0
        script.meter(t0 + k * interval_s, 1, tx, samples(register, POWER_W, three_phase=False))
    stop_t = t0 + sample_count * interval_s + tail_s
    meter_stop = meter_start + round(POWER_W * (stop_t - t0) / 3600.0)
    script.stop(stop_t, tx, meter_stop, None)
    return meter_stop


def _one(script: Script):
    tx = script.capture().transactions
    assert len(tx) == 1
    return tx.iloc[0]


def test_without_begin_sample_a_consistent_meter_start_is_the_baseline() -> None:
    script = Script()
    _session(script, tx=1, t0=100.0, meter_start=5000, register_start=5000.0, sample_count=5)
    row = _one(script)
    assert row["register_start_source"] == "meter_start" and row["register_start_wh"] == 5000
    # Agrees with meterStop - meterStart within 1 Wh plus the energy after the last sample (25 s at 7.2 kW).
    after_last = POWER_W * 25.0 / 3600.0
    assert abs(row["energy_wh"] - row["energy_register_wh"]) <= 1.0 + after_last
    assert row["energy_register_wh"] == pytest.approx(600.0)  # not 480 (last - first sample)


def test_a_single_sample_measures_from_meter_start_and_is_never_a_confident_zero() -> None:
    script = Script()
    _session(script, tx=1, t0=100.0, meter_start=5000, register_start=5000.0, sample_count=1)
    row = _one(script)
    assert row["register_start_source"] == "meter_start" and row["energy_register_wh"] == pytest.approx(120.0)
    # meterStart 0 under a lifetime register: far below what the power could have delivered before the
    # first sample, so not the register's start; the single sample is then its own baseline: NaN, not 0.0.
    script = Script()
    _session(script, tx=1, t0=100.0, meter_start=0, register_start=5_000_000.0, sample_count=1)
    row = _one(script)
    assert row["register_start_source"] == "first_sample" and np.isnan(row["energy_register_wh"])


def test_an_inconsistent_meter_start_falls_back_to_the_first_sample() -> None:
    script = Script()
    _session(script, tx=1, t0=100.0, meter_start=9000, register_start=5000.0, sample_count=4)
    row = _one(script)
    assert row["register_start_source"] == "first_sample"
    assert row["register_start_wh"] == row["register_first_wh"]
    assert row["energy_register_wh"] == pytest.approx(360.0)


def test_a_transaction_begin_sample_wins() -> None:
    script = Script()
    _session(script, tx=1, t0=100.0, meter_start=4990, register_start=5000.0, sample_count=3, begin=True)
    row = _one(script)
    assert row["register_start_source"] == "transaction_begin" and row["register_start_wh"] == 5000
    assert row["energy_register_wh"] == pytest.approx(360.0)


def test_no_register_sample_no_source() -> None:
    script = Script()
    script.start_tx(10, 1, 1, 100)
    script.stop(100, 1, 200, None)
    row = _one(script)
    assert np.isnan(row["energy_register_wh"]) and np.isnan(row["register_start_wh"])
    assert pd.isna(row["register_start_source"])


def test_a_stop_without_reason_shows_the_spec_default_local_marked_as_defaulted() -> None:
    script = Script()
    script.start_tx(10, 1, 1, 100)
    script.call(100, "StopTransaction", {"transactionId": 1, "meterStop": 200, "timestamp": script.iso(100)},
                {"idTagInfo": {"status": "Accepted"}})
    script.start_tx(200, 1, 2, 200)
    script.stop(300, 2, 300, None, reason="EVDisconnected")
    script.start_tx(400, 1, 3, 300)  # still open at the end
    tx = script.capture().transactions
    assert tx["stop_reason"].tolist()[:2] == ["Local", "EVDisconnected"] and pd.isna(tx["stop_reason"].iloc[2])
    assert tx["stop_reason_defaulted"].tolist() == [True, False, False]


def test_a_synthetic_fleet_without_begin_samples_agrees_with_meter_stop_on_every_session(tmp_path) -> None:
    """Honest meters, no Transaction.Begin samples and no transactionData (as third-party simulators send):
    energy_register_wh equals energy_wh within 1 Wh plus what the power could deliver after the last sample."""
    import json

    from workbench.analysis import Capture
    from workbench.capture import read_capture
    from workbench.lab import synth

    path = synth.generate(tmp_path / "fleet.ocpp.jsonl", chargers=4, days=1, seed=3, write_sidecar=False).path
    _, records, _ = read_capture(path)
    for record in records:
        message = json.loads(record["text"]) if record.get("type") == "frame" and "text" in record else None
        if not (isinstance(message, list) and message[0] == 2):
            continue
        if message[2] == "StopTransaction":
            message[3].pop("transactionData", None)
        elif message[2] == "MeterValues":
            for element in message[3]["meterValue"]:
                element["sampledValue"] = [v for v in element["sampledValue"]
                                           if v.get("context") != "Transaction.Begin"]
            message[3]["meterValue"] = [e for e in message[3]["meterValue"] if e["sampledValue"]]
        record["text"] = json.dumps(message, separators=(",", ":"))
    tx = Capture.from_records(records).transactions
    tx = tx[tx["completeness"] == "complete"]
    assert len(tx) >= 10
    assert (tx["register_start_source"] == "meter_start").all()
    after_last_s = (tx["stop_ts"] - tx["register_last_ts"]).dt.total_seconds().clip(lower=0)
    allowed = 1.0 + tx["max_power_w"] * after_last_s / 3600.0
    assert ((tx["energy_wh"] - tx["energy_register_wh"]).abs() <= allowed).all()
    # Before, last minus first sample fell short by the energy before the first sample.
    assert ((tx["energy_wh"] - (tx["register_last_wh"] - tx["register_first_wh"])) > allowed).any()
