"""``ocpp-workbench redact``: pseudonymise identifiers so a capture can be shared with a vendor."""

from __future__ import annotations

import argparse

from ..redact import default_key_file, redact_capture

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
    changed = redact_capture(args.input, args.output, args.key_file, shift_s=args.shift_s)
    print(f"wrote {args.output}")
    if not changed:
        print("nothing to redact")
    for field, count in sorted(changed.items()):
        print(f"  {field}: {count} changed")
    return 0
