"""The mitmproxy addon that records OCPP WebSocket traffic into a capture file (format v1).

The only module of the workbench that imports mitmproxy. Load it with::

    mitmdump -s workbench/addon.py --set ocpp_capture=site.ocpp.jsonl

or through ``ocpp-workbench proxy`` (see :mod:`workbench.proxy`). Every frame of every OCPP
WebSocket (one whose upgrade offers an ``ocpp*`` subprotocol) is written, both directions, as it
arrived at the proxy; other traffic passes unrecorded. Upgrades that did not become a WebSocket
(401 from the CSMS, 502 when the CSMS is unreachable) are recorded as ``upgrade_rejected``.

If a record cannot be written the addon drops the traffic it could not record, closes the
capture and shuts mitmproxy down (exit status :data:`EXIT_CAPTURE_FAILED`), unless
``ocpp_pass_through_on_error`` is set. The Basic Auth password is never written anywhere:
only the user name and whether a password was present.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import ipaddress
import logging
import math
import sys
import time
import urllib.parse
from typing import Any

from mitmproxy import ctx, exceptions, http

from workbench import __version__
from workbench.capture import records
from workbench.capture.identity import charge_point_id_from_path, derive_charge_point_id  # noqa: F401 (re-exported)
from workbench.capture.records import ClosedBy, ProxyAction
from workbench.capture.writer import CaptureWriter, FrameEncoder
from workbench.errors import CaptureWriteError

logger = logging.getLogger(__name__)

TOOL_NAME = "ocpp-workbench addon"
EXIT_CAPTURE_FAILED = 3
"""mitmdump's exit status after it stopped because the capture could not be written."""
READY_MARKER = "ocpp capture: recording to"


def offered_subprotocols(headers: Any) -> list[str]:
    """Subprotocols named in every ``Sec-WebSocket-Protocol`` header, in order."""
    offered: list[str] = []
    for value in headers.get_all("Sec-WebSocket-Protocol"):
        offered.extend(token.strip() for token in value.split(",") if token.strip())
    return offered


def basic_auth_facts(authorization: str | None) -> tuple[str | None, str | None, bool]:
    """(scheme, Basic user name, password present) of an Authorization header.

    The password itself is read only to test that it is not empty, and is not returned.
    """
    if not authorization:
        return None, None, False
    scheme, _, credentials = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        return scheme, None, False
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return scheme, None, False
    user, separator, password = decoded.partition(":")
    return scheme, user, bool(separator and password)


def format_address(address: Any) -> str | None:
    """``host:port`` (``[v6]:port``) of a socket address tuple, or None."""
    if not address:
        return None
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


def upstream_from_modes(modes: list[str]) -> str | None:
    """The CSMS address implied by a ``reverse:`` mode (https -> wss), e.g. ``wss://127.0.0.1:9000``.

    The mode string carries no path, so neither does this; the proxy runner passes the full
    URL in ``ocpp_upstream_url`` instead.
    """
    for mode in modes:
        if not mode.startswith("reverse:"):
            continue
        target = mode[len("reverse:"):]
        # "reverse:https://host:port@127.0.0.1:0": the "@" after the URL names the listen address.
        if "@" in target:
            target = target.rsplit("@", 1)[0]
        parsed = urllib.parse.urlsplit(target)
        scheme = {"https": "wss", "http": "ws"}.get(parsed.scheme, parsed.scheme)
        return f"{scheme}://{parsed.netloc.rsplit('@', 1)[-1]}"
    return None


