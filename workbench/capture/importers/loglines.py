"""Frames inside log lines: OCPP libraries, CSMSs and charger consoles, with their prefixes.

A line is first stripped of the prefixes that log collectors put in front (Markdown quotes,
docker-compose ``service-1  |``, syslog/journald ``Nov 21 19:43:29 host proc[12]:``), then matched
against the dialects below, each with its own direction words. A frame that does not close on its
line continues on the next ones: pretty-printed (lines joined with their line breaks, so the text
stays the same JSON) or wrapped by a logger that repeats its prefix (chunks joined as they were).
A JSON log line (``{"time":..., "msg": "..."}``) is decoded first, so frames escaped in it come out
unescaped. Lines with no frame are reported, never dropped.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from ...jsonfast import std_loads
from ..identity import FROM_URL_PATH, charge_point_id_from_path
from . import timestamps
from .direction import said_from_word
from .found import FoundFrame, ReaderOutput, Said
from .jsonscan import (ABBREVIATION, ESCAPED_FRAME_START, FRAME_START, Balance, check_frame, decode_prefix,
                       unescape_string_at)

# A frame that has not closed after this many lines is cut there and kept as truncated.
MAX_FRAME_LINES = 400


@dataclass(frozen=True)
class Dialect:
    """One program's way of logging a frame. ``pattern`` ends where the frame text begins and may
    name groups ``word`` (direction word), ``cp`` (charge point id) and ``session``.
    ``logger_is`` is who writes such logs when the direction words are relative."""

    name: str
    pattern: re.Pattern[str]
    words: dict[str, Said]
    logger_is: str  # "csms" | "charger"


DIALECTS: tuple[Dialect, ...] = (
    # SteVe WebSocketLogger: "[chargeBoxId=CP1, sessionId=abc] Received: [...]" / "Sending: [...]"
    Dialect(
        "steve",
        re.compile(r"\[chargeBoxId=(?P<cp>[^,\]]+),\s*sessionId=(?P<session>[^\]]+)\]\s*(?P<word>Received|Sending)\s*:\s*"),
        {"received": Said.RECEIVED, "sending": Said.SENT},
        "csms",
    ),
    # mobilityhouse/ocpp's logger, also what the Home Assistant OCPP integration writes:
    # "CP1: send [...]", "CP1: receive message [...]"
    Dialect(
        "ocpp-python",
        re.compile(r"(?<![^\s:\]])(?P<cp>[^\s:\[\]]+): (?P<word>send|receive message)\s+(?=\[)"),
        {"send": Said.SENT, "receive message": Said.RECEIVED},
        "csms",
    ),
    # evcc's OCPP server: "recv CP1: [...]", "send CP1: [...]"; older "received JSON message from CP1: ..."
    Dialect(
        "evcc",
        re.compile(
            r"\b(?P<word>recv|send|received JSON message from|sent JSON message to) (?P<cp>[^\s:\[\]]+):\s*(?=\[)"
        ),
        {"recv": Said.RECEIVED, "send": Said.SENT, "received json message from": Said.RECEIVED,
         "sent json message to": Said.SENT},
        "csms",
    ),
    # MicroOcpp / ArduinoOcpp debug console on the charger: "[MO] Send: [...]", "[AO] Recv: [...]"
    Dialect(
        "microocpp",
        re.compile(r"\[(?:MO|AO|MicroOcpp|ArduinoOcpp)\][^\[]*?\b(?P<word>Send|Recv|Sending|Received)\b\s*:?\s*"),
        {"send": Said.SENT, "recv": Said.RECEIVED, "sending": Said.SENT, "received": Said.RECEIVED},
        "charger",
    ),
)

# Direction words of generic and charger-internal logs, just before the frame.
GENERIC_WORD = re.compile(
    r"(?<![\w>-])(?P<word>CP\s*(?:->|→|=>)\s*CS(?:MS)?|CS(?:MS)?\s*(?:->|→|=>)\s*CP|charger_to_csms|csms_to_charger"
    r"|\[(?:client|target|server)\s*(?:->|→|=>)\s*(?:client|target|server)\]|CS_TO_CSMS|CSMS_TO_CS|CP_TO_CSMS"
    r"|CSMS_TO_CP|FROM_CP|TO_CP|FROM_CSMS|TO_CSMS|uplink|downlink|cp-to-csms|csms-to-cp"
    r"|to\s+CSMS|from\s+CSMS|to\s+charger|from\s+charger|TX|RX|>>|<<|-->|<--|SEND|RECV|[Ss]ent|[Ss]end(?:ing)?"
    r"|[Rr]ecv|[Rr]eceived?|[Rr]eceiving|OUT|IN|[Oo]utgoing|[Ii]ncoming)(?![\w])\s*[:>]?\s*$"
)
# "received from CP-1:" / "sent to CP-1:" (direction word, then the charge point, right before the frame)
GENERIC_FROM_TO = re.compile(
    r"\b(?P<word>received|recv|receive|got|sent|send|sending)\s+(?:message\s+)?(?:from|to)\s+(?P<cp>[\w.\-]+)\s*:?\s*$", re.I
)
GENERIC_CP = re.compile(r"\b(?:chargePointId|charge_point_id|chargeBoxId|charge_box_id|cp_?id|cp|station)\s*[=:]\s*\"?(?P<cp>[\w.\-]+)", re.I)
# A connection URL or an OCPP path in the line ("ws://host/ws/ocpp/CP1/", "/ocpp/CP1"): the charge point id
# comes from it by the capture's own rule (capture.identity: the last non-empty path segment).
GENERIC_URL = re.compile(
    r"\b(?:wss?|https?)://[^\s\"'<>\[\]]+"  # a whole URL
    r"|(?<![\w/.])/(?:[^\s/\"'<>\[\]]+/)*?ocpp[^\s/]*/[^\s\"'<>\[\]]+",  # or a path through an "ocpp..." segment
    re.I)
GENERIC_SESSION = re.compile(r"\b(?:sessionId|session_id|session|conn(?:ection)?_?id)\s*[=:]\s*\"?(?P<session>[\w.\-]+)", re.I)

_ABSOLUTE = {
    "charger_to_csms": Said.CHARGER_TO_CSMS, "csms_to_charger": Said.CSMS_TO_CHARGER,
}


def generic_said(word: str) -> Said | None:
    """Map a generic direction word to what it says (the shared vocabulary first)."""
    said = said_from_word(word)
    if said is not None:
        return said
    w = re.sub(r"\s+", "", word).lower()
    if w in _ABSOLUTE:
        return _ABSOLUTE[w]
    if w.startswith("cp") or w in ("tocsms", "fromcharger"):
        return Said.CHARGER_TO_CSMS
    if w.startswith("cs") or w in ("fromcsms", "tocharger"):
        return Said.CSMS_TO_CHARGER
    if w in ("tx", ">>", "-->", "send", "sent", "sending", "out", "outgoing"):
        return Said.SENT
    if w in ("rx", "<<", "<--", "recv", "receive", "received", "receiving", "in", "incoming", "got"):
        return Said.RECEIVED
    return None


# Prefixes added by whatever collected the log, stripped before dialects are matched.
MARKDOWN_QUOTE = re.compile(r"^\s*(?:>\s?)+")
DOCKER_COMPOSE = re.compile(r"^[A-Za-z0-9][\w.\-]*\s+\|\s?")
SYSLOG = re.compile(
    r"^(?:<\d{1,3}>\d?\s*)?(?P<mon>Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\s+(?P<day>\d{1,2})\s"
    r"(?P<time>\d{2}:\d{2}:\d{2})(?:\.(?P<frac>\d{1,6}))?\s+\S+\s+[^\s:\[]+(?:\[\d+\])?:\s?"
)
ISO_SYSLOG = re.compile(  # journald -o short-iso and RFC 5424: "<ts> host proc[pid]: "
    r"^(?:<\d{1,3}>\d?\s*)?(?P<ts>\d{4}-\d{2}-\d{2}T\S+)\s+[\w.\-]+\s+[^\s:\[]+(?:\[\d+\])?:\s?"
)
MONTHS = {m: i for i, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), start=1)}
TIME_KEYS = ("timestamp", "time", "ts", "@timestamp", "datetime", "date", "t", "__REALTIME_TIMESTAMP")
MESSAGE_KEYS = ("message", "msg", "MESSAGE", "log", "text", "body", "event")


@dataclass
class _Pending:
    """A frame whose brackets have not closed yet."""

    found: FoundFrame
    balance: Balance
    parts: list[str]
    dialect: str | None
    lines: int = 1
    marker_prefix: str | None = None  # the text before the frame on its first line (wrapped logs)


@dataclass
class _Carry:
    """Direction/charge point from a line whose frame starts on the next line ("Sending:" then "[")."""

    said: Said | None
    cp: str | None
    session: str | None
    dialect: str | None
    log_time: timestamps.LogTime | None
    line_no: int
    text: str


@dataclass
class _Context:
    default_tz: dt.tzinfo
    year: int
    out: ReaderOutput
    pending: _Pending | None = None
    carry: _Carry | None = None
    naive_lines: list[int] = field(default_factory=list)


def strip_collector_prefixes(line: str, year: int, tz: dt.tzinfo) -> tuple[str, timestamps.LogTime | None]:
    """Remove Markdown, docker-compose and syslog prefixes; return (rest, syslog time if any)."""
    when = None
    for _ in range(4):  # prefixes nest (docker-compose in front of syslog, quoted in Markdown)
        before = line
        line = MARKDOWN_QUOTE.sub("", line, count=1)
        line = DOCKER_COMPOSE.sub("", line, count=1)
        match = SYSLOG.match(line)
        if match:
            when = _syslog_time(match, year, tz) or when
            line = line[match.end():]
        match = ISO_SYSLOG.match(line)
        if match and not FRAME_START.match(line):
            parsed = timestamps.parse_time(match.group("ts"), tz)
            if parsed is not None:
                when = parsed
                line = line[match.end():]
        if line == before:
            break
    return line, when


def _syslog_time(match: re.Match[str], year: int, tz: dt.tzinfo) -> timestamps.LogTime | None:
    try:
        naive = dt.datetime(year, MONTHS[match.group("mon")], int(match.group("day")),
                            *map(int, match.group("time").split(":")),
                            int((match.group("frac") or "0").ljust(6, "0")))
    except ValueError:
        return None
    return timestamps.LogTime(naive.replace(tzinfo=tz).astimezone(dt.timezone.utc), False)


def _time_in(text: str, tz: dt.tzinfo) -> timestamps.LogTime | None:
    match = timestamps.ISO_TS.search(text)
    return timestamps.from_match(match, tz) if match else None


def _match_dialect(body: str) -> tuple[Dialect, re.Match[str]] | None:
    best = None
    for dialect in DIALECTS:
        match = dialect.pattern.search(body)
        if match and (best is None or match.start() < best[1].start()):
            best = (dialect, match)
    return best


def _said(dialect: Dialect, match: re.Match[str]) -> Said | None:
    word = match.groupdict().get("word")
    return dialect.words.get(word.lower()) if word else None


def read_log(lines: Iterable[str], *, tz: dt.tzinfo, year: int) -> ReaderOutput:
    """Find every frame in the lines of a log file (without their line ends)."""
    ctx = _Context(default_tz=tz, year=year, out=ReaderOutput())
    line_no = 0
    for line_no, line in enumerate(lines, start=1):
        ctx.out.lines_read = line_no
        _read_line(ctx, line_no, line)
    _finish(ctx, complete=False)
    _drop_carry(ctx)
    if ctx.naive_lines:
        ctx.out.note(ctx.naive_lines[0], f"{len(ctx.naive_lines)} log times without a time zone; read as {tz}")
    return ctx.out


def _read_line(ctx: _Context, line_no: int, line: str) -> None:
    body, collector_time = strip_collector_prefixes(line, ctx.year, ctx.default_tz)
    if ctx.pending is not None and _continue_pending(ctx, body):
        return
    if not body.strip():
        return
    structured = _json_log_line(body, ctx.default_tz)
    if structured is not None:
        body, line_time = structured
        _read_body(ctx, line_no, line, body, line_time, collector_time)
        return
    _read_body(ctx, line_no, line, body, None, collector_time)


def _json_log_line(body: str, tz: dt.tzinfo) -> tuple[str, timestamps.LogTime | None] | None:
    """A structured (JSON object) log line -> (its message text, its time)."""
    text = body.strip()
    if not text.startswith("{"):
        return None
    try:
        record = std_loads(text)
    except ValueError:
        return None
    if not isinstance(record, dict):
        return None
    message = next((record[k] for k in MESSAGE_KEYS if isinstance(record.get(k), str)), None)
    if message is None:
        return None
    when = None
    for key in TIME_KEYS:
        if key in record:
            value = record[key]
            if key == "__REALTIME_TIMESTAMP" and isinstance(value, str) and value.isdigit():
                value = int(value) / 1e6  # journald: microseconds since the epoch
            when = timestamps.parse_time(value, tz)
            if when:
                break
    extras = " ".join(f"{k}={v}" for k, v in record.items() if k not in MESSAGE_KEYS and isinstance(v, str))
    # Keep the other fields in front so a charge point id or direction word there is still seen.
    return f"{extras} {message}" if extras else message, when


def _read_body(ctx: _Context, line_no: int, line: str, body: str, known_time: timestamps.LogTime | None,
               collector_time: timestamps.LogTime | None = None) -> None:
    """Find the frame (or the start of one) in ``body``. ``known_time``: the time of a structured
    log record; ``collector_time``: a syslog prefix's time, used when the line has no time of its own."""
    if ctx.carry is not None and line_no - ctx.carry.line_no > 2:
        _drop_carry(ctx)  # a marker line only announces a frame on the next line or two
    first = FRAME_START.search(body)
    escaped = ESCAPED_FRAME_START.search(body)
    if escaped is not None and (first is None or escaped.start() < first.start()):
        _read_escaped(ctx, line_no, line, body, escaped.start(), known_time, collector_time)
        return
    # Dialect markers stand before the frame: search only there (frames are long, markers short).
    hit = _match_dialect(body if first is None else body[: first.start() + 1])
    session = None
    cp_source = None  # set when the id comes from a URL in the line
    marker_prefix = None
    if hit is not None:
        dialect, match = hit
        said, dialect_name = _said(dialect, match), dialect.name
        cp, session = match.groupdict().get("cp"), match.groupdict().get("session")
        rest = body[match.end():]
        if not rest.strip():  # "Sending:" with the frame on the next line
            ctx.carry = _Carry(said, cp, session, dialect_name,
                               known_time or _time_in(body, ctx.default_tz) or collector_time, line_no, line)
            return
        if not rest.lstrip().startswith("["):
            ctx.out.skip(line_no, "not a frame", line)
            return
        start = match.end() + len(rest) - len(rest.lstrip())
    else:
        if first is not None:
            start = first.start()
        else:
            tail = body.rstrip()
            if tail.endswith(":") and _direction_words(tail):
                # "... received:" with the frame on the next lines (pretty-printed)
                word = _direction_words(tail)
                ctx.carry = _Carry(generic_said(word.group("word")), word.groupdict().get("cp"), None, "generic",
                                   known_time or _time_in(body, ctx.default_tz) or collector_time, line_no, line)
                return
            opens_frame = tail.endswith("[") and (
                (tail == "[" and ctx.carry is not None) or _direction_words(tail[:-1]) is not None)
            if not opens_frame:
                ctx.out.skip(line_no, "not a frame", line)
                return
            start = body.rindex("[")
        prefix = body[:start]
        word = _direction_words(prefix)
        said = generic_said(word.group("word")) if word else None
        cp = word.groupdict().get("cp") if word else None
        if cp is None:
            cp_match = GENERIC_CP.search(prefix)
            cp = cp_match.group("cp") if cp_match else None
        if cp is None:
            url_match = GENERIC_URL.search(prefix)
            cp = charge_point_id_from_path(url_match.group(0).rstrip(":,;")) if url_match else None
            cp_source = FROM_URL_PATH if cp else None
        session_match = GENERIC_SESSION.search(prefix)
        session = session_match.group("session") if session_match else None
        dialect_name = "generic"
        marker_prefix = _normalise_prefix(prefix) if prefix.strip() else None  # includes the gap before '['

    log_time = known_time or _time_in(body[:start], ctx.default_tz) or collector_time
    if ctx.carry is not None and (hit is not None or said is not None):
        _drop_carry(ctx)  # this frame has its own marker; the announced one never came
    if ctx.carry is not None:
        carry = ctx.carry
        ctx.carry = None
        said, cp, session, dialect_name = carry.said, cp or carry.cp, session or carry.session, carry.dialect
        log_time = log_time or carry.log_time
    if log_time is not None and not log_time.zone_given:
        ctx.naive_lines.append(line_no)
    found_frame = FoundFrame(
        line_no=line_no, text="", log_time=log_time.when if log_time else None,
        zone_given=log_time.zone_given if log_time else True, said=said, charge_point_id=cp,
        connection_key=f"{cp}/{session}" if session else None, dialect=dialect_name,
        charge_point_id_source=cp_source if cp else None,
    )
    if dialect_name:
        ctx.out.dialects.add(dialect_name)
    chunk = body[start:]
    decoded = decode_prefix(chunk)
    if decoded is not None:  # the usual case: a whole frame on its line
        found_frame.text = chunk[: decoded[1]]
        found_frame.problem, found_frame.parsed = check_frame(found_frame.text, decoded=decoded[0], has_decoded=True)
        ctx.out.frames.append(found_frame)
        return
    balance = Balance()
    end = balance.feed(chunk)
    if end is not None:
        found_frame.text = chunk[:end]
        _emit(ctx, found_frame, complete=True)
        return
    ctx.pending = _Pending(found_frame, balance, [chunk], dialect_name, marker_prefix=marker_prefix)
    if ABBREVIATION.search(chunk.rstrip()):
        _finish(ctx, complete=False)


