"""What the replayer achieves: throughput, timing accuracy and a fleet, against real peers on loopback.

1. **Throughput.** One charger replayed at ``--speed max`` (pace reply: the next request when the
   previous one is answered): LAB-CP1's requests from ``captures/sample.ocpp.jsonl``, repeated to
   ``--requests``. Against (a) the lab CSMS (``ocpp`` library, schema validation) and (b) a minimal
   answering server (every CALL answered ``[3, id, {}]`` by plain websockets); and the floor: a
   direct websockets loop sending the same request texts to (b) and awaiting each answer, with no
   replayer at all (the issue's "echo loop"). The same bare loop against (a) shows what the lab
   CSMS itself allows. frames/s counts both directions. The peers run in a child process each, so
   this process's CPU is the replayer's (or the floor loop's) own: printed per request for both,
   with the WebSocket extensions (permessage-deflate) each negotiates, which must be the same.
2. **Timing at --speed 1.** A plan of Heartbeats at random recorded gaps (10-60 ms) against (b); the
   error is replayed gap minus recorded gap between consecutive requests, p50 and p99 of its size.
   Also the engine's CPU per request over the in-memory transport (no network, capture written):
   its inverse is the replayer's ceiling on one core.
3. **Fleet.** ``--chargers`` charge points of a synthetic fleet (``workbench.lab.synth``) replayed
   at once against the lab CSMS (child process) at ``--fleet-speed``: connections made and held
   (peak open at once, closes nobody recorded), steps lost (any row but matched), frames/s, p99
   reply latency (from the replay's capture), the replayer's CPU (user + system seconds over wall
   seconds, in cores) and the lab CSMS's. Open-file limits are raised in-process (one socket per
   charge point on each side).

Loopback only; every part is bounded (timeouts on every wait). Load average is printed at the start
and the end: the figures of a shared machine mean little without it.

    .venv/bin/python bench/replay.py --quick                 # under a minute
    .venv/bin/python bench/replay.py                         # 1,000 chargers at speed 60, about 2 minutes
    .venv/bin/python bench/replay.py --parts fleet           # one part only (throughput, timing, fleet)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from websockets.asyncio.client import connect
from websockets.asyncio.server import serve

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workbench.analysis import load  # noqa: E402
from workbench.capture.writer import CaptureWriter  # noqa: E402
from workbench.lab.synth import generate  # noqa: E402
from workbench.replay import Plan, ReplayOptions, Step, replay_header, run_plan  # noqa: E402
from workbench.replay.run import make_connector  # noqa: E402
from workbench.replay.verdict import DEFAULT_IGNORE  # noqa: E402

SAMPLE = ROOT / "captures" / "sample.ocpp.jsonl"
IGNORE = (*DEFAULT_IGNORE, "StopTransaction:/idTagInfo", "/interval")


# -- peers (child process) ------------------------------------------------------------------------

def raise_open_files(needed: int) -> int:
    """Raise this process's soft open-files limit towards ``needed`` (up to the hard limit); returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


