"""Direction words of every vocabulary in use -> what they say (:class:`Said`).

Absolute words name both ends or one end with a preposition: ``CS_TO_CSMS`` / ``CSMS_TO_CS``
(OCPP 2.0.1 tools, where CS is the Charging Station), ``cp->cs`` / ``cs->cp`` (OCPP 1.6, where CS
is the Central System), ``cp-to-csms`` (Open OCPP Trace), ``FROM_CP`` / ``TO_CP``, ``uplink`` /
``downlink``, ``ChargePoint`` / ``CentralSystem`` (an ``origin``), ``[client->target]`` (WebSocket
proxies: the client is the charger). Relative words (``in``/``out``, ``sent``/``received``,
``tx``/``rx``) say :attr:`Said.SENT`/:attr:`Said.RECEIVED` unless the trace states whose view
they are written from (:func:`resolve_viewpoint`).
"""

from __future__ import annotations

import re
from functools import lru_cache

from .found import Said

# Names of the two ends. "cs" is ambiguous (Central System in 1.6, Charging Station in 2.0.1): it is
# decided by the other end named with it (see _arrow).
CHARGER_NAMES = frozenset({
    "cp", "chargepoint", "charger", "chargingstation", "station", "evse", "wallbox", "client", "evcharger",
    "chargebox", "device",
})
CSMS_NAMES = frozenset({
    "csms", "centralsystem", "server", "backend", "target", "central", "cms", "ocppserver",
})
RELATIVE: dict[str, Said] = {
    "out": Said.SENT, "outgoing": Said.SENT, "outbound": Said.SENT, "sent": Said.SENT, "send": Said.SENT,
    "sending": Said.SENT, "tx": Said.SENT, "write": Said.SENT, "egress": Said.SENT, ">>": Said.SENT,
    "-->": Said.SENT, "->": Said.SENT,
    "in": Said.RECEIVED, "incoming": Said.RECEIVED, "inbound": Said.RECEIVED, "received": Said.RECEIVED,
    "receive": Said.RECEIVED, "receiving": Said.RECEIVED, "recv": Said.RECEIVED, "rx": Said.RECEIVED,
    "read": Said.RECEIVED, "ingress": Said.RECEIVED, "<<": Said.RECEIVED, "<--": Said.RECEIVED,
    "<-": Said.RECEIVED, "got": Said.RECEIVED,
}
ONE_WORD: dict[str, Said] = {
    "up": Said.CHARGER_TO_CSMS, "upstream": Said.CHARGER_TO_CSMS, "uplink": Said.CHARGER_TO_CSMS,
    "down": Said.CSMS_TO_CHARGER, "downstream": Said.CSMS_TO_CHARGER, "downlink": Said.CSMS_TO_CHARGER,
    # An origin names the sender alone.
    **{name: Said.CHARGER_TO_CSMS for name in CHARGER_NAMES},
    **{name: Said.CSMS_TO_CHARGER for name in CSMS_NAMES},
    "cs": Said.CSMS_TO_CHARGER,  # 1.6 origin "CS" = Central System
}
_PREPOSITION = re.compile(r"^(?P<prep>fromthe|tothe|from|to)(?P<end>[a-z]+)$")
_SEPARATORS = re.compile(r"[\s_\-.\[\]()]+")


def _side(name: str) -> str | None:
    if name in CHARGER_NAMES:
        return "charger"
    if name in CSMS_NAMES:
        return "csms"
    return None


def _arrow(a: str, b: str) -> Said | None:
    """``a`` -> ``b`` where each names an end; "cs" is whichever end the other is not."""
    side_a, side_b = _side(a), _side(b)
    if a == "cs" and side_b is not None:
        side_a = "charger" if side_b == "csms" else "csms"
    if b == "cs" and side_a is not None:
        side_b = "charger" if side_a == "csms" else "csms"
    if side_a == "charger" and side_b == "csms":
        return Said.CHARGER_TO_CSMS
    if side_a == "csms" and side_b == "charger":
        return Said.CSMS_TO_CHARGER
    return None


@lru_cache(maxsize=4096)
def said_from_word(value: str) -> Said | None:
    """What a direction word says, or None when it is no direction word we know."""
    raw = value.strip().lower()
    if raw in RELATIVE:
        return RELATIVE[raw]
    # "CS_TO_CSMS", "cp-to-csms", "[client->target]", "Charge Point → CSMS", "cp2cs"
    arrowed = raw.replace("→", "->").replace("=>", "->")
    parts = re.split(r"\s*(?:->|<-)\s*", arrowed) if ("->" in arrowed or "<-" in arrowed) else None
    if parts is not None and len(parts) == 2:
        a, b = (_SEPARATORS.sub("", p) for p in parts)
        return _arrow(a, b) if "->" in arrowed else _arrow(b, a)
    word = _SEPARATORS.sub("", raw)
    if word in RELATIVE:
        return RELATIVE[word]
    if word in ONE_WORD:
        return ONE_WORD[word]
    for known in ("charger_to_csms", "csms_to_charger"):
        if word == known.replace("_", ""):
            return Said(known)
    # words joined by "to"/"2": "cstocsms", "cptocs", "csmstocp", "cp2csms"
    tokens = [t for t in _SEPARATORS.split(raw) if t]
    for connector in ("to", "2"):
        if connector in tokens and tokens.count(connector) == 1 and 0 < tokens.index(connector) < len(tokens) - 1:
            at = tokens.index(connector)
            said = _arrow("".join(tokens[:at]), "".join(tokens[at + 1:]))
            if said:
                return said
    prep = _PREPOSITION.match(word)
    if prep:
        end = prep.group("end")
        side = "csms" if end == "cs" else _side(end)  # "from_cs" alone: 1.6's Central System
        if side is not None:
            from_charger = (side == "charger") == prep.group("prep").startswith("from")
            return Said.CHARGER_TO_CSMS if from_charger else Said.CSMS_TO_CHARGER
    for connector in ("to", "2"):
        for split in range(1, len(word)):
            if word[split:].startswith(connector):
                said = _arrow(word[:split], word[split + len(connector):])
                if said:
                    return said
    return None


def viewpoint_from(value: object) -> str | None:
    """``"charger"`` or ``"csms"`` from a stated viewpoint (``"csms"``, ``"chargePoint"``, ``"server"`` ...;
    a bare ``"CS"`` is ambiguous and says nothing)."""
    if not isinstance(value, str):
        return None
    word = _SEPARATORS.sub("", value.strip().lower())
    if word == "cs":
        return None  # ambiguous on its own
    return _side(word)


def resolve_viewpoint(said: Said | None, viewpoint: str | None) -> Said | None:
    """``sent``/``received`` made absolute when the trace states who wrote it."""
    if viewpoint is None or said not in (Said.SENT, Said.RECEIVED):
        return said
    charger_sent = (said is Said.SENT) == (viewpoint == "charger")
    return Said.CHARGER_TO_CSMS if charger_sent else Said.CSMS_TO_CHARGER


# Keys under which traces state their viewpoint (metadata or a meta line).
VIEWPOINT_KEYS = ("viewpoint", "perspective", "loggedBy", "logged_by", "recordedBy", "recorded_by", "recordedAt",
                  "observer", "side", "role", "capturedBy", "captured_by", "capturedAt", "point_of_view")