def _direction_words(text: str) -> re.Match[str] | None:
    """Generic direction words at the end of ``text`` ("... TX:", "received from CP1:")."""
    return GENERIC_FROM_TO.search(text) or GENERIC_WORD.search(text)


def _read_escaped(ctx: _Context, line_no: int, line: str, body: str, at: int,
                  known_time: timestamps.LogTime | None, collector_time: timestamps.LogTime | None) -> None:
    """A frame inside a JSON string literal: decode the literal, then read it as a log body."""
    quote = body.rfind('"', 0, at)
    while quote > 0 and body[quote - 1] == "\\":
        quote = body.rfind('"', 0, quote - 1)
    decoded = unescape_string_at(body, quote) if quote >= 0 else None
    if decoded is None:
        ctx.out.skip(line_no, "invalid JSON", line)
        return
    outside = body[:quote]
    _read_body(ctx, line_no, line, f"{outside} {decoded[0]}", known_time or _time_in(outside, ctx.default_tz),
               collector_time)
    if ctx.pending is not None:  # the string ended before the frame did: it was cut inside the string
        _finish(ctx, complete=False)


def _normalise_prefix(prefix: str) -> str:
    """The part of a line before a frame with digits blanked (times differ between wrapped lines)."""
    return re.sub(r"\d", "0", prefix)


