"""argparse types for numbers a command cannot work with otherwise (NaN, infinity, negatives).

A bad value is a one-line usage error (exit 2) at parse time, not a hang or an OverflowError later.
"""

from __future__ import annotations

import argparse
import math


def positive_float(text: str) -> float:
    """A finite number above 0 (a length, an interval, a timeout)."""
    value = _finite(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be above 0, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    """A whole number of 0 or more (a count)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text!r}")
    return value


def _finite(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value
