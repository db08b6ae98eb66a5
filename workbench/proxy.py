"""Start and stop a ``mitmdump`` subprocess that runs the capture addon (:mod:`workbench.addon`).

Used by ``ocpp-workbench proxy``, the demo, the end-to-end tests and the proxy benchmark.
This module does not import mitmproxy: it only builds the command line and watches the process.

Reverse mode (the default) sits in front of one ``wss://`` CSMS: chargers connect to the proxy
as if it were the CSMS, with the URL path they would use there (the path passes through
unchanged). Regular mode is an HTTP proxy for chargers configured to use one.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from .errors import UnsafeTargetError, WorkbenchError

ADDON_PATH = Path(__file__).with_name("addon.py")
_LISTENING = re.compile(r"listening at \[?(?P<host>[^\s\]]*)\]?:(?P<port>\d+)")
# Logged by the addon's `running` hook: the script loaded and the capture file is open. (Kept in
# sync with workbench.addon.READY_MARKER; this module must not import the addon, which imports mitmproxy.)
_ADDON_READY = "ocpp capture: recording to"
TLS_VERSIONS = ("TLS1_2", "TLS1_3")


def check_loopback(host: str, *, allow_remote: bool, what: str) -> None:
    """Raise :class:`UnsafeTargetError` unless ``host`` is loopback or ``allow_remote`` is set."""
    if allow_remote:
        return
    if host == "localhost":
        return
    try:
        if ipaddress.ip_address(host.strip("[]")).is_loopback:
            return
    except ValueError:
        pass
    raise UnsafeTargetError(
        f"{what} host {host!r} is not loopback (127.0.0.1, ::1, localhost); "
        "pass --allow-remote to use a non-loopback address on purpose"
    )


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``[V6]:PORT`` -> (host, port). Port 0 lets the OS choose."""
    host, separator, port = text.rpartition(":")
    if not separator or not host or not port.isdigit() or int(port) > 65535:
        raise WorkbenchError(f"--listen must be HOST:PORT (e.g. 127.0.0.1:8443), got {text!r}")
    return host.strip("[]"), int(port)


