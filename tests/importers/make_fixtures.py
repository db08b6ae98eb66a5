"""Regenerate the binary and generated fixtures: ``flows.mitm`` (written with mitmproxy's own
FlowWriter from its test helpers) and ``chrome.har`` (Chrome's HAR shape with
``_webSocketMessages``). The text fixtures next to them are written by hand.

Run: .venv/bin/python tests/importers/make_fixtures.py
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

from mitmproxy import http, websocket
from mitmproxy.io import FlowWriter
from mitmproxy.test import tflow
from wsproto.frame_protocol import Opcode

FIXTURES = Path(__file__).parent / "fixtures"
T0 = 1714557600.0  # 2024-05-01T10:00:00Z


def _flow(path: str, messages: list[tuple[bool, str | bytes, float]], *, user: str | None = None,
          close_code: int = 1000) -> http.HTTPFlow:
    flow = tflow.twebsocketflow(close_code=close_code)
    flow.request.path = path
    flow.request.host = "csms.example"
    flow.request.timestamp_start = T0 - 1
    flow.response.timestamp_end = T0 - 0.5
    flow.response.headers["sec-websocket-protocol"] = "ocpp1.6"
    if user:
        token = base64.b64encode(f"{user}:not-in-any-capture".encode()).decode()
        flow.request.headers["authorization"] = f"Basic {token}"
    flow.websocket.messages = [
        websocket.WebSocketMessage(Opcode.TEXT if isinstance(content, str) else Opcode.BINARY, from_client,
                                   content.encode() if isinstance(content, str) else content, T0 + offset)
        for from_client, content, offset in messages
    ]
    flow.websocket.timestamp_end = T0 + messages[-1][2] + 1
    flow.websocket.closed_by_client = True
    return flow


def make_mitm() -> None:
    flows = [
        _flow("/ocpp/MITM-CP-1", [
            (True, '[2,"m1","BootNotification",{"chargePointVendor":"Mitm","chargePointModel":"P"}]', 0.0),
            (False, '[3,"m1",{"status":"Accepted","currentTime":"2024-05-01T10:00:00Z","interval":60}]', 0.05),
            (True, '[2,"m2","StatusNotification",{"connectorId":1,"errorCode":"NoError","status":"Available"}]', 1.0),
            (False, '[3,"m2",{}]', 1.01),
            (True, b"\x00\x01binary-ping", 2.0),
        ], user="MITM-CP-1"),
        _flow("/ocpp/MITM-CP-2", [
            (True, '[2,"k1","Heartbeat",{}]', 5.0),
            (False, '[3,"k1",{"currentTime":"2024-05-01T10:00:05Z"}]', 5.2),
        ], close_code=1006),
    ]
    # A plain HTTP flow in the same dump: not a WebSocket, reported as skipped.
    plain = tflow.tflow(resp=True)
    with open(FIXTURES / "flows.mitm", "wb") as handle:
        writer = FlowWriter(handle)
        for flow in [flows[0], plain, flows[1]]:
            writer.add(flow)


def make_har() -> None:
    def message(kind: str, offset: float, data: str) -> dict:
        return {"type": kind, "time": T0 + offset, "opcode": 1, "data": data}

    har = {"log": {
        "version": "1.2", "creator": {"name": "WebInspector", "version": "537.36"}, "pages": [],
        "entries": [
            {"startedDateTime": "2024-05-01T09:59:59.900Z", "time": 0.0, "_resourceType": "document",
             "request": {"method": "GET", "url": "https://sim.example/", "headers": []},
             "response": {"status": 200, "headers": []}},
            {"startedDateTime": "2024-05-01T09:59:59.950Z", "time": 0.0, "_resourceType": "websocket",
             "request": {"method": "GET", "url": "wss://csms.example/ocpp/HAR-SIM-1", "headers": []},
             "response": {"status": 101, "headers": [{"name": "Sec-WebSocket-Protocol", "value": "ocpp1.6"}]},
             "_webSocketMessages": [
                 message("send", 0.0, '[2,"h1","BootNotification",{"chargePointVendor":"Sim","chargePointModel":"Web"}]'),
                 message("receive", 0.12, '[3,"h1",{"status":"Accepted","currentTime":"2024-05-01T10:00:00Z","interval":30}]'),
                 message("receive", 3.0, '[2,"srv-1","GetConfiguration",{"key":["HeartbeatInterval"]}]'),
                 message("send", 3.1, '[3,"srv-1",{"configurationKey":[{"key":"HeartbeatInterval","readonly":false,"value":"30"}]}]'),
                 message("send", 30.0, '[2,"h2","Heartbeat",{}]'),
                 message("receive", 30.02, '[3,"h2",{"currentTime":"2024-05-01T10:00:30Z"}]'),
             ]},
        ]}}
    (FIXTURES / "chrome.har").write_text(json.dumps(har, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    make_mitm()
    make_har()
