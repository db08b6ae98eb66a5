"""Tables built from a capture: one builder module per table, each with a ``COLUMNS`` dict
(name -> (dtype, unit, meaning)) documenting every column.

frames, calls and connections are here (C1); meter_values, status and transactions come from
their own modules (C2). :class:`workbench.analysis.Capture` builds them lazily.
"""

from .calls import build_calls
from .connections import build_connections
from .frames import build_frames

__all__ = ["build_calls", "build_connections", "build_frames"]
