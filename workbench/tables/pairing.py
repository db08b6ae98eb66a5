"""Pair OCPP-J requests with their replies: per connection and per direction of the request.

A CALLRESULT or CALLERROR travels the opposite way of the CALL it answers and carries its
unique id ([J] §4). A reply answers the oldest unanswered CALL with that id on that connection;
a CALL whose id the same sender already used on that connection is a duplicate ([J] §4.1.4).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import count

REVERSE = {"charger_to_csms": "csms_to_charger", "csms_to_charger": "charger_to_csms"}


@dataclass(frozen=True)
class Pairing:
    """Per frame position: ``reply_of[i]`` is the position of the CALL frame i answers (-1 if none or not a
    reply); ``duplicate[i]`` is True for a CALL whose (connection, direction, id) was used before."""

    reply_of: list[int]
    duplicate: list[bool]


def pair_frames(
    connection_ids: Sequence[str | None],
    directions: Sequence[str | None],
    message_types: Sequence[str],
    unique_ids: Sequence[str | None],
) -> Pairing:
    """Pair in one pass over frames in capture order. Invalid frames take no part."""
    n = len(message_types)
    reply_of = [-1] * n
    duplicate = [False] * n
    # (connection, direction of the CALL, id) -> the unanswered CALL's position, or a list of them
    # (oldest first) in the rare case the same id is outstanding twice.
    pending: dict[tuple, int | list[int]] = {}
    used: set[tuple] = set()
    reverse = REVERSE.get
    for i, kind, connection, direction, unique_id in zip(count(), message_types, connection_ids, directions,
                                                          unique_ids):
        if kind == "CALL":
            key = (connection, direction, unique_id)
            known = len(used)
            used.add(key)
            if len(used) == known:
                duplicate[i] = True
            waiting = pending.get(key)
            if waiting is None:
                pending[key] = i
            elif waiting.__class__ is int:
                pending[key] = [waiting, i]
            else:
                waiting.append(i)
        elif kind == "CALLRESULT" or kind == "CALLERROR":
            key = (connection, reverse(direction), unique_id)
            waiting = pending.pop(key, None)
            if waiting is None:
                continue
            if waiting.__class__ is int:
                reply_of[i] = waiting
            else:
                reply_of[i] = waiting.pop(0)
                if waiting:
                    pending[key] = waiting
    return Pairing(reply_of, duplicate)