def parse_upstream(url: str) -> tuple[str, str, int, str]:
    """A ``wss://`` or ``ws://`` CSMS URL -> (scheme, host, port, path). Credentials are refused."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("wss", "ws") or not parsed.hostname:
        raise WorkbenchError(f"--upstream must be a wss:// (or ws://) URL with a host, got {url!r}")
    if parsed.username or parsed.password:
        raise WorkbenchError("--upstream must not carry credentials; chargers send their own Basic Auth")
    port = parsed.port or (443 if parsed.scheme == "wss" else 80)
    return parsed.scheme, parsed.hostname, port, parsed.path or "/"


def _host_for_url(host: str) -> str:
    return f"[{host}]" if ":" in host else host


@dataclass(frozen=True)
class ProxyConfig:
    """Everything ``mitmdump`` needs to capture one site. Paths are files; times in seconds."""

    capture_path: Path
    upstream_url: str | None = None
    """``wss://host[:port][/path]`` of the CSMS (reverse mode); None in regular mode."""
    listen_host: str = "127.0.0.1"
    listen_port: int = 0
    cert_file: Path | None = None
    """PEM certificate chain the proxy shows chargers (may also hold the key)."""
    key_file: Path | None = None
    """PEM private key of ``cert_file`` (omit when ``cert_file`` holds both)."""
    upstream_ca: Path | None = None
    """PEM CA file to verify the CSMS with; None: the system store."""
    insecure_upstream: bool = False
    """Do not verify the CSMS certificate (explicit opt-in only)."""
    mode: str = "reverse"
    """``reverse`` (in front of ``upstream_url``) or ``regular`` (an HTTP proxy)."""
    tls_version_max: str | None = None
    """Highest TLS version on both legs, ``TLS1_2`` or ``TLS1_3``; None: unbounded. Minimum is always TLS 1.2."""
    tls_policy: str | None = None
    """Offer chargers exactly this policy's TLS versions and ciphers (a name of
    :data:`workbench.conformance.tls_policies.TLS_POLICIES`, e.g. ``elb-2018-06``); None: no policy."""
    mirror_upstream_tls: bool = True
    """With neither ``tls_version_max`` nor ``tls_policy``: probe the CSMS at start and offer chargers no
    higher TLS version than it speaks (so a charger is not offered TLS 1.3 when its CSMS speaks only 1.2)."""
    pass_through_on_error: bool = False
    rotate_bytes: int = 0
    status_interval_s: float = 0.0
    allow_remote: bool = False
    allow_plain_ws: bool = False
    """Let chargers upgrade over plain ``ws://`` on a ``wss://`` listener (default: refused, HTTP 400)."""
    overwrite: bool = False
    """Replace an existing non-empty capture file (default: refuse, so no capture is lost)."""
    with_addon: bool = True
    """False runs plain mitmdump with the same options (the benchmark's baseline)."""
    addon_path: Path | None = None
    """The mitmproxy script to load when ``with_addon`` is set; None: the capture addon
    (:data:`ADDON_PATH`). The benchmark loads an empty addon here to measure the floor of any script."""
    confdir: Path | None = None
    """mitmproxy's state directory (its own CA); None: a fresh temporary one."""
    extra_options: dict[str, str] = field(default_factory=dict)

    def validate(self) -> None:
        """Raise a :class:`WorkbenchError` for anything the user must fix, before a process starts."""
        check_loopback(self.listen_host, allow_remote=self.allow_remote, what="--listen")
        if self.mode == "reverse":
            if not self.upstream_url:
                raise WorkbenchError("reverse mode needs --upstream wss://HOST[:PORT]/PATH")
            _, host, _, _ = parse_upstream(self.upstream_url)
            check_loopback(host, allow_remote=self.allow_remote, what="--upstream")
            if ":" in self.listen_host and self.upstream_url.startswith("wss:"):
                # Its HTTP/3 (UDP) listener, started alongside TCP for https, rejects IPv6 literals.
                raise WorkbenchError("mitmproxy 11 cannot listen on an IPv6 address in reverse wss mode; "
                                     "use --listen 127.0.0.1:PORT")
        elif self.mode != "regular":
            raise WorkbenchError(f"mode must be 'reverse' or 'regular', got {self.mode!r}")
        if self.tls_version_max not in (None, *TLS_VERSIONS):
            raise WorkbenchError(f"TLS maximum must be one of {', '.join(TLS_VERSIONS)}")
        if self.tls_policy is not None:
            from .conformance.tls_policies import TLS_POLICIES

            if self.tls_policy not in TLS_POLICIES:
                raise WorkbenchError(f"unknown TLS policy {self.tls_policy!r}; known: {', '.join(TLS_POLICIES)}")
            if self.tls_version_max is not None:
                raise WorkbenchError("--tls-policy sets the chargers' TLS versions itself; drop --tls-max")
            if self.cert_file is None:
                raise WorkbenchError("--tls-policy needs a wss:// listener: give --cert (and --key)")
        capture = Path(self.capture_path)
        if self.with_addon and not self.overwrite and capture.is_file() and capture.stat().st_size > 0:
            raise WorkbenchError(f"capture file {capture} already exists; choose another name or pass --overwrite")
        for name in ("cert_file", "key_file", "upstream_ca"):
            path = getattr(self, name)
            if path is not None and not Path(path).is_file():
                raise WorkbenchError(f"{name.replace('_', ' ')} not found: {path}")
        if self.mode == "reverse" and self.upstream_url and self.upstream_url.startswith("wss:") \
                and self.cert_file is None:
            raise WorkbenchError("a wss:// proxy needs --cert (and --key) for the certificate chargers see")


def probe_tls_max(host: str, port: int, *, ca_file: Path | None = None, insecure: bool = False,
                  timeout_s: float = 5.0) -> str | None:
    """The highest TLS version (``TLS1_2`` or ``TLS1_3``) a server negotiates with a client offering
    both; None when it cannot be reached or the handshake fails (the charger leg stays unbounded)."""
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif ca_file is not None:
        context.load_verify_locations(cafile=str(ca_file))
    else:
        context.load_default_certs()
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as raw:
            with context.wrap_socket(raw, server_hostname=host) as tls:
                version = tls.version()
    except (OSError, ssl.SSLError):
        return None
    return {"TLSv1.3": "TLS1_3", "TLSv1.2": "TLS1_2"}.get(version or "")


def mode_spec(config: ProxyConfig) -> str:
    """mitmproxy's ``--mode`` value, listen address included (``reverse:https://h:p@127.0.0.1:0``)."""
    listen = f"@{config.listen_host}:{config.listen_port}"
    if config.mode == "regular":
        return f"regular{listen}"
    assert config.upstream_url is not None
    scheme, host, port, _ = parse_upstream(config.upstream_url)
    target = "https" if scheme == "wss" else "http"
    return f"reverse:{target}://{_host_for_url(host)}:{port}{listen}"


