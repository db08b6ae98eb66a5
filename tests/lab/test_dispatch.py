"""The lab's fast dispatch gives the ``ocpp`` library's results: same key names, same validation
errors, the same answers on the wire (the library's own ``_handle_call`` is the reference)."""

from __future__ import annotations

import asyncio
import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from ocpp.charge_point import camel_to_snake_case
from ocpp.messages import Call, CallResult, validate_payload
from ocpp.v16 import ChargePoint

from workbench.capture.reader import CaptureReader
from workbench.lab.csms import CSMSChargePoint, LabCSMS
from workbench.lab.dispatch import snake_key, to_snake_case, validate_message
from workbench.schemas import SCHEMA_DIR

ROOT = Path(__file__).resolve().parents[2]
CAPTURES = [ROOT / "captures" / "sample.ocpp.jsonl", ROOT / "captures" / "synth-small.ocpp.jsonl"]


def recorded_messages(limit: int = 3000) -> list[list[Any]]:
    """OCPP-J messages of the shipped captures: requests and answers of many actions."""
    messages: list[list[Any]] = []
    for path in CAPTURES:
        for record in CaptureReader(path):
            if record.get("type") == "frame" and isinstance(record.get("text"), str):
                messages.append(json.loads(record["text"]))
                if len(messages) >= limit * (CAPTURES.index(path) + 1):
                    break
    return messages


def schema_keys() -> set[str]:
    """Every property name in every 1.6 schema of the ocpp package."""
    keys: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            keys.update(node.get("properties", {}) if isinstance(node.get("properties"), dict) else ())
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for path in SCHEMA_DIR.glob("*.json"):
        walk(json.loads(path.read_text(encoding="utf-8-sig")))
    return keys


def test_key_renaming_equals_the_library() -> None:
    keys = schema_keys() | {"ocppCSMSURL", "evseV2XId", "SoCLimit", "already_snake", "HTTPServer", "a1B2"}
    assert len(keys) > 90
    assert {key: snake_key(key) for key in keys} == {key: next(iter(camel_to_snake_case({key: 0}))) for key in keys}
    payloads = [m[3] if m[0] == 2 else m[2] for m in recorded_messages() if m[0] in (2, 3)]
    assert len(payloads) > 1000
    for payload in payloads:
        assert to_snake_case(payload) == camel_to_snake_case(payload)


