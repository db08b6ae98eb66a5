"""What the capture addon costs: N chargers sending MeterValues as fast as the CSMS answers,
(a) directly, (b) through plain mitmdump, (c) through mitmdump with the addon.

Prints frames/s, round-trip latency (p50/p99) and the latency each proxy adds, the ratios
(c)/(b) and (b)/(a) from the same run, mitmdump's CPU milliseconds per frame (psutil on the
child), and its memory (RSS) over a longer run with and without the addon.

Everything runs on 127.0.0.1 over WSS (TLS 1.2, lab PKI) with Basic Auth. The chargers and the
CSMS share one Python process (minimal websockets peers, not the ``ocpp`` library, so the peers
are cheap); mitmdump is a separate process. Bounded: ``--seconds`` per run, ``--quick`` for a smoke run.

    .venv/bin/python bench/proxy_overhead.py            # full run, a few minutes
    .venv/bin/python bench/proxy_overhead.py --quick    # about half a minute
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
from websockets.asyncio.client import connect
from websockets.asyncio.server import basic_auth, serve

from workbench.lab.certs import LabPKI, make_lab_pki
from workbench.proxy import ProxyConfig, ProxyProcess

PASSWORD = "bench-password-0123"
STEP_TIMEOUT_S = 30.0


def meter_values(unique_id: str) -> str:
    """A MeterValues CALL like the lab charger's (about 900 bytes)."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    sampled = [{"value": "12345.6", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
               {"value": "11040", "measurand": "Power.Active.Import", "unit": "W"}]
    for phase in ("L1", "L2", "L3"):
        sampled.append({"value": "16.0", "measurand": "Current.Import", "unit": "A", "phase": phase})
        sampled.append({"value": "230.1", "measurand": "Voltage", "unit": "V", "phase": f"{phase}-N"})
    payload = {"connectorId": 1, "transactionId": 42, "meterValue": [{"timestamp": now, "sampledValue": sampled}]}
    return json.dumps([2, unique_id, "MeterValues", payload], separators=(",", ":"))


@dataclass
class RunResult:
    label: str
    chargers: int
    round_trips: int
    seconds: float
    latencies_s: list[float]
    proxy_cpu_s: float | None

    @property
    def frames(self) -> int:
        return 2 * self.round_trips  # a CALL and its CALLRESULT

    @property
    def frames_per_s(self) -> float:
        return self.frames / self.seconds

    def percentile_ms(self, q: float) -> float:
        ordered = sorted(self.latencies_s)
        return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    @property
    def cpu_ms_per_frame(self) -> float | None:
        return None if self.proxy_cpu_s is None else 1000 * self.proxy_cpu_s / max(1, self.frames)


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


async def charger_loop(url: str, pki: LabPKI, name: str, stop_at: list[float], measure_from: list[float],
                       latencies: list[float], counts: list[int], ready: asyncio.Event, go: asyncio.Event,
                       period_s: float | None = None) -> None:
    """One charger: a MeterValues CALL, wait for its answer, repeat (every ``period_s`` if given)."""
    token = base64.b64encode(f"{name}:{PASSWORD}".encode()).decode()
    async with connect(f"{url}/{name}", ssl=pki.client_ssl_context(), subprotocols=["ocpp1.6"], compression=None,
                       additional_headers={"Authorization": f"Basic {token}"}, proxy=None,
                       open_timeout=STEP_TIMEOUT_S, ping_interval=None) as ws:
        ready.set()
        await asyncio.wait_for(go.wait(), STEP_TIMEOUT_S)
        sequence = 0
        next_at = time.perf_counter()
        while True:
            if period_s is not None:
                # Spread the chargers over the period so the proxy sees a steady rate.
                next_at += period_s
                await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
            sent_at = time.perf_counter()
            if sent_at >= stop_at[0]:
                return
            sequence += 1
            await ws.send(meter_values(f"{name}-{sequence}"))
            await asyncio.wait_for(ws.recv(), STEP_TIMEOUT_S)
            if sent_at >= measure_from[0]:
                latencies.append(time.perf_counter() - sent_at)
                counts[0] += 1