def build_mitmdump_args(config: ProxyConfig, *, combined_cert: Path | None, confdir: Path,
                        charger_tls_max: str | None = None) -> list[str]:
    """The ``mitmdump`` argument list (without the executable) for ``config``; ``charger_tls_max`` caps
    the charger leg's TLS version (the upstream CSMS's maximum, probed at start)."""
    options: dict[str, str] = {
        "confdir": str(confdir),
        # Flows are not printed: the terminal shows our counts, and headers never reach a log.
        "flow_detail": "0",
        # Lazy: a charger gets a clean 502 when the CSMS is unreachable, not a reset before TLS.
        "connection_strategy": "lazy",
        "tls_version_client_min": "TLS1_2",
        "tls_version_server_min": "TLS1_2",
    }
    if config.tls_version_max:
        options["tls_version_client_max"] = config.tls_version_max
        options["tls_version_server_max"] = config.tls_version_max
    policy = None
    if config.tls_policy is not None:
        from .conformance.tls_policies import TLS_POLICIES

        policy = TLS_POLICIES[config.tls_policy]
        # The charger leg offers what a server behind the policy offers: its versions, its ciphers.
        versions = sorted(v.replace("TLSv", "TLS").replace(".", "_") for v in policy.versions)
        options["tls_version_client_min"] = versions[0]
        options["tls_version_client_max"] = versions[-1]
        options["ciphers_client"] = ":".join(policy.ciphers)
    elif charger_tls_max is not None and not config.tls_version_max:
        options["tls_version_client_max"] = charger_tls_max
    if combined_cert is not None:
        options["certs"] = f"*={combined_cert}"
    if config.upstream_ca is not None:
        options["ssl_verify_upstream_trusted_ca"] = str(config.upstream_ca)
    if config.insecure_upstream:
        options["ssl_insecure"] = "true"
    args = ["--mode", mode_spec(config)]
    if config.with_addon:
        args += ["-s", str(config.addon_path or ADDON_PATH)]
        options["ocpp_capture"] = str(config.capture_path)
        if config.upstream_url:
            options["ocpp_upstream_url"] = config.upstream_url
        if config.pass_through_on_error:
            options["ocpp_pass_through_on_error"] = "true"
        if not config.allow_remote:
            # Regular mode lets chargers name any destination; keep them on loopback too.
            options["ocpp_loopback_only"] = "true"
        if config.allow_plain_ws:
            options["ocpp_allow_plain_ws"] = "true"
        if policy is not None:
            options["ocpp_charger_tls_policy"] = policy.name
        if "tls_version_client_max" in options:
            options["ocpp_charger_tls_max"] = options["tls_version_client_max"]
        if config.rotate_bytes:
            options["ocpp_rotate_bytes"] = str(config.rotate_bytes)
        if config.status_interval_s:
            options["ocpp_status_interval_ms"] = str(max(1, round(config.status_interval_s * 1000)))
    options.update(config.extra_options)
    for name, value in options.items():
        args += ["--set", f"{name}={value}"]
    return args


def mitmdump_executable() -> list[str]:
    """The ``mitmdump`` of this Python environment."""
    script = Path(sys.executable).with_name("mitmdump")
    if script.exists():
        return [str(script)]
    found = shutil.which("mitmdump")
    if found:
        return [found]
    return [sys.executable, "-c", "from mitmproxy.tools.main import mitmdump; mitmdump()"]


def _write_private(path: Path, data: bytes) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)


