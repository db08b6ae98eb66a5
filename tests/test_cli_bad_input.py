"""Bad input at the command line: one line on stderr, a documented exit code, never a traceback.

The matrix runs EVERY subcommand over every bad path that fits each of its path options (missing,
a directory, under a file, /dev/full, empty, binary, a truncated gzip, a newer format version).
It runs in-process (fast, the whole matrix); a sample runs as real processes through
``python -m workbench``, where an exception at exit or a second message would show too.
"""

from __future__ import annotations

import gzip
import json
import os
import resource
import signal
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from workbench import cli
from workbench.cli import EXIT_BAD_INPUT, EXIT_BROKEN_PIPE, EXIT_CODES, EXIT_INTERNAL, build_parser, main
from workbench.testing import call, clean_session_script, iso_at, make_capture, result

INPUT_CASES = ("missing", "directory", "under a file", "/dev/full", "empty", "binary", "truncated gzip",
               "newer format version")
OUTPUT_FILE_CASES = ("directory", "under a file", "/dev/full")
OUTPUT_DIR_CASES = ("a file", "under a file", "/dev/full")
KEY_FILE_CASES = ("directory", "under a file", "/dev/full", "empty")


@dataclass(frozen=True)
class Slot:
    """One path option of one command: its argument list with ``{}`` where the bad path goes."""

    option: str
    argv: tuple[str, ...]
    cases: tuple[str, ...]
    must_not_exist: str | None = None  # an output that must not be written when the input is bad


# {good}: a native capture; {log}: a foreign NDJSON log; {tmp}: a fresh directory for outputs.
PROXY = ("proxy", "--listen", "127.0.0.1:0", "--duration", "1")
MATRIX: dict[str, list[Slot]] = {
    "analyze": [
        Slot("FILE", ("analyze", "{}"), INPUT_CASES),
        Slot("--out", ("analyze", "{good}", "--out", "{}"), OUTPUT_DIR_CASES),
    ],
    "check": [
        Slot("CAPTURE", ("check", "{}", "-o", "{tmp}/report.txt"), INPUT_CASES, "{tmp}/report.txt"),
        Slot("-o", ("check", "{good}", "--format", "html", "-o", "{}"), OUTPUT_FILE_CASES),
    ],
    "profiles": [],  # no path option
    "probe": [
        Slot("--cert", ("probe", "--listen", "127.0.0.1:0", "--connect-timeout", "1", "--cert", "{}",
                        "--out", "{tmp}/probe"), INPUT_CASES, "{tmp}/probe"),
    ],
    "import": [
        Slot("IN", ("import", "{}", "-o", "{tmp}/out.ocpp.jsonl"), INPUT_CASES, "{tmp}/out.ocpp.jsonl"),
        Slot("-o", ("import", "{log}", "-o", "{}"), OUTPUT_FILE_CASES),
        Slot("--report", ("import", "{log}", "-o", "{tmp}/out.ocpp.jsonl", "--report", "{}"), OUTPUT_FILE_CASES),
    ],
    "export": [
        Slot("FILE", ("export", "{}", "--to", "ndjson", "-o", "{tmp}/out.ndjson"), INPUT_CASES, "{tmp}/out.ndjson"),
        Slot("-o", ("export", "{good}", "--to", "har", "-o", "{}"), OUTPUT_FILE_CASES),
    ],
    "redact": [
        Slot("IN", ("redact", "{}", "-o", "{tmp}/out.ocpp.jsonl", "--key-file", "{tmp}/key"), INPUT_CASES,
             "{tmp}/out.ocpp.jsonl"),
        Slot("-o", ("redact", "{good}", "-o", "{}", "--key-file", "{tmp}/key"), OUTPUT_FILE_CASES),
        Slot("--key-file", ("redact", "{good}", "-o", "{tmp}/out.ocpp.jsonl", "--key-file", "{}"), KEY_FILE_CASES,
             "{tmp}/out.ocpp.jsonl"),
    ],
    "report": [
        Slot("CAPTURE", ("report", "{}", "-o", "{tmp}/r.html"), INPUT_CASES, "{tmp}/r.html"),
        Slot("-o", ("report", "{good}", "-o", "{}"), OUTPUT_FILE_CASES),
    ],
    "synth": [
        Slot("-o", ("synth", "--chargers", "1", "--days", "0.01", "-o", "{}"), OUTPUT_FILE_CASES),
    ],
    "proxy": [
        Slot("--out", (*PROXY, "--upstream", "ws://127.0.0.1:9/", "--out", "{}"), OUTPUT_FILE_CASES),
        Slot("--log", (*PROXY, "--upstream", "ws://127.0.0.1:9/", "--out", "{tmp}/p.ocpp.jsonl", "--log", "{}"),
             OUTPUT_FILE_CASES, "{tmp}/p.ocpp.jsonl"),
        Slot("--cert", (*PROXY, "--upstream", "wss://127.0.0.1:9/", "--out", "{tmp}/p.ocpp.jsonl", "--cert", "{}"),
             INPUT_CASES, "{tmp}/p.ocpp.jsonl"),
        Slot("--upstream-ca", (*PROXY, "--upstream", "ws://127.0.0.1:9/", "--out", "{tmp}/p.ocpp.jsonl",
                               "--upstream-ca", "{}"), INPUT_CASES, "{tmp}/p.ocpp.jsonl"),
    ],
    "demo": [
        Slot("--out", ("demo", "--out", "{}"), OUTPUT_FILE_CASES),
    ],
    "certs": [
        Slot("--out", ("certs", "--out", "{}"), OUTPUT_DIR_CASES),
    ],
    "replay": [
        Slot("CAPTURE", ("replay", "{}", "--plan"), INPUT_CASES),
        Slot("--out", ("replay", "{good}", "--target", "ws://127.0.0.1:9/ocpp", "--out", "{}"), OUTPUT_FILE_CASES),
        Slot("--report", ("replay", "{good}", "--target", "ws://127.0.0.1:9/ocpp", "--connect-timeout", "1",
                          "--report", "{}"), OUTPUT_FILE_CASES),
        Slot("--password-file", ("replay", "{good}", "--target", "ws://127.0.0.1:9/ocpp", "--password-file", "{}"),
             KEY_FILE_CASES),
        Slot("--ca", ("replay", "{good}", "--target", "wss://127.0.0.1:9/ocpp", "--ca", "{}"), INPUT_CASES),
        Slot("--cert", ("replay", "{good}", "--as", "csms", "--listen", "127.0.0.1:0", "--cert", "{}"), INPUT_CASES),
    ],
    "lab": [
        Slot("csms --cert", ("lab", "csms", "--listen", "127.0.0.1:0", "--seconds", "1", "--cert", "{}",
                             "--key", "{good}"), INPUT_CASES),
        Slot("charger --ca", ("lab", "charger", "--target", "wss://127.0.0.1:9/ocpp", "--seconds", "1",
                              "--ca", "{}"), INPUT_CASES),
    ],
}

