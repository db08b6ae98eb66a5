"""The loading progress bar of ``wb.load``: a ``tqdm.auto`` bar (a widget in Jupyter when ipywidgets is
installed, text on stderr otherwise), shown by default only for large inputs in an interactive session.

Interactive means a Jupyter kernel, or an interactive Python or IPython prompt whose stderr is a
terminal; a script, a test run or a pipe gets no bar unless asked with ``progress=True``.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable
from typing import Any

LARGE_INPUT_BYTES = 32 * 2**20
"""Inputs from this size on (bytes, uncompressed) get a bar by default: about 100 000 frames, a few
seconds of loading; smaller ones load too fast for a bar to help."""


def _stderr_is_terminal() -> bool:
    try:
        return bool(sys.stderr.isatty())
    except (AttributeError, ValueError):  # replaced by an object without isatty, or closed
        return False


def interactive_session() -> bool:
    """True in a Jupyter kernel, or at an interactive prompt whose stderr is a terminal."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    if shell is not None and "ipykernel" in sys.modules:
        return True  # a notebook: stderr is the cell's output, not a terminal, and that is fine
    prompt = shell is not None or hasattr(sys, "ps1") or bool(sys.flags.interactive)
    return prompt and _stderr_is_terminal()


class LoadProgressBar:
    """A ``progress(bytes_done, bytes_total)`` callback drawing a tqdm.auto bar; :meth:`close` when done."""

    def __init__(self, description: str = "loading") -> None:
        self.description = description
        self._bar: Any = None

    def __call__(self, done: int, total: int) -> None:
        if self._bar is None:
            with warnings.catch_warnings():
                # Without ipywidgets tqdm.auto falls back to the text bar, warning about it: the text
                # bar is what we want then, so the warning would only be noise.
                warnings.simplefilter("ignore")
                from tqdm.auto import tqdm
            self._bar = tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024,
                             desc=self.description, leave=False, file=sys.stderr)
        self._bar.update(max(0, done - self._bar.n))

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def choose_progress(progress: Callable[[int, int], None] | bool | None,
                    total_bytes: int) -> tuple[Callable[[int, int], None] | None, LoadProgressBar | None]:
    """``load``'s ``progress`` argument -> (callback to pass on, bar to close afterwards).

    A callable is used as it is; ``True`` always draws a bar, ``False`` never; ``None`` (the default)
    draws one for inputs of :data:`LARGE_INPUT_BYTES` or more in an :func:`interactive_session`.
    """
    if callable(progress):
        return progress, None
    if progress is None:
        progress = total_bytes >= LARGE_INPUT_BYTES and interactive_session()
    if not progress:
        return None, None
    bar = LoadProgressBar()
    return bar, bar