async def _serve(kind: str) -> None:
    raise_open_files(8192)
    if kind == "lab":
        from workbench.lab import LabCSMS

        csms = LabCSMS(pki=None, passwords={}, unknown_ids="accept", response_timeout_s=30)
        await csms.start()
        print(csms.url, flush=True)
    else:
        async def answer(connection) -> None:
            async for message in connection:
                request = json.loads(message)
                await connection.send(f'[3,{json.dumps(request[1])},{{}}]')

        server = await serve(answer, "127.0.0.1", 0, subprotocols=["ocpp1.6"], max_size=None, ping_interval=None)
        print(f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/ocpp", flush=True)
    # Each line from the parent asks for this process's CPU seconds so far; EOF ends it.
    loop = asyncio.get_running_loop()
    while await loop.run_in_executor(None, sys.stdin.readline):
        print(f"{cpu_s():.6f}", flush=True)


class Peer:
    """A peer server in a child process (this script with ``--serve``); ``url`` once it listens."""

    def __init__(self, kind: str) -> None:
        self.process = subprocess.Popen([sys.executable, __file__, "--serve", kind], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True, cwd=ROOT)
        self.url = self.process.stdout.readline().strip()

    def cpu_s(self) -> float:
        """The peer process's CPU seconds (user + system) so far."""
        self.process.stdin.write("cpu\n")
        self.process.stdin.flush()
        return float(self.process.stdout.readline())

    def close(self) -> None:
        self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# -- measurements ---------------------------------------------------------------------------------

def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def throughput_plan(requests: int) -> Plan:
    """LAB-CP1's requests, repeated until ``requests``, on one connection."""
    base = Plan.from_capture(SAMPLE, charge_point="LAB-CP1").drop(kind="expect")
    sends = [base.steps[i] for i in base.select(kind="send")]
    steps = [Step("LAB-CP1", "connect")]
    while len(steps) - 1 < requests:
        steps.extend(Step(**{**s.__dict__}) for s in sends[: requests - (len(steps) - 1)])
    steps.append(Step("LAB-CP1", "close", close_code=1000))
    return Plan(role="charger", steps=steps, recorded_start=base.recorded_start)


async def replay_rate(plan: Plan, url: str, out: Path) -> tuple[float, float, int, float]:
    """(frames/s, CPU cores, non-matched rows, CPU us per request) of one replay at max speed,
    writing a capture."""
    connector = make_connector(plan, target=url)
    with CaptureWriter(out, replay_header(plan, url)) as writer:
        cpu0, t0 = cpu_s(), time.perf_counter()
        result = await run_plan(plan, connector, writer=writer, options=ReplayOptions(ignore=IGNORE))
        wall, cpu = time.perf_counter() - t0, cpu_s() - cpu0
    frames = result.verdict.frames_sent + result.verdict.frames_received
    return frames / wall, cpu / wall, len(result.verdict.problems()), 1e6 * cpu / result.verdict.frames_sent


async def floor_rate(plan: Plan, url: str) -> tuple[float, float]:
    """(frames/s, CPU us per request) of a bare websockets loop sending the plan's requests and
    awaiting each answer."""
    texts = [json.dumps([2, f"f{i}", s.action, s.payload], separators=(",", ":"))
             for i, s in enumerate(s for s in plan.steps if s.kind == "send")]
    async with connect(url + "/FLOOR", subprotocols=["ocpp1.6"], max_size=None, ping_interval=None) as ws:
        cpu0, t0 = cpu_s(), time.perf_counter()
        for text in texts:
            await ws.send(text)
            await ws.recv()
        wall, cpu = time.perf_counter() - t0, cpu_s() - cpu0
    return 2 * len(texts) / wall, 1e6 * cpu / len(texts)


def _extensions(connection) -> str:
    return ", ".join(extension.name for extension in connection.protocol.extensions) or "none"


async def negotiated_extensions(plan: Plan, url: str) -> tuple[str, str]:
    """The WebSocket extensions (permessage-deflate or none) that the floor loop's connection and the
    replayer's own connector negotiate with ``url``: the comparison is fair only if they are the same."""
    async with connect(url + "/FLOOR", subprotocols=["ocpp1.6"], max_size=None, ping_interval=None) as ws:
        floor = _extensions(ws)
    transport = await make_connector(plan, target=url).connect("LAB-CP1", None, 10)
    try:
        replayer = _extensions(transport._ws)  # the websockets connection under the replay transport
    finally:
        await transport.close(1000)
    return floor, replayer


async def engine_cpu_us(plan: Plan, out: Path) -> float:
    """CPU microseconds per request of the engine alone: the in-memory transport answers at once,
    the capture is written. Its inverse is the replayer's ceiling on one core (one asyncio loop)."""
    from workbench.replay.transports import MockConnector

    def answer(text: str, transport) -> None:
        message = json.loads(text)
        if message[0] == 2:
            transport.deliver(f'[3,{json.dumps(message[1])},{{}}]')

    with CaptureWriter(out, replay_header(plan, "memory")) as writer:
        cpu0 = time.process_time()
        await run_plan(plan, MockConnector(answer), writer=writer, options=ReplayOptions(ignore=IGNORE))
        cpu = time.process_time() - cpu0
    return 1e6 * cpu / len(plan.select(kind="send"))


def gap_plan(steps: int, seed: int = 7) -> Plan:
    rng = random.Random(seed)
    t, out = 0.0, [Step("GAP-1", "connect")]
    for _ in range(steps):
        t += rng.uniform(0.010, 0.060)
        out.append(Step("GAP-1", "send", t_s=t, action="Heartbeat", payload={}, reply_kind="CALLRESULT", reply={}))
    out.append(Step("GAP-1", "close", t_s=t + 0.05, close_code=1000))
    return Plan(role="charger", steps=out, recorded_start="2026-01-01T00:00:00.000000Z")


async def gap_errors_ms(plan: Plan, url: str, out: Path) -> list[float]:
    connector = make_connector(plan, target=url)
    with CaptureWriter(out, replay_header(plan, url)) as writer:
        await run_plan(plan, connector, writer=writer, options=ReplayOptions(speed=1.0))
    frames = load(out).frames
    sent = frames[frames["direction"] == "charger_to_csms"]["ts"].tolist()
    recorded = [s.t_s for s in plan.steps if s.kind == "send"]
    return [abs(((b - a).total_seconds() - (rb - ra)) * 1000)
            for a, b, ra, rb in zip(sent, sent[1:], recorded, recorded[1:], strict=False)]


def peak_open_connections(capture) -> int:
    """The most connections open at once in a capture (from its connection records)."""
    events = sorted([(t, 1) for t in capture.connections["ts"].dropna()]
                    + [(t, -1) for t in capture.connections["close_ts"].dropna()])
    peak = now = 0
    for _t, change in events:
        now += change
        peak = max(peak, now)
    return peak


async def fleet(chargers: int, days: float, speed: float, peer: Peer, scratch: Path) -> dict[str, float]:
    url = peer.url
    source = scratch / "fleet.ocpp.jsonl"
    generate(source, chargers=chargers, days=days, seed=5, write_sidecar=False)
    plan = Plan.from_capture(source).drop(kind="expect")
    connects = len(plan.select(kind="connect"))
    out = scratch / "fleet-replay.ocpp.jsonl"
    connector = make_connector(plan, target=url)
    with CaptureWriter(out, replay_header(plan, url)) as writer:
        peer_cpu0, cpu0, t0 = peer.cpu_s(), cpu_s(), time.perf_counter()
        result = await run_plan(plan, connector, writer=writer,
                                options=ReplayOptions(speed=speed, ignore=IGNORE, reply_timeout_s=30,
                                                      connect_timeout_s=30, peer_timeout_s=30))
        wall, cpu, peer_cpu = time.perf_counter() - t0, cpu_s() - cpu0, peer.cpu_s() - peer_cpu0
    replayed = load(out)
    calls = replayed.calls
    latency = calls["latency_s"].dropna().sort_values().tolist()
    # After the connect burst (every charge point dials and boots at once at the start): the steady state.
    settled = replayed.connections["ts"].max() + pd.Timedelta(seconds=1)
    steady = calls[calls["ts"] > settled]["latency_s"].dropna().sort_values().tolist()
    frames = result.verdict.frames_sent + result.verdict.frames_received
    dropped = sum(1 for r in result.verdict.rows if r.kind == "close" and r.status == "unexpected")
    return {"chargers": chargers, "connections": connects, "connection_errors": result.verdict.connection_errors,
            "peak_open": peak_open_connections(replayed), "dropped_by_peer": dropped,
            "csms_cpu_cores": peer_cpu / wall, "engine_s": result.verdict.duration_s,
            "steps_lost": len(result.verdict.problems()), "requests": len(plan.select(kind="send")),
            "frames": frames, "wall_s": wall, "frames_per_s": frames / wall,
            "p99_latency_ms": 1000 * latency[int(0.99 * (len(latency) - 1))] if latency else float("nan"),
            "p50_latency_ms": 1000 * latency[int(0.5 * (len(latency) - 1))] if latency else float("nan"),
            "p99_steady_ms": 1000 * steady[int(0.99 * (len(steady) - 1))] if steady else float("nan"),
            "steady_requests": len(steady),
            "cpu_cores": cpu / wall, "recorded_s": max(s.t_s for s in plan.steps) - min(s.t_s for s in plan.steps)}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[int(q * (len(ordered) - 1))]


def load_average() -> str:
    return ", ".join(f"{x:.1f}" for x in os.getloadavg()) + f" (1, 5, 15 min) on {os.cpu_count()} cores"


async def throughput(args: argparse.Namespace, lab: Peer, answer: Peer, scratch: Path) -> None:
    plan = throughput_plan(args.requests)
    # Interleaved rounds (floor, bare loop to the lab CSMS, replay to the answering server, replay to
    # the lab CSMS), so a busy spell of a shared machine hits all four; each round gives its ratios.
    floor, floor_lab, to_answer, to_lab = [], [], [], []
    floor_cpu = []
    for i in range(args.repeat):
        fps, floor_us = await floor_rate(plan, answer.url)
        floor.append(fps)
        floor_cpu.append(floor_us)
        floor_lab.append((await floor_rate(plan, lab.url))[0])
        to_answer.append(await replay_rate(plan, answer.url, scratch / f"a{i}.ocpp.jsonl"))
        to_lab.append(await replay_rate(plan, lab.url, scratch / f"l{i}.ocpp.jsonl"))
    median = statistics.median
    floor_fps, floor_lab_fps = median(floor), median(floor_lab)
    answer_fps, lab_fps = median(r[0] for r in to_answer), median(r[0] for r in to_lab)
    answer_ratio = median(r[0] / f for r, f in zip(to_answer, floor, strict=True))
    lab_ratio = median(r[0] / f for r, f in zip(to_lab, floor, strict=True))
    lab_own_ratio = median(r[0] / f for r, f in zip(to_lab, floor_lab, strict=True))
    rounds = lambda values: ", ".join(f"{v:,.0f}" for v in values)  # noqa: E731
    print(f"throughput, one charger, {args.requests:,} requests, median of {args.repeat} interleaved rounds:")
    print(f"  floor: bare websockets loop -> answering server:  {floor_fps:8,.0f} frames/s (rounds {rounds(floor)})")
    print(f"  bare websockets loop -> lab CSMS:                 {floor_lab_fps:8,.0f} frames/s (rounds {rounds(floor_lab)})")
    print(f"  replayer -> answering server:                     {answer_fps:8,.0f} frames/s "
          f"({answer_ratio:.0%} of the floor of its round; rounds {rounds(r[0] for r in to_answer)}; "
          f"replayer CPU {median(r[1] for r in to_answer):.2f} cores)")
    print(f"  replayer -> lab CSMS:                             {lab_fps:8,.0f} frames/s "
          f"({lab_ratio:.0%} of the floor, {lab_own_ratio:.0%} of the bare loop to the lab CSMS; "
          f"rounds {rounds(r[0] for r in to_lab)}; rows not matched {sum(r[2] for r in to_lab)})")
    print("  target >= 2,000 frames/s and >= 50 % of the floor: "
          f"{'met' if lab_fps >= 2000 and lab_ratio >= 0.5 else 'NOT met'} against the lab CSMS, "
          f"{'met' if answer_fps >= 2000 and answer_ratio >= 0.5 else 'NOT met'} against the answering server")
    # CPU per request is steadier than frames/s on a shared machine (a busy neighbour stretches the
    # wall clock of a ping-pong, not the CPU spent per message): the replayer's total CPU per request
    # against the floor loop's, and what the replayer adds of its own.
    floor_us = median(floor_cpu)
    replay_us = median(r[3] for r in to_answer)
    print(f"  CPU per request (this process): floor loop {floor_us:.0f} us, replayer {replay_us:.0f} us "
          f"(its own work: {replay_us - floor_us:.0f} us; CPU ratio floor/replayer {floor_us / replay_us:.0%})")
    floor_ext, replayer_ext = await negotiated_extensions(plan, answer.url)
    print(f"  WebSocket extensions negotiated with the answering server: floor loop {floor_ext}, "
          f"replayer {replayer_ext} ({'the same: a fair comparison' if floor_ext == replayer_ext else 'NOT the same'})")
    per_request = median([await engine_cpu_us(plan, scratch / f"m{i}.ocpp.jsonl") for i in range(3)])
    print(f"engine CPU alone (in-memory transport, capture written): {per_request:.0f} us per request, "
          f"i.e. a ceiling of about {2e6 / per_request:,.0f} frames/s on one core")


async def timing(args: argparse.Namespace, answer: Peer, scratch: Path) -> None:
    errors = await gap_errors_ms(gap_plan(args.gap_steps), answer.url, scratch / "gaps.ocpp.jsonl")
    p50, p99 = percentile(errors, 0.5), percentile(errors, 0.99)
    print(f"timing at --speed 1, {len(errors)} gaps of 10-60 ms: |error| p50 {p50:.2f} ms, p99 {p99:.2f} ms, "
          f"max {max(errors):.2f} ms (target p99 <= 20 ms: {'met' if p99 <= 20 else 'NOT met'})")


async def fleet_part(args: argparse.Namespace, lab: Peer, scratch: Path) -> None:
    f = await fleet(args.chargers, args.days, args.fleet_speed, lab, scratch)
    held = f["connection_errors"] == 0 and f["dropped_by_peer"] == 0
    print(f"fleet: {f['chargers']:,} charge points ({f['connections']:,} connections incl. reconnects), "
          f"{f['requests']:,} requests, {f['recorded_s']:.0f} s recorded at speed {args.fleet_speed:g} -> "
          f"{f['wall_s']:.1f} s")
    print(f"  connections: {f['connection_errors']} failed, {f['dropped_by_peer']} closed by the CSMS, "
          f"peak {f['peak_open']:,} open at once; steps lost {f['steps_lost']}")
    print(f"  {f['frames_per_s']:,.0f} frames/s, reply latency p50 {f['p50_latency_ms']:.1f} ms, "
          f"p99 {f['p99_latency_ms']:.1f} ms (after the connect burst: p99 {f['p99_steady_ms']:.1f} ms "
          f"over {f['steady_requests']:,} requests), "
          f"replayer CPU {f['cpu_cores']:.2f} cores, lab CSMS CPU {f['csms_cpu_cores']:.2f} cores")
    ceiling = f["requests"] / f["wall_s"] / max(f["cpu_cores"], 1e-9)
    print(f"  CPU ceiling: one asyncio loop, one core: at this mix about {ceiling:,.0f} requests/s "
          f"({ceiling / (f['requests'] / f['wall_s']):.0f}x this load)")
    print(f"  target: all {f['chargers']:,} held with no lost step: "
          f"{'met' if held and f['steps_lost'] == 0 and f['peak_open'] >= f['chargers'] else 'NOT met'}")


async def main(args: argparse.Namespace) -> None:
    print(f"open files limit {raise_open_files(2 * args.chargers + 256):,}; load average at the start {load_average()}")
    lab, answer = Peer("lab"), Peer("answer")
    try:
        with tempfile.TemporaryDirectory(prefix="bench-replay-") as tmp:
            scratch = Path(tmp)
            if "throughput" in args.parts:
                await throughput(args, lab, answer, scratch)
            if "timing" in args.parts:
                await timing(args, answer, scratch)
            if "fleet" in args.parts:
                await fleet_part(args, lab, scratch)
    finally:
        lab.close()
        answer.close()
    print(f"load average at the end {load_average()}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, under a minute")
    parser.add_argument("--requests", type=int, default=None, help="requests of the throughput run")
    parser.add_argument("--repeat", type=int, default=None, help="runs per throughput figure (median)")
    parser.add_argument("--gap-steps", type=int, default=None)
    parser.add_argument("--chargers", type=int, default=None)
    parser.add_argument("--days", type=float, default=None, help="recorded length of the fleet capture")
    parser.add_argument("--fleet-speed", type=float, default=60.0)
    parser.add_argument("--parts", default="throughput,timing,fleet",
                        help="comma-separated parts to run: throughput, timing, fleet (default all)")
    parser.add_argument("--serve", choices=["lab", "answer"], help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.serve:
        asyncio.run(_serve(arguments.serve))
        sys.exit(0)
    quick = arguments.quick
    arguments.parts = {part.strip() for part in arguments.parts.split(",")}
    if not arguments.parts <= {"throughput", "timing", "fleet"}:
        parser.error(f"--parts: unknown part(s) {', '.join(sorted(arguments.parts - {'throughput', 'timing', 'fleet'}))}")
    arguments.requests = arguments.requests or (2000 if quick else 5000)
    arguments.repeat = arguments.repeat or (3 if quick else 5)
    arguments.gap_steps = arguments.gap_steps or (150 if quick else 1000)
    arguments.chargers = arguments.chargers or (50 if quick else 1000)
    arguments.days = arguments.days or (0.01 if quick else 0.02)
    asyncio.run(main(arguments))
