"""Capture format v1: the record types of an ``.ocpp.jsonl`` file.

One JSON object per line, UTF-8. Every record has ``type``; all but the header have ``ts``
(UTC, ISO 8601 with microseconds and ``Z``) and ``connection_id``. Field by field in
``docs/capture-format.md``. Builders here return plain dicts so writing stays one
``json.dumps`` per record; readers get the same dicts back.
"""

from __future__ import annotations

import base64
import datetime as dt
from enum import StrEnum
from typing import Any

FORMAT_VERSION = 1
FILE_SUFFIX = ".ocpp.jsonl"


class RecordType(StrEnum):
    HEADER = "header"
    CONNECTION_OPEN = "connection_open"
    UPGRADE_REJECTED = "upgrade_rejected"
    FRAME = "frame"
    CONNECTION_CLOSE = "connection_close"
    TLS_HANDSHAKE_FAILED = "tls_handshake_failed"


class Direction(StrEnum):
    """Who sent a frame. The same two words everywhere: records, tables, replays."""

    CHARGER_TO_CSMS = "charger_to_csms"
    CSMS_TO_CHARGER = "csms_to_charger"

    @property
    def reverse(self) -> Direction:
        if self is Direction.CHARGER_TO_CSMS:
            return Direction.CSMS_TO_CHARGER
        return Direction.CHARGER_TO_CSMS


class ProxyAction(StrEnum):
    """What the proxy did to a frame, when it did more than pass it on."""

    INJECTED = "injected"
    MODIFIED = "modified"
    DROPPED = "dropped"


class ClosedBy(StrEnum):
    CHARGER = "charger"
    CSMS = "csms"
    PROXY = "proxy"
    UNKNOWN = "unknown"


def format_ts(when: dt.datetime | float) -> str:
    """UTC ISO 8601 with microseconds and ``Z``, from an aware datetime or a Unix time (s)."""
    if isinstance(when, (int, float)):
        when = dt.datetime.fromtimestamp(when, tz=dt.timezone.utc)
    elif when.tzinfo is None:
        raise ValueError("capture timestamps must be timezone-aware")
    return when.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_ts(text: str) -> dt.datetime:
    """Inverse of :func:`format_ts`: an aware UTC datetime."""
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(dt.timezone.utc)


def now_ts() -> str:
    return format_ts(dt.datetime.now(dt.timezone.utc))


