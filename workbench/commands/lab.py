"""``ocpp-workbench lab csms|charger``: the embedded lab peers as long-running commands.

``lab csms`` serves the lab CSMS (:class:`workbench.lab.LabCSMS`), ``lab charger`` runs simulated
chargers (:class:`workbench.lab.LabCharger`) against a URL: for trying the proxy, replay and probe
by hand. Both print one line per event (connection, boot, transaction) and run until Ctrl-C or
SIGTERM, or until a ``--seconds`` / ``--sessions`` bound. Non-loopback addresses are refused
without ``--allow-remote``. Passwords are never printed: only which charge points need one.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import ssl
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import WorkbenchError
from ..proxy import check_loopback, parse_listen

NAME = "lab"
HELP = "Run the lab CSMS or lab chargers on their own, to try the proxy, replay and probe by hand."
POLL_INTERVAL_S = 0.1
SESSIONS_GRACE_S = 10.0  # lab csms --sessions: how long the chargers get to leave after the last session (s)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="lab_command", metavar="PEER", required=True)
    csms = sub.add_parser("csms", help="serve the lab CSMS (WSS, TLS 1.2, Basic Auth) until stopped",
                          description="Serve the lab CSMS until Ctrl-C, SIGTERM, --seconds or --sessions.")
    csms.add_argument("--listen", default="127.0.0.1:9000", metavar="HOST:PORT",
                      help="where chargers (or the proxy) connect (default 127.0.0.1:9000; port 0: any free port)")
    csms.add_argument("--password", action="append", default=[], metavar="CP=PASSWORD",
                      help="Basic Auth password of charge point CP (repeatable); other ids get HTTP 404 "
                           "unless --accept-unknown. Without any: every id is accepted without auth")
    csms.add_argument("--accept-unknown", action="store_true",
                      help="let charge points without a --password in, unauthenticated")
    csms.add_argument("--cert", type=Path, metavar="FILE",
                      help="PEM certificate to serve (e.g. pki/proxy-cert.pem from `ocpp-workbench certs`); "
                           "default: a throw-away lab PKI whose CA path is printed")
    csms.add_argument("--key", type=Path, metavar="FILE", help="PEM private key of --cert")
    csms.add_argument("--plain", action="store_true", help="serve ws:// without TLS (to try the TLS checks)")
    csms.add_argument("--tls13", action="store_true", help="allow TLS 1.3 (default: TLS 1.2 only, like an ELB policy)")
    csms.add_argument("--path", default="/ocpp", metavar="PREFIX",
                      help="URL path before the charge point id (default /ocpp)")
    csms.add_argument("--heartbeat-interval", type=int, default=60, metavar="SECONDS",
                      help="interval of BootNotification.conf (default 60)")
    csms.add_argument("--get-configuration-on-boot", action="store_true",
                      help="send GetConfiguration after every BootNotification, as many CSMSs do")
    _add_bounds(csms, sessions_help="stop once this many transactions have ended and the chargers have left "
                                    "(at most 10 s later)")
    csms.set_defaults(lab_run=run_csms)

    charger = sub.add_parser("charger", help="run simulated chargers against a CSMS or proxy until stopped",
                             description="Run lab chargers: connect, boot, charge in scripted sessions "
                                         "back to back until Ctrl-C, SIGTERM, --seconds or --sessions.")
    charger.add_argument("--target", required=True, metavar="URL",
                         help="wss:// (or ws://) URL of the CSMS or proxy without the id, e.g. wss://127.0.0.1:8443/ocpp")
    charger.add_argument("--id", action="append", dest="ids", default=[], metavar="CP",
                         help="charge point id, appended to --target (repeatable; default LAB-CP1)")
    charger.add_argument("--password", default=None, metavar="PASSWORD",
                         help="Basic Auth password of every --id (default: no Authorization header)")
    charger.add_argument("--ca", type=Path, metavar="FILE",
                         help="PEM CA to trust for wss:// (e.g. pki/ca.pem); default: the system store")
    charger.add_argument("--connectors", type=int, default=2, help="connectors per charger (default 2)")
    charger.add_argument("--session-seconds", type=float, default=10.0, metavar="SECONDS",
                         help="length of each charging session (default 10)")
    charger.add_argument("--meter-interval", type=float, default=1.0, metavar="SECONDS",
                         help="initial MeterValueSampleInterval (default 1)")
    charger.add_argument("--faults", default="", metavar="NAME,...",
                         help="faults to show in the first session (see docs/lab.md), e.g. kwh_as_wh,invalid_transition")
    _add_bounds(charger, sessions_help="run this many sessions per charger, then stop (0: only boot and heartbeat)")
    charger.set_defaults(lab_run=run_charger)


def _add_bounds(parser: argparse.ArgumentParser, *, sessions_help: str) -> None:
    parser.add_argument("--seconds", type=float, default=None, metavar="SECONDS",
                        help="stop by itself after SECONDS (default: run until Ctrl-C or SIGTERM)")
    parser.add_argument("--sessions", type=int, default=None, metavar="N", help=sessions_help)
    parser.add_argument("--allow-remote", action="store_true",
                        help="allow a non-loopback address (off by default on purpose)")


class _OneLine(logging.Formatter):
    """Log records as one line, without tracebacks: the command prints the cause once at the end."""

    def format(self, record: logging.LogRecord) -> str:
        return f"{record.levelname.lower()}: {record.getMessage()}"


def _log_peers_in_one_line() -> None:
    """The lab peers' warnings on stderr as one line each (otherwise Python's last-resort handler
    prints each with its traceback). Once per process."""
    logger = logging.getLogger("workbench.lab")
    if not any(isinstance(handler.formatter, _OneLine) for handler in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_OneLine())
        logger.addHandler(handler)


def run(args: argparse.Namespace) -> int:
    _log_peers_in_one_line()
    if args.seconds is not None and args.seconds <= 0:
        raise WorkbenchError("--seconds must be positive")
    if args.sessions is not None and args.sessions < 0:
        raise WorkbenchError("--sessions must be 0 or positive")
    return int(asyncio.run(args.lab_run(args)))


def say(line: str) -> None:
    print(line, flush=True)


# -- shared: stop on a signal, a deadline or a condition ------------------------------------------

async def _run_until_stopped(seconds: float | None, done: Callable[[], bool], report: Callable[[], None]) -> str:
    """Call ``report`` every poll until SIGINT/SIGTERM, ``seconds`` passed or ``done()``; returns why it stopped."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    received: list[str] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, lambda s=signum: (received.append(signal.Signals(s).name), stop.set()))
    deadline = None if seconds is None else time.monotonic() + seconds
    try:
        while True:
            report()
            if stop.is_set():
                return received[0]
            if done():
                return "done"
            if deadline is not None and time.monotonic() >= deadline:
                return "--seconds"
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), POLL_INTERVAL_S)
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