def _continue_pending(ctx: _Context, body: str) -> bool:
    """Append ``body`` to the open frame if it continues it; False if the open frame ends here."""
    pending = ctx.pending
    assert pending is not None
    hit = _match_dialect(body)
    piece = None
    if hit is not None:
        dialect, match = hit
        rest = body[match.end():]
        same = (dialect.name == pending.dialect and match.groupdict().get("cp") == pending.found.charge_point_id
                and _said(dialect, match) == pending.found.said)
        if same and not FRAME_START.match(rest.lstrip()):
            piece = rest  # a logger that wraps long lines and repeats its prefix
    elif pending.marker_prefix and _normalise_prefix(body).startswith(pending.marker_prefix):
        rest = body[len(pending.marker_prefix):]
        if not FRAME_START.match(rest.lstrip()):
            piece = rest  # a charger log that wraps a long frame and repeats its prefix
    if piece is None and hit is None and not _looks_like_log_line(body) and not FRAME_START.search(body):
        piece = "\n" + body  # pretty-printed: keep the line break so the text stays the same JSON
    if piece is None:
        _finish(ctx, complete=False)
        return False
    pending.parts.append(piece)
    pending.lines += 1
    end = pending.balance.feed(piece)
    if end is not None:
        pending.parts[-1] = piece[:end]
        _finish(ctx, complete=True)
    elif pending.lines >= MAX_FRAME_LINES or ABBREVIATION.search(piece.rstrip()):
        _finish(ctx, complete=False)
    return True


