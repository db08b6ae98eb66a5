"""``replay_diff(recorded, replayed)``: two captures of the same conversation, compared semantically.

Not by message id (a replay sends fresh ones): per charge point and direction, the sequences of
requests are aligned by action (longest common subsequence, :mod:`difflib`), then each aligned pair
is compared field by field, request and reply, volatile fields ignored. Rows use the verdict's
statuses: ``matched``, ``differs``, ``missing`` (recorded, not replayed), ``unexpected``.
"""

from __future__ import annotations

import difflib
import os
from typing import TYPE_CHECKING, Any

from .verdict import DEFAULT_IGNORE, FieldDiff, Verdict, VerdictRow, diff_payloads, ignore_for

if TYPE_CHECKING:
    from ..analysis import Capture

DIFF_IGNORE = (*DEFAULT_IGNORE, "**/transactionId")
"""Transaction ids are assigned by the CSMS of each run: two runs never share them."""


def _calls(capture: Capture | str | os.PathLike[str]) -> Any:
    from ..analysis import Capture, load

    if not isinstance(capture, Capture):
        capture = load(capture)
    return capture.calls


def _payload(value: Any) -> Any:
    return None if isinstance(value, float) else value  # NaN: no reply


def replay_diff(recorded: Capture | str | os.PathLike[str], replayed: Capture | str | os.PathLike[str], *,
                ignore: tuple[str, ...] | list[str] = DIFF_IGNORE, charge_point: str | None = None) -> Verdict:
    """Compare two captures (Capture objects or paths) request by request; returns a
    :class:`~.verdict.Verdict` whose ``step`` is the position of the request in the recording's
    sequence of that charge point and direction (``kind`` is the request's direction).
    ``charge_point``: compare only this one (e.g. a one-charger replay of a fleet capture)."""
    ignore = tuple(ignore)
    left, right = _calls(recorded), _calls(replayed)
    if charge_point is not None:
        left = left[left["charge_point_id"] == charge_point]
        right = right[right["charge_point_id"] == charge_point]
    verdict = Verdict()
    keys = list(dict.fromkeys(zip(left["charge_point_id"], left["direction"], strict=True)))
    keys += [k for k in dict.fromkeys(zip(right["charge_point_id"], right["direction"], strict=True)) if k not in keys]
    for cp, direction in keys:
        a = left[(left["charge_point_id"] == cp) & (left["direction"] == direction)].sort_values("request_seq")
        b = right[(right["charge_point_id"] == cp) & (right["direction"] == direction)].sort_values("request_seq")
        a_rows, b_rows = list(a.itertuples(index=False)), list(b.itertuples(index=False))
        matcher = difflib.SequenceMatcher(a=[r.action for r in a_rows], b=[r.action for r in b_rows], autojunk=False)
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag == "equal":
                for offset in range(i2 - i1):
                    verdict.rows.append(_compare(cp, direction, i1 + offset, a_rows[i1 + offset], b_rows[j1 + offset], ignore))
                continue
            for i in range(i1, i2):
                row = a_rows[i]
                verdict.rows.append(VerdictRow(str(cp), i, direction, row.action, "missing",
                                               recorded_seq=int(row.request_seq), detail="not in the replay"))
            for j in range(j1, j2):
                row = b_rows[j]
                verdict.rows.append(VerdictRow(str(cp), None, direction, row.action, "unexpected",
                                               replayed_seq=int(row.request_seq), detail="not in the recording"))
    return verdict


def _compare(cp: str, direction: str, position: int, a: Any, b: Any, ignore: tuple[str, ...]) -> VerdictRow:
    ignore = ignore_for(a.action, ignore)
    diffs = [FieldDiff("/request" + d.pointer.rstrip("/"), d.recorded, d.replayed)
             for d in diff_payloads(a.request, b.request, ignore)]
    if a.outcome != b.outcome or (a.error_code if isinstance(a.error_code, str) else None) != \
            (b.error_code if isinstance(b.error_code, str) else None):
        diffs.append(FieldDiff("/outcome", _outcome(a), _outcome(b)))
    else:
        diffs += [FieldDiff("/response" + d.pointer.rstrip("/"), d.recorded, d.replayed)
                  for d in diff_payloads(_payload(a.response), _payload(b.response), ignore)]
    return VerdictRow(str(cp), position, direction, a.action, "differs" if diffs else "matched",
                      recorded_seq=int(a.request_seq), replayed_seq=int(b.request_seq), diffs=diffs)


def _outcome(row: Any) -> str:
    code = row.error_code if isinstance(row.error_code, str) else ""
    return f"{row.outcome} {code}".strip()
