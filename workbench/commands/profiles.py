"""``ocpp-workbench profiles``: list the requirement profiles `check` knows."""

from __future__ import annotations

import argparse
import json
import sys

NAME = "profiles"
HELP = "list the requirement profiles `check` judges captures against"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("text", "json"), default="text", help="output format (default text)")
    parser.add_argument("name", nargs="?", help="show this profile's requirements")


def run(args: argparse.Namespace) -> int:
    from ..conformance import profiles
    from ..conformance.profile import load_profile

    if args.name:
        profile = load_profile(args.name)
        rows = [{"id": r.id, "level": r.level, "title": r.title, "checks": list(r.checks),
                 "oca_test_case": r.oca_test_case or None} for r in profile.requirements]
        if args.format == "json":
            sys.stdout.write(json.dumps({"name": profile.name, "title": profile.title, "source": profile.source,
                                         "requirements": rows}, indent=2) + "\n")
            return 0
        print(f"{profile.name}: {profile.title}")
        print(f"source: {profile.source}")
        for row in rows:
            extra = f" [{row['oca_test_case']}]" if row["oca_test_case"] else ""
            level = "" if row["level"] == "required" else f" ({row['level']})"
            print(f"  {row['id']:<4} {row['title']}{level}{extra}")
        return 0
    found = profiles()
    if args.format == "json":
        sys.stdout.write(json.dumps(found, indent=2) + "\n")
        return 0
    for item in found:
        print(f"{item['name']:<12} {item['title']} ({', '.join(item['requirements'])})")
    return 0
