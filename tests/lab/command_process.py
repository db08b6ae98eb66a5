"""A command run as a real process for the tests of long-running commands (``lab csms``, ``proxy``,
``mitmdump``): its output read line by line in a thread, waits with deadlines, stop by SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
WORKBENCH = [sys.executable, "-m", "workbench"]


def environment() -> dict[str, str]:
    """This checkout's ``workbench`` first on the path, also for the processes it starts."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    env["PYTHONUNBUFFERED"] = "1"
    return env


class CommandProcess:
    """``argv`` started in ``cwd``; stdout and stderr merged into :attr:`lines`."""

    def __init__(self, argv: list[str], cwd: Path, *, env: dict[str, str] | None = None) -> None:
        """``env``: variables to set on top of :func:`environment`."""
        self.argv = argv
        self.process = subprocess.Popen(argv, cwd=cwd, env={**environment(), **(env or {})}, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for_line(self, pattern: str, timeout_s: float = 30.0) -> re.Match[str]:
        """The first output line matching ``pattern``; AssertionError (with the output) on timeout or exit."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for line in list(self.lines):
                match = regex.search(line)
                if match:
                    return match
            if self.process.poll() is not None:
                self._reader.join(timeout=2)
                if not any(regex.search(line) for line in self.lines):
                    raise AssertionError(f"{self.argv} exited with {self.process.returncode} before printing "
                                         f"{pattern!r}:\n{self.output}")
            time.sleep(0.05)
        raise AssertionError(f"{self.argv}: no line matching {pattern!r} within {timeout_s} s:\n{self.output}")

    def wait(self, timeout_s: float = 60.0) -> int:
        """Wait for the process to end by itself; its exit status."""
        try:
            status = self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"{self.argv} did not end within {timeout_s} s:\n{self.output}") from None
        self._close_output()
        return status

    def _close_output(self) -> None:
        self._reader.join(timeout=5)
        if self.process.stdout is not None and not self._reader.is_alive():
            self.process.stdout.close()

    def terminate(self, timeout_s: float = 20.0) -> int:
        """SIGTERM, then wait; its exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.wait(timeout_s)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self._close_output()
