"""``ocpp-workbench`` command line: one subcommand per module in :mod:`workbench.commands`.

Each command module defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``.
Whatever a command meets, the user sees one line on stderr, never a traceback, and an exit code
from :data:`EXIT_CODES`. Everything a command prints passes through
:class:`~workbench.terminal.SafeStream`, so text from a capture cannot drive the terminal.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from . import __version__
from .errors import WorkbenchError
from .terminal import SafeStream, terminal_safe

# Order is the order of the help text: capture, then analysis, then sharing.
COMMAND_MODULES = ["certs", "proxy", "lab", "demo", "analyze", "report", "check", "profiles", "probe", "synth",
                   "import_", "export", "redact", "replay"]

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 3
EXIT_INCOMPLETE = 4
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141
EXIT_CODES = {
    EXIT_OK: "done",
    EXIT_FINDINGS: "analyze: a finding at the --fail-on severity (the reason is on stderr); "
                   "check: a requirement failed (their ids are on stderr); "
                   "proxy: mitmdump stopped with an error (its status is printed); "
                   "replay: the verdict has differences",
    EXIT_BAD_INPUT: "bad input or usage: a wrong option, a missing, unreadable or unwritable path, a file "
                    "that is not a capture or holds no OCPP frame, a full disk (one line on stderr)",
    EXIT_INTERNAL: "internal error, a bug: one line naming it (OCPP_WORKBENCH_TRACEBACK=1 shows the traceback)",
    EXIT_INCOMPLETE: "analyze: the analysis is incomplete: a table could not be built or written, or a check "
                     "crashed (one line on stderr; error findings say which)",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C)",
    EXIT_BROKEN_PIPE: "standard output was closed early (e.g. piped into head)",
}
"""Every exit code of ``ocpp-workbench``, documented in README.md (CLI reference)."""

MAX_ERROR_CHARS = 1000
TRACEBACK_ENV = "OCPP_WORKBENCH_TRACEBACK"

# Errors that come from the input or the environment (files, disk, encodings): exit 2.
_INPUT_ERRORS = (WorkbenchError, OSError, EOFError, ValueError, zlib.error)


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (the usage itself is in ``--help``)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, terminal_safe(f"{self.prog}: {message} (see {self.prog} --help)") + "\n")


def _load_commands() -> list:
    modules = []
    for name in COMMAND_MODULES:
        try:
            modules.append(importlib.import_module(f"workbench.commands.{name}"))
        except ModuleNotFoundError as exc:
            if exc.name != f"workbench.commands.{name}":
                raise
    return modules


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="ocpp-workbench",
        description="Capture, analyse and replay OCPP 1.6J traffic between EV chargers and a CSMS.",
        epilog="Exit codes: " + "; ".join(f"{code} {text}" for code, text in EXIT_CODES.items()),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _load_commands():
        command = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(command)
        command.set_defaults(run=module.run)
    return parser


def describe_os_error(exc: OSError, output: object = None) -> str:
    """One line for an OSError: the path and what is wrong with it, in words.

    ``output``: the command's output path, named when the error itself names no file
    (a full disk reports ENOSPC on a write, without the file's name)."""
    if exc.strerror is None:  # raised with a message of our own
        return str(exc)
    what = exc.strerror[:1].lower() + exc.strerror[1:]
    name = None if exc.filename is None else str(exc.filename)
    if exc.errno == errno.ENOTDIR and name is not None:
        blocker = next((p for p in Path(name).parents if p.exists() and not p.is_dir()), None)
        if blocker is not None:
            return f"{name}: {blocker} is a file, not a directory"
    if exc.errno == errno.EISDIR and name is not None:
        return f"{name} is a directory, not a file"
    if name is None:
        return f"cannot write {output}: {what}" if output is not None and exc.errno in (
            errno.ENOSPC, errno.EDQUOT, errno.EFBIG) else what
    if exc.filename2 is not None:
        name = f"{name} -> {exc.filename2}"
    return f"{name}: {what}"


def _error_line(exc: BaseException, args: argparse.Namespace) -> str:
    if isinstance(exc, OSError):
        output = getattr(args, "output", None) or getattr(args, "out", None)
        return describe_os_error(exc, output)
    if isinstance(exc, WorkbenchError):
        # Ours, sometimes laid out on several lines (a log tail): kept on one.
        return " | ".join(line for line in str(exc).splitlines() if line.strip())
    if isinstance(exc, (EOFError, zlib.error)):
        return f"cannot read: {exc or 'the file ends early'}"
    return f"{type(exc).__name__}: {exc}"


def _one_line(text: str) -> str:
    """``text`` terminal-safe on one line of at most :data:`MAX_ERROR_CHARS` characters."""
    text = terminal_safe(text)
    if len(text) > MAX_ERROR_CHARS:
        text = f"{text[:MAX_ERROR_CHARS]}... (+{len(text) - MAX_ERROR_CHARS} chars)"
    return text


def _silence_stdout() -> None:
    """Point file descriptor 1 at /dev/null, so the interpreter's last flush of a closed or
    full stdout cannot print a second message."""
    if sys.__stdout__ is None or getattr(sys.stdout, "stream", sys.stdout) is not sys.__stdout__:
        return  # not the process's stdout (a test capturing it): nothing flushes it at exit
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.__stdout__.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def _flush_stdout() -> OSError | None:
    """Flush stdout; the error if that (or an earlier write to it) failed."""
    try:
        sys.stdout.flush()
    except OSError as exc:
        _silence_stdout()
        return exc
    failed = getattr(sys.stdout, "error", None)
    if failed is not None:
        _silence_stdout()
    return failed


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; its exit code (see :data:`EXIT_CODES`)."""
    stdout, stderr = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = SafeStream(stdout), SafeStream(stderr)
    try:
        return _main(argv)
    finally:
        sys.stdout, sys.stderr = stdout, stderr


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return EXIT_BAD_INPUT
    prefix = f"ocpp-workbench {args.command}"
    try:
        code = int(args.run(args) or 0)
        failed = _flush_stdout()
        if failed is None:
            return code
        if isinstance(failed, BrokenPipeError):
            return EXIT_BROKEN_PIPE
        print(_one_line(f"{prefix}: cannot write to standard output: {describe_os_error(failed)}"), file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except _INPUT_ERRORS as exc:
        stdout_failed = _flush_stdout()
        if isinstance(exc, BrokenPipeError) or isinstance(stdout_failed, BrokenPipeError):
            return EXIT_BROKEN_PIPE
        if isinstance(exc, OSError) and exc.filename is None and stdout_failed is not None:
            line = f"cannot write to standard output: {describe_os_error(exc)}"  # e.g. > /dev/full
        else:
            line = _error_line(exc, args)
        print(_one_line(f"{prefix}: {line}"), file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as exc:  # noqa: BLE001  (a bug still gets one line, not a traceback)
        if os.environ.get(TRACEBACK_ENV):
            raise
        _flush_stdout()
        detail = "out of memory" if isinstance(exc, MemoryError) else _error_line(exc, args)
        print(_one_line(f"{prefix}: internal error: {detail}") + f" (a bug; {TRACEBACK_ENV}=1 shows where)",
              file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
