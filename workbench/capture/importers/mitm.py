"""mitmproxy flow dumps (``mitmdump -w``), read with mitmproxy's own ``io.FlowReader``.

Each HTTP flow with a WebSocket is one connection; ``from_client`` messages went charger -> CSMS.
Basic Auth: only the user name and whether a password was sent are kept, never the password.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from pathlib import Path

from ..identity import derive_charge_point_id
from .found import ConnectionFacts, FoundFrame, ReaderOutput, Said
from .har import server_url_of
from .jsonscan import check_frame



def _when(seconds: float | None) -> dt.datetime | None:
    if seconds is None:
        return None
    return dt.datetime.fromtimestamp(seconds, tz=dt.timezone.utc)


def _basic_auth(header: str | None) -> tuple[str | None, str | None, bool]:
    if not header:
        return None, None, False
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return scheme, None, True
    try:
        user, sep, password = base64.b64decode(value).decode("utf-8", "replace").partition(":")
    except (binascii.Error, ValueError):
        return "Basic", None, True
    return "Basic", user, bool(sep and password)


def read_mitmproxy(path: Path) -> ReaderOutput:
    # mitmproxy is imported here only: the addon is the one module that imports it at module level,
    # and reading a dump is the one place outside the addon that needs its flow format.
    from mitmproxy import http
    from mitmproxy.exceptions import FlowReadException
    from mitmproxy.io import FlowReader

    out = ReaderOutput()
    out.dialects.add("mitmproxy")
    number = 0
    with open(path, "rb") as handle:
        reader = FlowReader(handle)
        try:
            for flow in reader.stream():
                number += 1
                out.lines_read = number
                if not isinstance(flow, http.HTTPFlow) or flow.websocket is None:
                    out.skip(number, "not a frame: flow without a WebSocket", repr(flow))
                    continue
                _read_flow(flow, number, out)
        except FlowReadException as exc:
            out.skip(number + 1, f"invalid flow file: {exc}", "")
        except Exception as exc:  # noqa: BLE001 - mitmproxy's deserialisers raise anything on damaged state
            out.skip(number + 1, f"damaged flow file: {type(exc).__name__}: {exc}", "")
    return out


def _read_flow(flow, number: int, out: ReaderOutput) -> None:
    key = f"flow-{number}"
    request = flow.request
    scheme, user, password_present = _basic_auth(request.headers.get("authorization"))
    websocket = flow.websocket
    peer = flow.client_conn.peername if flow.client_conn else None
    facts = ConnectionFacts(
        url_path=request.path.split("?", 1)[0],
        client_address=f"{peer[0]}:{peer[1]}" if peer else None,
        opened=_when(flow.response.timestamp_end if flow.response else request.timestamp_start),
        close_code=websocket.close_code,
        close_reason=websocket.close_reason or "",
        closed_by="charger" if websocket.closed_by_client else "csms" if websocket.closed_by_client is False else "unknown",
        subprotocol=flow.response.headers.get("sec-websocket-protocol") if flow.response else None,
        auth_scheme=scheme, auth_user=user, auth_password_present=password_present,
    )
    facts.closed = _when(websocket.timestamp_end)
    out.connections[key] = facts
    cp, cp_source = derive_charge_point_id(facts.url_path, facts.auth_user)
    if out.server_url is None:
        out.server_url = server_url_of(request.url)
    for message in websocket.messages:
        said = Said.CHARGER_TO_CSMS if message.from_client else Said.CSMS_TO_CHARGER
        frame = FoundFrame(line_no=number, text="", log_time=_when(message.timestamp), said=said,
                           charge_point_id=cp, connection_key=key, dialect="mitmproxy",
                           charge_point_id_source=cp_source if cp else None,
                           proxy_action="dropped" if message.dropped else "injected" if message.injected else None)
        if message.is_text:
            try:
                frame.text = message.content.decode("utf-8")
                frame.problem, frame.parsed = check_frame(frame.text)
            except UnicodeDecodeError:
                frame.binary, frame.problem = message.content, "text frame is not valid UTF-8"
        else:
            frame.binary, frame.problem = message.content, "binary frame"
        out.frames.append(frame)
