"""``ocpp-workbench proxy``: capture a site's OCPP traffic through mitmdump and the capture addon.

Runs in the foreground, echoing mitmdump's log (with live connection and frame counts) until
Ctrl-C, SIGTERM or ``--duration``; then stops mitmdump with SIGTERM so live connections get
their close records.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path
from types import FrameType

from ..errors import WorkbenchError
from ..conformance.tls_policies import TLS_POLICIES
from ..proxy import TLS_VERSIONS, ProxyConfig, ProxyProcess, parse_listen
from ..terminal import terminal_safe
from . import _paths

NAME = "proxy"
HELP = "Record OCPP WebSocket traffic between chargers and a CSMS through mitmproxy."
POLL_INTERVAL_S = 0.2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--listen", default="127.0.0.1:8443", metavar="HOST:PORT",
                        help="address chargers connect to (default 127.0.0.1:8443; port 0: any free port)")
    parser.add_argument("--upstream", metavar="URL",
                        help="the CSMS, wss://HOST[:PORT]/PATH (reverse mode); chargers keep their URL path")
    parser.add_argument("--out", required=True, type=Path, metavar="FILE",
                        help="capture file to write (.ocpp.jsonl, or .ocpp.jsonl.gz)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace --out if it already exists (default: refuse, so no capture is lost)")
    parser.add_argument("--cert", type=Path, metavar="FILE",
                        help="PEM certificate (chain) the proxy shows chargers; may also hold the key")
    parser.add_argument("--key", type=Path, metavar="FILE", help="PEM private key of --cert")
    parser.add_argument("--upstream-ca", type=Path, metavar="FILE",
                        help="PEM CA file to verify the CSMS certificate (default: the system store)")
    parser.add_argument("--insecure-upstream", action="store_true",
                        help="do NOT verify the CSMS certificate (for a lab CSMS with a self-signed certificate)")
    parser.add_argument("--mode", choices=["reverse", "regular"], default="reverse",
                        help="reverse: in front of --upstream (default); regular: an HTTP proxy chargers are configured to use")
    parser.add_argument("--tls-max", choices=TLS_VERSIONS, default=None,
                        help="highest TLS version on both legs (default: unbounded; the minimum is always TLS 1.2)")
    parser.add_argument("--tls-policy", choices=sorted(TLS_POLICIES), default=None,
                        help="offer chargers exactly this policy's TLS versions and ciphers (elb-2018-06: TLS 1.2 "
                             "only, AWS ELBSecurityPolicy-TLS-1-2-Ext-2018-06): a handshake that succeeds proves "
                             "ev.energy R1, a refused one is recorded with the charger's offer. Default: the charger "
                             "leg offers no higher TLS version than the CSMS speaks (probed at start)")
    parser.add_argument("--pass-through-on-error", action="store_true",
                        help="keep passing traffic, unrecorded, if the capture cannot be written (default: stop)")
    parser.add_argument("--rotate-bytes", type=int, default=0, metavar="N",
                        help="start a new capture file after N bytes (default 0: never)")
    parser.add_argument("--status-interval", type=float, default=5.0, metavar="SECONDS",
                        help="print live connection and frame counts every SECONDS (default 5; 0: never)")
    parser.add_argument("--duration", type=float, default=None, metavar="SECONDS",
                        help="stop by itself after SECONDS (default: run until Ctrl-C or SIGTERM)")
    parser.add_argument("--log", type=Path, default=None, metavar="FILE",
                        help="also keep mitmdump's log in FILE (it never holds passwords)")
    parser.add_argument("--allow-plain-ws", action="store_true",
                        help="let chargers connect with plain ws:// on the wss:// port (default: refused with "
                             "HTTP 400, since the Basic Auth password would cross in clear; the capture header records it)")
    parser.add_argument("--allow-remote", action="store_true",
                        help="allow a non-loopback --listen or --upstream host (off by default on purpose)")


def config_from_args(args: argparse.Namespace) -> ProxyConfig:
    """The :class:`ProxyConfig` the arguments describe (validated)."""
    host, port = parse_listen(args.listen)
    if args.rotate_bytes < 0:
        raise WorkbenchError("--rotate-bytes must be 0 or positive")
    if args.status_interval < 0:
        raise WorkbenchError("--status-interval must be 0 or positive")
    config = ProxyConfig(
        capture_path=args.out, upstream_url=args.upstream, listen_host=host, listen_port=port,
        cert_file=args.cert, key_file=args.key, upstream_ca=args.upstream_ca,
        insecure_upstream=args.insecure_upstream, mode=args.mode, tls_version_max=args.tls_max,
        pass_through_on_error=args.pass_through_on_error, rotate_bytes=args.rotate_bytes,
        status_interval_s=args.status_interval, allow_remote=args.allow_remote, overwrite=args.overwrite,
        allow_plain_ws=args.allow_plain_ws, tls_policy=args.tls_policy,
    )
    config.validate()
    return config


def check_paths(args: argparse.Namespace) -> None:
    """Refuse a wrong --out, --log, --cert, --key or --upstream-ca before mitmdump starts."""
    _paths.output_file(args.out, "--out", regular_only=True)
    if args.log is not None:
        _paths.output_file(args.log, "--log", regular_only=True)
        _paths.distinct(args.out, args.log)
    if args.cert is not None:
        cert = _paths.pem_file(args.cert, "--cert")
        if args.key is None and "PRIVATE KEY-----" not in cert:
            raise WorkbenchError(f"--cert {args.cert}: holds no private key; give it with --key")
    if args.key is not None:
        _paths.pem_file(args.key, "--key", needs="PRIVATE KEY")
    if args.upstream_ca is not None:
        _paths.pem_file(args.upstream_ca, "--upstream-ca")


def run(args: argparse.Namespace) -> int:
    check_paths(args)
    config = config_from_args(args)
    proxy = ProxyProcess(config, log_path=args.log)
    stop_requested: list[int] = []

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        stop_requested.append(signum)

    previous = signal.signal(signal.SIGTERM, request_stop)
    echoed = 0
    try:
        proxy.start()
        scheme = "wss" if config.cert_file else "ws"
        target = config.upstream_url if config.mode == "reverse" else "(HTTP proxy mode)"
        print(f"ocpp-workbench proxy: listening on {scheme}://{proxy.url_host}:{proxy.port} -> {target}; "
              f"capture: {config.capture_path}", flush=True)
        if config.tls_policy:
            print(f"ocpp-workbench proxy: chargers are offered TLS policy {config.tls_policy} only", flush=True)
        elif proxy.upstream_tls_max:
            print(f"ocpp-workbench proxy: the CSMS speaks up to {proxy.upstream_tls_max}; chargers are offered "
                  "no more", flush=True)
        deadline = time.monotonic() + args.duration if args.duration is not None else None
        while not stop_requested and proxy.wait(POLL_INTERVAL_S) is None:
            echoed = _echo_new_log(proxy, echoed)
            if deadline is not None and time.monotonic() >= deadline:
                break
    except KeyboardInterrupt:
        pass
    finally:
        returncode = proxy.stop()
        _echo_new_log(proxy, echoed)
        signal.signal(signal.SIGTERM, previous)
    if returncode not in (0, None, -signal.SIGTERM):
        print(f"ocpp-workbench proxy: mitmdump exited with status {returncode}", file=sys.stderr)
        return 1  # mitmdump's own status is in the line above; 2 and 3 mean other things here
    return 0


def _echo_new_log(proxy: ProxyProcess, offset: int) -> int:
    """Echo what mitmdump logged since byte ``offset``; the offset to pass next time."""
    text, offset = proxy.log_since(offset)
    if text:
        # The log quotes what chargers sent (URL paths, names): each of its lines stays one line.
        sys.stdout.write("\n".join(terminal_safe(line) for line in text.split("\n")))
        sys.stdout.flush()
    return offset
