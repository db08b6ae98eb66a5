"""Strict JSON (issue 9 item 6): missing values are null in every JSON the workbench writes, so strict
parsers (JavaScript's JSON.parse, jq) read it."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from workbench import jsonout


def strict_loads(text: str) -> Any:
    """json.loads that refuses NaN / Infinity / -Infinity, as JSON.parse and jq do."""
    def refuse(token: str) -> Any:
        raise ValueError(f"bare {token} is not JSON")
    return json.loads(text, parse_constant=refuse)


def test_every_kind_of_missing_value_is_null() -> None:
    value = {"nan": math.nan, "inf": math.inf, "np": np.float64("nan"), "na": pd.NA, "nat": pd.NaT,
             "nested": [1.5, (np.int64(3), -math.inf)], "array": np.array([1.0, np.nan]), 4: np.bool_(True),
             "when": pd.Timestamp("2025-01-06T08:00:00Z")}
    assert strict_loads(jsonout.dumps(value)) == {
        "nan": None, "inf": None, "np": None, "na": None, "nat": None, "nested": [1.5, [3, None]],
        "array": [1.0, None], "4": True, "when": "2025-01-06 08:00:00+00:00"}


def test_the_strict_parser_of_these_tests_refuses_what_json_writes_by_default() -> None:
    with pytest.raises(ValueError, match="bare NaN"):
        strict_loads(json.dumps({"x": math.nan}))
