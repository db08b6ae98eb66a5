"""Registered checks: importing this package registers every check module's checks.

C1 owns ``capture`` (read/import problems), ``protocol`` (OCPP-J RPC rules) and ``schema``
(JSON-schema validity); C2 owns ``status``, ``energy``, ``timing`` and ``transactions``.
"""

from __future__ import annotations

import importlib

from .registry import CHECKS, CheckConfig, CheckInfo, Finding, check, findings_frame, run_checks

CHECK_MODULES = ["capture", "protocol", "schema", "status", "energy", "timing", "transactions"]


def _import_check_modules() -> None:
    for name in CHECK_MODULES:
        try:
            importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            # A module not written yet is skipped; an import error inside a module is a bug: raise it.
            if exc.name != f"{__name__}.{name}":
                raise


_import_check_modules()

__all__ = ["CHECKS", "CheckConfig", "CheckInfo", "Finding", "check", "findings_frame", "run_checks"]
