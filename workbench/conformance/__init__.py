"""Conformance: judge a charger against an integrator's requirement profile.

Profiles are TOML files in ``profiles/`` (``ev-energy``: ev.energy's R1..R10; ``ocpp16-core``). Each
requirement names an evaluator (:mod:`.requirements`) that decides it from a capture's tables and the
registered checks. ``wb.check(cap, "ev-energy")`` returns a :class:`~.evaluate.ConformanceResult`.

Names load on first use: the proxy imports :mod:`.tls_policies` inside mitmdump without pandas.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "ConformanceResult": "workbench.conformance.evaluate",
    "RequirementResult": "workbench.conformance.evaluate",
    "evaluate": "workbench.conformance.evaluate",
    "Profile": "workbench.conformance.profile",
    "Requirement": "workbench.conformance.profile",
    "load_profile": "workbench.conformance.profile",
    "profile_names": "workbench.conformance.profile",
    "TLS_POLICIES": "workbench.conformance.tls_policies",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'workbench.conformance' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def profiles() -> list[dict[str, Any]]:
    """The shipped profiles: name, title, source and requirement ids (``wb.profiles()``)."""
    from .profile import load_profile, profile_names

    out = []
    for name in profile_names():
        profile = load_profile(name)
        out.append({"name": name, "title": profile.title, "source": profile.source,
                    "requirements": [req.id for req in profile.requirements]})
    return out


def check(cap: Any, profile: str = "ev-energy", **options: Any) -> Any:
    """``cap`` (a Capture, or a path ``wb.load`` reads) judged against ``profile`` (``wb.check``);
    ``options`` as :func:`.evaluate.evaluate` (``config``, ``params``)."""
    from .evaluate import evaluate

    if not hasattr(cap, "frames"):
        from ..analysis import load

        path = cap
        cap = load(path)
        options.setdefault("capture_name", str(path))
    return evaluate(cap, profile, **options)


__all__ = sorted([*_LAZY, "check", "profiles"])
