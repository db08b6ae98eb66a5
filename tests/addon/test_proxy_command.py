"""The proxy runner's configuration checks and the ``ocpp-workbench proxy`` command."""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from addon_peers import RawCSMS, raw_charger, recv

from workbench.capture import read_capture
from workbench.cli import main
from workbench.errors import UnsafeTargetError, WorkbenchError
from workbench.lab.certs import LabPKI
from workbench.proxy import (
    ADDON_PATH,
    ProxyConfig,
    ProxyProcess,
    build_mitmdump_args,
    check_loopback,
    mode_spec,
    parse_listen,
)

PASSWORD = "Cli-0a1b2c3d4e5f"


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost"])
def test_loopback_hosts_are_allowed(host: str) -> None:
    check_loopback(host, allow_remote=False, what="--listen")


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "csms.example.com", ""])
def test_remote_hosts_are_refused_without_the_flag(host: str) -> None:
    with pytest.raises(UnsafeTargetError, match="--allow-remote"):
        check_loopback(host, allow_remote=False, what="--listen")
    check_loopback(host, allow_remote=True, what="--listen")


def test_config_refuses_remote_upstream_and_credentials(tmp_path: Path, pki: LabPKI) -> None:
    base = dict(capture_path=tmp_path / "c.ocpp.jsonl", cert_file=pki.server_cert, key_file=pki.server_key)
    with pytest.raises(UnsafeTargetError):
        ProxyConfig(upstream_url="wss://csms.example.com/ocpp", **base).validate()
    ProxyConfig(upstream_url="wss://csms.example.com/ocpp", allow_remote=True, **base).validate()
    with pytest.raises(WorkbenchError, match="credentials"):
        ProxyConfig(upstream_url="wss://u:p@127.0.0.1/ocpp", **base).validate()
    with pytest.raises(WorkbenchError, match="wss://"):
        ProxyConfig(upstream_url="https://127.0.0.1/ocpp", **base).validate()
    with pytest.raises(WorkbenchError, match="--cert"):
        ProxyConfig(capture_path=tmp_path / "c.ocpp.jsonl", upstream_url="wss://127.0.0.1/ocpp").validate()
    with pytest.raises(WorkbenchError, match="IPv6"):
        ProxyConfig(upstream_url="wss://127.0.0.1/ocpp", listen_host="::1", **base).validate()
    ProxyConfig(mode="regular", listen_host="::1", **base).validate()
    with pytest.raises(WorkbenchError, match="not found"):
        ProxyConfig(upstream_url="wss://127.0.0.1/ocpp", upstream_ca=tmp_path / "missing.pem", **base).validate()


def test_listen_parsing() -> None:
    assert parse_listen("127.0.0.1:8443") == ("127.0.0.1", 8443)
    assert parse_listen("[::1]:0") == ("::1", 0)
    for bad in ("127.0.0.1", ":80", "host:http", "127.0.0.1:70000"):
        with pytest.raises(WorkbenchError):
            parse_listen(bad)


def test_mitmdump_arguments(tmp_path: Path) -> None:
    config = ProxyConfig(
        capture_path=tmp_path / "c.ocpp.jsonl", upstream_url="wss://127.0.0.1:9000/ocpp", listen_port=8443,
        upstream_ca=tmp_path / "ca.pem", tls_version_max="TLS1_2",
    )
    assert mode_spec(config) == "reverse:https://127.0.0.1:9000@127.0.0.1:8443"
    args = build_mitmdump_args(config, combined_cert=tmp_path / "k.pem", confdir=tmp_path / "conf")
    settings = {args[i + 1] for i, arg in enumerate(args) if arg == "--set"}
    assert {
        f"certs=*={tmp_path / 'k.pem'}", f"ssl_verify_upstream_trusted_ca={tmp_path / 'ca.pem'}",
        "tls_version_client_min=TLS1_2", "tls_version_server_min=TLS1_2", "tls_version_client_max=TLS1_2",
        "connection_strategy=lazy", f"ocpp_capture={tmp_path / 'c.ocpp.jsonl'}", "flow_detail=0",
    } <= settings
    assert not any(s.startswith("ssl_insecure") for s in settings)
    assert not any(s.startswith("ocpp_allow_plain_ws") for s in settings)  # refused unless asked for
    allowing = build_mitmdump_args(replace(config, allow_plain_ws=True), combined_cert=None, confdir=tmp_path / "conf")
    assert "ocpp_allow_plain_ws=true" in allowing
    plain = build_mitmdump_args(
        ProxyConfig(capture_path=tmp_path / "c", mode="regular", with_addon=False), combined_cert=None,
        confdir=tmp_path / "conf",
    )
    assert "-s" not in plain and plain[:2] == ["--mode", "regular@127.0.0.1:0"]
    assert args[args.index("-s") + 1] == str(ADDON_PATH)
    other = build_mitmdump_args(
        ProxyConfig(capture_path=tmp_path / "c", mode="regular", addon_path=tmp_path / "other.py"),
        combined_cert=None, confdir=tmp_path / "conf",
    )
    assert other[other.index("-s") + 1] == str(tmp_path / "other.py")


def test_cli_refuses_a_remote_target_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["proxy", "--listen", "0.0.0.0:8443", "--upstream", "wss://127.0.0.1/ocpp",
                 "--out", str(tmp_path / "c.ocpp.jsonl")])
    assert code == 2
    err = capsys.readouterr().err
    assert "not loopback" in err and "--allow-remote" in err and "Traceback" not in err
    assert not (tmp_path / "c.ocpp.jsonl").exists()


