"""The mitmproxy addon that records OCPP WebSocket traffic into a capture file (format v1).

The only module of the workbench that imports mitmproxy. Load it with::

    mitmdump -s workbench/addon.py --set ocpp_capture=site.ocpp.jsonl

or through ``ocpp-workbench proxy`` (see :mod:`workbench.proxy`). Every frame of every OCPP
WebSocket (one whose upgrade offers an ``ocpp*`` subprotocol) is written, both directions, as it
arrived at the proxy; other traffic passes unrecorded. Upgrades that did not become a WebSocket
(401 from the CSMS, 502 when the CSMS is unreachable, 400 from the addon itself for a plain
``ws://`` upgrade on a ``wss://`` listener) are recorded as ``upgrade_rejected``, and charger TLS
handshakes that failed as ``tls_handshake_failed``. On shutdown (SIGTERM) forwarding stops before
the connections end and the capture closes, so every frame a peer received is in the file.

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
import ssl
import sys
import time
import urllib.parse
from typing import Any

from mitmproxy import connection, ctx, exceptions, http, tls

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
SHUTDOWN_GRACE_S = 3.0
"""How long a shutdown waits for live connections to end before closing the capture (s)."""
SHUTDOWN_CLOSE_REASON = "proxy shut down"
PLAIN_WS_STATUS = 400
PLAIN_WS_REASON = "plain ws:// refused on a wss:// listener"
"""HTTP status and reason a plain-HTTP upgrade gets on a TLS listener; the reason is also recorded."""
ABNORMAL_CLOSURE = 1006
"""The close code wsproto reports for a connection that ended without a close frame (RFC 6455)."""


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


def listener_requires_tls(proxy_mode: Any) -> bool:
    """True for a listener in front of a TLS server (``reverse:https://...``): chargers must use wss://.

    mitmproxy detects TLS by the first bytes a client sends, so such a listener also takes plain
    HTTP and would pass a charger's ``ws://`` upgrade (Basic Auth password in clear) on over TLS.
    """
    return getattr(proxy_mode, "type_name", "") == "reverse" and getattr(proxy_mode, "scheme", "") in ("https", "tls")


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


TLS_VERSION_NAMES = {0x0300: "SSLv3", 0x0301: "TLSv1", 0x0302: "TLSv1.1", 0x0303: "TLSv1.2", 0x0304: "TLSv1.3"}
"""Protocol version codes as OpenSSL names them (the names ``charger_tls.version`` uses)."""
_SUPPORTED_VERSIONS_EXTENSION = 43


def _is_grease(code: int) -> bool:
    """RFC 8701 GREASE values (0x0a0a, 0x1a1a, ...): random filler a client offers, not a real choice."""
    return code & 0x0F0F == 0x0A0A and code >> 8 == code & 0xFF


def _openssl_cipher_names() -> dict[int, str]:
    """IANA cipher suite code -> OpenSSL name, for every suite this OpenSSL knows (weak ones included)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        context.set_ciphers("ALL:COMPLEMENTOFALL:@SECLEVEL=0")
    except ssl.SSLError:
        pass  # keep the default list
    names = {cipher["id"] & 0xFFFF: cipher["name"] for cipher in context.get_ciphers()}
    # Signalling values, not ciphers (RFC 5746, RFC 7507); clients list them among the suites.
    names.update({0x00FF: "TLS_EMPTY_RENEGOTIATION_INFO_SCSV", 0x5600: "TLS_FALLBACK_SCSV"})
    return names


_CIPHER_NAMES = _openssl_cipher_names()


def offered_versions(client_hello: tls.ClientHello) -> list[str]:
    """The TLS versions a ClientHello offers, newest first as sent: its ``supported_versions``
    extension (TLS 1.3-capable clients), else its legacy ``client_version``. OpenSSL names;
    unknown codes as ``0x....``."""
    codes: list[int] = []
    for kind, body in client_hello.extensions:
        if kind == _SUPPORTED_VERSIONS_EXTENSION and body:
            listed = bytes(body)[1:1 + body[0]]  # a one-byte length, then two bytes per version
            codes = [int.from_bytes(listed[i:i + 2], "big") for i in range(0, len(listed) - 1, 2)]
    if not codes:
        raw = client_hello.raw_bytes(wrap_in_record=False)
        codes = [int.from_bytes(raw[:2], "big")] if len(raw) >= 2 else []
    return [TLS_VERSION_NAMES.get(code, f"0x{code:04x}") for code in codes if not _is_grease(code)]


def offered_ciphers(client_hello: tls.ClientHello) -> list[str]:
    """The cipher suites a ClientHello offers, in its order: OpenSSL names, unknown codes as ``0x....``."""
    return [_CIPHER_NAMES.get(code, f"0x{code:04x}") for code in client_hello.cipher_suites if not _is_grease(code)]


class PerFrameNoiseFilter(logging.Filter):
    """Keeps mitmproxy's per-frame lines out of its log: it logs every WebSocket ping and pong
    ("Received WebSocket pong from client (payload: ...)"), about 100 KB per 100k frames of
    keep-alive traffic that nobody reads. Connects, disconnects, warnings and errors stay."""

    PREFIXES = ("Received WebSocket ping", "Received WebSocket pong")

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and record.msg.startswith(self.PREFIXES))