# The exit code each (command, option, case) must give; every one is documented in cli.EXIT_CODES.
EXPECTED_EXIT = EXIT_BAD_INPUT


def _bad_paths(root: Path, good: Path) -> dict[str, Path]:
    """One bad path per case, made under ``root``."""
    root.mkdir()
    (root / "a directory").mkdir()
    (root / "a file").write_text("x\n")
    (root / "empty.log").write_bytes(b"")
    (root / "binary.bin").write_bytes(bytes(range(256)) * 4)
    # Cut inside the first record: nothing in it is readable.
    (root / "cut.ocpp.jsonl.gz").write_bytes(gzip.compress(good.read_bytes())[:30])
    (root / "newer.ocpp.jsonl").write_text('{"type":"header","format_version":99}\n'
                                           + "\n".join(good.read_text().splitlines()[1:]) + "\n")
    return {
        "missing": root / "no-such-file.ocpp.jsonl",
        "directory": root / "a directory",
        "a file": root / "a file",
        "under a file": root / "a file" / "x.ocpp.jsonl",
        "/dev/full": Path("/dev/full"),
        "empty": root / "empty.log",
        "binary": root / "binary.bin",
        "truncated gzip": root / "cut.ocpp.jsonl.gz",
        "newer format version": root / "newer.ocpp.jsonl",
    }


@pytest.fixture
def world(tmp_path: Path) -> Callable[[Slot, str], tuple[list[str], Path | None]]:
    good = make_capture(tmp_path / "good.ocpp.jsonl", "CP1", clean_session_script(), close_at_s=4000)
    log = tmp_path / "peer.ndjson"
    log.write_text('[2,"1","Heartbeat",{}]\n[3,"1",{"currentTime":"2026-01-05T00:00:00Z"}]\n')
    bad = _bad_paths(tmp_path / "bad", good)
    out = tmp_path / "out"
    out.mkdir()

    def argv(slot: Slot, case: str) -> tuple[list[str], Path | None]:
        names = {"good": str(good), "log": str(log), "tmp": str(out)}
        args = [str(bad[case]) if a == "{}" else a.format(**names) for a in slot.argv]
        return args, Path(slot.must_not_exist.format(**names)) if slot.must_not_exist else None

    return argv


