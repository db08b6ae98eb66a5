"""What any frame-seeing mitmproxy addon costs: plain mitmdump vs an empty ``websocket_message`` hook vs the
capture addon, 10 chargers as fast as answered, 3 interleaved repeats of 6 s (prints medians). Not a unit test.

    .venv/bin/python bench/proxy_hook_floor.py
"""
import asyncio
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import proxy_overhead as pb  # noqa: E402

import workbench.proxy as wp  # noqa: E402
from workbench.lab import make_lab_pki  # noqa: E402

async def run(kind: str, pki, port, work):
    if kind == "empty":
        wp.ADDON_PATH = Path(__file__).resolve().with_name("empty_websocket_addon.py")
    elif kind == "addon":
        wp.ADDON_PATH = wp.Path(wp.__file__).with_name("addon.py")
    proxy = pb.proxy_for(port, pki, work, work / "conf", kind != "plain", kind)
    await asyncio.to_thread(proxy.start)
    try:
        count, lat, cpu = await pb.drive(f"wss://127.0.0.1:{proxy.port}/ocpp", pki, 10, 6, 1.0, proxy.pid)
    finally:
        await asyncio.to_thread(proxy.stop)
    return count / 6 * 2, cpu * 1000 / (2 * count)

async def main():
    work = Path(tempfile.mkdtemp()); pki = make_lab_pki(work / "pki")
    server = await pb.start_csms(pki); port = next(iter(server.sockets)).getsockname()[1]
    results = {k: [] for k in ("plain", "empty", "addon")}
    for _ in range(3):
        for kind in results:
            results[kind].append(await run(kind, pki, port, work))
    base = sorted(results["plain"])[1]
    for kind, rows in results.items():
        rows.sort()
        fps, cpu = rows[1]  # the median-throughput run
        print(f"{kind:6s} frames/s {fps:7.0f} ({fps / base[0]:.3f} of plain), CPU {cpu:.3f} ms/frame "
              f"({cpu / base[1]:.3f} of plain); all runs: {[(round(f), round(c, 3)) for f, c in rows]}")
    server.close()
asyncio.run(main())