class ProxyProcess:
    """A running ``mitmdump`` with the capture addon. Use as a context manager.

    ``start()`` returns once the proxy listens (``.port`` is then the real port, also when
    ``listen_port`` was 0). mitmdump's output goes to ``log_path``. ``stop()`` sends SIGTERM
    (the addon then writes close records for live connections); ``kill()`` sends SIGKILL.
    """

    def __init__(self, config: ProxyConfig, *, log_path: Path | None = None, start_timeout_s: float = 30.0) -> None:
        config.validate()
        self.config = config
        self.start_timeout_s = start_timeout_s
        self._private_dir = Path(tempfile.mkdtemp(prefix="ocpp-proxy-"))
        self.log_path = Path(log_path) if log_path else self._private_dir / "mitmdump.log"
        self.confdir = Path(config.confdir) if config.confdir else self._private_dir / "mitmproxy"
        self.process: subprocess.Popen[bytes] | None = None
        self.host: str = config.listen_host
        self.port: int | None = None
        self.returncode: int | None = None
        self._final_log: str | None = None
        self.upstream_tls_max: str | None = None
        """The CSMS's highest TLS version (``TLS1_2``/``TLS1_3``) when probed at start, else None."""

    def _combined_cert(self) -> Path | None:
        """mitmproxy wants key and certificate in one PEM; join them in a 0600 file we delete on stop."""
        if self.config.cert_file is None:
            return None
        if self.config.key_file is None:
            return Path(self.config.cert_file)
        combined = self._private_dir / "listen-cert-and-key.pem"
        _write_private(combined, Path(self.config.key_file).read_bytes() + b"\n"
                       + Path(self.config.cert_file).read_bytes())
        return combined

    def command(self) -> list[str]:
        return mitmdump_executable() + build_mitmdump_args(
            self.config, combined_cert=self._combined_cert(), confdir=self.confdir,
            charger_tls_max=self.upstream_tls_max,
        )

    def _probe_upstream(self) -> None:
        """Set :attr:`upstream_tls_max` from a handshake with the CSMS, when the charger leg mirrors it."""
        config = self.config
        if (not config.mirror_upstream_tls or config.tls_policy or config.tls_version_max
                or config.mode != "reverse" or not (config.upstream_url or "").startswith("wss:")):
            return
        _, host, port, _ = parse_upstream(config.upstream_url or "")
        self.upstream_tls_max = probe_tls_max(host, port, ca_file=config.upstream_ca,
                                              insecure=config.insecure_upstream)

    def start(self) -> ProxyProcess:
        if self.process is not None:
            raise WorkbenchError("proxy already started")
        self._probe_upstream()
        command = self.command()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            self._wait_listening()
        except BaseException:
            self.kill()
            raise
        return self

    def _wait_listening(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            log = self.log_text()
            match = _LISTENING.search(log)
            ready = not self.config.with_addon or _ADDON_READY in log
            if match and ready:
                self.port = int(match["port"])
                if self._port_accepts():
                    return
            if self.process.poll() is not None:
                self.returncode = self.process.returncode
                raise WorkbenchError(
                    f"mitmdump exited with status {self.returncode} before listening:\n{self.log_text()[-2000:]}"
                )
            time.sleep(0.05)
        raise WorkbenchError(f"mitmdump did not listen within {self.start_timeout_s:g} s:\n{self.log_text()[-2000:]}")

    def _port_accepts(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=1.0):
                return True
        except OSError:
            return False

    def log_text(self) -> str:
        """mitmdump's output so far (never holds credentials: flows are not printed)."""
        if self._final_log is not None:
            return self._final_log
        try:
            return self.log_path.read_text("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_since(self, offset: int) -> tuple[str, int]:
        """The complete lines mitmdump wrote from byte ``offset`` of its log on, and the offset after them:
        for echoing a log that grows for weeks without reading it again from the start."""
        if self._final_log is not None:
            data = self._final_log.encode("utf-8")
            return data[offset:].decode("utf-8", "replace"), max(offset, len(data))
        try:
            with open(self.log_path, "rb") as log:
                log.seek(offset)
                data = log.read()
        except FileNotFoundError:
            return "", offset
        complete = data.rfind(b"\n") + 1  # a line still being written waits for the next call
        return data[:complete].decode("utf-8", "replace"), offset + complete

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def url_host(self) -> str:
        return _host_for_url(self.host)

    def wait(self, timeout_s: float) -> int | None:
        """Wait up to ``timeout_s`` for the process to end; its exit status, or None if still running."""
        if self.process is None:
            return self.returncode
        try:
            self.returncode = self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return None
        return self.returncode

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 15.0) -> int | None:
        """Send ``sig`` and wait up to ``timeout_s``; SIGKILL if it does not end. Returns the exit status."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            if self.wait(timeout_s) is None:
                self.process.kill()
                self.wait(timeout_s)
        elif self.process is not None:
            self.returncode = self.process.returncode
        self._cleanup()
        return self.returncode

    def kill(self) -> int | None:
        """SIGKILL: the crash case. The capture keeps every record flushed before it."""
        return self.stop(signal.SIGKILL)

    def _cleanup(self) -> None:
        # The private dir may hold the joined key file: remove it as soon as the proxy is gone.
        if self.log_path.is_relative_to(self._private_dir):
            self._final_log = self.log_text()
        shutil.rmtree(self._private_dir, ignore_errors=True)

    def __enter__(self) -> ProxyProcess:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
