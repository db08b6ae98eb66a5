"""What the capture addon costs: N chargers sending MeterValues as fast as the CSMS answers,
(a) directly, (b) through plain mitmdump, (c) through mitmdump with the addon.

Prints frames/s, round-trip latency (p50/p99) and the latency each proxy adds, mitmdump's CPU
milliseconds per frame, the ratios (c)/(b) and (b)/(a) from the same run with their spread, and
mitmdump's memory (RSS) over a longer run with and without the addon.

How the comparison is kept fair and its noise visible:

- A *burst* is a fixed number of round trips (not a fixed time), split over the chargers.
  mitmdump's CPU is read from ``/proc/PID/task/*/schedstat`` (nanoseconds, all threads) just
  before and after it, so CPU per frame is (CPU ns) / (frames), with no connection set-up in it.
- One long-lived mitmdump per setup. Per charger count, a few *blocks*: each opens N connections
  through every setup (and directly), then runs *quads* of short bursts in the order b, c, c, b
  on those connections, then one direct burst, then closes them. Each quad gives one (c)/(b)
  ratio from bursts a second or two apart, so drift of the machine (other load, the host) hits
  (b) and (c) alike; each block gives one (b)/(a). The tables show the median over quads, the
  interquartile range and a bootstrap 95 % interval of that median.
- mitmdump runs pinned to one core and this process (chargers and CSMS) to another, so the two
  never compete for a core (``--no-pin`` turns this off; it needs at least 2 cores).

Everything runs on 127.0.0.1 over WSS (TLS 1.2, lab PKI) with Basic Auth. The chargers and the
CSMS share one Python process (minimal websockets peers, not the ``ocpp`` library, so the peers
are cheap). Not a unit test. Run it alone (``flock /tmp/bench.lock ...`` where benchmarks share a machine):

    .venv/bin/python bench/proxy_overhead.py            # full run, about 6 minutes
    .venv/bin/python bench/proxy_overhead.py --quick    # smoke run, under a minute
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import re
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import basic_auth, serve

from workbench.lab.certs import LabPKI, make_lab_pki
from workbench.proxy import ProxyConfig, ProxyProcess

PASSWORD = "bench-password-0123"
STEP_TIMEOUT_S = 30.0
EMPTY_ADDON = Path(__file__).resolve().with_name("empty_websocket_addon.py")
SETUP_NAMES = {"a": "a_direct", "b": "b_plain", "c": "c_addon", "e": "e_empty_hook"}
"""Setups by letter. ``e`` (mitmdump with an empty websocket_message hook) is optional: ``--floor``."""
LOAD_CPU, PROXY_CPU = 0, 1  # with pinning: this process on core 0, every mitmdump on core 1


def meter_values_template() -> tuple[str, str]:
    """A MeterValues CALL like the lab charger's (about 900 bytes), split around its unique id."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    sampled = [{"value": "12345.6", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
               {"value": "11040", "measurand": "Power.Active.Import", "unit": "W"}]
    for phase in ("L1", "L2", "L3"):
        sampled.append({"value": "16.0", "measurand": "Current.Import", "unit": "A", "phase": phase})
        sampled.append({"value": "230.1", "measurand": "Voltage", "unit": "V", "phase": f"{phase}-N"})
    payload = {"connectorId": 1, "transactionId": 42, "meterValue": [{"timestamp": now, "sampledValue": sampled}]}
    body = json.dumps(payload, separators=(",", ":"))
    return '[2,"', f'","MeterValues",{body}]'


def meter_values(unique_id: str) -> str:
    head, tail = meter_values_template()
    return f"{head}{unique_id}{tail}"


