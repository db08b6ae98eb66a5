"""Schema validity against the ocpp package's 1.6 schemas; the fast path never disagrees with jsonschema."""

from __future__ import annotations

import decimal
import json

import jsonschema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.analysis import Capture
from workbench.checks.registry import run_checks
from workbench.schemas import SCHEMA_DIR, _decimals, schema_validator
from workbench.testing import call, charger_records, clean_session_script, error, iso_at, result

SCHEMA_NAMES = sorted(p.stem for p in SCHEMA_DIR.glob("*.json"))


def _validator(name: str):
    response = name.endswith("Response")
    return schema_validator(name[: -len("Response")] if response else name, response)


def _run(names, script):
    return run_checks(Capture.from_records(charger_records("CP1", script)), names=names)


def test_every_schema_of_the_package_compiles_to_a_fast_path() -> None:
    assert len(SCHEMA_NAMES) >= 56
    for name in SCHEMA_NAMES:
        assert _validator(name).fast is not None, name


def test_clean_session_is_schema_valid() -> None:
    assert _run(["schema", "callerror_code"], clean_session_script()).empty


def test_invalid_request_and_response_are_reported_with_jsonschema_messages() -> None:
    script = [(0, "up", call("1", "StatusNotification", {"connectorId": 1, "errorCode": "NoError",
                                                         "status": "Plugged"})),
              (0.1, "down", result("1", {})),
              (1, "up", call("2", "Heartbeat", {})),
              (1.1, "down", result("2", {"currentTime": 5})),
              (2, "down", call("3", "GetConfiguration", {})),
              (2.1, "up", result("3", {"configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": 300}]}))]
    fired = _run(["schema"], script)
    assert fired["frame_seqs"].tolist() == [[0], [3], [5]]
    assert "'Plugged' is not one of" in fired.loc[0, "message"] and fired.loc[0, "connector_id"] == 1
    assert "HeartbeatResponse" in fired.loc[1, "message"] and "currentTime: 5 is not of type 'string'" in fired.loc[1, "message"]
    assert "configurationKey[0].value" in fired.loc[2, "message"]


def test_unknown_actions_and_unpaired_replies_are_not_schema_checked() -> None:
    script = [(0, "up", call("1", "MakeCoffee", {"x": 1})), (0.1, "down", result("1", {"y": 2})),
              (1, "down", result("ghost", {"anything": True}))]
    assert _run(["schema"], script).empty


def test_both_spellings_of_error_codes_are_accepted() -> None:
    codes = ["FormationViolation", "FormatViolation", "OccurenceConstraintViolation",
             "OccurrenceConstraintViolation", "GenericError"]
    script = []
    for i, code in enumerate(codes):
        script += [(i, "up", call(f"u{i}", "Heartbeat", {})), (i + 0.1, "down", error(f"u{i}", code))]
    assert _run(["callerror_code"], script).empty
    fired = _run(["callerror_code"], script + [(9, "up", call("z", "Heartbeat", {})),
                                              (9.1, "down", error("z", "MessageTypeNotSupported"))])
    assert fired["frame_seqs"].tolist() == [[11]]


def test_multiple_of_uses_decimals_like_the_ocpp_package() -> None:
    def profile(limit):
        return {"connectorId": 1, "csChargingProfiles": {
            "chargingProfileId": 1, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Absolute", "chargingSchedule": {
                "chargingRateUnit": "A", "startSchedule": iso_at(0),
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}]}}}

    ok = [(0, "down", call("1", "SetChargingProfile", profile(21.4))), (0.1, "up", result("1", {"status": "Accepted"}))]
    assert _run(["schema"], ok).empty  # 21.4 / 0.1 is not an integer in binary floating point
    bad = [(0, "down", call("1", "SetChargingProfile", profile(4.11))), (0.1, "up", result("1", {"status": "Accepted"}))]
    assert "multiple of" in _run(["schema"], bad).loc[0, "message"]


# --- the fast path against jsonschema itself ---------------------------------------------------

_ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.floats(-1e6, 1e6, allow_nan=False)
    | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)


def _resolve(node: dict, root: dict) -> dict:
    while "$ref" in node:
        target = root
        for part in node["$ref"][2:].split("/"):
            target = target[part]
        node = target
    return node


def _near_valid(node: dict, root: dict, depth: int = 0) -> st.SearchStrategy:
    """Values that mostly follow ``node`` (so they reach deep keywords) and sometimes break it anywhere."""
    node = _resolve(node, root)
    kind = node.get("type")
    if "enum" in node:
        good = st.sampled_from(node["enum"]) | st.sampled_from([e.lower() for e in node["enum"]])
    elif kind == "object":
        properties = node.get("properties", {})
        required = set(node.get("required", []))
        good = st.fixed_dictionaries(
            {k: _near_valid(v, root, depth + 1) for k, v in properties.items() if k in required},
            optional={**{k: _near_valid(v, root, depth + 1) for k, v in properties.items() if k not in required},
                      "unexpectedKey": st.just(1)})
    elif kind == "array":
        good = st.lists(_near_valid(node.get("items", {}), root, depth + 1), min_size=0, max_size=3)
    elif kind == "string":
        limit = node.get("maxLength", 30)
        good = st.text(max_size=limit + 2)
    elif kind == "integer":
        good = st.integers(-5, 5) | st.sampled_from([1.0, True])
    elif kind == "number":
        good = st.integers(-5, 5) | st.floats(-100, 100, allow_nan=False) | st.sampled_from([21.4, 4.11, 0.1])
    elif kind == "boolean":
        good = st.booleans() | st.just(0)
    else:
        good = _ANY_JSON
    return st.one_of(good, good, good, _ANY_JSON) if depth else good


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.data())
def test_fast_path_agrees_with_draft4_validator(data) -> None:
    name = data.draw(st.sampled_from(SCHEMA_NAMES))
    validator = _validator(name)
    with open(SCHEMA_DIR / f"{name}.json", encoding="utf-8-sig") as fh:
        schema = json.loads(fh.read(), parse_float=decimal.Decimal if validator.uses_decimal else float)
    payload = data.draw(_near_valid(schema, schema))
    slow_valid = jsonschema.Draft4Validator(schema).is_valid(
        _decimals(payload) if validator.uses_decimal else payload)
    fast_valid = validator.fast.accepts(payload)
    if fast_valid:
        assert slow_valid, (name, payload)  # soundness: the fast path never accepts an invalid payload
    if not validator.uses_decimal:
        assert fast_valid == slow_valid, (name, payload)  # and it is complete where it decides alone
    assert (validator.errors(payload) == []) == slow_valid