PER_FRAME_NOISE = PerFrameNoiseFilter()
MITMPROXY_CONNECTION_LOGGER = "mitmproxy.proxy.server"
"""The logger mitmproxy's connection handlers write their per-connection (and per-ping) lines to."""


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
        self.stopping = False
        """True once shutdown began: frames are dropped, not forwarded, and new requests refused."""
        # Connections opened and not yet closed, in open order, with the encoder of their frame lines.
        self._live: dict[str, FrameEncoder] = {}
        self.connections_opened = 0
        self.frames_recorded = 0
        self.upgrades_rejected = 0
        self.handshakes_failed = 0
        # What the ClientHello of each charger connection still in its TLS handshake offered, by
        # client connection id, for the record if the handshake fails: (sni, versions, ciphers).
        self._client_hellos: dict[str, tuple[str | None, list[str], list[str]]] = {}
        self.records_lost = 0
        self._status_task: asyncio.Task[None] | None = None
        self._stamp = UtcStamper()

    # -- options ---------------------------------------------------------------------------

    def load(self, loader: Any) -> None:
        connection_log = logging.getLogger(MITMPROXY_CONNECTION_LOGGER)
        if PER_FRAME_NOISE not in connection_log.filters:
            connection_log.addFilter(PER_FRAME_NOISE)
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
        loader.add_option("ocpp_allow_plain_ws", bool, False,
                          "Let plain ws:// upgrades through on a wss:// (reverse https) listener "
                          "(default: refuse them with HTTP 400 and record the rejection).")
        loader.add_option("ocpp_charger_tls_policy", str, "",
                          "Name of the TLS policy the charger leg offers (recorded in the capture header).")
        loader.add_option("ocpp_charger_tls_max", str, "",
                          "Highest TLS version the charger leg offers (recorded in the capture header).")
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
            tool=TOOL_NAME, tool_version=__version__, proxy_mode=",".join(modes), upstream_url=upstream,
            allow_plain_ws=bool(options.ocpp_allow_plain_ws),
            charger_tls_policy=options.ocpp_charger_tls_policy or None,
            charger_tls_max=options.ocpp_charger_tls_max or None,
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
            f"{self.upgrades_rejected} rejected, {self.handshakes_failed} TLS failed, {self.frames_recorded} frames"
        )

    async def done(self) -> None:
        """Shut down without losing a frame: stop forwarding, end every connection, then close the file.

        Every frame forwarded so far is already on disk (it is written before it is passed on).
        From here on the addon drops every frame instead of forwarding it (recorded as
        ``dropped`` while the file is open), new connections are refused and each connection ends
        the way mitmproxy's own inactivity timeout ends it; connections still live after
        :data:`SHUTDOWN_GRACE_S` get a close record here, then the file is closed. mitmproxy
        would otherwise keep forwarding, unrecorded, while other addons shut down, and the event
        loop would then cancel the connections mid-frame (a CancelledError traceback each).
        """
        self.stopping = True
        if self._status_task is not None:
            self._status_task.cancel()
            self._status_task = None
        await self._end_connections()
        if self.writer is not None:
            logger.info(self.status_line())
        # Connections that did not end within the grace time (or mitmproxy without a proxy server).
        now = time.time()
        for connection_id in self._live:
            self._write(records.connection_close(
                ts=records.format_ts(now), connection_id=connection_id, close_code=None,
                close_reason=SHUTDOWN_CLOSE_REASON, closed_by=ClosedBy.PROXY,
            ))
        self._live.clear()
        self._close_writer()
        if self.failed and not ctx.options.ocpp_pass_through_on_error:
            sys.exit(EXIT_CAPTURE_FAILED)

    async def _end_connections(self) -> None:
        """Close both sockets of every connection and wait up to :data:`SHUTDOWN_GRACE_S` until
        mitmproxy has wound each connection down. (New connections are refused in
        :meth:`client_connected`; stopping the listeners instead makes mitmproxy 11's HTTP/3 (UDP)
        listener crash the process as it is garbage-collected at exit.)

        Left alone, the connections would outlive the addons' ``done`` hooks and be cancelled by
        the event loop's own teardown (a CancelledError traceback each). Uses mitmproxy's
        proxyserver internals (its connection handlers), guarded: without them (an in-process
        test context, another mitmproxy version) frames are still dropped rather than
        forwarded, and :meth:`done` writes the close records.
        """
        proxyserver = ctx.master.addons.get("proxyserver")
        connections = getattr(proxyserver, "connections", None)
        if proxyserver is None or not isinstance(connections, dict):
            return
        for handler in list(connections.values()):
            transports = getattr(handler, "transports", {})
            for io in list(transports.values()):
                writer = getattr(io, "writer", None)
                if writer is not None and not writer.is_closing():
                    writer.close()  # read nothing more from either peer
            # End the connection as mitmproxy's inactivity timeout does: cancel its client task
            # (not the outer one, so it ends without a traceback). Data already read but not yet
            # relayed is dropped, not worked through: a backlog of thousands of frames would
            # otherwise hold the shutdown for many seconds.
            task = getattr(transports.get(getattr(handler, "client", None)), "handler", None)
            if task is not None and not task.done():
                task.cancel(SHUTDOWN_CLOSE_REASON)
        if not await self._wait_until_no_connections(connections, SHUTDOWN_GRACE_S):
            logger.warning(f"ocpp capture: {len(connections)} connections still open after {SHUTDOWN_GRACE_S:g} s")

    @staticmethod
    async def _wait_until_no_connections(connections: dict[Any, Any], timeout_s: float) -> bool:
        """Poll every 10 ms until ``connections`` is empty; False if it is not after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while connections:
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.01)
        return True

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

    def tls_clienthello(self, data: tls.ClientHelloData) -> None:
        hello = data.client_hello
        try:
            facts = (hello.sni, offered_versions(hello), offered_ciphers(hello))
        except Exception:  # noqa: BLE001 - a ClientHello mitmproxy parsed but we cannot read: no offer facts
            facts = (None, [], [])
        self._client_hellos[data.context.client.id] = facts

    def tls_established_client(self, data: tls.TlsData) -> None:
        self._client_hellos.pop(data.conn.id, None)

    def client_connected(self, client: connection.Client) -> None:
        if self.stopping:
            client.error = SHUTDOWN_CLOSE_REASON  # mitmproxy closes the connection at once

    def client_disconnected(self, client: connection.Client) -> None:
        self._client_hellos.pop(client.id, None)

    def tls_failed_client(self, data: tls.TlsData) -> None:
        # A charger that cannot even complete TLS (old TLS version, no shared cipher, the proxy's
        # certificate not trusted) is a field fault: recorded, though no HTTP request followed.
        conn = data.conn
        hello = self._client_hellos.pop(conn.id, None)
        sni, versions, ciphers = hello if hello is not None else (None, [], [])
        error = str(conn.error or "TLS handshake failed")
        self.handshakes_failed += 1
        self._write(records.tls_handshake_failed(
            ts=records.format_ts(time.time()), connection_id=conn.id, client_address=format_address(conn.peername),
            error=error, failure=records.classify_tls_error(error), sni=sni, offered_versions=versions,
            offered_ciphers=ciphers, client_hello_read=hello is not None,
        ))

    def server_connect(self, data: Any) -> None:
        if not ctx.options.ocpp_loopback_only or data.server.address is None:
            return
        host = str(data.server.address[0])
        if not is_loopback(host):
            data.server.error = f"refused: {host} is not a loopback address (ocpp_loopback_only is set)"

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        if self._blocking or self.stopping:
            flow.kill()
            return
        if (not ctx.options.ocpp_allow_plain_ws and not flow.client_conn.tls_established
                and listener_requires_tls(flow.client_conn.proxy_mode)):
            # Answered here, never forwarded: the CSMS would see TLS and could not tell. The
            # response hook records the rejection like any other refused upgrade.
            flow.response = http.Response.make(
                PLAIN_WS_STATUS, f"{PLAIN_WS_REASON}: connect with wss://\n".encode(),
                {"Content-Type": "text/plain; charset=utf-8", "Connection": "close"},
            )
            flow.response.reason = PLAIN_WS_REASON

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
        if self.stopping:
            message.drop()  # shutting down: nothing more crosses, so nothing can cross unrecorded
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
        close_code, close_reason = websocket.close_code, websocket.close_reason or ""
        if self.stopping and close_code in (None, ABNORMAL_CLOSURE):
            # Ended by the shutdown (no close frame from either side): the proxy closed it.
            closed_by, close_code, close_reason = ClosedBy.PROXY, None, SHUTDOWN_CLOSE_REASON
        elif websocket.closed_by_client is None:
            closed_by = ClosedBy.UNKNOWN
        else:
            closed_by = ClosedBy.CHARGER if websocket.closed_by_client else ClosedBy.CSMS
        self._write(records.connection_close(
            ts=records.format_ts(websocket.timestamp_end or time.time()), connection_id=flow.id,
            close_code=close_code, close_reason=close_reason, closed_by=closed_by,
        ))


addons = [OcppCapture()]