def strip_credentials(url: str) -> str:
    """``url`` without any ``user:password@`` part."""
    parsed = urllib.parse.urlsplit(url)
    if "@" not in parsed.netloc:
        return url
    return urllib.parse.urlunsplit(parsed._replace(netloc=parsed.netloc.rsplit("@", 1)[1]))


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP literals (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def tls_facts(conn: Any) -> dict[str, Any] | None:
    """TLS version, cipher and SNI of one mitmproxy connection, or None for plain TCP.

    An IP literal is never sent as SNI (RFC 6066), though mitmproxy keeps one in ``sni`` for the
    CSMS leg to verify the certificate against; it is recorded as None.
    """
    if not getattr(conn, "tls_established", False):
        return None
    sni = conn.sni
    if sni:
        try:
            ipaddress.ip_address(sni)
            sni = None
        except ValueError:
            pass
    return records.tls_facts(conn.tls_version, conn.cipher, sni)


class UtcStamper:
    """:func:`records.format_ts` for Unix times (s), but fast: the date and time of the current
    second are formatted once and reused, since frames arrive many per second. Same output,
    same rounding (half-even to the microsecond, as ``datetime.fromtimestamp``)."""

    __slots__ = ("_second", "_prefix")

    def __init__(self) -> None:
        self._second: float | None = None
        self._prefix = ""

    def __call__(self, when: float) -> str:
        fraction, second = math.modf(when)
        micros = round(fraction * 1e6)
        if micros >= 1_000_000:
            second += 1.0
            micros -= 1_000_000
        elif micros < 0:
            second -= 1.0
            micros += 1_000_000
        if second != self._second:
            # "2026-11-21T19:39:28.000000Z" -> "2026-11-21T19:39:28."
            self._prefix = records.format_ts(second)[:-7]
            self._second = second
        return f"{self._prefix}{micros:06d}Z"


class OcppCapture:
    """Writes a capture record for every OCPP upgrade, frame and close that crosses the proxy."""

    def __init__(self) -> None:
        self.writer: CaptureWriter | None = None
        self.failed = False
        # Connections opened and not yet closed, in open order, with the encoder of their frame lines.
        self._live: dict[str, FrameEncoder] = {}
        self.connections_opened = 0
        self.frames_recorded = 0
        self.upgrades_rejected = 0
        self.records_lost = 0
        self._status_task: asyncio.Task[None] | None = None
        self._stamp = UtcStamper()

    # -- options ---------------------------------------------------------------------------

    def load(self, loader: Any) -> None:
        loader.add_option("ocpp_capture", str, "", "Capture file to write (.ocpp.jsonl, or .gz). Empty: record nothing.")
        loader.add_option("ocpp_upstream_url", str, "",
                          "CSMS URL for the capture header (credentials are stripped). Default: from the reverse mode.")
        loader.add_option("ocpp_pass_through_on_error", bool, False,
                          "Keep passing traffic, unrecorded, if the capture cannot be written (default: stop).")
        loader.add_option("ocpp_rotate_bytes", int, 0,
                          "Start a new capture file after this many bytes (0: never).")
        loader.add_option("ocpp_all_websockets", bool, False,
                          "Record every WebSocket, not only those offering an ocpp* subprotocol.")
        loader.add_option("ocpp_loopback_only", bool, False,
                          "Refuse connections to any server that is not on loopback (the workbench's safe default).")
        loader.add_option("ocpp_status_interval_ms", int, 0,
                          "Log live connection and frame counts every this many milliseconds (0: never).")

    def configure(self, updated: set[str]) -> None:
        options = ctx.options
        if "ocpp_rotate_bytes" in updated and options.ocpp_rotate_bytes < 0:
            raise exceptions.OptionsError("ocpp_rotate_bytes must be 0 (never rotate) or a positive byte count")
        if "ocpp_status_interval_ms" in updated and options.ocpp_status_interval_ms < 0:
            raise exceptions.OptionsError("ocpp_status_interval_ms must be 0 (off) or a positive number of milliseconds")
        if updated & {"ocpp_capture", "ocpp_upstream_url", "ocpp_rotate_bytes"}:
            self._close_writer()
            if options.ocpp_capture:
                try:
                    self.writer = CaptureWriter(
                        options.ocpp_capture, self._header(), rotate_bytes=options.ocpp_rotate_bytes or None
                    )
                except CaptureWriteError as exc:
                    raise exceptions.OptionsError(str(exc)) from exc
                self.failed = False

    def _header(self) -> dict[str, Any]:
        options = ctx.options
        modes = list(options.mode)
        upstream = strip_credentials(options.ocpp_upstream_url) if options.ocpp_upstream_url else upstream_from_modes(modes)
        return records.header(
            tool=TOOL_NAME, tool_version=__version__, proxy_mode=",".join(modes), upstream_url=upstream
        )

    # -- lifecycle ---------------------------------------------------------------------------

    def running(self) -> None:
        if self.writer is not None:
            # The proxy runner waits for this line: it means the addon loaded and the capture is open.
            logger.info(f"{READY_MARKER} {self.writer.path}")
        if ctx.options.ocpp_status_interval_ms > 0:
            self._status_task = asyncio.get_running_loop().create_task(self._report_status())

    async def _report_status(self) -> None:
        while True:
            await asyncio.sleep(ctx.options.ocpp_status_interval_ms / 1000)
            logger.info(self.status_line())

    def status_line(self) -> str:
        return (
            f"ocpp capture: {len(self._live)} live, {self.connections_opened} opened, "
            f"{self.upgrades_rejected} rejected, {self.frames_recorded} frames"
        )

    def done(self) -> None:
        if self._status_task is not None:
            self._status_task.cancel()
            self._status_task = None
        if self.writer is not None:
            logger.info(self.status_line())
        # mitmproxy does not call websocket_end for connections still live at shutdown.
        now = time.time()
        for connection_id in self._live:
            self._write(records.connection_close(
                ts=records.format_ts(now), connection_id=connection_id, close_code=None,
                close_reason="proxy shut down", closed_by=ClosedBy.PROXY,
            ))
        self._live.clear()
        self._close_writer()
        if self.failed and not ctx.options.ocpp_pass_through_on_error:
            sys.exit(EXIT_CAPTURE_FAILED)

    def _close_writer(self) -> None:
        if self.writer is not None:
            try:
                self.writer.close()
            except CaptureWriteError as exc:
                print(f"ocpp capture: {exc}", file=sys.stderr)
            self.writer = None

    # -- writing -------------------------------------------------------------------------------

    def _write(self, record: dict[str, Any]) -> bool:
        """Write one record; on failure stop the proxy (or count the loss). True if written."""
        if self.writer is None:
            self.records_lost += 1
            return False
        try:
            self.writer.write(record)
            return True
        except CaptureWriteError as exc:
            self._write_failed(exc)
            return False

    def _write_failed(self, exc: CaptureWriteError) -> None:
        """Count the lost record; the first time, stop the proxy (or warn and pass traffic on)."""
        self.records_lost += 1
        if not self.failed:
            self.failed = True
            if ctx.options.ocpp_pass_through_on_error:
                print(f"ocpp capture: {exc}; passing traffic on UNRECORDED "
                      "(ocpp_pass_through_on_error is set)", file=sys.stderr, flush=True)
            else:
                print(f"ocpp capture: {exc}; stopping the proxy so no traffic passes unrecorded",
                      file=sys.stderr, flush=True)
                self._close_writer()
                ctx.master.shutdown()

    @property
    def _blocking(self) -> bool:
        """True once the capture failed and traffic must not pass unrecorded."""
        return self.failed and not ctx.options.ocpp_pass_through_on_error

    def _is_ocpp_upgrade(self, flow: http.HTTPFlow) -> bool:
        request = flow.request
        if request.headers.get("Upgrade", "").lower() != "websocket":
            return False
        if ctx.options.ocpp_all_websockets:
            return True
        return any(p.lower().startswith("ocpp") for p in offered_subprotocols(request.headers))

    def _upgrade_facts(self, flow: http.HTTPFlow) -> dict[str, Any]:
        request = flow.request
        scheme, user, password_present = basic_auth_facts(request.headers.get("Authorization"))
        charge_point_id, id_source = derive_charge_point_id(request.path, user)
        return {
            "connection_id": flow.id,
            "charge_point_id": charge_point_id,
            "charge_point_id_source": id_source,
            "url_path": request.path,
            "client_address": format_address(flow.client_conn.peername),
            "subprotocols_offered": offered_subprotocols(request.headers),
            "charger_tls": tls_facts(flow.client_conn),
            "auth_scheme": scheme,
            "auth_user": user,
            "auth_password_present": password_present,
        }

    # -- hooks ---------------------------------------------------------------------------------

    def server_connect(self, data: Any) -> None:
        if not ctx.options.ocpp_loopback_only or data.server.address is None:
            return
        host = str(data.server.address[0])
        if not is_loopback(host):
            data.server.error = f"refused: {host} is not a loopback address (ocpp_loopback_only is set)"

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        if self._blocking:
            flow.kill()

    def response(self, flow: http.HTTPFlow) -> None:
        response = flow.response
        if response is None or response.status_code == 101 or not self._is_ocpp_upgrade(flow):
            return
        self.upgrades_rejected += 1
        self._write(records.upgrade_rejected(
            ts=records.format_ts(response.timestamp_end or time.time()),
            status_code=response.status_code, reason=response.reason, **self._upgrade_facts(flow),
        ))

    def error(self, flow: http.HTTPFlow) -> None:
        # A failed upstream connection: mitmproxy answers the charger with a 502 and calls only this hook.
        if flow.response is not None or flow.websocket is not None or not self._is_ocpp_upgrade(flow):
            return
        if flow.error is not None and flow.error.msg == flow.error.KILLED_MESSAGE:
            return
        self.upgrades_rejected += 1
        self._write(records.upgrade_rejected(
            ts=records.format_ts(flow.error.timestamp if flow.error else time.time()),
            status_code=502, reason=flow.error.msg if flow.error else "", **self._upgrade_facts(flow),
        ))

    def websocket_start(self, flow: http.HTTPFlow) -> None:
        if not self._is_ocpp_upgrade(flow):
            return
        facts = self._upgrade_facts(flow)
        assert flow.response is not None
        opened = records.connection_open(
            ts=records.now_ts(), subprotocol=flow.response.headers.get("Sec-WebSocket-Protocol"),
            csms_tls=tls_facts(flow.server_conn), **facts,
        )
        if self._write(opened):
            self._live[flow.id] = FrameEncoder(flow.id)
            self.connections_opened += 1

    def websocket_message(self, flow: http.HTTPFlow) -> None:
        # Runs for every frame: the frame line comes from pieces cached per connection
        # (FrameEncoder), with no record dict or enum lookups; one write(2) per frame.
        websocket = flow.websocket
        assert websocket is not None
        messages = websocket.messages
        message = messages[-1]
        # mitmproxy keeps every message of a live flow; keep only the newest so weeks-long
        # connections use flat memory (later addons still see messages[-1]).
        if len(messages) > 1:
            del messages[:-1]
        encoder = self._live.get(flow.id)
        if encoder is None:
            if self._blocking:
                message.drop()
            return
        if message.injected:
            action: str | None = ProxyAction.INJECTED.value
        elif message.dropped:
            action = ProxyAction.DROPPED.value
        else:
            action = None
        writer = self.writer
        if writer is not None:
            line = encoder.line(self._stamp(message.timestamp), message.from_client, message.content,
                                message.is_text, action)
            try:
                writer.write_frame_line(line)
                self.frames_recorded += 1
                return
            except CaptureWriteError as exc:
                self._write_failed(exc)
        else:
            self.records_lost += 1
        if self._blocking:
            message.drop()

    def websocket_end(self, flow: http.HTTPFlow) -> None:
        if flow.id not in self._live:
            return
        del self._live[flow.id]
        websocket = flow.websocket
        assert websocket is not None
        if websocket.closed_by_client is None:
            closed_by = ClosedBy.UNKNOWN
        else:
            closed_by = ClosedBy.CHARGER if websocket.closed_by_client else ClosedBy.CSMS
        self._write(records.connection_close(
            ts=records.format_ts(websocket.timestamp_end or time.time()), connection_id=flow.id,
            close_code=websocket.close_code, close_reason=websocket.close_reason or "", closed_by=closed_by,
        ))


addons = [OcppCapture()]
