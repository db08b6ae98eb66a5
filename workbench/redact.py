"""Make a capture safe to send to a vendor: keyed, deterministic pseudonyms for identifiers.

Every identifier is replaced by ``prefix + HMAC-SHA256(key, kind + value)`` (hex, shortened), so the
same value gets the same pseudonym everywhere in a file and across files redacted with the same
key, and a different one under another key. Pseudonyms fit the OCPP 1.6 field lengths (idTag
<= 20 characters, serial numbers <= 25), so redacted payloads stay schema-valid. Transaction ids,
meter values and timestamps are kept, so the redacted capture analyses to the same sessions and
energy and can be replayed.

Optionally every time (record ``ts``, header ``started_at``, date-times inside payloads) is shifted
by one constant number of whole seconds, so the real dates are hidden while every interval stays.

Replaced: idTag/parentIdTag (anywhere in a payload), charge point ids (connection records, URL
paths, upstream URL and any other place the string occurs), chargePointSerialNumber,
chargeBoxSerialNumber, meterSerialNumber, iccid, imsi, Basic Auth user names, user/password and
secret query values in URLs (firmware and diagnostics locations), and the value of
AuthorizationKey in ChangeConfiguration / GetConfiguration.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import os
import re
import secrets
import sys
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from .capture.identity import charge_point_id_from_path
from .capture.reader import CaptureReader
from .capture.records import format_ts, frame_bytes, parse_ts
from .capture.writer import CaptureWriter
from .errors import WorkbenchError
from .ocppj import MAX_UNIQUE_ID_LENGTH, MessageKind, parse_frame

Record = dict[str, Any]

# payload key -> (kind, prefix, hex digits). Lengths keep each field under its CiString limit.
FIELD_KINDS: dict[str, tuple[str, str, int]] = {
    "idTag": ("idTag", "tag", 16),                       # CiString20
    "parentIdTag": ("idTag", "tag", 16),                 # CiString20
    "chargePointSerialNumber": ("serial", "sn", 16),     # CiString25
    "chargeBoxSerialNumber": ("serial", "sn", 16),       # CiString25
    "meterSerialNumber": ("meter_serial", "ms", 16),     # CiString25
    "iccid": ("iccid", "iccid", 12),                     # CiString20
    "imsi": ("imsi", "imsi", 12),                        # CiString20
}
URL_FIELDS = ("location", "remoteLocation")  # GetDiagnostics, UpdateFirmware, SignedUpdateFirmware, GetLog
SECRET_QUERY = re.compile(r"(token|key|sig|signature|secret|password|passwd|pwd|auth|credential)", re.I)
SECRET_KEYS = frozenset({"AuthorizationKey"})
# Identifiers shorter than this are only replaced where they stand as a whole field value, not as
# substrings elsewhere (a 2-character id would otherwise hit unrelated text).
MIN_SUBSTRING_LENGTH = 4


# A payload date-time (OCPP dateTime, as chargers write it): shifted in place, its format kept.
PAYLOAD_DATETIME = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})(?P<sep>[T ])(?P<time>\d{2}:\d{2}:\d{2})(?P<rest>(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?)$"
)


def shift_datetime_text(text: str, shift: dt.timedelta) -> str:
    """``text`` moved by ``shift`` (whole seconds) if it is a date-time; fraction and zone kept as written."""
    match = PAYLOAD_DATETIME.match(text)
    if match is None:
        return text
    try:
        moved = dt.datetime.fromisoformat(f"{match.group('date')}T{match.group('time')}") + shift
    except (ValueError, OverflowError):
        return text
    return f"{moved:%Y-%m-%d}{match.group('sep')}{moved:%H:%M:%S}{match.group('rest')}"


def _shift_payload(value: Any, shift: dt.timedelta) -> Any:
    if isinstance(value, str):
        return shift_datetime_text(value, shift)
    if isinstance(value, list):
        return [_shift_payload(v, shift) for v in value]
    if isinstance(value, dict):
        return {k: _shift_payload(v, shift) for k, v in value.items()}
    return value


def shift_records(header: Record, records: list[Record], seconds: int) -> tuple[Record, list[Record]]:
    """Every time moved by ``seconds``: record ``ts``, header ``started_at``, payload date-times."""
    shift = dt.timedelta(seconds=seconds)
    header = dict(header)
    if isinstance(header.get("started_at"), str):
        header["started_at"] = format_ts(parse_ts(header["started_at"]) + shift)
    out = []
    for record in records:
        record = dict(record)
        if isinstance(record.get("ts"), str):
            record["ts"] = format_ts(parse_ts(record["ts"]) + shift)
        if record.get("type") == "frame" and not record.get("binary"):
            parsed = parse_frame(record["text"])
            if parsed.kind is not MessageKind.INVALID:
                record["text"] = json.dumps(_shift_payload(json.loads(record["text"]), shift),
                                            ensure_ascii=False, separators=(",", ":"))
        out.append(record)
    header["time_shift_applied"] = True  # the amount is not written: it would undo the shift
    return header, out


def default_key_file() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "ocpp-workbench" / "redact.key"


def read_key(path: str | os.PathLike[str]) -> tuple[bytes, bool]:
    """(key, is_new): the key in ``path``, or a new one (32 random bytes, hex) when the file does not
    exist yet. A new key is only kept by :func:`save_new_key` once the redaction succeeded, so a
    failed run leaves no key behind whose pseudonyms were never used."""
    path = Path(path)
    if not path.exists():
        return secrets.token_hex(32).encode("ascii"), True
    key = path.read_bytes().strip()
    if len(key) < 16:
        raise WorkbenchError(f"key file {path} holds fewer than 16 bytes; use a longer key")
    return key, False


def save_new_key(path: str | os.PathLike[str], key: bytes) -> None:
    """Write a new key (mode 0600) and announce it on stderr: a new key means new pseudonyms."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key + b"\n")
    print(f"created a new redaction key {path} (mode 0600): keep it to give later captures the same "
          f"pseudonyms; never send it", file=sys.stderr)


