"""A capture as one page to attach to a ticket: ``write_report(cap, "report.html")``.

The HTML report is self-contained and works offline: plotly.js is embedded once in the page and
every figure of :mod:`workbench.plots` draws from it; nothing is fetched from the network. It holds
the summary, the connections, the sessions with their energy three ways, the findings by severity
with the frames that prove them and a suggested next step per check, and the plots. The Markdown
report has the same tables without the plots. Used by ``ocpp-workbench report``.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from . import __version__
from .checks.registry import CHECKS, SEVERITIES

MAX_FINDINGS_PER_CHECK = 20
"""Findings of one check listed in full (with frames); the rest are counted."""
MAX_FRAMES_PER_FINDING = 5
"""Proof frames shown per finding (the table lists every seq)."""
MAX_FRAME_CHARS = 2000
"""Longest frame text quoted in the report (the rest is cut, with a note)."""
MAX_SESSION_ROWS = 500

FORMATS = ("html", "md")

NEXT_STEPS: dict[str, str] = {
    "capture_read": "Look at the damaged lines (quoted in the finding): a cut last line means the proxy stopped while writing; anything else, re-record.",
    "import": "Check the skipped lines of the foreign log: if they hold frames, tell the importer their format (docs/importers.md).",
    "invalid_frame": "Send the quoted frame to the sender's vendor: it is not an OCPP-J message; check its firmware's JSON encoder.",
    "unanswered_request": "Find out why the receiver never answered (its logs at that time); check its request timeout and whether the connection dropped.",
    "slow_reply": "Compare the latency with the sender's timeout; look at the receiver's load and back-end calls at that time.",
    "reply_without_request": "Check whether the request was sent on another connection or before the capture started; otherwise report the stray id to the replying side.",
    "duplicate_message_id": "Ask the sender's vendor how message ids are generated (they must be unique per connection); a retransmission after a timeout is allowed.",
    "message_id_too_long": "Ask the sender to keep uniqueId at 36 characters or fewer (a UUID fits).",
    "concurrent_requests": "Make the sender wait for each reply before its next CALL (one outstanding request per side).",
    "callerror": "Read the error code and description: fix the request the receiver refused, or implement the action if it is NotImplemented.",
    "unknown_action": "Check the action's spelling and case against OCPP 1.6; a vendor extension belongs in DataTransfer.",
    "wrong_direction": "The action was sent by the side that never sends it: check the sender's role configuration.",
    "request_before_boot_accepted": "Make the charger wait for BootNotification Accepted (and retry after the interval when Pending/Rejected).",
    "schema": "Fix the payload field quoted in the finding (type, enum, required property) in the sender's firmware or back end.",
    "callerror_code": "Use one of the ten OCPP-J 1.6 error codes in CALLERRORs.",
    "status_transition": "Compare the status sequence with the §4.9 table; if a transient status was skipped, check MinimumStatusDuration.",
    "status_connector0": "Connector 0 may only report Available, Unavailable or Faulted: report per-connector statuses on connectors 1..n.",
    "status_error_code": "Look up the charger's error code in its manual; an error code with a non-Faulted status is a warning from the charger.",
    "energy_register_monotonic": "Check the meter readings around the drop: a meter reset or swapped meter; billing from this register is unsafe.",
    "energy_register_rebased": "The charger sends session energy as the register: bill from meterStop - meterStart, and ask the vendor to send the meter's register.",
    "energy_kwh_as_wh": "Ask the vendor to label values in the unit they are in (kWh vs Wh, kW vs W); until fixed, scale by 1000 in the back end.",
    "energy_meter_start_stop": "Compare meterStart/meterStop with the register samples around them; ask the vendor which meter each comes from.",
    "energy_stop_below_start": "meterStop below meterStart: check for a meter reset during the session; do not bill a negative energy.",
    "energy_integrated_mismatch": "Compare the session view's power with its register: a missing power phase, a unit fault, or readings during suspension.",
    "energy_begin_repeated": "Ask the vendor to send Transaction.Begin once, at the start of the transaction.",
    "meter_value_invalid": "Fix the sampled value quoted (a decimal number as a string, a readable timestamp) in the charger's firmware.",
    "meter_values_gap": "Check the connection around the gap (status timeline) and the MeterValueSampleInterval the charger really uses.",
    "heartbeat_interval": "Check the connection around the silence; make the charger heartbeat at the HeartbeatInterval the CSMS gave.",
    "clock_skew": "Sync the charger's clock (NTP, or the BootNotification/Heartbeat currentTime).",
    "late_delivery": "Messages were queued offline: check the outage before them in the status timeline; nothing to fix if they are complete.",
    "naive_timestamp": "Ask the vendor to send timestamps with a UTC offset (e.g. ...Z).",
    "timestamp_unreadable": "Ask the vendor to send RFC 3339 timestamps.",
    "transaction_open_at_end": "Check whether the StopTransaction came after the capture ended; if the connector went Available, the stop was lost.",
    "transaction_stop_without_start": "Check for a StartTransaction before the capture, or one the CSMS never answered.",
    "transaction_stop_repeated": "Check the CSMS's reply to the first StopTransaction: a retry after an error is allowed; after a confirmed stop the charger must not send another (bill the first meterStop).",
    "integer_out_of_range": "Ask the sender's vendor why an id or reading exceeds 2^53: the CSMS's JSON parser may round or reject it; the tables left the field empty.",
    "meter_values_after_stop": "Ask the vendor why readings follow the stop: the register above meterStop means energy after the stop was not billed.",
    "transaction_id_reused": "Make the CSMS issue a new transactionId for every StartTransaction.",
    "meter_values_unknown_transaction": "Check which StartTransaction the charger thinks is running (transactionId -1 means it never got the reply).",
    "charging_without_transaction": "Check whether the charger charges without authorisation (free vend) or sent Charging before StartTransaction.",
    "power_while_suspended": "The charger reports power while suspended: check the status the EV/EVSE really is in and the meter's power reading.",
    "power_zero_while_charging": "The charger reports Charging without power: check whether the EV is full or the status should be SuspendedEV.",
    "transaction_interrupted_by_boot": "The charger rebooted during a transaction: check its logs for the reboot cause and that the session was closed.",
    "table_build": "A table could not be built: report it with the capture (this is a workbench bug).",
}


def next_step(check: str) -> str:
    """What to do about findings of ``check`` (a generic hint for checks without their own advice)."""
    if check in NEXT_STEPS:
        return NEXT_STEPS[check]
    info = CHECKS.get(check)
    clause = f" ({info.clause})" if info is not None else ""
    return f"Read the frames of each finding against the rule the check encodes{clause}."


# --- the data of the report ---------------------------------------------------------------------

def _is_missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


def _text(value: Any) -> str:
    if _is_missing(value):
        return ""
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".") if abs(value) < 1e15 else f"{value:g}"
    return str(value)


def _cut(text: Any, limit: int = MAX_FRAME_CHARS) -> str:
    text = _text(text)
    return text if len(text) <= limit else text[:limit] + f" ... ({len(text) - limit:,} more characters)"


def summary_rows(cap: Any) -> list[tuple[str, str]]:
    """(label, value) lines of the report's summary."""
    facts = cap.summary()
    findings = cap.findings
    by_severity = ", ".join(f"{int((findings['severity'] == s).sum())} {s}" for s in SEVERITIES)
    header = cap.header or {}
    rows = [
        ("files", ", ".join(str(p) for p in cap.paths) or "(in memory)"),
        # Not the proxy's mode string: it may hold the upstream URL as typed (credentials and all);
        # the header's upstream_url has them stripped by the addon.
        ("recorded by", " ".join(_text(header.get(k)) for k in ("tool", "tool_version") if header.get(k))),
        ("upstream", _text(header.get("upstream_url"))),
        ("time span", f"{_text(facts['start'])} .. {_text(facts['end'])}"),
        ("frames", f"{facts['frames']:,}" + (f" ({facts['invalid_frames']:,} invalid)" if facts["invalid_frames"] else "")),
        ("connections", f"{facts['connections']:,}"),
        ("charge points", ", ".join(cap.charge_point_ids[:20]) + (" ..." if len(cap.charge_point_ids) > 20 else "")
         or "none"),
        ("sessions", f"{len(cap.transactions):,}"),
        ("findings", by_severity),
    ]
    if facts["load_problems"]:
        rows.append(("unreadable lines", f"{facts['load_problems']:,}"))
    return rows


