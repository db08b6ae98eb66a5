"""``ocpp-workbench`` command line: one subcommand per module in :mod:`workbench.commands`.

Each command module defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``.
Errors the user can fix (a bad file, a refused target) print one line and exit 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from . import __version__
from .errors import WorkbenchError

# Order is the order of the help text: capture, then analysis, then sharing.
COMMAND_MODULES = ["proxy", "demo", "analyze", "synth", "import_", "export", "redact", "replay"]


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
    parser = argparse.ArgumentParser(
        prog="ocpp-workbench",
        description="Capture, analyse and replay OCPP 1.6J traffic between EV chargers and a CSMS.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _load_commands():
        command = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(command)
        command.set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except (WorkbenchError, FileNotFoundError, PermissionError) as exc:
        print(f"ocpp-workbench {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