class Pseudonyms:
    """Original value -> pseudonym, one table per file, counted by field for the report."""

    def __init__(self, key: bytes) -> None:
        self.key = key
        self.table: dict[str, str] = {}
        self.changed: Counter[str] = Counter()
        self._patterns: dict[tuple[str, ...], re.Pattern[str]] = {}
        self._sorted: list[str] = []
        self._lengths: list[int] = []
        self._sorted_size = -1
        self.learning = False  # True during the first pass, which only learns identifiers

    def make(self, value: str, kind: str, prefix: str, digits: int) -> str:
        if value in self.table:
            return self.table[value]
        digest = hmac.new(self.key, f"{kind}\0{value}".encode("utf-8"), hashlib.sha256).hexdigest()
        pseudonym = prefix + digest[:digits]
        self.table[value] = pseudonym
        return pseudonym

    def replace(self, value: str, kind: str, prefix: str, digits: int, field: str) -> str:
        self.changed[field] += 1
        return self.make(value, kind, prefix, digits)

    def scrub(self, text: str) -> str:
        """Replace every known identifier occurring inside ``text`` in one pass (longest first, so an
        id inside a longer one is not replaced twice, and a pseudonym is never scanned again)."""
        if self.learning:
            return text
        found = self._found_in(text)
        if not found:
            return text
        pattern = self._patterns.get(found)
        if pattern is None:
            if len(self._patterns) >= 4096:  # one per combination of identifiers met in one string
                self._patterns.clear()
            pattern = self._patterns[found] = re.compile("|".join(map(re.escape, found)))
        return pattern.sub(lambda match: self.table[match.group()], text)

    def scrub_bytes(self, data: bytes) -> bytes:
        """:meth:`scrub` for binary frames: identifiers replaced where their UTF-8 bytes occur."""
        for original in self._substring_originals():
            encoded = original.encode("utf-8", "surrogatepass")
            if encoded in data:
                data = data.replace(encoded, self.table[original].encode("utf-8"))
        return data

    def _substring_originals(self) -> list[str]:
        """Identifiers replaced inside other text, longest first (cached until the table grows)."""
        if self._sorted_size != len(self.table):
            self._sorted = sorted((o for o in self.table if len(o) >= MIN_SUBSTRING_LENGTH), key=len, reverse=True)
            self._lengths = sorted({len(o) for o in self._sorted}, reverse=True)
            self._sorted_size = len(self.table)
        return self._sorted

    def _found_in(self, text: str) -> tuple[str, ...]:
        """The identifiers occurring in ``text``, longest first. A few identifiers are each searched
        for (C speed); a fleet's thousands are found by looking up every slice of ``text`` of each
        identifier length there is, so the cost follows the text's length and the number of distinct
        lengths, not the number of identifiers."""
        originals = self._substring_originals()
        if len(originals) <= 64 or len(text) * len(self._lengths) * 4 > len(originals):
            return tuple(o for o in originals if o in text)
        known = self.table
        found = {piece for width in self._lengths for index in range(len(text) - width + 1)
                 if (piece := text[index:index + width]) in known}
        return tuple(sorted(found, key=len, reverse=True))

    def message_id(self, unique_id: str) -> str:
        """``unique_id`` with identifiers inside it replaced; a result longer than OCPP-J's 36
        characters becomes one keyed pseudonym of the whole id. Both are functions of the id alone,
        so a request and its reply still carry the same id."""
        scrubbed = self.scrub(unique_id)
        if scrubbed == unique_id or len(scrubbed) <= MAX_UNIQUE_ID_LENGTH or len(unique_id) > MAX_UNIQUE_ID_LENGTH:
            return scrubbed
        digest = hmac.new(self.key, f"message_id\0{unique_id}".encode("utf-8", "surrogatepass"), hashlib.sha256)
        return "id-" + digest.hexdigest()[: MAX_UNIQUE_ID_LENGTH - 3]


