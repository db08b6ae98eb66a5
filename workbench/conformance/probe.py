"""The active probe: the workbench acts as the CSMS, runs a profile's script against a charger, records
everything as a capture and judges that capture passively (:mod:`.evaluate`).

How it is built from existing parts: the lab CSMS (:class:`workbench.lab.csms.LabCSMS`, behind a
throw-away lab PKI on loopback) answers the charger and sends the script's requests; the recording
proxy (:class:`workbench.proxy.ProxyProcess`) listens where the charger connects, with the user's
certificate and the profile's TLS policy, and writes the capture (TLS facts of the charger's leg,
Basic Auth user, refused handshakes and upgrades, every frame). The report is ``check`` of that
capture, so a probe run can be checked again later.

Every wait is bounded: a charger that never connects, fails TLS or auth, or stops answering ends
the probe with a message and a partial report, never a hang.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import WorkbenchError

Say = Callable[[str], None]


@dataclass
class ProbeOptions:
    """What the probe does. Times in seconds."""

    listen_host: str
    listen_port: int
    cert_file: Path
    key_file: Path | None
    out_dir: Path
    charge_point_id: str | None = None
    """Expected identity (Basic Auth user); None: the first charger that connects, without auth check."""
    password: str | None = field(default=None, repr=False)
    profile: str = "ev-energy"
    tls_policy: str = "elb-2018-06"
    minutes: float = 2.0
    """How long to observe MeterValues at the end."""
    meter_interval_s: float = 60.0
    """MeterValueSampleInterval the probe sets (R8 asks for 60)."""
    settle_s: float = 15.0
    """Time the charger gets to apply a charging profile before its meter values are judged."""
    connect_timeout_s: float = 120.0
    step_timeout_s: float = 30.0
    allow_remote_start: bool = False
    allow_remote: bool = False
    path_prefix: str = "/ocpp"


@dataclass
class ProbeStep:
    """One request of the script and its outcome."""

    name: str
    answer: str
    ok: bool


@dataclass
class ProbeRun:
    """What a probe run produced: the steps, the capture and its evaluation (None if nothing was recorded)."""

    steps: list[ProbeStep]
    capture_path: Path
    result: Any
    ended_early: str | None = None


async def run_probe(options: ProbeOptions, say: Say = print, listening: Callable[[str], None] | None = None) -> ProbeRun:
    """Run the probe (see the module docstring); returns when the script is done or cannot go on.
    ``listening(url_prefix)`` is called once chargers can connect (``wss://host:port/ocpp``)."""
    # The ocpp library logs every CALLERROR it receives; the probe prints each step's answer itself.
    ocpp_log = logging.getLogger("ocpp")
    level = ocpp_log.level
    ocpp_log.setLevel(logging.ERROR)
    try:
        return await _run_probe(options, say, listening)
    finally:
        ocpp_log.setLevel(level)


async def _run_probe(options: ProbeOptions, say: Say, listening: Callable[[str], None] | None) -> ProbeRun:
    from ocpp.v16 import call

    from ..lab.certs import make_lab_pki
    from ..lab.csms import LabCSMS
    from ..proxy import ProxyConfig, ProxyProcess

    options.out_dir.mkdir(parents=True, exist_ok=True)
    capture_path = options.out_dir / "probe.ocpp.jsonl"
    steps: list[ProbeStep] = []
    ended_early: str | None = None
    with tempfile.TemporaryDirectory(prefix="ocpp-probe-") as tmp:
        pki = make_lab_pki(Path(tmp) / "pki")
        cp_id = options.charge_point_id
        passwords = {cp_id: options.password} if cp_id and options.password is not None else {}
        async with LabCSMS(pki=pki, passwords=passwords, path_prefix=options.path_prefix,
                           unknown_ids="404" if passwords else "accept", heartbeat_interval_s=300,
                           response_timeout_s=options.step_timeout_s) as csms:
            proxy = ProxyProcess(ProxyConfig(
                capture_path=capture_path, upstream_url=csms.url, listen_host=options.listen_host,
                listen_port=options.listen_port, cert_file=options.cert_file, key_file=options.key_file,
                upstream_ca=pki.ca_cert, tls_policy=options.tls_policy, allow_remote=options.allow_remote,
                overwrite=True,
            ), log_path=Path(tmp) / "mitmdump.log")
            await asyncio.to_thread(proxy.start)
            try:
                if listening is not None:
                    listening(f"wss://{proxy.url_host}:{proxy.port}{options.path_prefix}")
                say(f"probe: acting as the CSMS at wss://{proxy.url_host}:{proxy.port}{options.path_prefix}/"
                    f"{cp_id or '<charge point id>'} (TLS policy {options.tls_policy}"
                    f"{', Basic Auth checked' if passwords else ''}); waiting up to {options.connect_timeout_s:g} s")
                cp_id, still_there = await _wait_for_charger(csms, cp_id, options.connect_timeout_s)
                if cp_id is None:
                    ended_early = _why_not_connected(csms, options.connect_timeout_s)
                    say(f"probe: {ended_early}")
                elif not still_there:
                    ended_early = f"{cp_id} booted and disconnected before the script could start"
                    say(f"probe: {ended_early}")
                else:
                    say(f"probe: {cp_id} connected")
                    script = _Script(csms, cp_id, options, steps, say, call)
                    ended_early = await script.run()
            finally:
                await asyncio.to_thread(proxy.stop)
    result = None
    if capture_path.exists():
        from ..analysis import load
        from .evaluate import evaluate

        cap = load(capture_path)
        params = {"R8": {"interval_s": options.meter_interval_s,
                         "interval_tolerance_s": max(1.0, options.meter_interval_s / 6)},
                  "R6": {"settle_s": options.settle_s}}
        result = evaluate(cap, options.profile, params=params, capture_name=str(capture_path))
    return ProbeRun(steps, capture_path, result, ended_early)


async def _wait_for_charger(csms: Any, cp_id: str | None, timeout_s: float) -> tuple[str | None, bool]:
    """(charge point id, still connected) of the first charger that booted; (None, False) on timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        booted = [name for name, state in csms.charge_points.items() if state.boots and (cp_id is None or name == cp_id)]
        for name in booted:
            if name in csms.connected:
                return name, True
        if booted:
            await asyncio.sleep(0.5)  # a reconnect may be on its way
            if booted[0] not in csms.connected:
                return booted[0], False
        await asyncio.sleep(0.05)
    return None, False


def _why_not_connected(csms: Any, timeout_s: float) -> str:
    if csms.rejections:
        last = csms.rejections[-1]
        return f"the charger was refused: HTTP {last.status_code} {last.reason} (see the report: R1, R3)"
    return (f"no charger connected and booted within {timeout_s:g} s (a refused TLS handshake, if any, "
            "is in the report under R1)")


class _Script:
    """The ev-energy script: configuration, triggers, charging profiles, observation."""

    def __init__(self, csms: Any, cp_id: str, options: ProbeOptions, steps: list[ProbeStep], say: Say,
                 call: Any) -> None:
        self.csms, self.cp_id, self.options, self.steps, self.say, self.call = csms, cp_id, options, steps, say, call

    async def request(self, name: str, message: Any) -> Any:
        """Send one request; print and keep what came back. Raises _Gone when the charger left."""
        from ocpp.exceptions import OCPPError

        try:
            reply = await self.csms.call(self.cp_id, message, timeout_s=self.options.step_timeout_s)
        except OCPPError as exc:
            self._keep(name, f"CALLERROR {getattr(exc, 'code', type(exc).__name__)}", False)
            return None
        except TimeoutError:
            self._keep(name, f"no answer within {self.options.step_timeout_s:g} s", False)
            if self.cp_id not in self.csms.connected:
                raise _Gone("the charger disconnected") from None
            return None
        except WorkbenchError:
            raise _Gone("the charger disconnected") from None
        status = getattr(reply, "status", None)
        self._keep(name, str(status) if status is not None else "answered", status in (None, "Accepted"))
        return reply

    def _keep(self, name: str, answer: str, ok: bool) -> None:
        self.steps.append(ProbeStep(name, answer, ok))
        self.say(f"  -> {name}: {answer}")

    async def pause(self, seconds: float) -> None:
        """Wait, but stop early (raising _Gone) when the charger leaves."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.cp_id not in self.csms.connected:
                raise _Gone("the charger disconnected")
            await asyncio.sleep(min(0.1, max(0.0, deadline - time.monotonic())))

    async def run(self) -> str | None:
        try:
            await self._run()
        except _Gone as gone:
            self.say(f"probe: {gone}; the report covers what was recorded")
            return str(gone)
        return None

    async def _run(self) -> None:
        call, opts = self.call, self.options
        measurands = "Energy.Active.Import.Register,Power.Active.Import"
        await self.request("GetConfiguration", call.GetConfiguration())
        for key in ("MeterValuesSampledData", "MeterValuesSampleData"):
            await self.request(f"ChangeConfiguration {key}", call.ChangeConfiguration(key=key, value=measurands))
        await self.request("ChangeConfiguration MeterValueSampleInterval",
                           call.ChangeConfiguration(key="MeterValueSampleInterval", value=f"{opts.meter_interval_s:g}"))
        for message in ("BootNotification", "StatusNotification"):
            await self.request(f"TriggerMessage {message}", call.TriggerMessage(requested_message=message))
            await self.pause(2.0)  # the triggered message follows the .conf
        started_here = False
        transaction = self._open_transaction()
        if transaction is None and opts.allow_remote_start:
            await self.request("RemoteStartTransaction", call.RemoteStartTransaction(id_tag="PROBE0001", connector_id=1))
            started_here = await self._wait(lambda: self._open_transaction() is not None, opts.step_timeout_s)
            transaction = self._open_transaction()
        if transaction is None:
            self.say("probe: no transaction running (start one at the charger, or pass --allow-remote-start): "
                     "charging profiles not tried, R6 will be not_observed")
        else:
            await self._charging_profiles(transaction)
        self.say(f"probe: observing for {opts.minutes:g} min")
        await self.pause(opts.minutes * 60.0)
        if started_here and self._open_transaction() is not None:
            await self.request("RemoteStopTransaction",
                               call.RemoteStopTransaction(transaction_id=transaction.transaction_id))
            await self._wait(lambda: self._open_transaction() is None, opts.step_timeout_s)

    async def _charging_profiles(self, transaction: Any) -> None:
        call, opts = self.call, self.options
        hold_s = opts.settle_s + 3 * opts.meter_interval_s
        connector = transaction.connector_id

        def schedule(limit: float) -> dict[str, Any]:
            return {"chargingRateUnit": "W", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}]}

        for purpose, target in (("TxProfile", connector), ("ChargePointMaxProfile", 0)):
            for limit in (0.0, 22000.0):
                profile: dict[str, Any] = {"chargingProfileId": 900 + (purpose == "TxProfile"), "stackLevel": 1,
                                           "chargingProfilePurpose": purpose, "chargingProfileKind": "Absolute",
                                           "chargingSchedule": schedule(limit)}
                if purpose == "TxProfile":
                    profile["transactionId"] = transaction.transaction_id
                await self.request(f"SetChargingProfile {purpose} {limit:g} W",
                                   call.SetChargingProfile(connector_id=target, cs_charging_profiles=profile))
                await self.pause(hold_s)
            await self.request(f"GetCompositeSchedule connector {connector}",
                               call.GetCompositeSchedule(connector_id=connector, duration=300))

    def _open_transaction(self) -> Any:
        open_ = [t for t in self.csms.transactions.values() if t.charge_point_id == self.cp_id and t.stop_ts is None]
        return open_[-1] if open_ else None

    async def _wait(self, condition: Callable[[], bool], timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() >= deadline:
                return False
            await self.pause(0.1)
        return True


class _Gone(Exception):
    """The charger left during the script."""
