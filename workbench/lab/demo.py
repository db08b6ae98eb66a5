"""The end-to-end demo: lab CSMS <- recording proxy (real mitmdump) <- three lab chargers.

Everything runs on loopback: the CSMS serves WSS (TLS 1.2, Basic Auth), ``mitmdump`` with the
capture addon sits in front of it in reverse mode, and three simulated chargers connect through
it over WSS with Basic Auth. The CSMS also sends the configuration, trigger and smart-charging
requests an integrator such as ev.energy sends (R6 to R8), so the capture shows both directions.
One charger shows faults. Used by ``ocpp-workbench demo`` and its test.
"""

from __future__ import annotations

import asyncio
import secrets
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ocpp.v16 import call

from ..capture import read_capture
from ..capture.records import RecordType
from ..ocppj import MessageKind, parse_frame
from ..proxy import ProxyConfig, ProxyProcess
from .certs import make_lab_pki
from .charger import ChargerConfig, LabCharger, run_lab_chargers, write_chargers_truth
from .csms import LabCSMS
from .truth import truth_path

FAULTY_CHARGER_FAULTS = frozenset({"invalid_transition", "kwh_as_wh", "reconnect"})


@dataclass
class DemoResult:
    """What a demo run produced: the capture, its truth sidecar and a summary of the capture."""

    capture_path: Path
    truth_path: Path
    chargers: list[LabCharger]
    connections: int = 0
    upgrades_rejected: int = 0
    frames_by_direction: Counter[str] = field(default_factory=Counter)
    actions: Counter[str] = field(default_factory=Counter)
    sessions: int = 0
    read_problems: int = 0

    def summary_text(self) -> str:
        lines = [
            f"capture: {self.capture_path}",
            f"truth:   {self.truth_path}",
            f"connections: {self.connections} (rejected upgrades: {self.upgrades_rejected})",
            "frames: " + ", ".join(f"{d} {n}" for d, n in sorted(self.frames_by_direction.items())),
            f"sessions (StartTransaction): {self.sessions}",
            "actions seen: " + ", ".join(f"{a} {n}" for a, n in sorted(self.actions.items())),
        ]
        if self.read_problems:
            lines.append(f"damaged lines in the capture: {self.read_problems}")
        return "\n".join(lines)


def summarize_capture(result: DemoResult) -> None:
    """Fill the counts of ``result`` from its capture file."""
    _, records, problems = read_capture(result.capture_path)
    result.read_problems = len(problems)
    for record in records:
        kind = record["type"]
        if kind == RecordType.CONNECTION_OPEN:
            result.connections += 1
        elif kind == RecordType.UPGRADE_REJECTED:
            result.upgrades_rejected += 1
        elif kind == RecordType.FRAME:
            result.frames_by_direction[record["direction"]] += 1
            parsed = parse_frame(record.get("text"))
            if parsed.kind is MessageKind.CALL:
                result.actions[parsed.action] += 1
                result.sessions += parsed.action == "StartTransaction"


async def _integrator_requests(csms: LabCSMS, charge_point_id: str, say: Callable[[str], None]) -> None:
    """What an integrator's platform sends after a charger connects (ev.energy R6, R7, R8)."""
    await csms.wait_connected(charge_point_id, timeout_s=20)
    requests: list[Any] = [
        call.ChangeConfiguration(key="MeterValuesSampledData",
                                 value="Energy.Active.Import.Register,Power.Active.Import"),
        call.TriggerMessage(requested_message="StatusNotification", connector_id=1),
        call.SetChargingProfile(connector_id=0, cs_charging_profiles={
            "chargingProfileId": 1, "stackLevel": 0, "chargingProfilePurpose": "ChargePointMaxProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": {"chargingRateUnit": "W",
                                 "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 22000.0}]},
        }),
    ]
    for request in requests:
        try:
            await csms.call(charge_point_id, request)
        except Exception as exc:  # a faulty charger may answer with a CALLERROR or drop the link
            say(f"  {charge_point_id}: {type(request).__name__} -> {type(exc).__name__}: {exc}")


async def run_demo(
    capture_path: Path,
    *,
    sessions: int = 2,
    session_s: float = 8.0,
    meter_interval_s: float = 1.0,
    say: Callable[[str], None] = print,
) -> DemoResult:
    """Run the demo and write ``capture_path`` plus its ``.truth.json`` sidecar. Takes about
    ``sessions / 2 * session_s`` seconds plus a few for start-up (the two connectors run in parallel)."""
    capture_path = Path(capture_path)
    capture_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ocpp-demo-") as tmp:
        pki = make_lab_pki(Path(tmp) / "pki")
        ids = ["LAB-CP1", "LAB-CP2", "LAB-CP3-FAULTY"]
        # Random per run: the demo proves that no password reaches the capture.
        passwords = {cp: secrets.token_hex(10) for cp in ids}
        configs = [
            ChargerConfig(cp, passwords[cp], meter_interval_s=meter_interval_s,
                          faults=FAULTY_CHARGER_FAULTS if cp.endswith("FAULTY") else frozenset())
            for cp in ids
        ]
        async with LabCSMS(pki=pki, passwords=passwords, heartbeat_interval_s=60) as csms:
            say(f"lab CSMS listening at {csms.url} (WSS, TLS 1.2, Basic Auth)")
            proxy = ProxyProcess(ProxyConfig(
                capture_path=capture_path, upstream_url=csms.url, cert_file=pki.server_cert,
                key_file=pki.server_key, upstream_ca=pki.ca_cert, overwrite=True,
                # Mirror the lab CSMS (TLS 1.2 only, like the ELB policy of ev.energy R1) so the
                # charger negotiates through the proxy what it would negotiate with the CSMS.
                tls_version_max="TLS1_2",
            ), log_path=Path(tmp) / "mitmdump.log")
            await asyncio.to_thread(proxy.start)
            try:
                proxy_url = f"wss://127.0.0.1:{proxy.port}{csms.path_prefix}"
                say(f"recording proxy (mitmdump + addon) listening at {proxy_url}")
                say(f"3 chargers x {sessions} sessions of {session_s:g} s; {ids[-1]} shows faults: "
                    + ", ".join(sorted(FAULTY_CHARGER_FAULTS)))
                integrator = [asyncio.create_task(_integrator_requests(csms, cp, say)) for cp in ids]
                chargers = await run_lab_chargers(proxy_url, pki.client_ssl_context(), configs, sessions, session_s)
                await asyncio.gather(*integrator, return_exceptions=True)
            finally:
                await asyncio.to_thread(proxy.stop)
    sidecar = write_chargers_truth(truth_path(capture_path), chargers)
    result = DemoResult(capture_path=capture_path, truth_path=Path(sidecar), chargers=chargers)
    summarize_capture(result)
    return result