# -- lab csms -----------------------------------------------------------------------------------

def parse_passwords(items: list[str]) -> dict[str, str]:
    """``CP=PASSWORD`` items -> {CP: PASSWORD}. Errors never quote the item (it holds a password)."""
    passwords: dict[str, str] = {}
    for number, item in enumerate(items, 1):
        charge_point_id, separator, password = item.partition("=")
        if not separator or not charge_point_id or not password:
            raise WorkbenchError(f"--password number {number} must be CP=PASSWORD with both parts non-empty")
        passwords[charge_point_id] = password
    return passwords


def _csms_tls(args: argparse.Namespace, scratch: Path) -> tuple[Any, str]:
    """The ``pki`` for LabCSMS and a line about what clients must trust."""
    from ..lab.certs import LOOPBACK_HOSTS, ServerCertificate, make_lab_pki

    if args.plain:
        if args.cert or args.key:
            raise WorkbenchError("--plain serves ws:// and takes no --cert/--key")
        return None, "plain ws://, no TLS"
    if args.cert is not None:
        for option, path in (("--cert", args.cert), ("--key", args.key)):
            if path is not None and not path.is_file():
                raise WorkbenchError(f"{option} file not found: {path}")
        try:
            server = ServerCertificate(args.cert, args.key)
            server.server_ssl_context()
        except ssl.SSLError as exc:
            raise WorkbenchError(f"--cert/--key cannot be used: {exc}") from None
        return server, f"certificate {args.cert}"
    if args.key is not None:
        raise WorkbenchError("--key needs --cert")
    host, _ = parse_listen(args.listen)
    # The loopback names, plus the listen address unless it is a wildcard no client connects to.
    extra = [] if host in (*LOOPBACK_HOSTS, "0.0.0.0", "::") else [host]
    pki = make_lab_pki(scratch / "pki", hosts=[*extra, *LOOPBACK_HOSTS])
    return pki, f"clients must trust the throw-away CA {pki.ca_cert} (deleted when this stops)"