CONNECTION_COLUMNS = {"ts": "opened", "charge_point_id": "charge point", "state": "state", "duration_s": "duration (s)",
                      "charger_tls_version": "TLS", "subprotocol": "subprotocol", "auth_user": "Basic Auth user",
                      "auth_password_present": "password sent", "close_code": "close code", "closed_by": "closed by",
                      "frames_charger_to_csms": "frames up", "frames_csms_to_charger": "frames down"}
SESSION_COLUMNS = {"charge_point_id": "charge point", "connector_id": "connector", "transaction_id": "transaction",
                   "start_ts": "start", "stop_ts": "stop", "energy_wh": "meterStop - meterStart (Wh)",
                   "energy_register_wh": "register (Wh)", "energy_integrated_wh": "integrated power (Wh)",
                   "energy_tolerance_wh": "tolerance (Wh)", "completeness": "completeness"}


def session_table(cap: Any) -> pd.DataFrame:
    """The sessions with energy three ways and, in words, what is wrong with their energy."""
    from .plots import energy_notes

    sessions = cap.transactions.reset_index(drop=True)
    table = sessions[[c for c in SESSION_COLUMNS if c in sessions.columns]].copy()
    table["notes"] = ["; ".join(n) for n in energy_notes(sessions, cap.findings)] if len(sessions) else []
    return table


