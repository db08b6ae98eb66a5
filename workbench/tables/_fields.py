"""Reading OCPP payload fields as sent, and charge point keys: shared by every table builder.

The tables depend one way: each builder takes these from here (and the StartTransaction /
StopTransaction pairing from :mod:`.transaction_calls`), never from another table's module.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def int_or_none(value: Any) -> int | None:
    """An integer field as sent; bools, fractions and non-numbers are None."""
    if type(value) is int:
        return value if -2**53 <= value <= 2**53 else None  # exact in float64, which merges may pass through
    if type(value) is float and value.is_integer() and abs(value) <= 2**53:
        return int(value)
    return None


def text_or_none(value: Any) -> str | None:
    """A string field as sent; None when absent; other JSON types shown as text (schema checks flag them)."""
    if value is None or type(value) is str:
        return value
    return str(value)


def wh_or_nan(value: Any) -> float:
    """A meterStart / meterStop (integer Wh by the spec) as a float; NaN when not a plain number."""
    return float(value) if type(value) in (int, float) and abs(value) < 1e18 else np.nan


def cp_key(series: pd.Series) -> pd.Series:
    """Charge point id usable as a join key (an object Series, missing ids as "")."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        categories = np.append(series.cat.categories.to_numpy(dtype=object), "")
        return pd.Series(categories[series.cat.codes.to_numpy()], dtype=object)
    return pd.Series(series.to_numpy(dtype=object, na_value=""), dtype=object)