CASES = [pytest.param(command, slot, case, id=f"{command} {slot.option} {case}")
         for command, slots in MATRIX.items() for slot in slots for case in slot.cases]


def _assert_one_line(code: int, err: str, command: str, expected: int = EXPECTED_EXIT) -> None:
    assert "Traceback" not in err, err
    assert code == expected and code in EXIT_CODES, (code, err)
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert err.startswith(f"ocpp-workbench {command}: "), err


@pytest.mark.parametrize("command, slot, case", CASES)
def test_every_command_gives_one_line_for_every_bad_path(command: str, slot: Slot, case: str, world,
                                                         capfd: pytest.CaptureFixture[str]) -> None:
    argv, must_not_exist = world(slot, case)
    code = main(argv)
    _assert_one_line(code, capfd.readouterr().err, command)
    if must_not_exist is not None:
        assert not must_not_exist.exists(), f"{must_not_exist} written although the input was bad"


def test_every_subcommand_is_in_the_matrix() -> None:
    subcommands = set(build_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    assert not subcommands - set(MATRIX), f"add the path options of {sorted(subcommands - set(MATRIX))} to MATRIX"
    assert not set(MATRIX) - subcommands, f"MATRIX names commands that do not exist: {sorted(set(MATRIX) - subcommands)}"


def test_exit_codes_are_documented_in_the_readme() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    for code in EXIT_CODES:
        assert f"| {code} |" in readme, f"exit code {code} is not in the README's CLI reference"


# --- the same through real processes: nothing printed at exit, no second line -------------------------

def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}


def _run(argv: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "workbench", *argv], capture_output=True, text=True,
                          timeout=120, env=_env(), **kwargs)


PROCESS_SAMPLE = [  # one case per command, the ones that gave tracebacks before
    ("export", "FILE", "directory"), ("export", "-o", "/dev/full"), ("redact", "--key-file", "directory"),
    ("synth", "-o", "under a file"), ("proxy", "--log", "under a file"), ("analyze", "FILE", "binary"),
    ("import", "IN", "empty"), ("demo", "--out", "directory"),
]


@pytest.mark.slow
def test_a_sample_as_real_processes(world) -> None:
    slots = {(command, slot.option): slot for command, slots in MATRIX.items() for slot in slots}
    runs = [(command, world(slots[command, option], case)[0]) for command, option, case in PROCESS_SAMPLE]
    with ThreadPoolExecutor(max_workers=4) as pool:
        done = list(pool.map(lambda run: _run(run[1]), runs))
    for (command, _), process in zip(runs, done):
        _assert_one_line(process.returncode, process.stderr, command)


