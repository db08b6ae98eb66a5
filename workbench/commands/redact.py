"""``ocpp-workbench redact``: pseudonymise identifiers so a capture can be shared with a vendor."""

from __future__ import annotations

import argparse

from ..redact import default_key_file, redact_capture
from . import _paths

NAME = "redact"
HELP = "replace idTags, charge point ids, serials, user names and URL credentials with keyed pseudonyms"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", metavar="IN", help="capture to redact")
    parser.add_argument("-o", "--output", required=True, metavar="OUT", help="redacted capture to write")
    parser.add_argument("--key-file", default=None, metavar="K",
                        help=f"HMAC key file, created with a random key (mode 0600) if missing; "
                             f"default {default_key_file()}")

    parser.add_argument("--shift-s", type=int, default=0, metavar="SECONDS",
                        help="move every time (records and payloads) by this many whole seconds; default 0")


def run(args: argparse.Namespace) -> int:
    _paths.input_file(args.input)
    _paths.output_file(args.output, "-o/--output")
    _paths.distinct(args.input, args.output)
    if args.key_file is not None:
        _paths.output_file(args.key_file, "--key-file", regular_only=True)  # read, or created
    changed = redact_capture(args.input, args.output, args.key_file, shift_s=args.shift_s)
    print(f"wrote {args.output}")
    if not changed:
        print("nothing to redact")
    for field, count in sorted(changed.items()):
        print(f"  {field}: {count} changed")
    return 0