def ordered_findings(findings: pd.DataFrame) -> pd.DataFrame:
    """Findings worst first: by severity, then check, then time."""
    rank = findings["severity"].map({s: i for i, s in enumerate(SEVERITIES)}).fillna(len(SEVERITIES))
    return (findings.assign(_rank=rank.to_numpy())
            .sort_values(["_rank", "check", "ts"], kind="stable", na_position="last").drop(columns="_rank"))


def check_table(findings: pd.DataFrame) -> pd.DataFrame:
    """One row per check that fired: worst severity, count, clause, next step; worst checks first."""
    rows = []
    for check, group in findings.groupby("check", sort=True):
        severity = min(group["severity"], key=lambda s: SEVERITIES.index(s) if s in SEVERITIES else len(SEVERITIES))
        info = CHECKS.get(check)
        rows.append({"severity": severity, "check": check, "findings": len(group),
                     "clause": info.clause if info else "", "next step": next_step(str(check))})
    table = pd.DataFrame(rows, columns=["severity", "check", "findings", "clause", "next step"])
    if table.empty:
        return table
    rank = table["severity"].map({s: i for i, s in enumerate(SEVERITIES)}).fillna(len(SEVERITIES))
    return table.assign(_rank=rank).sort_values(["_rank", "findings"], ascending=[True, False]).drop(columns="_rank")


def listed_findings(findings: pd.DataFrame) -> pd.DataFrame:
    """The findings the report lists in full: the first ``MAX_FINDINGS_PER_CHECK`` of each check, worst first."""
    ordered = ordered_findings(findings)
    return ordered.groupby("check", sort=False).head(MAX_FINDINGS_PER_CHECK)


