"""Requirement profiles: TOML files shipped in ``workbench/conformance/profiles/``, read with tomllib.

A profile is data. Each ``[[requirement]]`` names an *evaluator* (see :mod:`.requirements`) and its
parameters; the generic evaluator ``checks`` decides a requirement from registered checks alone, so a
new profile over existing checks needs no code.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from ..errors import WorkbenchError

LEVELS = ("required", "recommended")


@dataclass(frozen=True)
class Requirement:
    """One requirement of a profile, as the TOML file gives it."""

    id: str
    title: str
    words: str
    """The integrator's own words (what the requirement document says)."""
    evaluator: str
    """Name of the function in :data:`.requirements.EVALUATORS` that decides it."""
    checks: tuple[str, ...] = ()
    """Registered checks (``wb.CHECKS``) whose findings are evidence for it."""
    params: dict[str, Any] = field(default_factory=dict)
    advice: str = ""
    """What the charger maker should do when it fails."""
    level: str = "required"
    oca_test_case: str = ""
    """The OCA compliance test case it corresponds to, where public sources establish one (else empty)."""
    oca_source: str = ""
    """Where ``oca_test_case`` was read."""


@dataclass(frozen=True)
class Profile:
    """A named list of requirements."""

    name: str
    title: str
    source: str
    description: str
    requirements: tuple[Requirement, ...]


def _package_files() -> dict[str, Any]:
    folder = resources.files(__package__) / "profiles"
    return {entry.name[: -len(".toml")]: entry for entry in folder.iterdir() if entry.name.endswith(".toml")}


def profile_names() -> list[str]:
    """Names of the profiles shipped with the package, sorted."""
    return sorted(_package_files())


def load_profile(name: str) -> Profile:
    """The shipped profile ``name``; WorkbenchError naming the known ones when there is none."""
    files = _package_files()
    if name not in files:
        raise WorkbenchError(f"no profile {name!r}; known profiles: {', '.join(sorted(files))}")
    return parse_profile(name, files[name].read_text(encoding="utf-8"))


def parse_profile(name: str, text: str) -> Profile:
    """A Profile from TOML text; WorkbenchError when a field is missing or unknown."""
    from .requirements import EVALUATORS

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise WorkbenchError(f"profile {name}: not valid TOML: {exc}") from None
    items = data.get("requirement")
    if not isinstance(items, list) or not items:
        raise WorkbenchError(f"profile {name}: no [[requirement]] entries")
    known = {"id", "title", "words", "evaluator", "checks", "params", "advice", "level", "oca_test_case", "oca_source"}
    requirements = []
    seen: set[str] = set()
    for index, item in enumerate(items, 1):
        where = f"profile {name}, requirement {item.get('id', index)}"
        unknown = set(item) - known
        if unknown:
            raise WorkbenchError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
        for needed in ("id", "title", "words", "evaluator"):
            if not isinstance(item.get(needed), str) or not item[needed]:
                raise WorkbenchError(f"{where}: needs a text field {needed!r}")
        if item["evaluator"] not in EVALUATORS:
            raise WorkbenchError(f"{where}: unknown evaluator {item['evaluator']!r}; known: {', '.join(EVALUATORS)}")
        if item["id"] in seen:
            raise WorkbenchError(f"{where}: id {item['id']!r} used twice")
        level = item.get("level", "required")
        if level not in LEVELS:
            raise WorkbenchError(f"{where}: level must be one of {', '.join(LEVELS)}")
        seen.add(item["id"])
        requirements.append(Requirement(
            id=item["id"], title=item["title"], words=item["words"].strip(), evaluator=item["evaluator"],
            checks=tuple(item.get("checks", ())), params=dict(item.get("params", {})),
            advice=item.get("advice", "").strip(), level=level, oca_test_case=item.get("oca_test_case", ""),
            oca_source=item.get("oca_source", ""),
        ))
    return Profile(name=name, title=data.get("title", name), source=data.get("source", ""),
                   description=data.get("description", "").strip(), requirements=tuple(requirements))
