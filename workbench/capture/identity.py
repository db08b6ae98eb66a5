"""Which charge point a WebSocket connection belongs to: one rule for the proxy addon, the importers and
the tables.

OCPP-J (1.6 §3.1.1) puts the charge point identity at the end of the connection URL, but CSMSs build
their URLs their own way: ``/ocpp/CP1``, Django-style ``/ws/ocpp/CP1/`` (a trailing slash), or
``/ocpp/CP1?token=...``. The rule, in order:

1. the last non-empty segment of the URL path (query and fragment left out, percent-decoded);
2. else the Basic Auth user name (OCPP 1.6 security profile 1/2: the charge point id);
3. else nothing: the connection has no known identity. The tables then name it after its connection
   (:func:`unknown_charge_point_id`), so frames of two such connections are never taken for one
   charge point.

Capture records say which step gave the id in ``charge_point_id_source`` (see
``docs/capture-format.md``): one of :data:`ID_SOURCES`.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from typing import Any

FROM_URL_PATH = "url_path"
FROM_AUTH_USER = "auth_user"
FROM_CONNECTION = "connection"
FROM_LOG = "log"
FROM_USER = "given"
ID_SOURCES = (FROM_URL_PATH, FROM_AUTH_USER, FROM_CONNECTION, FROM_LOG, FROM_USER)
"""``charge_point_id_source`` values: the URL path, the Basic Auth user, none (per connection), a field of
an imported log line, the user's ``--charge-point-id``."""

UNKNOWN_PREFIX = "unknown:"
"""Tables name a connection without a known identity ``unknown:<connection_id>``."""


def charge_point_id_from_path(path: str | None) -> str | None:
    """The last non-empty segment of a URL path (or of a whole URL), percent-decoded; None if there is none.

    ``/ocpp/CP%2F1?x=1`` -> ``CP/1``; ``/ws/ocpp/CP1/`` -> ``CP1``; ``/`` -> None.
    """
    if not path:
        return None
    if "://" in path:
        path = urllib.parse.urlsplit(path).path
    path = path.split("?", 1)[0].split("#", 1)[0]
    for segment in reversed(path.split("/")):
        if segment:
            return urllib.parse.unquote(segment) or None
    return None


def derive_charge_point_id(url_path: str | None, auth_user: str | None = None) -> tuple[str | None, str]:
    """(charge point id, how it was found: one of :data:`ID_SOURCES`) from a connection's URL path and
    Basic Auth user name. The id is None (source ``connection``) when neither names one."""
    from_path = charge_point_id_from_path(url_path)
    if from_path:
        return from_path, FROM_URL_PATH
    if isinstance(auth_user, str) and auth_user:
        return auth_user, FROM_AUTH_USER
    return None, FROM_CONNECTION


def unknown_charge_point_id(connection_id: str) -> str:
    """The charge point id tables give a connection that names none: one per connection."""
    return f"{UNKNOWN_PREFIX}{connection_id}"


def connection_charge_point_id(record: Mapping[str, Any]) -> str | None:
    """The charge point id of a ``connection_open`` / ``upgrade_rejected`` record for the tables: the id
    recorded, else derived again from its URL path and auth user (captures written before the rule took
    the last non-empty segment), else :func:`unknown_charge_point_id` of its connection (also when the
    record says nothing named it, ``charge_point_id_source`` ``connection``, e.g. an import's "unknown")."""
    recorded = record.get("charge_point_id")
    connection_id = record.get("connection_id")
    if record.get("charge_point_id_source") == FROM_CONNECTION and isinstance(connection_id, str):
        return unknown_charge_point_id(connection_id)  # whatever placeholder a writer put there
    if isinstance(recorded, str) and recorded:
        return recorded
    url_path, auth_user = record.get("url_path"), record.get("auth_user")
    derived, _ = derive_charge_point_id(url_path if isinstance(url_path, str) else None,
                                        auth_user if isinstance(auth_user, str) else None)
    if derived:
        return derived
    return unknown_charge_point_id(connection_id) if isinstance(connection_id, str) else None
