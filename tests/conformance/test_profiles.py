"""Profiles are package data, read with tomllib; a malformed profile is a one-line WorkbenchError."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

import pytest

from workbench.conformance.profile import load_profile, parse_profile, profile_names
from workbench.conformance.requirements import EVALUATORS
from workbench.checks.registry import CHECKS
from workbench.errors import WorkbenchError

ROOT = Path(__file__).resolve().parents[2]


def test_profile_files_are_package_data() -> None:
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["workbench"]
    for path in (ROOT / "workbench" / "conformance" / "profiles").iterdir():
        relative = str(path.relative_to(ROOT / "workbench"))
        assert any(fnmatch.fnmatch(relative, p) for p in patterns), f"{relative} would be missing from the wheel"


@pytest.mark.parametrize("name", profile_names())
def test_every_profile_names_real_evaluators_and_checks(name: str) -> None:
    import workbench.checks  # noqa: F401  (registers the checks)

    profile = load_profile(name)
    for req in profile.requirements:
        assert req.evaluator in EVALUATORS
        assert set(req.checks) <= set(CHECKS), f"{name} {req.id}: unknown checks {set(req.checks) - set(CHECKS)}"
        assert req.words and req.advice


def test_ev_energy_carries_the_integrators_words_and_cited_test_cases() -> None:
    profile = load_profile("ev-energy")
    by_id = {req.id: req for req in profile.requirements}
    assert "ELBSecurityPolicy-TLS-1-2-Ext-2018-06" in by_id["R1"].words
    assert "Plain WS connections are NOT accepted" in by_id["R1"].words
    assert by_id["R7"].oca_test_case.startswith("TC_054_CSMS") and by_id["R7"].oca_source.startswith("https://")
    assert by_id["R2"].oca_test_case == ""  # none established: left empty, not guessed
    assert [req.level for req in profile.requirements].count("recommended") == 2


@pytest.mark.parametrize("text, words", [
    ("title = 'x'", "no [[requirement]] entries"),
    ("[[requirement]]\nid='A'\ntitle='t'\nwords='w'\nevaluator='nope'", "unknown evaluator 'nope'"),
    ("[[requirement]]\nid='A'\ntitle='t'\nwords='w'\nevaluator='manual'\ncolour='red'", "unknown field(s) colour"),
    ("[[requirement]]\nid='A'\ntitle='t'\nevaluator='manual'", "needs a text field 'words'"),
    ("[[requirement", "not valid TOML"),
])
def test_malformed_profiles_are_named_errors(text: str, words: str) -> None:
    with pytest.raises(WorkbenchError, match=None) as raised:
        parse_profile("bad", text)
    assert words in str(raised.value)