def _small_file_limit() -> None:
    """In the child: files may not grow past 20 kB, like a disk that fills (EFBIG, not a signal)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))


@pytest.mark.slow
def test_a_full_disk_is_one_line(tmp_path: Path, capsys) -> None:
    big = tmp_path / "big.ocpp.jsonl"
    assert main(["synth", "--chargers", "1", "--days", "0.1", "-o", str(big)]) == 0
    assert big.stat().st_size > 40_000  # twice the limit below
    commands = [
        ["synth", "--chargers", "1", "--days", "0.1", "-o", str(tmp_path / "s.ocpp.jsonl")],
        ["analyze", str(big), "--out", str(tmp_path / "tables")],
        ["import", str(big), "-o", str(tmp_path / "i.ocpp.jsonl")],
        ["redact", str(big), "-o", str(tmp_path / "r.ocpp.jsonl"), "--key-file", str(tmp_path / "key")],
        ["export", str(big), "--to", "har", "-o", str(tmp_path / "e.har")],
    ]
    with ThreadPoolExecutor(max_workers=4) as pool:
        done = list(pool.map(lambda argv: _run(argv, preexec_fn=_small_file_limit), commands))
    for argv, process in zip(commands, done):
        _assert_one_line(process.returncode, process.stderr, argv[0])
        assert "too large" in process.stderr.lower()


@pytest.mark.slow
def test_stdout_full_or_closed(tmp_path: Path) -> None:
    good = make_capture(tmp_path / "good.ocpp.jsonl", "CP1", clean_session_script(), close_at_s=4000)
    with open("/dev/full", "w") as full:
        process = subprocess.run([sys.executable, "-m", "workbench", "analyze", str(good)], stdout=full,
                                 stderr=subprocess.PIPE, text=True, timeout=120, env=_env())
    _assert_one_line(process.returncode, process.stderr, "analyze")
    assert "cannot write to standard output: no space left on device" in process.stderr
    # A reader that goes away (| head): no message at all, the exit code of a closed pipe.
    child = subprocess.Popen([sys.executable, "-m", "workbench", "analyze", str(good), "--worst", "200"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env())
    assert child.stdout is not None and child.stderr is not None
    child.stdout.close()
    assert child.wait(timeout=120) == EXIT_BROKEN_PIPE
    assert child.stderr.read() == b""
    child.stderr.close()


# --- what the lines say --------------------------------------------------------------------------------

def test_no_frame_at_all_is_exit_2_for_analyze_and_import_alike(tmp_path: Path, capfd) -> None:
    hostile = tmp_path / "x.log"
    hostile.write_bytes(b"hello \x1b]0;PWNED\x07\n")
    out = tmp_path / "x.ocpp.jsonl"
    assert main(["analyze", str(hostile)]) == 2
    assert main(["import", str(hostile), "-o", str(out)]) == 2
    captured = capfd.readouterr()
    assert not out.exists()  # no empty capture
    assert "\x1b" not in captured.out + captured.err and "\x07" not in captured.out + captured.err
    assert "line 1: hello \\u001b]0;PWNED\\u0007" in captured.out  # the import report, escaped
    lines = captured.err.splitlines()
    assert lines == [f"ocpp-workbench analyze: no OCPP frame in {hostile} (1 line that is no frame; "
                     "`ocpp-workbench import` reports each)",
                     f"ocpp-workbench import: no OCPP frame in {hostile} (1 line read, 1 skipped)"]


def test_control_characters_from_input_are_escaped_in_the_analyze_report(tmp_path: Path, capfd) -> None:
    script = clean_session_script() + [(2200, "up", call("\x1b]0;PWNED\x07", "Heartbeat", {})),
                                       (2201, "down", '[4,"\\u001b]0;PWNED\\u0007","Evil\\u009b31m\\nFAKE","",{}]')]
    path = make_capture(tmp_path / "evil.ocpp.jsonl", "CP\x1b[2J", script, close_at_s=4000)
    assert main(["analyze", str(path), "--worst", "50"]) == 0
    out = capfd.readouterr().out
    assert not any(ch in out for ch in "\x1b\x07\x9b"), out
    assert "Evil\\u009b31m\\u000aFAKE" in out          # one line, the C1 CSI and the newline escaped
    assert "CP\\u001b[2J" in out
    assert not any(line.startswith("FAKE") for line in out.splitlines())


def test_blank_ndjson_lines_are_counted_in_the_import_report(tmp_path: Path, capsys) -> None:
    log = tmp_path / "peer.ndjson"
    log.write_text('\n[2,"1","Heartbeat",{}]\n\n   \n[3,"1",{"currentTime":"2026-01-05T00:00:00Z"}]\n\n')
    assert main(["import", str(log), "-o", str(tmp_path / "p.ocpp.jsonl"), "--charge-point-id", "CP1",
                 "--report", str(tmp_path / "report.csv")]) == 0
    out = capsys.readouterr().out
    assert "6 lines read, 2 frames recovered" in out
    assert "note: blank lines (1)" in out and "4 blank lines: 1, 3, 4, 6" in out


def test_analyze_says_why_it_exits_1(tmp_path: Path, capsys) -> None:
    script = clean_session_script() + [
        (2200, "up", call("late", "Heartbeat", {})),
        (2215, "down", result("late", {"currentTime": iso_at(2215)})),   # slow: a warning
        (2220, "up", '[2,"broken","Heartbeat"'),                          # invalid: an error
        (2221, "up", '[2,"broken2","Heartbeat"'),                         # invalid: an error
    ]
    path = make_capture(tmp_path / "f.ocpp.jsonl", "CP2", script, close_at_s=4000)
    assert main(["analyze", str(path), "--fail-on", "error", "--format", "json"]) == 1
    captured = capsys.readouterr()
    json.loads(captured.out)  # stdout stays the report alone
    assert captured.err == "ocpp-workbench analyze: 2 errors (--fail-on error)\n"
    assert main(["analyze", str(path), "--fail-on", "warning"]) == 1
    assert capsys.readouterr().err == "ocpp-workbench analyze: 2 errors, 1 warning (--fail-on warning)\n"
    assert main(["analyze", str(path)]) == 0
    assert capsys.readouterr().err == ""


def test_a_usage_error_is_one_line(capfd) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["export", "x", "--to", "xml\x1b[2J"])
    assert exit_info.value.code == EXIT_BAD_INPUT
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and "invalid choice" in err and "\x1b" not in err
    assert err.startswith("ocpp-workbench export: argument --to:") and err.rstrip().endswith("--help)")


def test_a_bug_is_one_line_with_exit_3_and_a_way_to_the_traceback(monkeypatch, capfd, tmp_path: Path) -> None:
    def broken(_args) -> int:
        raise KeyError("frames\nsecond line")

    monkeypatch.setattr(cli, "_load_commands", lambda: [type("M", (), {
        "NAME": "boom", "HELP": "raises", "add_arguments": staticmethod(lambda p: None), "run": staticmethod(broken)})])
    assert main(["boom"]) == EXIT_INTERNAL
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and "internal error: KeyError" in err and cli.TRACEBACK_ENV in err
    monkeypatch.setenv(cli.TRACEBACK_ENV, "1")
    with pytest.raises(KeyError):
        main(["boom"])


@pytest.mark.parametrize("argv", [
    ["analyze", "x", "--worst", "-1"], ["analyze", "x", "--unanswered-timeout", "nan"],
    ["analyze", "x", "--slow-reply", "-5"], ["synth", "--days", "inf", "-o", "x"],
    ["demo", "--session-seconds", "nan"], ["demo", "--sessions", "-1"],
], ids=" ".join)
def test_numbers_a_command_cannot_use_are_usage_errors(argv: list[str], capfd) -> None:
    with pytest.raises(SystemExit) as exit_info:  # before any file is touched (x does not exist)
        main(argv)
    assert exit_info.value.code == EXIT_BAD_INPUT
    err = capfd.readouterr().err
    option = next(a for a in argv if a.startswith("--"))
    assert err.count("\n") == 1 and err.startswith(f"ocpp-workbench {argv[0]}: argument {option}"), err


def test_a_deeply_nested_record_line_is_no_traceback(tmp_path: Path, capfd) -> None:
    good = make_capture(tmp_path / "good.ocpp.jsonl", "CP1", clean_session_script(), close_at_s=4000)
    lines = good.read_text().splitlines()
    deep = "[" * 100_000 + "]" * 100_000
    lines.insert(3, '{"type":"frame","ts":"2026-01-05T00:00:30.000000Z","connection_id":"c1",'
                    '"direction":"cp_to_csms","text":' + json.dumps(f'[2,"x","DataTransfer",{deep}]') + "}")
    lines.insert(4, '{"type":"frame","deep":' + deep + "}")
    hostile = tmp_path / "deep.ocpp.jsonl"
    hostile.write_text("\n".join(lines) + "\n")
    for argv in (["analyze", str(hostile)], ["export", str(hostile), "--to", "har", "-o", str(tmp_path / "d.har")],
                 ["redact", str(hostile), "-o", str(tmp_path / "r.ocpp.jsonl"), "--key-file", str(tmp_path / "k")],
                 ["import", str(hostile), "-o", str(tmp_path / "i.ocpp.jsonl")]):
        code = main(argv)
        err = capfd.readouterr().err
        assert "Traceback" not in err
        # Until every reader turns such a line into a row with its error, it is one line and a code.
        assert code in EXIT_CODES and (code in (0, 1) or err.count("\n") == 1), (argv, code, err)


def test_the_proxy_echoes_mitmdump_log_lines_escaped(tmp_path: Path, capsys) -> None:
    from workbench.commands.proxy import _echo_new_log
    from workbench.proxy import ProxyConfig, ProxyProcess

    log = tmp_path / "mitmdump.log"
    log.write_bytes(b"client connect /ocpp/CP\x1b]0;PWNED\x07 \r\xc2\x9b\n[12:00] listening\n")
    proxy = ProxyProcess(ProxyConfig(capture_path=tmp_path / "c.ocpp.jsonl", upstream_url="ws://127.0.0.1:9/"),
                         log_path=log)
    try:
        assert _echo_new_log(proxy, 0) == log.stat().st_size
    finally:
        proxy.stop()  # never started: only removes its private directory
    assert capsys.readouterr().out == ("client connect /ocpp/CP\\u001b]0;PWNED\\u0007 \\u000d\\u009b\n"
                                       "[12:00] listening\n")
