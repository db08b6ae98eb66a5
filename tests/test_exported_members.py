"""The public API is small and deliberate: a change to it must change this test too."""

import workbench


def test_public_api_is_pinned() -> None:
    assert sorted(workbench.__all__) == sorted([
        "CHECKS", "Capture", "CaptureFormatError", "CaptureReader", "CaptureWriteError", "CaptureWriter",
        "CheckConfig", "Direction", "Finding", "Plan", "UnsafeTargetError", "WorkbenchError", "__version__",
        "check", "load", "open_fleet", "profiles", "read_capture", "replay_diff",
        # plots (workbench/plots.py)
        "energy_reconciliation", "latency_by_action", "meter_interval_histogram", "sequence_chart",
        "session_view", "status_timeline",
    ])
    for name in workbench.__all__:
        assert getattr(workbench, name) is not None


def test_importing_the_package_does_not_import_mitmproxy() -> None:
    # Only workbench.addon may import mitmproxy (it runs inside mitmdump).
    import subprocess
    import sys

    code = "import sys, workbench, workbench.cli, workbench.proxy; print('mitmproxy' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"


def test_the_capture_path_does_not_import_pandas() -> None:
    # The addon imports workbench.capture inside mitmdump: pandas would cost ~100 MiB and ~2 s per start.
    import subprocess
    import sys

    code = "import sys, workbench.capture, workbench.capture.writer; print('pandas' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"