def _mutations(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """Invalid variants of a valid payload: a key dropped, an unknown key, wrong types, a long string."""
    variants: list[dict[str, Any]] = [{**payload, "notInTheSchema": 1}]
    for key, value in payload.items():
        dropped = dict(payload)
        del dropped[key]
        variants.append(dropped)
        variants.append({**payload, key: [value]})
        variants.append({**payload, key: True})
        if isinstance(value, str):
            variants.append({**payload, key: "x" * 600})
        if isinstance(value, list) and value and isinstance(value[0], dict):
            inner = copy.deepcopy(value)
            inner[0] = {**inner[0], "alsoUnknown": "y"}
            variants.append({**payload, key: inner})
    return variants


async def _outcome(check: Any, message: Call | CallResult) -> tuple[str, str] | None:
    try:
        await check(copy.deepcopy(message), "1.6")
    except Exception as error:  # the error class and OCPP error code are the outcome
        return type(error).__name__, getattr(error, "code", "")
    return None


def test_validation_raises_what_the_library_raises() -> None:
    actions: dict[str, str] = {}
    cases: list[Call | CallResult] = []
    for message in recorded_messages():
        if message[0] == 2 and isinstance(message[3], dict):
            actions[message[1]] = message[2]
            for payload in [message[3], *_mutations(message[3])]:
                cases.append(Call(message[1], message[2], payload))
        elif message[0] == 3 and message[1] in actions and isinstance(message[2], dict):
            for payload in [message[2], *_mutations(message[2])]:
                result = CallResult(message[1], payload)
                result.action = actions[message[1]]
                cases.append(result)
    # one case per (action, kind, shape) is enough; the shipped captures repeat themselves
    unique = {(type(c).__name__, c.action, json.dumps(c.payload, sort_keys=True)): c for c in cases}
    assert len(unique) > 500

    async def compare() -> tuple[int, int]:
        valid = invalid = 0
        for case in unique.values():
            expected = await _outcome(validate_payload, case)
            assert await _outcome(validate_message, case) == expected, (case.action, case.payload)
            valid += expected is None
            invalid += expected is not None
        return valid, invalid

    valid, invalid = asyncio.run(compare())
    assert valid > 50 and invalid > 400  # both sides of the comparison were exercised


class _Wire:
    """The two methods the ocpp library talks through (the seam RecordingConnection also uses)."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send(self, message: str) -> None:
        self.sent.append(message)

    async def recv(self) -> str:  # pragma: no cover - route_message is driven directly
        raise AssertionError("not used")


class _LibraryDispatch(CSMSChargePoint):
    """The lab CSMS's handlers under the library's own dispatch."""

    _handle_call = ChargePoint._handle_call


def _answers(charge_point_class: type[CSMSChargePoint], requests: list[str]) -> list[Any]:
    async def run() -> list[str]:
        wire = _Wire()
        charge_point = charge_point_class("CP-1", wire, LabCSMS(pki=None, passwords={}))  # type: ignore[arg-type]
        for text in requests:
            await charge_point.route_message(text)
        await asyncio.sleep(0)
        return wire.sent

    sent = asyncio.run(run())
    # currentTime is the clock; the CALLERROR details quote Python objects that differ in their ids
    return [re.sub(r'"currentTime":"[^"]+"', '"currentTime":"T"', text) for text in sent]


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_answers_on_the_wire_equal_the_library_dispatch() -> None:
    requests = [
        [2, "1", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M", "firmwareVersion": "1"}],
        [2, "2", "Heartbeat", {}],
        [2, "3", "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Preparing"}],
        [2, "4", "Authorize", {"idTag": "TAG"}],
        [2, "5", "StartTransaction", {"connectorId": 1, "idTag": "TAG", "meterStart": 10, "timestamp": "2026-01-01T00:00:00Z"}],
        [2, "6", "MeterValues", {"connectorId": 1, "transactionId": 1, "meterValue": [
            {"timestamp": "2026-01-01T00:01:00Z", "sampledValue": [{"value": "20", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]}]}],
        [2, "7", "StopTransaction", {"transactionId": 1, "meterStop": 30, "timestamp": "2026-01-01T00:02:00Z"}],
        [2, "8", "StopTransaction", {"transactionId": 1, "meterStop": 30, "timestamp": "2026-01-01T00:02:00Z", "idTag": "TAG"}],
        [2, "9", "DataTransfer", {"vendorId": "X", "data": "{}"}],
        [2, "10", "StatusNotification", {"connectorId": "1", "errorCode": "NoError", "status": "Preparing"}],
        [2, "11", "StatusNotification", {"connectorId": 1, "errorCode": "NoError"}],
        [2, "12", "Heartbeat", {"extra": 1}],
        [2, "13", "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Sleeping"}],
        [2, "14", "Authorize", {"idTag": "T" * 30}],
        [2, "15", "NoSuchAction", {}],
        [2, "16", "SignCertificate", {"csr": "x"}],
        [2, "17", "DiagnosticsStatusNotification", {"status": "Idle"}],
        [2, "18", "FirmwareStatusNotification", {"status": "Installed"}],
        [2, "19", "MeterValues", {"connectorId": 1, "meterValue": []}],
    ]
    texts = [json.dumps(request, separators=(",", ":")) for request in requests]
    library = _answers(_LibraryDispatch, texts)
    fast = _answers(CSMSChargePoint, texts)
    assert len(library) == len(texts)
    assert sum(text.startswith("[4,") for text in library) >= 6  # the CALLERROR paths ran
    assert fast == library


def test_answer_payloads_equal_the_librarys_conversion() -> None:
    """response_payload (one pass, cached key renaming) gives what the library's
    snake_to_camel_case(remove_nones(serialize_as_dict(...))) gives: nested dataclasses, lists of them,
    None fields and list items dropped, enums kept, dict fields renamed; a tuple goes the library's way."""
    import dataclasses

    from ocpp.charge_point import remove_nones, serialize_as_dict, snake_to_camel_case
    from ocpp.v16 import call_result, datatypes, enums

    from workbench.lab.dispatch import response_payload

    @dataclasses.dataclass
    class Odd:
        some_dict: dict
        some_list: list
        some_tuple: tuple | None = None
        ocpp_csms_url: str | None = None
        soc_limit_reached: bool = False

    schedule = datatypes.ChargingSchedule(
        charging_rate_unit=enums.ChargingRateUnitType.watts, start_schedule=None, min_charging_rate=None,
        charging_schedule_period=[datatypes.ChargingSchedulePeriod(start_period=0, limit=11000.0, number_phases=None),
                                  datatypes.ChargingSchedulePeriod(start_period=60, limit=7.5, number_phases=3)])
    responses = [
        call_result.MeterValues(),
        call_result.Heartbeat(current_time="2026-01-01T00:00:00Z"),
        call_result.StartTransaction(transaction_id=5, id_tag_info=datatypes.IdTagInfo(
            status=enums.AuthorizationStatus.accepted, parent_id_tag=None, expiry_date="2027-01-01T00:00:00Z")),
        call_result.BootNotification(current_time="T", interval=300, status=enums.RegistrationStatus.accepted),
        call_result.DataTransfer(status=enums.DataTransferStatus.accepted, data=None),
        call_result.GetConfiguration(configuration_key=[
            datatypes.KeyValue(key="HeartbeatInterval", readonly=False, value="300"),
            datatypes.KeyValue(key="Secret", readonly=True, value=None)], unknown_key=["Nope"]),
        call_result.GetCompositeSchedule(status=enums.GetCompositeScheduleStatus.accepted, connector_id=1,
                                         schedule_start="T", charging_schedule=schedule),
        call_result.GetCompositeSchedule(status=enums.GetCompositeScheduleStatus.rejected),
        Odd(some_dict={"key_one": None, "key_two": {"inner_key": 1}}, some_list=[None, 1, {"a_b": None}],
            ocpp_csms_url="wss://x", soc_limit_reached=True),
        Odd(some_dict={}, some_list=[], some_tuple=(1, None, datatypes.KeyValue(key="k", readonly=True))),
    ]
    for response in responses:
        library = snake_to_camel_case(remove_nones(serialize_as_dict(response)))
        assert response_payload(response) == library, response
        assert json.dumps(response_payload(response)) == json.dumps(library)
    for not_a_dataclass in ({"a": 1}, None, call_result.Heartbeat):
        with pytest.raises(TypeError):
            serialize_as_dict(not_a_dataclass)
        with pytest.raises(TypeError):
            response_payload(not_a_dataclass)