def proof_frames(cap: Any, seqs: Iterable[int]) -> list[dict[str, Any]]:
    """The first frames of ``seqs``: seq, ts, direction, action, message_type, raw (cut)."""
    wanted = [int(s) for s in list(seqs)[:MAX_FRAMES_PER_FINDING]]
    if not wanted:
        return []
    frames = cap.frames
    rows = frames[frames["seq"].isin(wanted)]
    by_seq = {int(r["seq"]): r for r in rows.to_dict("records")}
    return [{"seq": s, "ts": by_seq[s]["ts"], "direction": by_seq[s]["direction"], "action": by_seq[s]["action"],
             "message_type": by_seq[s]["message_type"], "raw": _cut(by_seq[s]["raw"])} for s in wanted if s in by_seq]


def report_figures(cap: Any) -> list[tuple[str, str, Any]]:
    """(id, heading, figure) of every plot in the report: the status timeline, the energy per session,
    one session (the first with an energy note, else the first), the message sequence around the worst
    finding (else the first frames), reply latency and MeterValues intervals."""
    from . import plots

    figures: list[tuple[str, str, Any]] = [("status-timeline", "Status timeline", plots.status_timeline(cap)),
                                           ("energy", "Energy per session", plots.energy_reconciliation(cap))]
    sessions = cap.transactions.reset_index(drop=True)
    if len(sessions):
        notes = plots.energy_notes(sessions, cap.findings)
        pick = next((i for i, n in enumerate(notes) if n and not _is_missing(sessions["transaction_id"].iloc[i])), None)
        if pick is None:
            pick = next((i for i, tx in enumerate(sessions["transaction_id"]) if not _is_missing(tx)), None)
        if pick is not None:
            row = sessions.iloc[pick]
            figures.append(("session", "One session", plots.session_view(cap, int(row["transaction_id"]),
                                                                          row["charge_point_id"])))
    worst = ordered_findings(cap.findings)
    worst = worst[worst["ts"].notna()]
    if len(worst):
        first = worst.iloc[0]
        cp = first["charge_point_id"] if isinstance(first["charge_point_id"], str) else None
        window = plots.frames_window(cap, first["frame_seqs"], cp) or plots.window_around(first["ts"], 5)
        start, end = window
        heading = f"Messages around the worst finding ({first['check']})"
        figures.append(("sequence", heading, plots.sequence_chart(cap, cp, start=start, end=end,
                                                                  highlight_seqs=list(first["frame_seqs"]))))
    else:
        figures.append(("sequence", "Messages (first frames)", plots.sequence_chart(cap, max_frames=80)))
    figures.append(("latency", "Reply latency per action", plots.latency_by_action(cap)))
    figures.append(("intervals", "MeterValues intervals", plots.meter_interval_histogram(cap)))
    return figures


# --- HTML ---------------------------------------------------------------------------------------

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5em auto; max-width: 1400px;
       padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; } h2 { margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.86em; }
