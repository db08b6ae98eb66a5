"""The import report: one row per damaged frame, skipped line and note, as a DataFrame and as text.

Frames read whole are not rows (they are the capture); their count is in the summary. Columns: ``line_no`` (Int64, 1-based line in the source; for mitmproxy dumps the flow number;
NA when the note concerns the whole file), ``status`` ("recovered", "damaged", "skipped", "note"),
``reason`` (why damaged or skipped, "" when recovered), ``charge_point_id``, ``text`` (the frame's
text, or the full skipped line, so nothing is lost).
"""

from __future__ import annotations

import pandas as pd

from ...tables._columns import str_column
from ...terminal import terminal_safe
from .found import FoundFrame, LineStatus

COLUMNS = {
    "line_no": ("Int64", "", "1-based line (or flow number) in the source file; NA for whole-file notes"),
    "status": ("str", "", "damaged | skipped | note"),
    "reason": ("str", "", "why a frame is damaged or a line skipped; '' when recovered"),
    "charge_point_id": ("object", "", "charge point the frame belongs to, when known"),
    "text": ("str", "", "the frame text or the whole skipped line"),
}


def build_report(frames: list[FoundFrame], charge_points: list[str], rows: list[dict]) -> pd.DataFrame:
    """The report table, ordered by line (whole-file notes last)."""
    line_no, status, reason, cps, text = [], [], [], [], []
    for frame, cp in zip(frames, charge_points):
        if frame.problem is None:
            continue
        line_no.append(frame.line_no)
        status.append(LineStatus.DAMAGED.value)
        reason.append(frame.problem or "")
        cps.append(cp)
        text.append(frame.text if frame.binary is None else f"<{len(frame.binary)} binary bytes>")
    for row in rows:
        line_no.append(row["line_no"])
        status.append(row["status"])
        reason.append(row["reason"])
        cps.append(None)
        text.append(row["text"])
    table = pd.DataFrame({
        "line_no": pd.array(line_no, dtype="Int64"),
        "status": pd.array(status, dtype="str"),
        # Python storage keeps any text as read, lone surrogates included (Arrow would refuse them).
        "reason": str_column(reason, storage="python"),
        "charge_point_id": pd.Series(cps, dtype=object),  # a Series: a bare array would be inferred as str
        "text": str_column(text, storage="python"),
    })
    return table.sort_values("line_no", kind="stable", na_position="last").reset_index(drop=True)


def summary_text(report: pd.DataFrame, *, source: str, fmt: str, lines_read: int, frames_recovered: int,
                 examples: int = 5) -> str:
    """What a person reads after an import: counts, then each reason with its first lines."""
    counts = report["status"].value_counts()
    out = [
        f"{source}: format {fmt}, {lines_read} lines read, "
        f"{frames_recovered} frames recovered, {counts.get('damaged', 0)} frames kept damaged, "
        f"{counts.get('skipped', 0)} lines skipped, {counts.get('note', 0)} notes"
    ]
    for (status, reason), group in report.groupby(["status", "reason"], sort=False):
        out.append(f"  {status}: {reason} ({len(group)})")
        for _, row in group.head(examples).iterrows():  # a handful of rows for people, not a data path
            where = f"line {row['line_no']}" if pd.notna(row["line_no"]) else "file"
            shown = terminal_safe(row["text"])  # one line, no control sequence from the file
            out.append(f"    {where}: {shown[:120]}{f' (+{len(shown) - 120} chars)' if len(shown) > 120 else ''}" if shown else f"    {where}")
        if len(group) > examples:
            out.append(f"    ... and {len(group) - examples} more")
    return "\n".join(terminal_safe(line) for line in out)  # each one line, whatever the file's name holds