async def run_csms(args: argparse.Namespace) -> int:
    from ..lab.csms import LabCSMS

    host, port = parse_listen(args.listen)
    check_loopback(host, allow_remote=args.allow_remote, what="--listen")
    passwords = parse_passwords(args.password)
    if not args.path.startswith("/") or args.path.endswith("/"):
        raise WorkbenchError(f"--path must start and not end with '/': {args.path!r}")
    unknown_ids = "accept" if args.accept_unknown or not passwords else "404"
    with tempfile.TemporaryDirectory(prefix="ocpp-lab-csms-") as scratch:
        pki, trust = _csms_tls(args, Path(scratch))
        csms = LabCSMS(host=host, port=port, pki=pki, passwords=passwords, path_prefix=args.path,
                       heartbeat_interval_s=args.heartbeat_interval, unknown_ids=unknown_ids,
                       get_configuration_on_boot=args.get_configuration_on_boot,
                       max_tls_version=None if args.tls13 else ssl.TLSVersion.TLSv1_2)
        try:
            await csms.start()
        except OSError as exc:
            raise WorkbenchError(f"cannot listen on {args.listen}: {exc.strerror or exc}") from None
        try:
            auth = (f"Basic Auth for {', '.join(sorted(passwords))}" if passwords else "no Basic Auth")
            if passwords and unknown_ids == "accept":
                auth += ", other ids accepted without auth"
            say(f"lab CSMS listening on {csms.url} ({auth}); {trust}")
            say(f"chargers connect to {csms.url}/<charge point id>; Ctrl-C stops")
            events = CSMSEvents(csms)
            ended = _SessionsBound(csms, events, args.sessions)
            why = await _run_until_stopped(args.seconds, ended, events.report)
        finally:
            await csms.stop()
        events.report()
        say(f"lab CSMS stopped ({why}): {len(csms.frames)} messages, {csms.connections_accepted} connections, "
            f"{len(csms.rejections)} refused, {events.transactions_ended} transactions ended")
    return 0


class _SessionsBound:
    """``--sessions N`` of the lab CSMS: done once N transactions have ended and every charger has left,
    or SESSIONS_GRACE_S after the Nth ended. A charger still sends its last StatusNotifications and
    closes after its last StopTransaction; stopping at once cut them off and the charger reported a
    lost connection."""

    def __init__(self, csms: Any, events: CSMSEvents, sessions: int | None) -> None:
        self.csms, self.events, self.sessions = csms, events, sessions
        self.reached_at: float | None = None

    def __call__(self) -> bool:
        if self.sessions is None or self.events.transactions_ended < self.sessions:
            return False
        if self.reached_at is None:
            self.reached_at = time.monotonic()
        return not self.csms.connected or time.monotonic() - self.reached_at >= SESSIONS_GRACE_S