async def drive(url: str, pki: LabPKI, chargers: int, seconds: float, warmup_s: float,
                proxy_pid: int | None, on_sample=None,  # type: ignore[no-untyped-def]
                rate_per_s: float | None = None) -> tuple[int, list[float], float | None]:
    """Run ``chargers`` loops, as fast as answered or at ``rate_per_s`` round trips/s in total;
    returns (round trips measured, latencies (s), proxy CPU seconds while measuring)."""
    period_s = chargers / rate_per_s if rate_per_s else None
    latencies: list[float] = []
    counts = [0]
    go = asyncio.Event()
    readies = [asyncio.Event() for _ in range(chargers)]
    stop_at = [float("inf")]
    measure_from = [float("inf")]
    tasks = [asyncio.create_task(charger_loop(url, pki, f"BENCH{i:03d}", stop_at, measure_from, latencies,
                                              counts, readies[i], go, period_s)) for i in range(chargers)]
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), STEP_TIMEOUT_S * 2)
    process = psutil.Process(proxy_pid) if proxy_pid else None
    start = time.perf_counter()
    measure_from[0] = start + warmup_s
    stop_at[0] = measure_from[0] + seconds
    go.set()
    await asyncio.sleep(warmup_s)
    cpu_before = sum(process.cpu_times()[:2]) if process else None
    while time.perf_counter() < stop_at[0]:
        await asyncio.sleep(min(1.0, max(0.0, stop_at[0] - time.perf_counter())))
        if on_sample is not None:
            on_sample(counts[0])
    cpu_after = sum(process.cpu_times()[:2]) if process else None
    await asyncio.wait_for(asyncio.gather(*tasks), STEP_TIMEOUT_S)
    cpu = None if process is None else cpu_after - cpu_before  # type: ignore[operator]
    return counts[0], latencies, cpu


def proxy_for(csms_port: int, pki: LabPKI, workdir: Path, confdir: Path, with_addon: bool, tag: str) -> ProxyProcess:
    config = ProxyConfig(
        capture_path=workdir / f"bench-{tag}.ocpp.jsonl", upstream_url=f"wss://127.0.0.1:{csms_port}/ocpp",
        cert_file=pki.server_combined, upstream_ca=pki.ca_cert, tls_version_max="TLS1_2",
        with_addon=with_addon, confdir=confdir, overwrite=True,
    )
    return ProxyProcess(config, log_path=workdir / f"mitmdump-{tag}.log")


async def one_run(label: str, pki: LabPKI, csms_port: int, workdir: Path, confdir: Path, chargers: int,
                  seconds: float, warmup_s: float, rate_per_s: float | None = None) -> RunResult:
    if label == "a_direct":
        count, latencies, cpu = await drive(f"wss://127.0.0.1:{csms_port}/ocpp", pki, chargers, seconds, warmup_s,
                                            None, rate_per_s=rate_per_s)
        return RunResult(label, chargers, count, seconds, latencies, None)
    proxy = proxy_for(csms_port, pki, workdir, confdir, label == "c_addon", f"{label}-{chargers}")
    await asyncio.to_thread(proxy.start)
    try:
        count, latencies, cpu = await drive(f"wss://127.0.0.1:{proxy.port}/ocpp", pki, chargers, seconds,
                                            warmup_s, proxy.pid, rate_per_s=rate_per_s)
    finally:
        await asyncio.to_thread(proxy.stop)
    return RunResult(label, chargers, count, seconds, latencies, cpu)


async def memory_run(with_addon: bool, pki: LabPKI, csms_port: int, workdir: Path, confdir: Path,
                     chargers: int, seconds: float) -> list[tuple[float, int, float]]:
    """(elapsed s, frames so far, RSS MiB) samples of mitmdump over a long run."""
    tag = "mem-addon" if with_addon else "mem-plain"
    proxy = proxy_for(csms_port, pki, workdir, confdir, with_addon, tag)
    await asyncio.to_thread(proxy.start)
    samples: list[tuple[float, int, float]] = []
    started = time.perf_counter()
    interval = max(1.0, seconds / 10)
    last = [0.0]
    try:
        process = psutil.Process(proxy.pid)

        def on_sample(round_trips: int) -> None:
            now = time.perf_counter()
            if now - last[0] >= interval:
                last[0] = now
                samples.append((now - started, 2 * round_trips, process.memory_info().rss / 2**20))  # MiB

        await drive(f"wss://127.0.0.1:{proxy.port}/ocpp", pki, chargers, seconds, 0.5, proxy.pid, on_sample)
        samples.append((time.perf_counter() - started, samples[-1][1] if samples else 0,
                        process.memory_info().rss / 2**20))
    finally:
        await asyncio.to_thread(proxy.stop)
    return samples


