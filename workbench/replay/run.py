"""One call from a plan to a verdict: pick the transport for the role, guard the target, write the
replay's capture. Used by ``ocpp-workbench replay`` and by notebooks (``wb.replay``).

Passwords come from an environment variable or from a file of ``ID=PASSWORD`` lines that only
its owner may read; never from the capture (it holds none) and never into the replay's capture,
whose ``connection_open`` records say only whether one was sent.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import stat
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from ..capture.writer import CaptureWriter
from ..errors import WorkbenchError
from ..proxy import check_loopback
from .engine import ReplayOptions, ReplayResult, replay_header, run_plan
from .plan import Plan
from .transports import ClientConnector, Connector, PasswordSource, ServerConnector


def read_password_file(path: str | os.PathLike[str]) -> dict[str, str]:
    """``ID=PASSWORD`` lines (``#`` comments, blank lines allowed) of a file only its owner can read."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise WorkbenchError(f"cannot read password file {path}: {exc.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise WorkbenchError(f"password file {path} is readable by others (mode {stat.S_IMODE(mode):o}); "
                             f"chmod 600 it")
    passwords: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        charge_point, separator, password = line.partition("=")
        if not separator or not charge_point.strip():
            raise WorkbenchError(f"password file {path}, line {number}: expected ID=PASSWORD")
        passwords[charge_point.strip()] = password
    return passwords


def password_source(password_env: str | None = None, password_file: str | os.PathLike[str] | None = None,
                    passwords: dict[str, str] | None = None) -> PasswordSource | None:
    """Where Basic Auth passwords come from: one for every charge point from ``$password_env``, or
    per charge point from ``password_file`` or a dict; None when no source is given."""
    if password_env and password_file:
        raise WorkbenchError("give --password-env or --password-file, not both")
    if password_env:
        value = os.environ.get(password_env)
        if value is None:
            raise WorkbenchError(f"environment variable {password_env} (--password-env) is not set")
        return lambda _charge_point_id: value
    table = dict(passwords or {})
    if password_file:
        table.update(read_password_file(password_file))
    if not table:
        return None
    return table.get


def _client_ssl(ca: str | os.PathLike[str] | None) -> ssl.SSLContext:
    try:
        context = ssl.create_default_context(cafile=str(ca) if ca else None)
    except (OSError, ssl.SSLError) as exc:
        raise WorkbenchError(f"cannot load --ca {ca}: {exc.strerror or exc}") from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def _server_ssl(cert: str | os.PathLike[str], key: str | os.PathLike[str] | None) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(str(cert), str(key) if key else None)
    except (OSError, ssl.SSLError) as exc:
        raise WorkbenchError(f"cannot load --cert {cert} / --key {key}: {exc.strerror or exc}") from None
    return context


def make_connector(plan: Plan, *, target: str | None = None, listen: tuple[str, int] | None = None,
                   ca: str | os.PathLike[str] | None = None, cert: str | os.PathLike[str] | None = None,
                   key: str | os.PathLike[str] | None = None, passwords: PasswordSource | None = None,
                   allow_remote: bool = False) -> Connector:
    """The connector of the plan's role, after the loopback guard (a replay creates real
    transactions in a billing system: only loopback unless ``allow_remote``)."""
    if plan.role == "charger":
        if not target:
            raise WorkbenchError("--as charger needs --target URL (the CSMS endpoint)")
        connector = ClientConnector(target, passwords=passwords,
                                    ssl_context=_client_ssl(ca) if target.startswith("wss") else None)
        check_loopback(urlsplit(target.replace("{charge_point_id}", "x")).hostname or "",
                       allow_remote=allow_remote, what="--target")
        return connector
    if listen is None:
        raise WorkbenchError("--as csms needs --listen HOST:PORT")
    host, port = listen
    check_loopback(host, allow_remote=allow_remote, what="--listen")
    if cert is None:
        check_loopback(host, allow_remote=False, what="plain ws:// (no --cert) --listen")
    context = _server_ssl(cert, key) if cert is not None else None
    return ServerConnector(host, port, ssl_context=context, passwords=passwords,
                           expected_ids=set(plan.charge_point_ids))


async def replay_async(plan: Plan, connector: Connector, *, out: str | os.PathLike[str] | None = None,
                       options: ReplayOptions | None = None, target_label: str | None = None,
                       on_listening: Callable[[str], None] | None = None) -> ReplayResult:
    """Run ``plan`` over ``connector`` (started and closed here), writing the replay's capture to ``out``."""
    if isinstance(connector, ServerConnector):
        await connector.start()
        target_label = target_label or connector.url
        if on_listening is not None:
            on_listening(connector.url)
    writer = CaptureWriter(out, replay_header(plan, target_label)) if out is not None else None
    try:
        return await run_plan(plan, connector, writer=writer, options=options)
    finally:
        if writer is not None:
            writer.close()
        await connector.aclose()


def replay(plan: Plan, *, target: str | None = None, listen: str | tuple[str, int] | None = None,
           out: str | os.PathLike[str] | None = None, options: ReplayOptions | None = None,
           ca: str | os.PathLike[str] | None = None, cert: str | os.PathLike[str] | None = None,
           key: str | os.PathLike[str] | None = None, passwords: dict[str, str] | None = None,
           password_env: str | None = None, password_file: str | os.PathLike[str] | None = None,
           allow_remote: bool = False) -> ReplayResult:
    """Replay ``plan`` against a live peer and return the result (verdict, capture paths).

    As the charger: ``target`` is the CSMS URL. As the CSMS: ``listen`` is ``"HOST:PORT"`` (port 0
    picks one). Blocking; inside a running event loop (Jupyter) use :func:`replay_async`.
    """
    from ..proxy import parse_listen

    listen_pair = parse_listen(listen) if isinstance(listen, str) else listen
    source = password_source(password_env, password_file, passwords)
    connector = make_connector(plan, target=target, listen=listen_pair, ca=ca, cert=cert, key=key,
                               passwords=source, allow_remote=allow_remote)
    return asyncio.run(replay_async(plan, connector, out=out, options=options, target_label=target))