def cpu_ns(pid: int) -> int:
    """CPU time (ns) of every live thread of ``pid``, from the scheduler's own accounting."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as fh:
                total += int(fh.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass  # a thread that ended between listing and reading
    return total


def pin(pid: int, cpu: int) -> None:
    """Pin every thread of ``pid`` (threads it starts later inherit the main thread's mask)."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            os.sched_setaffinity(int(tid), {cpu})
        except ProcessLookupError:
            pass


@dataclass
class Burst:
    """One measured burst: a fixed number of round trips through one setup."""

    setup: str
    chargers: int
    round_trips: int
    seconds: float
    latencies_s: list[float]
    proxy_cpu_ns: int | None

    @property
    def frames(self) -> int:
        return 2 * self.round_trips  # a CALL and its CALLRESULT

    @property
    def frames_per_s(self) -> float:
        return self.frames / self.seconds

    @property
    def cpu_ms_per_frame(self) -> float | None:
        return None if self.proxy_cpu_ns is None else self.proxy_cpu_ns / 1e6 / self.frames


@dataclass
class Pooled:
    """All bursts of one setup and charger count."""

    bursts: list[Burst] = field(default_factory=list)

    @property
    def frames_per_s(self) -> float:
        return sum(b.frames for b in self.bursts) / sum(b.seconds for b in self.bursts)

    @property
    def cpu_ms_per_frame(self) -> float | None:
        if any(b.proxy_cpu_ns is None for b in self.bursts):
            return None
        return sum(b.proxy_cpu_ns or 0 for b in self.bursts) / 1e6 / sum(b.frames for b in self.bursts)

    def percentile_ms(self, q: float) -> float:
        ordered = sorted(x for b in self.bursts for x in b.latencies_s)
        return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def start_csms(pki: LabPKI):  # type: ignore[no-untyped-def]
    """A minimal CSMS: answers every CALL with ``[3, id, {}]``."""

    async def handler(connection) -> None:  # type: ignore[no-untyped-def]
        async for message in connection:
            # The unique id is the second array element; slicing it out is cheaper than json.loads.
            unique_id = message.split(",", 2)[1]
            await connection.send(f"[3,{unique_id},{{}}]")

    return await serve(
        handler, "127.0.0.1", 0, ssl=pki.server_ssl_context(), subprotocols=["ocpp1.6"], compression=None,
        process_request=basic_auth(check_credentials=lambda user, password: password == PASSWORD),
        max_queue=None,
    )


async def open_chargers(url: str, pki: LabPKI, chargers: int) -> list[ClientConnection]:
    async def one(i: int) -> ClientConnection:
        name = f"BENCH{i:03d}"
        token = base64.b64encode(f"{name}:{PASSWORD}".encode()).decode()
        return await connect(f"{url}/{name}", ssl=pki.client_ssl_context(), subprotocols=["ocpp1.6"],
                             compression=None, additional_headers={"Authorization": f"Basic {token}"},
                             proxy=None, open_timeout=STEP_TIMEOUT_S, ping_interval=None, max_queue=None)

    # A few at a time: 100 simultaneous TLS handshakes through one proxy core would time out.
    connections: list[ClientConnection] = []
    for start in range(0, chargers, 20):
        connections += await asyncio.gather(*(one(i) for i in range(start, min(chargers, start + 20))))
    return connections


async def round_trips(ws: ClientConnection, name: str, count: int, latencies: list[float] | None,
                      period_s: float | None = None, phase_s: float = 0.0) -> None:
    """``count`` MeterValues round trips on one connection, back to back (or one per ``period_s``)."""
    head, tail = meter_values_template()
    next_at = time.perf_counter() + phase_s
    for sequence in range(count):
        if period_s is not None:
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
            next_at += period_s
        sent_at = time.perf_counter()
        await ws.send(f"{head}{name}-{sequence}{tail}")
        await asyncio.wait_for(ws.recv(), STEP_TIMEOUT_S)
        if latencies is not None:
            latencies.append(time.perf_counter() - sent_at)


@dataclass
class Fleet:
    """``chargers`` open connections through one setup (``proxy_pid`` None: direct to the CSMS)."""

    setup: str
    connections: list[ClientConnection]
    proxy_pid: int | None

    @classmethod
    async def open(cls, setup: str, url: str, pki: LabPKI, chargers: int, warmup: int,
                   proxy_pid: int | None) -> Fleet:
        connections = await open_chargers(url, pki, chargers)
        await asyncio.gather(*(round_trips(ws, f"W{i}", warmup, None) for i, ws in enumerate(connections)))
        return cls(setup, connections, proxy_pid)

    async def burst(self, total_round_trips: int, rate_per_s: float | None = None) -> Burst:
        """Measure ``total_round_trips`` (split evenly over the chargers), as fast as answered or at
        ``rate_per_s`` round trips/s in total. mitmdump's CPU is read just before and after."""
        chargers = len(self.connections)
        per_charger = max(1, round(total_round_trips / chargers))
        period_s = chargers / rate_per_s if rate_per_s else None
        latencies: list[float] = []
        cpu_before = cpu_ns(self.proxy_pid) if self.proxy_pid else 0
        started = time.perf_counter()
        await asyncio.gather(*(
            round_trips(ws, f"M{i}", per_charger, latencies, period_s, (period_s or 0) * i / chargers)
            for i, ws in enumerate(self.connections)
        ))
        seconds = time.perf_counter() - started
        cpu = cpu_ns(self.proxy_pid) - cpu_before if self.proxy_pid else None
        return Burst(self.setup, chargers, per_charger * chargers, seconds, latencies, cpu)

    async def close(self) -> None:
        await asyncio.gather(*(ws.close() for ws in self.connections), return_exceptions=True)


async def burst(setup: str, url: str, pki: LabPKI, chargers: int, total_round_trips: int, warmup: int,
                proxy_pid: int | None, rate_per_s: float | None = None) -> Burst:
    """Connect ``chargers``, warm up, measure one burst of ``total_round_trips`` and close."""
    fleet = await Fleet.open(setup, url, pki, chargers, warmup, proxy_pid)
    try:
        return await fleet.burst(total_round_trips, rate_per_s)
    finally:
        await fleet.close()
        # Let the proxy finish the closes (close records, flow teardown) before anything else is measured.
        await asyncio.sleep(0.2)


def proxy_for(csms_port: int, pki: LabPKI, workdir: Path, confdir: Path, setup: str) -> ProxyProcess:
    config = ProxyConfig(
        capture_path=workdir / f"bench-{setup}.ocpp.jsonl", upstream_url=f"wss://127.0.0.1:{csms_port}/ocpp",
        cert_file=pki.server_combined, upstream_ca=pki.ca_cert, tls_version_max="TLS1_2",
        with_addon=setup != "b_plain", addon_path=EMPTY_ADDON if setup == "e_empty_hook" else None,
        confdir=confdir, overwrite=True,
    )
    return ProxyProcess(config, log_path=workdir / f"mitmdump-{setup}.log")


async def start_proxy(csms_port: int, pki: LabPKI, workdir: Path, confdir: Path, setup: str,
                      pinned: bool) -> ProxyProcess:
    proxy = proxy_for(csms_port, pki, workdir, confdir, setup)
    await asyncio.to_thread(proxy.start)
    if pinned:
        pin(proxy.pid, PROXY_CPU)
    return proxy


# -- statistics ------------------------------------------------------------------------------------

def quantile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated quantile (q in 0..1) of a non-empty sequence."""
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def bootstrap_median_ci(values: Sequence[float], resamples: int = 4000, seed: int = 1) -> tuple[float, float]:
    """95 % percentile-bootstrap interval of the median of ``values``."""
    rng = random.Random(seed)
    medians = sorted(statistics.median(rng.choices(values, k=len(values))) for _ in range(resamples))
    return medians[int(0.025 * resamples)], medians[int(0.975 * resamples) - 1]


def spread(values: Sequence[float]) -> str:
    """``median [IQR low-high] (95 % CI low-high)``, three decimals."""
    if len(values) < 2:
        return f"{values[0]:.3f}" if values else ""
    low, high = bootstrap_median_ci(values)
    return (f"{statistics.median(values):.3f} [IQR {quantile(values, 0.25):.3f}-{quantile(values, 0.75):.3f}] "
            f"(95% CI {low:.3f}-{high:.3f})")


# -- the runs ---------------------------------------------------------------------------------------

@dataclass
class Results:
    pooled: dict[tuple[str, int], Pooled] = field(default_factory=dict)
    ratios: dict[tuple[str, int], list[float]] = field(default_factory=dict)
    """Per block: ``("throughput c/b", n)`` -> one ratio per block, and so on."""

    def add_ratio(self, name: str, n: int, value: float) -> None:
        self.ratios.setdefault((name, n), []).append(value)


def quad_order(proxied: list[str]) -> list[str]:
    """The proxied setups forward and back: b, c, c, b (b, e, c, c, e, b with --floor)."""
    return [*proxied, *reversed(proxied)]


def _rate(bursts: list[Burst]) -> tuple[float, float]:
    """(frames/s, CPU ns per frame) of bursts taken together."""
    frames = sum(x.frames for x in bursts)
    return frames / sum(x.seconds for x in bursts), sum(x.proxy_cpu_ns or 0 for x in bursts) / frames


async def measure(args: argparse.Namespace, pki: LabPKI, csms_port: int, proxies: dict[str, ProxyProcess],
                  results: Results) -> None:
    """Per charger count, ``blocks`` times: open a fleet per setup, then ``quads`` rounds of short
    bursts b, c, c, b (one ratio each), then one direct burst (the block's (b)/(a)); close."""
    proxied = list(proxies)
    for n in args.chargers:
        for block in range(args.blocks):
            fleets = {"a_direct": await Fleet.open("a_direct", f"wss://127.0.0.1:{csms_port}/ocpp", pki, n,
                                                   args.warmup, None)}
            for setup in proxied:
                fleets[setup] = await Fleet.open(setup, f"wss://127.0.0.1:{proxies[setup].port}/ocpp", pki, n,
                                                 args.warmup, proxies[setup].pid)
            got: dict[str, list[Burst]] = {}
            try:
                for _ in range(args.quads):
                    quad: dict[str, list[Burst]] = {}
                    for setup in quad_order(proxied):
                        quad.setdefault(setup, []).append(await fleets[setup].burst(args.round_trips))
                    b_fps, b_cpu = _rate(quad["b_plain"])
                    for setup in proxied[1:]:
                        fps, cpu = _rate(quad[setup])
                        results.add_ratio(f"throughput {setup[0]}/b", n, fps / b_fps)
                        results.add_ratio(f"CPU per frame {setup[0]}/b", n, cpu / b_cpu)
                    for setup, bursts in quad.items():
                        got.setdefault(setup, []).extend(bursts)
                got["a_direct"] = [await fleets["a_direct"].burst(args.round_trips)]
            finally:
                for fleet in fleets.values():
                    await fleet.close()
                await asyncio.sleep(0.2)  # let the proxies finish the closes before the next block
            for setup, bursts in got.items():
                results.pooled.setdefault((setup, n), Pooled()).bursts.extend(bursts)
            a_fps = got["a_direct"][0].frames_per_s
            b_fps, b_cpu = _rate(got["b_plain"])
            results.add_ratio("throughput b/a", n, b_fps / a_fps)
            line = [f"  chargers={n:3d} block {block + 1:2d}: a {a_fps:5.0f} f/s, b {b_fps:5.0f} f/s {b_cpu / 1e6:.3f} ms"]
            for setup in proxied[1:]:
                fps, cpu = _rate(got[setup])
                letter = setup[0]
                line.append(f"{letter} {fps:5.0f} f/s {cpu / 1e6:.3f} ms ({letter}/b {fps / b_fps:.3f}, "
                            f"CPU {cpu / b_cpu:.3f}; per quad CPU "
                            + " ".join(f"{x:.2f}" for x in results.ratios[(f"CPU per frame {letter}/b", n)][-args.quads:])
                            + ")")
            print(", ".join(line), flush=True)


def print_tables(args: argparse.Namespace, results: Results, proxied: list[str]) -> None:
    print(f"\n## Throughput, latency and CPU (WSS, TLS 1.2 both legs, MeterValues round trips; per charger count "
          f"{args.blocks} blocks of {args.quads} quads ({', '.join(s[0] for s in quad_order(proxied))}) of "
          f"{args.round_trips} round trips per burst, "
          "bursts pooled)\n")
    print("| chargers | setup | frames/s | p50 ms | p99 ms | added p50 ms | added p99 ms | mitmdump CPU ms/frame |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    for n in args.chargers:
        direct = results.pooled[("a_direct", n)]
        for setup in ["a_direct", *proxied]:
            r = results.pooled[(setup, n)]
            added = setup != "a_direct"
            added50 = f"{r.percentile_ms(0.5) - direct.percentile_ms(0.5):.2f}" if added else ""
            added99 = f"{r.percentile_ms(0.99) - direct.percentile_ms(0.99):.2f}" if added else ""
            cpu = "" if r.cpu_ms_per_frame is None else f"{r.cpu_ms_per_frame:.3f}"
            print(f"| {n} | {setup} | {r.frames_per_s:.0f} | {r.percentile_ms(0.5):.2f} | "
                  f"{r.percentile_ms(0.99):.2f} | {added50} | {added99} | {cpu} |")
    names = ["throughput b/a"] + [f"{kind} {s[0]}/b" for s in proxied[1:] for kind in ("throughput", "CPU per frame")]
    print(f"\n## Ratios: median [interquartile range] (bootstrap 95 % interval of the median); one per quad "
          f"({args.blocks * args.quads} per charger count), (b)/(a) one per block ({args.blocks})\n")
    print("| chargers | " + " | ".join(re.sub(r"(\w)/(\w)", r"(\1)/(\2)", name) for name in names) + " |")
    print("|---:|" + "---:|" * len(names))
    for n in args.chargers:
        print(f"| {n} | " + " | ".join(spread(results.ratios[(name, n)]) for name in names) + " |")
    if len(args.chargers) > 1:
        print("| all | " + " | ".join(spread([x for n in args.chargers for x in results.ratios[(name, n)]])
                                       for name in names) + " |")


def addon_hot_path_us(frames: int = 20_000) -> tuple[float, float]:
    """The addon's own cost per frame, in process: (CPU µs, wall µs) of its ``websocket_message``
    hook (frame line + write + trim) on a MeterValues frame. Independent of the machine's other
    load, unlike the end-to-end figures."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # third-party imports of mitmproxy
        from mitmproxy.test import taddons, tflow
        from mitmproxy.websocket import WebSocketMessage
        from wsproto.frame_protocol import Opcode

        from workbench.addon import OcppCapture

    with tempfile.TemporaryDirectory(prefix="ocpp-bench-hot-") as tmp:
        addon = OcppCapture()
        with taddons.context(addon) as tctx:
            tctx.configure(addon, ocpp_capture=str(Path(tmp) / "hot.ocpp.jsonl"))
            flow = tflow.twebsocketflow(messages=False)
            flow.request.headers["Sec-WebSocket-Protocol"] = "ocpp1.6"
            addon.websocket_start(flow)
            content = meter_values("hot-1").encode()
            messages = [WebSocketMessage(Opcode.TEXT, i % 2 == 0, content, time.time()) for i in range(frames)]
            wall, cpu = time.perf_counter(), time.process_time()
            for message in messages:
                flow.websocket.messages.append(message)
                addon.websocket_message(flow)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            addon.done()
    return 1e6 * cpu / frames, 1e6 * wall / frames


async def paced_cpu(args: argparse.Namespace, pki: LabPKI, proxies: dict[str, ProxyProcess]) -> None:
    """CPU per frame of the proxied setups at the same steady rate: free of the batching effect
    (a busier event loop spends less CPU per frame)."""
    n, rate = args.paced_chargers, args.paced_rate
    total = max(n, round(rate * args.paced_seconds))
    print(f"\n## mitmdump CPU per frame at a steady {rate:g} round trips/s ({2 * rate:g} frames/s), "
          f"{n} chargers, {total} round trips per burst\n")
    proxied = list(proxies)
    cpu: dict[str, list[float]] = {s: [] for s in proxied}
    ratios: dict[str, list[float]] = {s: [] for s in proxied[1:]}
    for _ in range(args.paced_blocks):
        block: dict[str, list[Burst]] = {}
        for setup in [*proxied, *reversed(proxied)]:
            b = await burst(setup, f"wss://127.0.0.1:{proxies[setup].port}/ocpp", pki, n, total, args.warmup,
                            proxies[setup].pid, rate_per_s=rate)
            block.setdefault(setup, []).append(b)
        per_frame = {s: sum(x.proxy_cpu_ns or 0 for x in bs) / 1e6 / sum(x.frames for x in bs)
                     for s, bs in block.items()}
        for s in proxied:
            cpu[s].append(per_frame[s])
        for s in proxied[1:]:
            ratios[s].append(per_frame[s] / per_frame["b_plain"])
    print("| setup | mitmdump CPU ms/frame, median [IQR] (95 % CI) | ratio to b_plain per block |")
    print("|---|---|---|")
    for s in proxied:
        print(f"| {s} | {spread(cpu[s])} | {spread(ratios[s]) if s in ratios else ''} |")


async def memory_run(setup: str, pki: LabPKI, csms_port: int, workdir: Path, confdir: Path, chargers: int,
                     seconds: float, pinned: bool) -> list[tuple[float, int, float]]:
    """(elapsed s, frames so far, RSS MiB) samples of a fresh mitmdump over one long connection per charger."""
    proxy = await start_proxy(csms_port, pki, workdir, confdir, f"{setup}", pinned)
    samples: list[tuple[float, int, float]] = []
    try:
        process = psutil.Process(proxy.pid)
        connections = await open_chargers(f"wss://127.0.0.1:{proxy.port}/ocpp", pki, chargers)
        frames = [0]
        stop_at = time.perf_counter() + seconds
        started = time.perf_counter()

        async def loop(ws: ClientConnection, name: str) -> None:
            head, tail = meter_values_template()
            sequence = 0
            while time.perf_counter() < stop_at:
                sequence += 1
                await ws.send(f"{head}{name}-{sequence}{tail}")
                await asyncio.wait_for(ws.recv(), STEP_TIMEOUT_S)
                frames[0] += 2

        async def sampler() -> None:
            while time.perf_counter() < stop_at:
                await asyncio.sleep(min(max(1.0, seconds / 10), max(0.0, stop_at - time.perf_counter())))
                samples.append((time.perf_counter() - started, frames[0], process.memory_info().rss / 2**20))

        try:
            await asyncio.gather(sampler(), *(loop(ws, f"L{i}") for i, ws in enumerate(connections)))
        finally:
            await asyncio.gather(*(ws.close() for ws in connections), return_exceptions=True)
    finally:
        await asyncio.to_thread(proxy.stop)
    return samples


def print_memory(samples: dict[str, list[tuple[float, int, float]]], chargers: int, seconds: float) -> None:
    print(f"\n## mitmdump memory (RSS) during a long run ({chargers} chargers, {seconds:g} s, as fast as answered)\n")
    print("| setup | elapsed s | frames | RSS MiB |")
    print("|---|---:|---:|---:|")
    for label, series in samples.items():
        for elapsed, frames, rss in series:
            print(f"| {label} | {elapsed:.0f} | {frames} | {rss:.2f} |")
    for label, series in samples.items():
        if len(series) >= 3:
            first, last = series[1], series[-1]  # skip the first sample: warm-up allocations
            growth = (last[2] - first[2]) / max(1, last[1] - first[1]) * 1e6
            print(f"\n{label}: RSS {first[2]:.2f} -> {last[2]:.2f} MiB over {last[1] - first[1]} frames "
                  f"({growth:.1f} MiB per million frames)")


def load_average() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


async def main(args: argparse.Namespace) -> None:
    began = time.monotonic()
    pinned = not args.no_pin and (psutil.cpu_count() or 1) >= 2
    if pinned:
        os.sched_setaffinity(0, {LOAD_CPU})
    proxied = ["b_plain", *(["e_empty_hook"] if args.floor else []), "c_addon"]
    print(f"# proxy overhead, {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}: "
          f"{psutil.cpu_count()} CPU cores, load average {load_average()} (1, 5, 15 min) before the run; "
          + (f"mitmdump pinned to core {PROXY_CPU}, chargers and CSMS to core {LOAD_CPU}" if pinned else "not pinned"))
    if not args.no_hot_path:
        hot_cpu_us, hot_wall_us = addon_hot_path_us()
        print(f"\n## Addon hot path in process\n\nwebsocket_message per MeterValues frame: "
              f"{hot_cpu_us:.1f} µs CPU ({hot_wall_us:.1f} µs wall): frame line + write(2) + trim\n", flush=True)
    with tempfile.TemporaryDirectory(prefix="ocpp-bench-") as tmp:
        workdir = Path(tmp)
        pki = make_lab_pki(workdir / "pki")
        confdir = workdir / "mitmproxy"
        server = await start_csms(pki)
        csms_port = server.sockets[0].getsockname()[1]
        proxies: dict[str, ProxyProcess] = {}
        try:
            for setup in proxied:
                proxies[setup] = await start_proxy(csms_port, pki, workdir, confdir, setup, pinned)
                # Unmeasured: the first frames through a fresh mitmdump pay for imports and caches.
                await burst(setup, f"wss://127.0.0.1:{proxies[setup].port}/ocpp", pki, 10, 500, args.warmup,
                            None)
            results = Results()
            await measure(args, pki, csms_port, proxies, results)
            print_tables(args, results, proxied)
            if args.paced_rate:
                await paced_cpu(args, pki, proxies)
        finally:
            for proxy in proxies.values():
                await asyncio.to_thread(proxy.stop)
        try:
            if args.memory_seconds:
                memory = {}
                for setup in ("b_plain", "c_addon"):
                    memory[setup] = await memory_run(setup, pki, csms_port, workdir, confdir, args.memory_chargers,
                                                     args.memory_seconds, pinned)
                print_memory(memory, args.memory_chargers, args.memory_seconds)
        finally:
            server.close()
            await asyncio.wait_for(server.wait_closed(), STEP_TIMEOUT_S)
    print(f"\n(load average after the run {load_average()}; {time.monotonic() - began:.0f} s in all)")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chargers", type=int, nargs="+", default=[1, 10, 100], help="charger counts (default 1 10 100)")
    parser.add_argument("--round-trips", type=int, default=500,
                        help="measured round trips per burst, split over the chargers (default 500)")
    parser.add_argument("--blocks", type=int, default=5,
                        help="blocks per charger count, each with fresh connections (default 5)")
    parser.add_argument("--quads", type=int, default=6,
                        help="quads (bursts b, c, c, b) per block, one ratio each (default 6)")
    parser.add_argument("--warmup", type=int, default=5, help="round trips per charger before measuring (default 5)")
    parser.add_argument("--floor", action="store_true",
                        help="also run (e): mitmdump with an empty websocket_message hook (the floor of any addon)")
    parser.add_argument("--paced-rate", type=float, default=0.0,
                        help="also compare CPU per frame at this steady rate, round trips/s in total (0: off)")
    parser.add_argument("--paced-chargers", type=int, default=10, help="chargers in the steady-rate runs (default 10)")
    parser.add_argument("--paced-seconds", type=float, default=5.0, help="length of a steady-rate burst (default 5)")
    parser.add_argument("--paced-blocks", type=int, default=3, help="steady-rate blocks (default 3)")
    parser.add_argument("--memory-seconds", type=float, default=60.0,
                        help="length of each memory run, 0 for none (default 60)")
    parser.add_argument("--memory-chargers", type=int, default=10, help="chargers in the memory runs (default 10)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin mitmdump and the load to separate cores")
    parser.add_argument("--no-hot-path", action="store_true", help="skip the in-process hot-path timing")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 1 and 10 chargers, 2 blocks of 2 quads of 200 round trips, 6 s memory runs")
    args = parser.parse_args(argv)
    if args.quick:
        args.chargers, args.blocks, args.quads, args.round_trips, args.memory_seconds = [1, 10], 2, 2, 200, 6.0
    return args


def run(argv: Sequence[str] | None = None) -> None:
    """Parse ``argv`` and run the benchmark (``bench/proxy_hook_floor.py`` reuses this)."""
    asyncio.run(main(parse_args(argv)))


if __name__ == "__main__":
    run()