def median_run(series: list[RunResult]) -> RunResult:
    """The run with the median throughput, carrying the median CPU per frame of all repeats."""
    chosen = sorted(series, key=lambda r: r.frames_per_s)[len(series) // 2]
    cpus = [r.cpu_ms_per_frame for r in series if r.cpu_ms_per_frame is not None]
    if not cpus:
        return chosen
    cpu_ms = statistics.median(cpus)
    return RunResult(chosen.label, chosen.chargers, chosen.round_trips, chosen.seconds, chosen.latencies_s,
                     cpu_ms * chosen.frames / 1000)


def print_throughput(results: dict[tuple[str, int], RunResult], charger_counts: list[int]) -> None:
    print("\n## Throughput, latency and CPU (WSS, TLS 1.2 both legs, MeterValues round trips)\n")
    print("| chargers | setup | frames/s | p50 ms | p99 ms | added p50 ms | added p99 ms | mitmdump CPU ms/frame |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    for n in charger_counts:
        direct = results[("a_direct", n)]
        for label in ("a_direct", "b_plain", "c_addon"):
            r = results[(label, n)]
            added50 = "" if label == "a_direct" else f"{r.percentile_ms(0.5) - direct.percentile_ms(0.5):.2f}"
            added99 = "" if label == "a_direct" else f"{r.percentile_ms(0.99) - direct.percentile_ms(0.99):.2f}"
            cpu = "" if r.cpu_ms_per_frame is None else f"{r.cpu_ms_per_frame:.3f}"
            print(f"| {n} | {label} | {r.frames_per_s:.0f} | {r.percentile_ms(0.5):.2f} | {r.percentile_ms(0.99):.2f} "
                  f"| {added50} | {added99} | {cpu} |")
    print("\n## Ratios (same run)\n")
    print("| chargers | throughput (c)/(b) | throughput (b)/(a) | CPU per frame (c)/(b) |")
    print("|---:|---:|---:|---:|")
    for n in charger_counts:
        a, b, c = (results[(label, n)] for label in ("a_direct", "b_plain", "c_addon"))
        cpu_ratio = c.cpu_ms_per_frame / b.cpu_ms_per_frame if b.cpu_ms_per_frame else float("nan")  # type: ignore[operator]
        print(f"| {n} | {c.frames_per_s / b.frames_per_s:.3f} | {b.frames_per_s / a.frames_per_s:.3f} | {cpu_ratio:.3f} |")


def addon_hot_path_us(frames: int = 20_000) -> tuple[float, float]:
    """The addon's own cost per frame, in process: (CPU µs, wall µs) of its ``websocket_message``
    hook (record + json.dumps + write + flush + trim) on a MeterValues frame. Independent of
    the machine's other load, unlike the end-to-end figures."""
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
            wall, cpu = time.perf_counter(), time.process_time()
            for i in range(frames):
                flow.websocket.messages.append(WebSocketMessage(Opcode.TEXT, i % 2 == 0, content, time.time()))
                addon.websocket_message(flow)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            addon.done()
    return 1e6 * cpu / frames, 1e6 * wall / frames


async def paced_cpu(args: argparse.Namespace, pki: LabPKI, csms_port: int, workdir: Path, confdir: Path,
                    repeats: int, seconds: float) -> None:
    """CPU per frame of (b) and (c) at the same steady rate: free of the throughput/batching effect."""
    print(f"\n## mitmdump CPU per frame at a steady {args.paced_rate:g} round trips/s "
          f"({2 * args.paced_rate:g} frames/s), {args.paced_chargers} chargers\n")
    cpu: dict[str, list[float]] = {"b_plain": [], "c_addon": []}
    for repeat in range(repeats):
        for label in cpu:
            r = await one_run(label, pki, csms_port, workdir, confdir, args.paced_chargers, seconds, args.warmup,
                              rate_per_s=args.paced_rate)
            cpu[label].append(r.cpu_ms_per_frame or float("nan"))
            print(f"  {label:9s} repeat {repeat + 1}: {r.frames_per_s:5.0f} frames/s, "
                  f"p50 {r.percentile_ms(0.5):.2f} ms, mitmdump {r.cpu_ms_per_frame:.3f} ms CPU/frame", flush=True)
    b, c = statistics.median(cpu["b_plain"]), statistics.median(cpu["c_addon"])
    print("\n| setup | mitmdump CPU ms/frame (median) | all repeats |")
    print("|---|---:|---|")
    for label, value in (("b_plain", b), ("c_addon", c)):
        print(f"| {label} | {value:.3f} | {', '.join(f'{v:.3f}' for v in cpu[label])} |")
    print(f"\nCPU per frame (c)/(b) at equal rate: {c / b:.3f}")


def print_memory(samples: dict[str, list[tuple[float, int, float]]]) -> None:
    print("\n## mitmdump memory (RSS) during a long run\n")
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


async def main(args: argparse.Namespace) -> None:
    charger_counts = [1, 10] if args.quick else args.chargers
    repeats = 1 if args.quick else args.repeats
    seconds = 2.0 if args.quick else args.seconds
    memory_seconds = 6.0 if args.quick else args.memory_seconds
    with tempfile.TemporaryDirectory(prefix="ocpp-bench-") as tmp:
        workdir = Path(tmp)
        pki = make_lab_pki(workdir / "pki")
        confdir = workdir / "mitmproxy"
        server = await start_csms(pki)
        csms_port = server.sockets[0].getsockname()[1]
        cores = psutil.cpu_count()
        load = ", ".join(f"{x:.1f}" for x in psutil.getloadavg())
        print(f"# proxy overhead: {seconds:g} s per run after {args.warmup:g} s warm-up, {cores} CPU cores, "
              f"load average before the run {load}")
        try:
            hot_cpu_us, hot_wall_us = addon_hot_path_us()
            print(f"\n## Addon hot path in process\n\nwebsocket_message per MeterValues frame: "
                  f"{hot_cpu_us:.1f} µs CPU ({hot_wall_us:.1f} µs wall), record + json.dumps + write + flush + trim\n",
                  flush=True)
            runs: dict[tuple[str, int], list[RunResult]] = {}
            for n in charger_counts:
                # Interleaved repeats: other load on the machine then hits all three setups alike.
                for repeat in range(repeats):
                    for label in ("a_direct", "b_plain", "c_addon"):
                        r = await one_run(label, pki, csms_port, workdir, confdir, n, seconds, args.warmup)
                        runs.setdefault((label, n), []).append(r)
                        cpu = "" if r.cpu_ms_per_frame is None else f", mitmdump {r.cpu_ms_per_frame:.3f} ms CPU/frame"
                        print(f"  {label:9s} chargers={n:3d} repeat {repeat + 1}: {r.frames_per_s:7.0f} frames/s, "
                              f"p50 {r.percentile_ms(0.5):.2f} ms{cpu}", flush=True)
            results = {key: median_run(series) for key, series in runs.items()}
            print_throughput(results, charger_counts)
            print(f"\n(medians of {repeats} interleaved repeats; the run with the median frames/s is shown, "
                  "CPU ms/frame is the median over repeats)")
            await paced_cpu(args, pki, csms_port, workdir, confdir, repeats, seconds)
            memory = {}
            for with_addon in (False, True):
                label = "c_addon" if with_addon else "b_plain"
                memory[label] = await memory_run(with_addon, pki, csms_port, workdir, confdir, args.memory_chargers,
                                                 memory_seconds)
            print_memory(memory)
        finally:
            server.close()
            await asyncio.wait_for(server.wait_closed(), STEP_TIMEOUT_S)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chargers", type=int, nargs="+", default=[1, 10, 100], help="charger counts (default 1 10 100)")
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per run (default 5)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats per setup (default 3)")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds before measuring (default 1)")
    parser.add_argument("--paced-rate", type=float, default=150.0,
                        help="round trips/s in total for the equal-rate CPU comparison (default 150)")
    parser.add_argument("--paced-chargers", type=int, default=10, help="chargers in the equal-rate runs (default 10)")
    parser.add_argument("--memory-seconds", type=float, default=45.0,
                        help="length of each memory run (default 45)")
    parser.add_argument("--memory-chargers", type=int, default=10, help="chargers in the memory runs (default 10)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 and 10 chargers, 2 s runs, 6 s memory runs")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
