"""What any frame-seeing mitmproxy addon costs: plain mitmdump (b) against an empty ``websocket_message``
hook (e, ``bench/empty_websocket_addon.py``) and the capture addon (c), 10 chargers as fast as answered,
with the interleaved blocks, pinning and spread of ``bench/proxy_overhead.py`` (it runs that with
``--floor``; extra arguments pass through). Not a unit test.

    .venv/bin/python bench/proxy_hook_floor.py
    .venv/bin/python bench/proxy_hook_floor.py --blocks 10 --chargers 1 10 100
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import proxy_overhead  # noqa: E402

if __name__ == "__main__":
    proxy_overhead.run(["--floor", "--chargers", "10", "--blocks", "6", "--memory-seconds", "0", "--no-hot-path",
                        *sys.argv[1:]])
