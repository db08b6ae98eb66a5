"""The README's "Connect a real charger" commands, taken from the README itself and run as written
(only the fixed ports 9000 and 8443 become free ones, ``.venv/bin/`` this environment, and
``workbench/addon.py`` this checkout's): certs -> lab csms -> proxy -> lab charger -> analyze,
then the mitmdump one-liner in place of the proxy. Frames must arrive in both captures, with
no password in them, and every listener must be on loopback."""

from __future__ import annotations

import re
import shlex
import socket
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "lab"))  # the process helper shared with the lab tests
from command_process import REPO, WORKBENCH, CommandProcess, environment  # noqa: E402

import workbench as wb  # noqa: E402
from workbench.proxy import ADDON_PATH, mitmdump_executable  # noqa: E402

README = REPO / "README.md"
SECTION = "## Connect a real charger"
PASSWORD = "secret-1"
FRAMES_SEEN = r"ocpp capture: \d+ live, \d+ opened, \d+ rejected, \d+ TLS failed, [1-9]\d* frames"


def section_commands() -> list[list[str]]:
    """Every command line of the section's ``sh`` blocks, as argv lists (comments dropped)."""
    text = README.read_text(encoding="utf-8")
    assert SECTION in text, "README lost its 'Connect a real charger' section"
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", section, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            argv = shlex.split(line, comments=True)
            if argv:
                commands.append(argv)
    return commands


def kind(argv: list[str]) -> str:
    """``certs``, ``lab csms``, ``proxy``, ... or ``mitmdump``."""
    if argv[0].endswith("mitmdump"):
        return "mitmdump"
    assert argv[0] == ".venv/bin/ocpp-workbench", argv
    return " ".join(argv[1:3]) if argv[1] == "lab" else argv[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def localize(argv: list[str], ports: dict[str, str]) -> list[str]:
    """The README command for this test run: this environment's executables, free ports."""
    head = mitmdump_executable() if kind(argv) == "mitmdump" else list(WORKBENCH)
    args = []
    for arg in argv[1:]:
        for fixed, free in ports.items():
            arg = arg.replace(f"127.0.0.1:{fixed}", f"127.0.0.1:{free}")
        args.append(str(ADDON_PATH) if arg == "workbench/addon.py" else arg)
    return head + args


def test_the_section_holds_the_tested_steps_and_the_only_mitmdump_line() -> None:
    assert [kind(argv) for argv in section_commands()] == [
        "certs", "lab csms", "proxy", "lab charger", "analyze", "mitmdump"]
    # No other mitmdump one-liner elsewhere in the README that this test would not run.
    lines = [line for line in README.read_text(encoding="utf-8").splitlines() if "mitmdump --" in line]
    assert len(lines) == 1


def _capture_frames(path: Path) -> tuple[int, list[str]]:
    assert PASSWORD.encode() not in path.read_bytes()
    cap = wb.load(path)
    calls = cap.frames[cap.frames["message_type"] == "CALL"]
    return len(cap.frames), list(calls["action"])


@pytest.mark.network
@pytest.mark.slow
def test_readme_commands_capture_frames_on_loopback(tmp_path: Path) -> None:
    steps = {kind(argv): argv for argv in section_commands()}
    ports = {"9000": str(free_port()), "8443": str(free_port())}

    def command(name: str) -> list[str]:
        return localize(steps[name], ports)

    certs = subprocess.run(command("certs"), cwd=tmp_path, env=environment(), capture_output=True,
                           text=True, timeout=60)
    assert certs.returncode == 0, certs.stderr
    assert "The charger must trust the CA certificate pki/ca.pem" in certs.stdout

    running: list[CommandProcess] = []
    try:
        csms = CommandProcess(command("lab csms"), tmp_path)
        running.append(csms)
        csms.wait_for_line(rf"lab CSMS listening on wss://127\.0\.0\.1:{ports['9000']}/ocpp ")

        proxy = CommandProcess(command("proxy"), tmp_path)
        running.append(proxy)
        proxy.wait_for_line(rf"proxy: listening on wss://127\.0\.0\.1:{ports['8443']} ")

        charger = CommandProcess(command("lab charger"), tmp_path)
        running.append(charger)
        assert charger.wait(120) == 0, charger.output
        assert "CP-1: stopped (done): 2 sessions" in charger.output
        proxy.wait_for_line(FRAMES_SEEN, timeout_s=15)  # the "see frames arrive" line of step 5
        assert proxy.terminate() == 0, proxy.output

        frames, actions = _capture_frames(tmp_path / "captures" / "site.ocpp.jsonl")
        assert frames > 20 and actions.count("BootNotification") == 1
        assert actions.count("StartTransaction") == 2 and actions.count("StopTransaction") == 2
        analyze = subprocess.run(command("analyze"), cwd=tmp_path, env=environment(), capture_output=True,
                                 text=True, timeout=120)
        assert analyze.returncode == 0, analyze.stdout + analyze.stderr
        assert "CP-1" in analyze.stdout

        # The mitmdump one-liner on the same port, in place of the proxy.
        # HOME: mitmdump keeps its own CA in ~/.mitmproxy; the test leaves the real home alone.
        mitmdump = CommandProcess(command("mitmdump"), tmp_path, env={"HOME": str(tmp_path / "home")})
        running.append(mitmdump)
        mitmdump.wait_for_line(rf"listening at (\S*?)127\.0\.0\.1:{ports['8443']}\b")
        mitmdump.wait_for_line("ocpp capture: recording to")
        charger = CommandProcess(command("lab charger"), tmp_path)
        running.append(charger)
        assert charger.wait(120) == 0, charger.output
        mitmdump.wait_for_line(FRAMES_SEEN, timeout_s=15)
        assert mitmdump.terminate() == 0, mitmdump.output
        frames, actions = _capture_frames(tmp_path / "captures" / "mitmdump.ocpp.jsonl")
        assert frames > 20 and actions.count("StartTransaction") == 2
        assert PASSWORD not in mitmdump.output + proxy.output

        assert csms.terminate() == 0, csms.output
        assert csms.output.count("reason Local") == 4
        assert PASSWORD not in csms.output
    finally:
        for process in running:
            process.kill()
