"""Replay: drive recorded (or edited) OCPP-J traffic against a live CSMS or charger.

``plan`` (sans-io steps built from a capture), ``rewrite`` (transaction ids, times), ``answers``
(answering the peer's requests), ``engine`` (runs a plan over a transport), ``transports``
(websockets client and server, a mock for unit tests), ``verdict`` (rows, formats), ``diff``
(two captures compared semantically), ``scenario`` (YAML files under ``replays/``). See docs/replay.md.


``workbench.replay`` is this package, so the blocking one-call function is ``workbench.replay.replay``
(``wb.replay.replay(plan, target=...)``); ``wb.Plan`` and ``wb.replay_diff`` are exported at the top.
"""

from .diff import replay_diff
from .engine import ReplayOptions, ReplayResult, replay_header, run_plan
from .plan import Plan, Step
from .run import replay, replay_async
from .verdict import Verdict, VerdictRow

__all__ = ["Plan", "ReplayOptions", "ReplayResult", "Step", "Verdict", "VerdictRow", "replay", "replay_async",
           "replay_diff", "replay_header", "run_plan"]
