"""Frames recovered versus frames present, per fixture: the figure in docs/importers.md.

"Present" is counted independently of the importers: every place in the file where an OCPP-J
message starts (``[2,"``, ``[3, "``, escaped ``[2,\\"``, across line breaks), or for a mitmproxy
dump every WebSocket message; in an Open OCPP Trace v1.1 every ``"messageType"``. Run: .venv/bin/python tests/importers/make_figure.py
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from workbench.capture.importers import import_file

FIXTURES = Path(__file__).parent / "fixtures"
DOCS = Path(__file__).resolve().parents[2] / "docs"
MESSAGE_START = re.compile(r'\[\s*[234]\s*,\s*\\*"')
V1_1_MESSAGE = re.compile(r'"messageType"\s*:\s*"CALL(?:RESULT|ERROR)?"')


def count_present(path: Path) -> int:
    if path.suffix == ".mitm":
        from mitmproxy.io import FlowReader

        with open(path, "rb") as handle:
            return sum(len(f.websocket.messages) for f in FlowReader(handle).stream()
                       if getattr(f, "websocket", None) is not None)
    text = path.read_text(encoding="utf-8")
    # Open OCPP Trace v1.1 states each message in fields, not as frame text: one per messageType.
    return len(MESSAGE_START.findall(text)) + len(V1_1_MESSAGE.findall(text))


def rows() -> list[tuple[str, int, int, int]]:
    """(fixture, present, recovered whole, kept damaged) for every fixture."""
    out = []
    for path in sorted(FIXTURES.iterdir()):
        result = import_file(path)
        out.append((path.name, count_present(path), result.frames_recovered, result.frames_damaged))
    return out


def svg(data: list[tuple[str, int, int, int]]) -> str:
    bar_h, gap, left, scale = 14, 6, 210, 28
    height = len(data) * (bar_h + gap) + 60
    width = left + max(p for _, p, _, _ in data) * scale + 80
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'font-family="sans-serif" font-size="11">',
             f'<text x="{left}" y="16" font-size="13">Frames recovered vs frames present, per fixture</text>']
    for i, (name, present, recovered, damaged) in enumerate(data):
        y = 30 + i * (bar_h + gap)
        parts.append(f'<text x="{left - 6}" y="{y + 11}" text-anchor="end">{name}</text>')
        parts.append(f'<rect x="{left}" y="{y}" width="{present * scale}" height="{bar_h}" fill="#dddddd"/>')
        parts.append(f'<rect x="{left}" y="{y + 2}" width="{recovered * scale}" height="{bar_h - 4}" fill="#2b6cb0"/>')
        parts.append(f'<rect x="{left + recovered * scale}" y="{y + 2}" width="{damaged * scale}" '
                     f'height="{bar_h - 4}" fill="#dd8a2b"/>')
        parts.append(f'<text x="{left + present * scale + 6}" y="{y + 11}">{recovered}+{damaged} / {present}</text>')
    y = height - 16
    parts.append(f'<rect x="{left}" y="{y - 9}" width="10" height="10" fill="#2b6cb0"/>'
                 f'<text x="{left + 14}" y="{y}">recovered whole</text>'
                 f'<rect x="{left + 120}" y="{y - 9}" width="10" height="10" fill="#dd8a2b"/>'
                 f'<text x="{left + 134}" y="{y}">kept with parse error</text>'
                 f'<rect x="{left + 270}" y="{y - 9}" width="10" height="10" fill="#dddddd"/>'
                 f'<text x="{left + 284}" y="{y}">present in the file</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def markdown(data: list[tuple[str, int, int, int]]) -> str:
    lines = ["| fixture | present | recovered whole | kept damaged |", "|---|---:|---:|---:|"]
    lines += [f"| {n} | {p} | {r} | {d} |" for n, p, r, d in data]
    total = [sum(col) for col in zip(*[(p, r, d) for _, p, r, d in data])]
    lines.append(f"| **all {len(data)} fixtures** | {total[0]} | {total[1]} | {total[2]} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    table = rows()
    (DOCS / "importers-recovery.svg").write_text(svg(table), encoding="utf-8")
    sys.stdout.write(markdown(table))