class CSMSEvents:
    """Prints what happened at the lab CSMS since the last call: one line per event."""

    def __init__(self, csms: Any) -> None:
        self.csms = csms
        self.transactions_ended = 0
        self._connections = 0
        self._closed: set[int] = set()
        self._rejections = 0
        self._boots: dict[str, int] = {}
        self._started: set[int] = set()
        self._stopped: set[int] = set()

    def report(self) -> None:
        csms = self.csms
        for entry in csms.connection_log[self._connections:]:
            say(f"{entry['charge_point_id']}: connected ({entry['subprotocol']}, {entry['tls_version'] or 'no TLS'})")
        self._connections = len(csms.connection_log)
        for rejection in csms.rejections[self._rejections:]:
            say(f"{rejection.charge_point_id or '(no id)'}: refused with HTTP {rejection.status_code} ({rejection.reason})")
        self._rejections = len(csms.rejections)
        for charge_point_id, state in list(csms.charge_points.items()):
            if state.boots > self._boots.get(charge_point_id, 0):
                self._boots[charge_point_id] = state.boots
                payload = state.boot_payload
                say(f"{charge_point_id}: BootNotification {payload.get('charge_point_vendor')} "
                    f"{payload.get('charge_point_model')} accepted")
        for transaction_id, transaction in list(csms.transactions.items()):
            if transaction_id not in self._started:
                self._started.add(transaction_id)
                say(f"{transaction.charge_point_id}: transaction {transaction_id} started on connector "
                    f"{transaction.connector_id} (idTag {transaction.id_tag}, meterStart {transaction.meter_start_wh} Wh)")
            if transaction.meter_stop_wh is not None and transaction_id not in self._stopped:
                self._stopped.add(transaction_id)
                self.transactions_ended += 1
                say(f"{transaction.charge_point_id}: transaction {transaction_id} stopped "
                    f"(meterStop {transaction.meter_stop_wh} Wh, "
                    f"{transaction.meter_stop_wh - transaction.meter_start_wh} Wh, reason {transaction.stop_reason})")
        for index, entry in enumerate(csms.connection_log):
            if entry["close_code"] is not None and index not in self._closed:
                self._closed.add(index)
                say(f"{entry['charge_point_id']}: disconnected (close code {entry['close_code']})")


# -- lab charger --------------------------------------------------------------------------------

