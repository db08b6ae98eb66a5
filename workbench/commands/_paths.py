"""Checks of the paths a command was given, made before any work starts.

A command calls these first, so a wrong path is one clear line (exit 2) before a file is read,
a partial output is written or mitmdump is started. Each raises
:class:`~workbench.errors.WorkbenchError` naming the option and what is wrong, in words.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path

from ..errors import WorkbenchError

PEM_SCAN_BYTES = 1 << 20
"""How much of a PEM file is read to find its BEGIN lines (certificate chains are a few KB)."""


def _stat(path: Path) -> os.stat_result | None:
    try:
        return path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return None


def _blocking_ancestor(path: Path) -> Path | None:
    """The nearest existing ancestor of ``path`` when it is not a directory (a file in the way)."""
    for parent in path.parents:
        info = _stat(parent)
        if info is not None:
            return None if stat.S_ISDIR(info.st_mode) else parent
    return None


def input_file(path: str | os.PathLike[str], what: str = "input") -> Path:
    """``path`` as a regular, readable file, or a WorkbenchError saying why it is not one."""
    path = Path(path)
    info = _stat(path)
    if info is None:
        blocker = _blocking_ancestor(path)
        if blocker is not None:
            raise WorkbenchError(f"{what} {path}: no such file ({blocker} is a file, not a directory)")
        raise WorkbenchError(f"{what} {path}: no such file")
    if stat.S_ISDIR(info.st_mode):
        raise WorkbenchError(f"{what} {path}: is a directory, not a file")
    if not stat.S_ISREG(info.st_mode):
        # A device (/dev/zero, /dev/full) or a pipe: endless or readable only once.
        raise WorkbenchError(f"{what} {path}: not a regular file")
    if not os.access(path, os.R_OK):
        raise WorkbenchError(f"{what} {path}: cannot be read (permission denied)")
    return path


def input_paths(paths: Iterable[str | os.PathLike[str]], what: str = "input") -> None:
    """Each existing one of ``paths`` a readable regular file or a directory (of captures);
    a missing one is left to the reader, which names it."""
    for item in paths:
        path = Path(item)
        info = _stat(path)
        if info is not None and not stat.S_ISDIR(info.st_mode):
            input_file(path, what)


def output_file(path: str | os.PathLike[str], what: str = "output", *, regular_only: bool = False) -> Path:
    """``path`` as a file that can be written (created, or replaced).

    ``regular_only``: refuse an existing device or pipe too (``/dev/null``, ``/dev/full``) -- for a
    file that is read back, appended to or rotated, such as a capture or a log."""
    path = Path(path)
    info = _stat(path)
    if info is not None:
        if stat.S_ISDIR(info.st_mode):
            raise WorkbenchError(f"{what} {path}: is a directory, not a file")
        if regular_only and not stat.S_ISREG(info.st_mode):
            raise WorkbenchError(f"{what} {path}: not a regular file")
        if not os.access(path, os.W_OK):
            raise WorkbenchError(f"{what} {path}: cannot be written (permission denied)")
        return path
    _creatable(path, what)
    return path


def output_dir(path: str | os.PathLike[str], what: str = "output directory") -> Path:
    """``path`` as a directory that exists or can be created, and written into."""
    path = Path(path)
    info = _stat(path)
    if info is not None:
        if not stat.S_ISDIR(info.st_mode):
            raise WorkbenchError(f"{what} {path}: is a file, not a directory")
        if not os.access(path, os.W_OK | os.X_OK):
            raise WorkbenchError(f"{what} {path}: cannot be written (permission denied)")
        return path
    _creatable(path, what)
    return path


def _creatable(path: Path, what: str) -> None:
    blocker = _blocking_ancestor(path)
    if blocker is not None:
        raise WorkbenchError(f"{what} {path}: cannot be created, {blocker} is a file, not a directory")
    existing = next((p for p in path.parents if _stat(p) is not None), Path("."))
    if not os.access(existing, os.W_OK | os.X_OK):
        raise WorkbenchError(f"{what} {path}: cannot be created in {existing} (permission denied)")


def distinct(input_path: str | os.PathLike[str], output_path: str | os.PathLike[str]) -> None:
    """Refuse an output that is the input itself (writing would destroy what is being read)."""
    try:
        same = os.path.samefile(input_path, output_path)
    except OSError:
        return  # the output does not exist yet
    if same:
        raise WorkbenchError(f"output {output_path} is the input file; choose another name")


def pem_file(path: str | os.PathLike[str], what: str, *, needs: str = "CERTIFICATE") -> str:
    """The text of a PEM file holding a ``-----BEGIN ... {needs}-----`` block (``needs``: CERTIFICATE,
    PRIVATE KEY), or a WorkbenchError: a wrong file is found here, not by mitmdump at start."""
    path = input_file(path, what)
    with open(path, "rb") as handle:
        text = handle.read(PEM_SCAN_BYTES).decode("ascii", "replace")
    if "-----BEGIN " not in text:
        raise WorkbenchError(f"{what} {path}: not a PEM file (no -----BEGIN line)")
    if f"{needs}-----" not in text:
        raise WorkbenchError(f"{what} {path}: holds no {needs.lower()} (no -----BEGIN ... {needs}----- block)")
    return text