@pytest.mark.network
@pytest.mark.timeout(60)
def test_cli_runs_shows_counts_and_stops_cleanly_on_sigterm(tmp_path: Path, pki: LabPKI) -> None:
    capture = tmp_path / "cli.ocpp.jsonl"

    async def scenario() -> tuple[int | None, str]:
        async with RawCSMS(pki.server_ssl_context(), "CP-CLI", PASSWORD) as csms:
            cli = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "workbench", "proxy", "--listen", "127.0.0.1:0",
                "--upstream", f"wss://127.0.0.1:{csms.port}/ocpp", "--out", str(capture),
                "--cert", str(pki.server_cert), "--key", str(pki.server_key), "--upstream-ca", str(pki.ca_cert),
                "--status-interval", "0.2", "--duration", "45",
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            )
            lines: list[str] = []

            async def read_until(text: str) -> str:
                while True:
                    line = (await asyncio.wait_for(cli.stdout.readline(), 20)).decode()  # type: ignore[union-attr]
                    if not line:
                        raise AssertionError(f"CLI ended before printing {text!r}:\n{''.join(lines)}")
                    lines.append(line)
                    if text in line:
                        return line

            try:
                banner = await read_until("listening on")
                port = int(banner.split("wss://127.0.0.1:")[1].split(" ")[0])
                url = f"wss://127.0.0.1:{port}/ocpp/CP-CLI"
                async with raw_charger(url, user="CP-CLI", password=PASSWORD, ssl_context=pki.client_ssl_context()) as ws:
                    await ws.send('[2,"h1","Heartbeat",{}]')
                    await recv(ws)
                    await read_until("1 live, 1 opened, 0 rejected, 0 TLS failed, 2 frames")
                    cli.send_signal(signal.SIGTERM)
                    rest, _ = await asyncio.wait_for(cli.communicate(), 30)
                    lines.append(rest.decode())
            finally:
                if cli.returncode is None:
                    cli.kill()
                    await cli.wait()
            return cli.returncode, "".join(lines)

    returncode, output = asyncio.run(scenario())
    assert returncode == 0, output
    _, records, problems = read_capture(capture)
    assert problems == []
    assert [r["type"] for r in records] == ["connection_open", "frame", "frame", "connection_close"]
    assert records[-1]["closed_by"] == "proxy"
    assert PASSWORD not in output


def test_an_existing_capture_is_never_overwritten_by_default(tmp_path: Path, pki: LabPKI) -> None:
    capture = tmp_path / "kept.ocpp.jsonl"
    capture.write_text('{"type":"header","format_version":1}\n')
    config = dict(capture_path=capture, upstream_url="wss://127.0.0.1:9000/ocpp", cert_file=pki.server_cert,
                  key_file=pki.server_key)
    with pytest.raises(WorkbenchError, match="--overwrite"):
        ProxyConfig(**config).validate()  # type: ignore[arg-type]
    ProxyConfig(overwrite=True, **config).validate()  # type: ignore[arg-type]
    assert capture.read_text() == '{"type":"header","format_version":1}\n'


@pytest.mark.network
@pytest.mark.timeout(60)
def test_a_proxy_that_cannot_start_is_a_clear_error(tmp_path: Path, pki: LabPKI, mitm_confdir: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        config = ProxyConfig(
            capture_path=tmp_path / "c.ocpp.jsonl", upstream_url="wss://127.0.0.1:9/ocpp", cert_file=pki.server_combined,
            upstream_ca=pki.ca_cert, listen_port=taken.getsockname()[1], confdir=mitm_confdir,
        )
        proxy = ProxyProcess(config)
        with pytest.raises(WorkbenchError, match="before listening") as failed:
            proxy.start()
    assert "address already in use" in str(failed.value).lower()
    assert proxy.process is not None and proxy.process.poll() is not None  # nothing left running


def test_log_echo_reads_only_what_is_new_and_whole_lines(tmp_path: Path) -> None:
    config = ProxyConfig(capture_path=tmp_path / "c.ocpp.jsonl", upstream_url="ws://127.0.0.1:9000/ocpp")
    log = tmp_path / "mitmdump.log"
    proxy = ProxyProcess(config, log_path=log)
    assert proxy.log_since(0) == ("", 0)  # no log yet
    log.write_bytes("listening ✓\npartial".encode())
    text, offset = proxy.log_since(0)
    assert (text, offset) == ("listening ✓\n", len("listening ✓\n".encode()))
    with open(log, "ab") as stream:
        stream.write(b" line\nnext\n")
    assert proxy.log_since(offset) == ("partial line\nnext\n", log.stat().st_size)
    assert proxy.log_since(log.stat().st_size) == ("", log.stat().st_size)
    proxy.stop()  # never started: only removes its private directory


def test_allow_plain_ws_option_reaches_the_config(tmp_path: Path, pki: LabPKI) -> None:
    import argparse

    from workbench.commands import proxy as proxy_command

    parser = argparse.ArgumentParser()
    proxy_command.add_arguments(parser)
    base = ["--upstream", "wss://127.0.0.1:9000/ocpp", "--out", str(tmp_path / "c.ocpp.jsonl"),
            "--cert", str(pki.server_cert), "--key", str(pki.server_key)]
    assert proxy_command.config_from_args(parser.parse_args(base)).allow_plain_ws is False
    assert proxy_command.config_from_args(parser.parse_args([*base, "--allow-plain-ws"])).allow_plain_ws is True