def parse_target(url: str) -> str:
    """Check a ``wss://``/``ws://`` target URL (no credentials); returns its host."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("wss", "ws") or not parsed.hostname:
        raise WorkbenchError(f"--target must be a wss:// (or ws://) URL with a host, got {url!r}")
    if parsed.username or parsed.password:
        raise WorkbenchError("--target must not carry credentials; use --password")
    try:
        parsed.port
    except ValueError:
        raise WorkbenchError(f"--target has a bad port: {url!r}") from None
    return parsed.hostname


def _client_ssl(args: argparse.Namespace) -> ssl.SSLContext | None:
    if args.target.startswith("ws:"):
        return None
    if args.ca is not None and not args.ca.is_file():
        raise WorkbenchError(f"--ca file not found: {args.ca}")
    try:
        context = ssl.create_default_context(cafile=None if args.ca is None else str(args.ca))
    except ssl.SSLError as exc:
        raise WorkbenchError(f"--ca cannot be used: {exc}") from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


async def run_charger(args: argparse.Namespace) -> int:
    from ..lab.charger import FAULT_NAMES, ChargerConfig, LabCharger

    host = parse_target(args.target)
    check_loopback(host, allow_remote=args.allow_remote, what="--target")
    faults = frozenset(name.strip() for name in args.faults.split(",") if name.strip())
    if faults - FAULT_NAMES:
        raise WorkbenchError(f"unknown fault(s) {', '.join(sorted(faults - FAULT_NAMES))}; "
                             f"known: {', '.join(sorted(FAULT_NAMES))}")
    if args.connectors < 1 or args.session_seconds <= 0 or args.meter_interval <= 0:
        raise WorkbenchError("--connectors, --session-seconds and --meter-interval must be positive")
    ids = args.ids or ["LAB-CP1"]
    if len(set(ids)) != len(ids):
        raise WorkbenchError("each --id must be different")
    context = _client_ssl(args)
    chargers = [LabCharger(ChargerConfig(cp, args.password, connectors=args.connectors,
                                         meter_interval_s=args.meter_interval, faults=faults), args.target, context)
                for cp in ids]
    drivers = [ChargerDriver(charger, args.sessions, args.session_seconds) for charger in chargers]
    tasks = [asyncio.create_task(driver.run()) for driver in drivers]
    try:
        all_done = lambda: all(task.done() for task in tasks)  # noqa: E731
        why = await _run_until_stopped(args.seconds, all_done, lambda: [d.report() for d in drivers])
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for driver in drivers:
            await driver.finish()
    finally:
        for task in tasks:
            task.cancel()
    failures = [driver.failure for driver in drivers if driver.failure is not None]
    for driver in drivers:
        driver.report()
        charger = driver.charger
        if not charger.connections:
            continue  # never connected: the failure below says why
        say(f"{charger.charge_point_id}: stopped ({'error' if driver.failure else why}): {len(charger.truth)} sessions, "
            f"{len(charger.frames_sent())} messages sent, {len(charger.frames_received())} received")
    if failures:
        for failure in failures:
            print(f"ocpp-workbench lab charger: {failure}", file=sys.stderr)
        return 2
    return 0


class ChargerDriver:
    """Connects one lab charger and runs its sessions (a bounded number, or back to back forever)."""

    def __init__(self, charger: Any, sessions: int | None, session_s: float) -> None:
        self.charger = charger
        self.sessions = sessions
        self.session_s = session_s
        self.failure: BaseException | None = None
        self._connected_said = False
        self._said_started: set[int] = set()
        self._said_stopped = 0

    async def run(self) -> None:
        charger = self.charger
        try:
            await charger.connect()
            if self.sessions is not None:
                if self.sessions:
                    await charger.run_sessions(self.sessions, self.session_s)
                else:
                    await asyncio.Event().wait()  # only boot and heartbeat, until stopped
                return
            while True:  # one session per connector at a time, back to back, until stopped
                await charger.run_sessions(charger.config.connectors, self.session_s)
        except (WorkbenchError, TimeoutError, OSError) as exc:  # e.g. refused, or the CSMS went away for good
            # The charger's own background error (e.g. "could not reconnect: ...") says more than a timeout.
            cause = next((e for e in charger.errors if isinstance(e, WorkbenchError)), exc)
            self.failure = cause if isinstance(cause, WorkbenchError) else WorkbenchError(
                f"{charger.charge_point_id}: {type(cause).__name__} {cause}".rstrip())

    async def finish(self) -> None:
        """Stop running sessions cleanly (StopTransaction, reason Local), then close with 1000."""
        charger = self.charger
        for connector_id in range(1, charger.config.connectors + 1):
            if charger.transaction_id(connector_id) is not None and charger.connected:
                with contextlib.suppress(WorkbenchError, TimeoutError):
                    await asyncio.wait_for(charger.stop_transaction(connector_id), 5)
        if charger.connected:
            with contextlib.suppress(WorkbenchError, TimeoutError):
                await charger.wait_idle(timeout_s=5)
        await charger.close()

    def report(self) -> None:
        charger = self.charger
        if charger.connected and not self._connected_said:
            self._connected_said = True
            say(f"{charger.charge_point_id}: connected to {charger.url}, booted")
        for connector_id in range(1, charger.config.connectors + 1):
            transaction_id = charger.transaction_id(connector_id)
            if transaction_id is not None and transaction_id not in self._said_started:
                self._said_started.add(transaction_id)
                say(f"{charger.charge_point_id}: transaction {transaction_id} started on connector {connector_id}")
        for truth in charger.truth[self._said_stopped:]:
            say(f"{charger.charge_point_id}: transaction {truth.transaction_id} stopped, {truth.energy_wh:g} Wh")
        self._said_stopped = len(charger.truth)