def _charge_point_pseudonym(names: Pseudonyms, cp: str) -> str:
    return names.make(cp, "charge_point", "cp-", 12)


def _redact_url(url: str, names: Pseudonyms, field: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return names.scrub(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        host = names.scrub(host)
        user, _, password = userinfo.partition(":")
        user = names.replace(user, "url_user", "user-", 8, f"{field} (user)") if user else ""
        password = names.replace(password, "url_password", "pw-", 12, f"{field} (password)") if password else ""
        netloc = f"{quote(user)}:{quote(password)}@{host}" if password else f"{quote(user)}@{host}"
    else:
        netloc = names.scrub(netloc)
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        redacted = []
        for name, value in pairs:
            if SECRET_QUERY.search(name) and value:
                value = names.replace(value, "url_secret", "s-", 12, f"{field} (query {name})")
            redacted.append((name, names.scrub(value)))
        query = urlencode(redacted)
    # A charge point id or serial in the path ("/upload/CP-007/") is an identity too.
    return urlunsplit((parts.scheme, netloc, names.scrub(parts.path), query, names.scrub(parts.fragment)))


def _walk(value: Any, names: Pseudonyms, action: str | None) -> Any:
    """Replace identifier fields anywhere in a payload, and known identifiers inside other string
    values (never inside keys, so the payload keeps its shape)."""
    if isinstance(value, str):
        return names.scrub(value)
    if isinstance(value, list):
        return [_walk(item, names, action) for item in value]
    if not isinstance(value, dict):
        return value
    result = {}
    secret_entry = value.get("key") in SECRET_KEYS
    for key, item in value.items():
        if key in FIELD_KINDS and isinstance(item, str) and item:
            kind, prefix, digits = FIELD_KINDS[key]
            item = names.replace(item, kind, prefix, digits, key)
        elif key in URL_FIELDS and isinstance(item, str):
            item = _redact_url(item, names, key)
        elif key == "value" and secret_entry and isinstance(item, str) and item:
            # AuthorizationKey is hex of 16..20 bytes: keep it hex and of the same length.
            digest = names.replace(item, "authorization_key", "", 64, "AuthorizationKey")
            item = (digest * (len(item) // 64 + 1))[: len(item)]
        else:
            item = _walk(item, names, action)
        result[key] = item
    return result


def _redact_frame(record: Record, names: Pseudonyms) -> Record:
    if record.get("binary"):
        try:
            data = frame_bytes(record)
        except (binascii.Error, ValueError, KeyError):
            return record
        scrubbed_bytes = names.scrub_bytes(data)
        if scrubbed_bytes == data:
            return record
        names.changed["binary frame"] += 1
        return {**record, "data_b64": base64.b64encode(scrubbed_bytes).decode("ascii")}
    text = record["text"]
    parsed = parse_frame(text)
    if parsed.kind is MessageKind.INVALID:
        # Unparseable frames keep their (damaged) text; known identifiers are still scrubbed from it.
        scrubbed = names.scrub(text)
        return {**record, "text": scrubbed}
    message = json.loads(text)
    # Chargers build message ids from their identity ("CP-007-123"): the id is scrubbed like free
    # text, the same way in the request and in its reply, so they still pair.
    unique_id = names.message_id(message[1])
    if unique_id != message[1]:
        names.changed["message id"] += 1
        message[1] = unique_id
    if parsed.kind is MessageKind.CALL:
        message[3] = _walk(message[3], names, parsed.action)
    elif parsed.kind is MessageKind.CALLRESULT:
        message[2] = _walk(message[2], names, None)
    else:
        if isinstance(message[3], str):
            message[3] = names.scrub(message[3])  # errorDescription is free text
        message[4] = _walk(message[4], names, None)
    return {**record, "text": json.dumps(message, ensure_ascii=False, separators=(",", ":"))}


# Record fields whose values are the format's own vocabulary, never identifiers.
FORMAT_FIELDS = frozenset({"type", "direction", "closed_by", "proxy_action", "format_version", "tool",
                           "tool_version", "proxy_mode", "subprotocol", "subprotocols_offered", "auth_scheme", "ts",
                           "started_at"})


def _scrub_all_strings(value: Any, names: Pseudonyms) -> Any:
    if isinstance(value, str):
        return names.scrub(value)
    if isinstance(value, list):
        return [_scrub_all_strings(v, names) for v in value]
    if isinstance(value, dict):
        return {k: v if k in FORMAT_FIELDS else _scrub_all_strings(v, names) for k, v in value.items()}
    return value


def redact_records(header: Record, records: list[Record], key: bytes) -> tuple[Record, list[Record], Counter[str]]:
    """Redacted copies of (header, records) and how many values were changed per field."""
    names = Pseudonyms(key)
    # Charge point ids and user names first, so every later occurrence is scrubbed consistently.
    for record in records:
        if record.get("type") in ("connection_open", "upgrade_rejected"):
            # An id the record does not name (older captures of URLs ending in '/') is still in its URL path.
            url_path = record.get("url_path")
            charge_point_id = record.get("charge_point_id") or charge_point_id_from_path(
                url_path if isinstance(url_path, str) else None)
            if isinstance(charge_point_id, str) and charge_point_id:
                _charge_point_pseudonym(names, charge_point_id)
            if record.get("auth_user") and record["auth_user"] not in names.table:
                names.make(record["auth_user"], "auth_user", "user-", 12)
    # A first pass over the frames learns every identifier, so one that first appears late is
    # still scrubbed from free text (DataTransfer data) earlier in the file.
    names.learning = True
    for record in records:
        if record.get("type") == "frame":
            _redact_frame(record, names)
    names.learning = False
    names.changed.clear()
    out: list[Record] = []
    for record in records:
        kind = record.get("type")
        if kind == "frame":
            record = _redact_frame(record, names)
            if isinstance(record.get("connection_id"), str):  # some proxies name connections after the charger
                record["connection_id"] = names.scrub(record["connection_id"])
        elif kind in ("connection_open", "upgrade_rejected"):
            record = dict(record)
            if record.get("charge_point_id"):
                record["charge_point_id"] = _charge_point_pseudonym(names, record["charge_point_id"])
                names.changed["charge_point_id"] += 1
            if record.get("auth_user"):
                record["auth_user"] = names.table[record["auth_user"]]
                names.changed["auth_user"] += 1
            if record.get("url_path"):
                scrubbed = names.scrub(record["url_path"])
                if scrubbed != record["url_path"]:
                    names.changed["url_path"] += 1
                record["url_path"] = scrubbed
        out.append(record)
    # Anything else that still holds an identifier (DataTransfer data, close reasons, header URLs).
    out = [_scrub_all_strings(r, names) if r.get("type") != "frame" else r for r in out]
    new_header = _scrub_all_strings(header, names)
    if isinstance(new_header.get("upstream_url"), str):
        new_header["upstream_url"] = _redact_url(new_header["upstream_url"], names, "upstream_url")
    new_header["redacted"] = True
    return new_header, out, names.changed


def redact_capture(in_path: str | os.PathLike[str], out_path: str | os.PathLike[str],
                   key_file: str | os.PathLike[str] | None = None, *, shift_s: int = 0) -> Counter[str]:
    """Redact the capture ``in_path`` into ``out_path``; returns the count of changed values per field.

    ``shift_s``: move every time by this many whole seconds (0: times kept).

    Read problems of the input (damaged lines) are not copied: they are raw bytes that could hold
    identifiers; the count is reported under ``"unreadable lines not copied"``.
    """
    if Path(in_path).resolve() == Path(out_path).resolve():
        raise WorkbenchError("redact: the output must be a different file from the input")
    reader = CaptureReader(in_path)
    records = list(reader)
    key_path = key_file or default_key_file()
    key, new_key = read_key(key_path)
    header, redacted, changed = redact_records(reader.header, records, key)
    if shift_s:
        header, redacted = shift_records(header, redacted, shift_s)
        changed["timestamps shifted"] = len(redacted)
    with CaptureWriter(out_path, header) as writer:
        for record in redacted:
            writer.write(record)
    if new_key:
        save_new_key(key_path, key)
    if reader.problems:
        changed["unreadable lines not copied"] = len(reader.problems)
    return changed
