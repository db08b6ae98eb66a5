"""Matching the peer's live requests to the recorded ones, and answering them.

Like mitmproxy's server replay, a live request is matched to a recorded one by its action and the
payload fields that matter (``KEY_FIELDS``), not by message id; the first unused recorded request
that matches wins, so repeated requests are answered in recorded order. A request with no recorded
counterpart gets a schema-valid default answer (``DEFAULT_ANSWERS``), and the verdict says so.
"""

from __future__ import annotations

from typing import Any

from .plan import Step

KEY_FIELDS: dict[str, tuple[str, ...]] = {
    # requests a CSMS sends
    "ChangeConfiguration": ("/key",),
    "GetConfiguration": ("/key",),
    "TriggerMessage": ("/requestedMessage", "/connectorId"),
    "SetChargingProfile": ("/connectorId", "/csChargingProfiles/chargingProfilePurpose"),
    "ClearChargingProfile": ("/id", "/connectorId", "/chargingProfilePurpose"),
    "RemoteStartTransaction": ("/connectorId", "/idTag"),
    "RemoteStopTransaction": (),
    "ChangeAvailability": ("/connectorId", "/type"),
    "Reset": ("/type",),
    "UnlockConnector": ("/connectorId",),
    "DataTransfer": ("/vendorId", "/messageId"),
    "GetCompositeSchedule": ("/connectorId",),
    "ReserveNow": ("/connectorId", "/reservationId"),
    "CancelReservation": ("/reservationId",),
    # requests a charger sends
    "BootNotification": (),
    "Heartbeat": (),
    "Authorize": ("/idTag",),
    "StartTransaction": ("/connectorId", "/idTag"),
    "StopTransaction": ("/reason",),
    "MeterValues": ("/connectorId",),
    "StatusNotification": ("/connectorId", "/status"),
    "DiagnosticsStatusNotification": ("/status",),
    "FirmwareStatusNotification": ("/status",),
}

DEFAULT_ANSWERS: dict[str, dict[str, Any]] = {
    # to a charger's requests (the replayer plays the CSMS); times are filled in at send time
    "BootNotification": {"status": "Accepted", "currentTime": None, "interval": 300},
    "Heartbeat": {"currentTime": None},
    "Authorize": {"idTagInfo": {"status": "Accepted"}},
    "StartTransaction": {"transactionId": None, "idTagInfo": {"status": "Accepted"}},
    "StopTransaction": {},
    "MeterValues": {},
    "StatusNotification": {},
    "DiagnosticsStatusNotification": {},
    "FirmwareStatusNotification": {},
    "DataTransfer": {"status": "UnknownVendorId"},
    # to a CSMS's requests (the replayer plays the charger): refuse politely
    "ChangeConfiguration": {"status": "NotSupported"},
    "GetConfiguration": {"configurationKey": [], "unknownKey": []},
    "TriggerMessage": {"status": "NotImplemented"},
    "SetChargingProfile": {"status": "Rejected"},
    "ClearChargingProfile": {"status": "Unknown"},
    "RemoteStartTransaction": {"status": "Rejected"},
    "RemoteStopTransaction": {"status": "Rejected"},
    "ChangeAvailability": {"status": "Rejected"},
    "Reset": {"status": "Rejected"},
    "UnlockConnector": {"status": "NotSupported"},
    "ClearCache": {"status": "Rejected"},
    "GetDiagnostics": {},
    "UpdateFirmware": {},
    "GetLocalListVersion": {"listVersion": -1},
    "SendLocalList": {"status": "NotSupported"},
    "ReserveNow": {"status": "Rejected"},
    "CancelReservation": {"status": "Rejected"},
    "GetCompositeSchedule": {"status": "Rejected"},
}


def get_pointer(document: Any, pointer: str) -> Any:
    """The value at an RFC 6901 pointer, or a sentinel :data:`ABSENT` when there is none."""
    node = document
    for part in pointer[1:].split("/") if pointer else []:
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return ABSENT
    return node


class _Absent:
    def __repr__(self) -> str:
        return "<absent>"


ABSENT = _Absent()


def keys_match(action: str, recorded: dict[str, Any] | None, live: dict[str, Any] | None) -> bool:
    """Whether a live request agrees with a recorded one on the key fields of ``action``."""
    return all(get_pointer(recorded, pointer) == get_pointer(live, pointer)
               for pointer in KEY_FIELDS.get(action, ()))


class AnswerBook:
    """The ``expect`` steps of one charge point, consumed as the peer's requests arrive."""

    def __init__(self, steps: list[tuple[int, Step]]) -> None:
        self.pending: list[tuple[int, Step]] = [(i, s) for i, s in steps if s.kind == "expect"]
        self.used: list[tuple[int, Step]] = []

    def match(self, action: str, live_payload: dict[str, Any] | None,
              expected_payload: Any = None) -> tuple[int, Step] | None:
        """Take the recorded request this live one answers: the first pending one with the same
        action and key fields, else the first pending one with the same action; None if none.
        ``expected_payload(step)`` gives the recorded payload as the live peer would send it."""
        fallback = None
        for position, (index, step) in enumerate(self.pending):
            if step.action != action:
                continue
            recorded = expected_payload(step) if expected_payload else step.payload
            if keys_match(action, recorded, live_payload):
                return self._take(position)
            if fallback is None:
                fallback = position
        if fallback is not None:
            return self._take(fallback)
        return None

    def _take(self, position: int) -> tuple[int, Step]:
        taken = self.pending.pop(position)
        self.used.append(taken)
        return taken

    def recorded_answer_for(self, action: str) -> Step | None:
        """A used step of ``action`` whose answer can be given again (a repeated request)."""
        for _index, step in reversed(self.used):
            if step.action == action and step.reply_kind is not None:
                return step
        return None


def default_answer(action: str) -> dict[str, Any] | None:
    """A schema-valid default answer to ``action``, or None when OCPP 1.6 has no such action."""
    answer = DEFAULT_ANSWERS.get(action)
    return None if answer is None else dict(answer)
