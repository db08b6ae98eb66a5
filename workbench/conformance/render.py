"""Conformance results as text (terminal), Markdown, JSON, JUnit XML and a self-contained HTML page."""

from __future__ import annotations

import html
import json
from typing import Any
from xml.etree import ElementTree as ET

from .evaluate import ConformanceResult, evidence_seqs

FORMATS = ("text", "json", "md", "junit", "html")
MARK = {"pass": "PASS", "fail": "FAIL", "not_observed": "not observed", "not_applicable": "n/a"}
COLOURS = {"pass": "#2e7d32", "fail": "#c62828", "not_observed": "#757575", "not_applicable": "#1565c0"}


def _seq_text(seqs: list[int], limit: int = 8) -> str:
    shown = ", ".join(str(s) for s in seqs[:limit])
    return shown + (f" (+{len(seqs) - limit})" if len(seqs) > limit else "")


def _head(result: ConformanceResult) -> str:
    counts = result.counts()
    return (f"{result.profile.title}: {counts['pass']} pass, {counts['fail']} fail, "
            f"{counts['not_observed']} not observed, {counts['not_applicable']} not applicable")


def render_text(result: ConformanceResult) -> str:
    """A table for the terminal: id, verdict, title, summary; warnings, frames and advice underneath."""
    lines = [f"profile {result.profile.name} - capture {result.capture}", _head(result), ""]
    for row in result.rows:
        req = row.requirement
        level = "" if req.level == "required" else f" ({req.level})"
        lines.append(f"{req.id:<4} {MARK[row.verdict]:<13} {req.title}{level}")
        lines.append(f"{'':18}{row.summary}")
        for warning in row.warnings:
            lines.append(f"{'':18}warning: {warning}")
        seqs = evidence_seqs(row.evidence)
        if seqs:
            lines.append(f"{'':18}frames: {_seq_text(seqs)}")
        if row.advice:
            lines.append(f"{'':18}advice: {' '.join(row.advice.split())}")
    return "\n".join(lines) + "\n"


def _md_cell(text: Any) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def render_md(result: ConformanceResult) -> str:
    """A Markdown report: the table, then each failing requirement's advice and evidence."""
    out = [f"# Conformance: {_md_cell(result.profile.title)}", "",
           f"Capture: `{_md_cell(result.capture)}`  ", _md_cell(_head(result)), "",
           "| Id | Requirement | Verdict | What the capture shows | Frames |", "|---|---|---|---|---|"]
    for row in result.rows:
        summary = row.summary + "".join(f"; warning: {w}" for w in row.warnings)
        out.append(f"| {row.requirement.id} | {_md_cell(row.requirement.title)} | **{MARK[row.verdict]}** | "
                   f"{_md_cell(summary)} | {_seq_text(evidence_seqs(row.evidence))} |")
    failing = [row for row in result.rows if row.verdict == "fail"]
    if failing:
        out += ["", "## What to fix", ""]
        for row in failing:
            out += [f"### {row.requirement.id}: {_md_cell(row.requirement.title)}", "",
                    f"> {_md_cell(row.requirement.words)}", "", _md_cell(row.advice or ""), ""]
            for item in row.evidence[:10]:
                out.append(f"- `{_md_cell(json.dumps(item, default=str))}`")
            out.append("")
    return "\n".join(out).rstrip() + "\n"


def render_json(result: ConformanceResult) -> str:
    """Strict JSON (NaN is null; ``allow_nan=False`` proves it)."""
    return json.dumps(result.to_dict(), indent=2, allow_nan=False) + "\n"


def render_junit(result: ConformanceResult) -> str:
    """JUnit XML: one testcase per requirement; fail -> failure, not_observed/not_applicable -> skipped."""
    counts = result.counts()
    suite = ET.Element("testsuite", name=f"conformance.{result.profile.name}", tests=str(len(result.rows)),
                       failures=str(counts["fail"]), errors="0",
                       skipped=str(counts["not_observed"] + counts["not_applicable"]))
    for row in result.rows:
        case = ET.SubElement(suite, "testcase", classname=f"conformance.{result.profile.name}",
                             name=f"{row.requirement.id} {row.requirement.title}")
        if row.verdict == "fail":
            failure = ET.SubElement(case, "failure", message=row.summary, type="requirement_failed")
            failure.text = json.dumps({"evidence": row.to_dict()["evidence"], "advice": row.advice}, indent=1)
        elif row.verdict in ("not_observed", "not_applicable"):
            ET.SubElement(case, "skipped", message=f"{row.verdict}: {row.summary}")
        out = ET.SubElement(case, "system-out")
        out.text = "\n".join([row.summary, *(f"warning: {w}" for w in row.warnings),
                              f"frames: {_seq_text(evidence_seqs(row.evidence), 50)}"])
    suites = ET.Element("testsuites")
    suites.append(suite)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def render_html_table(result: ConformanceResult) -> str:
    """The verdict table as an HTML fragment (also the notebook view)."""
    esc = html.escape
    cell = "style='text-align:left; vertical-align:top; padding:2px 8px'"
    body = []
    for row in result.rows:
        colour = COLOURS[row.verdict]
        notes = "".join(f"<br><i>warning: {esc(w)}</i>" for w in row.warnings)
        if row.advice:
            notes += f"<br><b>advice:</b> {esc(' '.join(row.advice.split()))}"
        body.append(f"<tr><td {cell}>{esc(row.requirement.id)}</td><td {cell}>{esc(row.requirement.title)}</td>"
                    f"<td {cell}><b style='color:{colour}'>{esc(MARK[row.verdict])}</b></td>"
                    f"<td {cell}>{esc(row.summary)}{notes}</td>"
                    f"<td {cell}>{esc(_seq_text(evidence_seqs(row.evidence)))}</td></tr>")
    head = "".join(f"<th {cell}>{h}</th>" for h in ("Id", "Requirement", "Verdict", "What the capture shows", "Frames"))
    return (f"<div><b>{esc(_head(result))}</b><table><tr>{head}</tr>{''.join(body)}</table></div>")


def render_html(result: ConformanceResult) -> str:
    """A self-contained HTML page (no scripts, no external files) for the charger maker."""
    esc = html.escape
    details = []
    for row in result.rows:
        evidence = esc(json.dumps(row.to_dict()["evidence"], indent=1))
        details.append(f"<details><summary>{esc(row.requirement.id)}: {esc(row.requirement.title)} "
                       f"({esc(MARK[row.verdict])})</summary><blockquote>{esc(row.requirement.words)}</blockquote>"
                       f"<pre>{evidence}</pre></details>")
    return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<title>Conformance: {esc(result.profile.title)}</title>"
            "<style>body{font-family:sans-serif;margin:2em} table{border-collapse:collapse}"
            " tr{border-bottom:1px solid #ddd} pre{background:#f5f5f5;padding:.5em;overflow:auto}</style>"
            f"</head><body><h1>Conformance: {esc(result.profile.title)}</h1>"
            f"<p>Capture: <code>{esc(result.capture)}</code></p>{render_html_table(result)}"
            f"<h2>Evidence</h2>{''.join(details)}</body></html>\n")


RENDERERS = {"text": render_text, "json": render_json, "md": render_md, "junit": render_junit, "html": render_html}


def render(result: ConformanceResult, fmt: str) -> str:
    """``result`` in format ``fmt`` (one of :data:`FORMATS`)."""
    return RENDERERS[fmt](result)
