"""Replay: drive recorded (or edited) OCPP-J traffic against a live CSMS or charger.

``plan`` (sans-io steps built from a capture), ``rewrite`` (transaction ids, times), ``answers``
(answering the peer's requests), ``engine`` (runs a plan over a transport), ``transports``
(websockets client and server, a mock for unit tests), ``verdict`` (rows, formats), ``diff``
(two captures compared semantically), ``scenario`` (YAML files under ``replays/``). See docs/replay.md.
"""

from .engine import ReplayOptions, ReplayResult, replay_header, run_plan
from .plan import Plan, Step
from .verdict import Verdict, VerdictRow

__all__ = ["Plan", "ReplayOptions", "ReplayResult", "Step", "Verdict", "VerdictRow", "replay_header", "run_plan"]
