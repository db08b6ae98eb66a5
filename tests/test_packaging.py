"""Packaging promises: conda and pip users get the same dependencies; the public API is pinned."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _pip_entries_of_environment_yml() -> list[str]:
    entries, in_pip = [], False
    for line in (ROOT / "environment.yml").read_text().splitlines():
        if re.match(r"^\s*- pip:\s*$", line):
            in_pip = True
            continue
        if in_pip:
            match = re.match(r"^\s{6}- (.+?)\s*$", line)
            if not match:
                break
            entries.append(match.group(1))
    return entries


def test_environment_yml_lists_the_same_dependencies_as_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    wanted = project["dependencies"] + extras["dev"] + extras["dask"]  # what `make test` installs
    listed = [e for e in _pip_entries_of_environment_yml() if not e.startswith("-e")]
    assert sorted(listed) == sorted(wanted)
    assert "-e ." in _pip_entries_of_environment_yml()


def test_python_floor_agrees() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.11"
    assert "python>=3.11" in (ROOT / "environment.yml").read_text()


def test_console_script_and_module_entry_point_exist() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["ocpp-workbench"] == "workbench.cli:main"
    assert (ROOT / "workbench" / "__main__.py").exists()