th, td { border: 1px solid #ddd; padding: 3px 6px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; position: sticky; top: 0; }
tr.error td.severity { color: #fff; background: #d62728; }
tr.warning td.severity { background: #ffbf69; }
tr.info td.severity { background: #cfe2f3; }
pre { white-space: pre-wrap; word-break: break-all; margin: 2px 0; font-size: 0.9em; background: #f8f8f8; }
.counts span { display: inline-block; margin-right: 1em; padding: 2px 8px; border-radius: 3px; }
.counts .error { background: #d62728; color: #fff; } .counts .warning { background: #ffbf69; }
.counts .info { background: #cfe2f3; }
.note { color: #666; } .plot { margin: 1em 0 2em; }
"""


def _esc(value: Any) -> str:
    return html.escape(_text(value))


def _html_table(table: pd.DataFrame, columns: dict[str, str], table_id: str) -> str:
    head = "".join(f"<th>{html.escape(label)}</th>" for label in columns.values())
    body = "".join("<tr>" + "".join(f"<td>{_esc(row.get(c))}</td>" for c in columns) + "</tr>"
                   for row in table.to_dict("records"))
    return f"<table id='{table_id}'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _findings_html(cap: Any) -> str:
    findings = cap.findings
    counts = "".join(f"<span class='{s}'>{int((findings['severity'] == s).sum()):,} {s}</span>" for s in SEVERITIES)
    parts = [f"<p class='counts'>{counts}</p>"]
    if findings.empty:
        return parts[0] + "<p>No check found anything.</p>"
    checks = check_table(findings)
    parts.append("<h3>By check</h3><table id='checks'><thead><tr><th>severity</th><th>check</th><th>findings</th>"
                 "<th>rule</th><th>suggested next step</th></tr></thead><tbody>")
    for row in checks.to_dict("records"):
        shown = min(row["findings"], MAX_FINDINGS_PER_CHECK)
        count = f"{row['findings']:,}" + (f" (first {shown} listed)" if shown < row["findings"] else "")
        parts.append(f"<tr class='{_esc(row['severity'])}' data-check='{_esc(row['check'])}'>"
                     f"<td class='severity'>{_esc(row['severity'])}</td><td>{_esc(row['check'])}</td><td>{count}</td>"
                     f"<td>{_esc(row['clause'])}</td><td>{_esc(row['next step'])}</td></tr>")
    parts.append("</tbody></table>")
    parts.append("<h3>Findings, worst first, with the frames that prove them</h3>"
                 "<table id='findings'><thead><tr><th>severity</th><th>time</th><th>charge point</th><th>connector</th>"
                 "<th>transaction</th><th>check</th><th>finding</th><th>frames</th></tr></thead><tbody>")
    for row in listed_findings(findings).to_dict("records"):
        seqs = [int(s) for s in row["frame_seqs"]]
        frames = "".join(f"<pre>#{f['seq']} {_esc(f['ts'])} {_esc(f['direction'])} {_esc(f['action'])} "
                         f"{_esc(f['message_type'])}\n{html.escape(f['raw'])}</pre>" for f in proof_frames(cap, seqs))
        more = f"<div class='note'>frames {', '.join(map(str, seqs))}</div>" if len(seqs) > MAX_FRAMES_PER_FINDING else ""
        parts.append(f"<tr class='finding {_esc(row['severity'])}' data-severity='{_esc(row['severity'])}' "
                     f"data-check='{_esc(row['check'])}'><td class='severity'>{_esc(row['severity'])}</td>"
                     f"<td>{_esc(row['ts'])}</td><td>{_esc(row['charge_point_id'])}</td><td>{_esc(row['connector_id'])}</td>"
                     f"<td>{_esc(row['transaction_id'])}</td><td>{_esc(row['check'])}</td><td>{_esc(row['message'])}</td>"
                     f"<td>{frames}{more}</td></tr>")
    parts.append("</tbody></table>")
    return "".join(parts)


def report_html(cap: Any, *, title: str | None = None) -> str:
    """The report as one self-contained HTML page (plotly.js embedded once; no network needed)."""
    import plotly.io as pio
    from plotly.offline import get_plotlyjs

    title = title or default_title(cap)
    summary = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in summary_rows(cap))
    connections = cap.connections
    sessions = session_table(cap)
    session_note = (f"<p class='note'>first {MAX_SESSION_ROWS} of {len(sessions):,} sessions</p>"
                    if len(sessions) > MAX_SESSION_ROWS else "")
    plots_html = []
    for plot_id, heading, figure in report_figures(cap):
        div = pio.to_html(figure, full_html=False, include_plotlyjs=False, div_id=f"plot-{plot_id}",
                          config={"displaylogo": False, "responsive": True}, default_width="100%")
        plots_html.append(f"<section class='plot'><h3>{html.escape(heading)}</h3>{div}</section>")
    created = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<meta name="generator" content="ocpp-workbench {__version__}">
<style>{_CSS}</style>
<script>{get_plotlyjs()}</script>
</head><body>
<h1>{html.escape(title)}</h1>
<p class="note">ocpp-workbench {__version__} report, written {created}. Frames are quoted as captured; passwords are never captured.</p>
<h2 id="summary">Summary</h2><table id="summary-table">{summary}</table>
<h2 id="findings-section">Findings</h2>{_findings_html(cap)}
<h2 id="sessions">Sessions, energy three ways</h2>{session_note}
{_html_table(sessions.head(MAX_SESSION_ROWS), {**SESSION_COLUMNS, "notes": "notes"}, "sessions-table")}
<h2 id="connections">Connections</h2>
{_html_table(connections, {c: label for c, label in CONNECTION_COLUMNS.items() if c in connections.columns}, "connections-table")}
<h2 id="plots">Plots</h2>
{''.join(plots_html)}
</body></html>
"""


def default_title(cap: Any) -> str:
    names = [Path(p).name for p in cap.paths]
    return "OCPP capture report: " + (", ".join(names[:3]) + (" ..." if len(names) > 3 else "") if names else "capture")


# --- Markdown -----------------------------------------------------------------------------------

def _md(value: Any) -> str:
    return _text(value).replace("|", "\\|").replace("\n", " ")


def _md_table(table: pd.DataFrame, columns: dict[str, str]) -> str:
    lines = ["| " + " | ".join(columns.values()) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_md(row.get(c)) for c in columns) + " |" for row in table.to_dict("records")]
    return "\n".join(lines)


def report_markdown(cap: Any, *, title: str | None = None) -> str:
    """The report as Markdown: the same summary and tables as the HTML report, without the plots."""
    title = title or default_title(cap)
    out = [f"# {title}", "", f"ocpp-workbench {__version__} report. Plots are in the HTML report "
           "(`ocpp-workbench report CAPTURE -o report.html`).", "", "## Summary", ""]
    out += [f"- **{label}**: {_md(value)}" for label, value in summary_rows(cap)]
    findings = cap.findings
    out += ["", "## Findings", ""]
    if findings.empty:
        out.append("No check found anything.")
    else:
        out += [_md_table(check_table(findings), {"severity": "severity", "check": "check", "findings": "findings",
                                                  "clause": "rule", "next step": "suggested next step"}), ""]
        for row in listed_findings(findings).to_dict("records"):
            where = " ".join(x for x in (_text(row["charge_point_id"]),
                                         f"connector {_text(row['connector_id'])}" if not _is_missing(row["connector_id"]) else "",
                                         f"tx {_text(row['transaction_id'])}" if not _is_missing(row["transaction_id"]) else "") if x)
            out.append(f"### {row['severity']}: {row['check']} {where} at {_text(row['ts']) or '-'}")
            out += ["", _text(row["message"]), ""]
            for frame in proof_frames(cap, [int(s) for s in row["frame_seqs"]]):
                out += [f"frame {frame['seq']}, {_text(frame['ts'])}, {frame['direction']}:", "", "```json",
                        frame["raw"].replace("```", "` ` `"), "```", ""]
    sessions = session_table(cap)
    out += ["", "## Sessions, energy three ways", ""]
    out.append(_md_table(sessions.head(MAX_SESSION_ROWS), {**SESSION_COLUMNS, "notes": "notes"}) if len(sessions)
               else "No sessions.")
    connections = cap.connections
    out += ["", "## Connections", ""]
    out.append(_md_table(connections, {c: label for c, label in CONNECTION_COLUMNS.items() if c in connections.columns})
               if len(connections) else "No connections.")
    return "\n".join(out) + "\n"


def write_report(cap: Any, path: str | Path, *, format: str | None = None, title: str | None = None) -> Path:
    """Write the report of ``cap`` to ``path`` as HTML or Markdown (``format``; default from the suffix:
    ``.md`` is Markdown, anything else HTML). Returns the path."""
    path = Path(path)
    fmt = format or ("md" if path.suffix.lower() in (".md", ".markdown") else "html")
    if fmt not in FORMATS:
        raise ValueError(f"report format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    text = report_markdown(cap, title=title) if fmt == "md" else report_html(cap, title=title)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8", errors="backslashreplace")
    return path
