"""JSON-schema validity of every request and reply, against the ``ocpp`` package's OCPP 1.6 schemas.

The validation itself happens while the frames table is built (each payload is decoded once, see
:mod:`workbench.schemas` for how and :mod:`workbench.tables.frames` for when); its verdict is the
frames column ``schema_error``. This module turns those verdicts into findings, and checks CALLERROR codes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ..ocppj import ERROR_CODE_ALIASES, ERROR_CODES_16, canonical_error_code
from ._support import clean as _clean
from ._support import payload_connector as _connector
from .registry import CheckConfig, Finding, check


@check("schema", clause="OCPP-J 1.6 §4 and the OCPP 1.6 JSON schemas (ocpp/v16/schemas, draft-04)")
def schema_validity(cap: Any, config: CheckConfig) -> Iterator[Finding]:
    """Every CALL payload against its action's schema, every CALLRESULT against the paired action's Response schema."""
    frames = cap.frames
    bad = frames[frames["schema_error"].notna().to_numpy()]
    for seq, ts, cp, kind, action, payload, error in zip(
            bad["seq"].tolist(), bad["ts"].tolist(), bad["charge_point_id"].tolist(), bad["message_type"].tolist(),
            bad["action"].tolist(), bad["payload"].tolist(), bad["schema_error"].tolist()):
        name = f"{action}Response" if kind == "CALLRESULT" else action
        yield Finding("schema", "error", ts, _clean(cp), _connector(payload), None,
                      f"{name} payload violates the 1.6 schema: {error}", (int(seq),))


@check("callerror_code", clause="OCPP-J 1.6 §4.2.3 Table 7 (both spellings of [JERR] §5 accepted)")
def callerror_code(cap: Any, config: CheckConfig) -> Iterator[Finding]:
    """CALLERROR codes that are not one of the ten 1.6 codes (FormationViolation/FormatViolation and
    OccurenceConstraintViolation/OccurrenceConstraintViolation are both accepted)."""
    frames = cap.frames
    errors = frames.loc[frames["message_type"] == "CALLERROR", ["seq", "ts", "charge_point_id", "error_code"]]
    if not len(errors):
        return
    codes = errors["error_code"].to_numpy(dtype=object, na_value=None)
    known = np.fromiter((canonical_error_code(c) is not None if isinstance(c, str) else False for c in codes),
                        dtype=bool, count=len(codes))
    bad = errors[~known]
    accepted = ", ".join(sorted(ERROR_CODES_16 | set(ERROR_CODE_ALIASES)))
    for seq, ts, cp, code in zip(bad["seq"].tolist(), bad["ts"].tolist(), bad["charge_point_id"].tolist(),
                                 bad["error_code"].tolist()):
        yield Finding("callerror_code", "error", ts, _clean(cp), None, None,
                      f"CALLERROR code {code!r} is not an OCPP 1.6 error code (one of: {accepted})", (int(seq),))