LOG_LINE_START = re.compile(
    r"^\s*(?:\d{4}-\d{2}-\d{2}|\d{2}:\d{2}:\d{2}|\[?(?:DEBUG|INFO|WARN|WARNING|ERROR|TRACE|FATAL|CRITICAL)\b"
    r"|(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\s+\d)"
)


# What a line of a pretty-printed JSON value can start with.
JSON_CONTINUATION = re.compile(r'^\s*(?:["{}\[\],:\d-]|true\b|false\b|null\b|$)')


def _looks_like_log_line(body: str) -> bool:
    """True for lines that cannot continue a pretty-printed frame (a new log line, prose)."""
    return bool(LOG_LINE_START.match(body)) or not JSON_CONTINUATION.match(body) or bool(
        re.match(r"^\s*\[(?!true|false|null)[A-Za-z]", body))


def _finish(ctx: _Context, *, complete: bool) -> None:
    pending = ctx.pending
    if pending is None:
        return
    ctx.pending = None
    pending.found.text = "".join(pending.parts)
    _emit(ctx, pending.found, complete=complete)


def _emit(ctx: _Context, found: FoundFrame, *, complete: bool) -> None:
    found.problem, found.parsed = check_frame(found.text, complete=complete)
    ctx.out.frames.append(found)


def _drop_carry(ctx: _Context) -> None:
    if ctx.carry is not None:
        ctx.out.skip(ctx.carry.line_no, "not a frame", ctx.carry.text)
        ctx.carry = None