def header(
    *,
    tool: str,
    tool_version: str,
    started_at: str | None = None,
    proxy_mode: str | None = None,
    upstream_url: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The first record of every file. ``proxy_mode`` is mitmproxy's mode string or
    ``"synthetic"``/``"import:<format>"``; ``upstream_url`` the CSMS URL (no credentials)."""
    return {
        "type": RecordType.HEADER.value,
        "format_version": FORMAT_VERSION,
        "tool": tool,
        "tool_version": tool_version,
        "started_at": started_at or now_ts(),
        "proxy_mode": proxy_mode,
        "upstream_url": upstream_url,
        **extra,
    }


def tls_facts(version: str | None, cipher: str | None, sni: str | None) -> dict[str, Any] | None:
    """TLS facts of one leg (``version`` like ``"TLSv1.2"``, OpenSSL cipher name), or None for plain TCP."""
    if version is None and cipher is None:
        return None
    return {"version": version, "cipher": cipher, "sni": sni}


def _upgrade_facts(
    kind: RecordType,
    *,
    ts: str,
    connection_id: str,
    charge_point_id: str | None,
    url_path: str | None,
    client_address: str | None,
    subprotocols_offered: list[str] | None,
    charger_tls: dict[str, Any] | None,
    auth_scheme: str | None,
    auth_user: str | None,
    auth_password_present: bool,
    charge_point_id_source: str | None = None,
) -> dict[str, Any]:
    """The fields an accepted and a rejected upgrade share, in file order. ``charge_point_id_source`` (how
    the id was found, see :mod:`workbench.capture.identity`) is written only when given."""
    record: dict[str, Any] = {
        "type": kind.value,
        "ts": ts,
        "connection_id": connection_id,
        "charge_point_id": charge_point_id,
    }
    if charge_point_id_source is not None:
        record["charge_point_id_source"] = charge_point_id_source
    return record | {
        "url_path": url_path,
        "client_address": client_address,
        "subprotocols_offered": subprotocols_offered or [],
        "charger_tls": charger_tls,
        "auth_scheme": auth_scheme,
        "auth_user": auth_user,
        "auth_password_present": auth_password_present,
    }


def connection_open(
    *,
    ts: str,
    connection_id: str,
    charge_point_id: str | None,
    url_path: str | None,
    client_address: str | None = None,
    subprotocols_offered: list[str] | None = None,
    subprotocol: str | None = None,
    charger_tls: dict[str, Any] | None = None,
    csms_tls: dict[str, Any] | None = None,
    auth_scheme: str | None = None,
    auth_user: str | None = None,
    auth_password_present: bool = False,
    charge_point_id_source: str | None = None,
) -> dict[str, Any]:
    """A WebSocket upgrade the CSMS accepted. Never carries the password, only whether one was sent."""
    record = _upgrade_facts(
        RecordType.CONNECTION_OPEN, ts=ts, connection_id=connection_id, charge_point_id=charge_point_id,
        url_path=url_path, client_address=client_address, subprotocols_offered=subprotocols_offered,
        charger_tls=charger_tls, auth_scheme=auth_scheme, auth_user=auth_user,
        auth_password_present=auth_password_present, charge_point_id_source=charge_point_id_source,
    )
    record["subprotocol"] = subprotocol
    record["csms_tls"] = csms_tls
    return record


def upgrade_rejected(
    *,
    ts: str,
    connection_id: str,
    charge_point_id: str | None,
    url_path: str | None,
    status_code: int,
    reason: str = "",
    client_address: str | None = None,
    subprotocols_offered: list[str] | None = None,
    charger_tls: dict[str, Any] | None = None,
    auth_scheme: str | None = None,
    auth_user: str | None = None,
    auth_password_present: bool = False,
    charge_point_id_source: str | None = None,
) -> dict[str, Any]:
    """An upgrade that did not become a WebSocket: the HTTP status the charger got (401, 404, 502 ...)."""
    record = _upgrade_facts(
        RecordType.UPGRADE_REJECTED, ts=ts, connection_id=connection_id, charge_point_id=charge_point_id,
        url_path=url_path, client_address=client_address, subprotocols_offered=subprotocols_offered,
        charger_tls=charger_tls, auth_scheme=auth_scheme, auth_user=auth_user,
        auth_password_present=auth_password_present, charge_point_id_source=charge_point_id_source,
    )
    record["status_code"] = status_code
    record["reason"] = reason
    return record


def frame(
    *,
    ts: str,
    connection_id: str,
    direction: Direction | str,
    content: str | bytes,
    is_text: bool = True,
    proxy_action: ProxyAction | str | None = None,
    replay_of: int | None = None,
) -> dict[str, Any]:
    """One WebSocket message exactly as on the wire.

    Text frames keep their text in ``text``. Binary frames (and text frames whose bytes are not
    valid UTF-8) go to ``data_b64`` with ``binary: true`` so no byte is lost. ``replay_of``: in a
    replay's capture, the ``seq`` of the recorded frame this one replays or answers.
    """
    record: dict[str, Any] = {
        "type": RecordType.FRAME.value,
        "ts": ts,
        "connection_id": connection_id,
        "direction": Direction(direction).value,
    }
    if isinstance(content, bytes):
        text = None
        if is_text:
            try:
                text = content.decode("utf-8")
            except UnicodeDecodeError:
                text = None
        if text is None:
            record["binary"] = True
            record["data_b64"] = base64.b64encode(content).decode("ascii")
        else:
            record["text"] = text
    else:
        record["text"] = content
    if proxy_action is not None:
        record["proxy_action"] = ProxyAction(proxy_action).value
    if replay_of is not None:
        record["replay_of"] = replay_of
    return record


def frame_bytes(record: dict[str, Any]) -> bytes:
    """The exact bytes of a frame record's message."""
    if record.get("binary"):
        return base64.b64decode(record["data_b64"])
    return record["text"].encode("utf-8")


def frame_text(record: dict[str, Any]) -> str | None:
    """The message as text, or None for a binary frame (OCPP-J is text only)."""
    return None if record.get("binary") else record.get("text")


def connection_close(
    *,
    ts: str,
    connection_id: str,
    close_code: int | None,
    close_reason: str = "",
    closed_by: ClosedBy | str = ClosedBy.UNKNOWN,
) -> dict[str, Any]:
    """The end of a WebSocket. ``closed_by`` is ``proxy`` when the proxy shut down under a live connection."""
    return {
        "type": RecordType.CONNECTION_CLOSE.value,
        "ts": ts,
        "connection_id": connection_id,
        "close_code": close_code,
        "close_reason": close_reason,
        "closed_by": ClosedBy(closed_by).value,
    }


def tls_handshake_failed(
    *,
    ts: str,
    connection_id: str,
    client_address: str | None,
    error: str,
    failure: str,
    sni: str | None = None,
    offered_versions: list[str] | None = None,
    offered_ciphers: list[str] | None = None,
    client_hello_read: bool = False,
) -> dict[str, Any]:
    """A charger's TLS handshake the proxy refused or that broke off: no upgrade followed.

    ``failure`` is one of :data:`TLS_FAILURES`; ``error`` the proxy's own text (with OpenSSL's
    reason or the alert the charger sent). ``offered_*`` come from the ClientHello, when one was read.
    """
    return {
        "type": RecordType.TLS_HANDSHAKE_FAILED.value,
        "ts": ts,
        "connection_id": connection_id,
        "client_address": client_address,
        "sni": sni,
        "client_hello_read": client_hello_read,
        "offered_versions": offered_versions or [],
        "offered_ciphers": offered_ciphers or [],
        "failure": failure,
        "error": error,
    }


TLS_FAILURES = ("protocol_version", "no_shared_cipher", "certificate_rejected", "closed_during_handshake",
                "not_a_client_hello", "other")
"""What a ``tls_handshake_failed`` record's ``failure`` can say (see docs/capture-format.md)."""


def classify_tls_error(error: str) -> str:
    """The :data:`TLS_FAILURES` word for a TLS handshake error text (mitmproxy's, with OpenSSL's reason)."""
    text = error.lower()
    if "unsupported protocol" in text or "agree on a tls version" in text or "protocol version" in text \
            or "wrong version number" in text:
        return "protocol_version"
    if "no shared cipher" in text or "no_shared_cipher" in text:
        return "no_shared_cipher"
    if "unknown ca" in text or "bad certificate" in text or "certificate unknown" in text \
            or "does not trust" in text or "certificate expired" in text:
        return "certificate_rejected"
    if "cannot parse clienthello" in text:
        return "not_a_client_hello"
    if "disconnected during the handshake" in text or "connection closed" in text:
        return "closed_during_handshake"
    return "other"
