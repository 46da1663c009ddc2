"""The public surface of flywheel.loop, pinned; the vendor API's import stays light."""

from __future__ import annotations

import subprocess
import sys

import flywheel.loop
from flywheel.errors import FlywheelError


def test_public_names() -> None:
    assert flywheel.loop.__all__ == [
        "FeedbackReport",
        "FeedbackResult",
        "GateConfig",
        "GateResult",
        "LoopBusyError",
        "LoopConfig",
        "LoopError",
        "LoopSummary",
        "MediaRejectedError",
        "ModelHistory",
        "RoundSummary",
        "SimulatedAnnotator",
        "SimulatedVendor",
        "Status",
        "evaluate_gates",
        "gate_candidate",
        "load_blocklist",
        "read_status",
        "record_feedback",
        "run_loop",
    ]
    for name in flywheel.loop.__all__:
        assert getattr(flywheel.loop, name) is not None
    assert issubclass(flywheel.loop.LoopBusyError, FlywheelError)
    assert issubclass(flywheel.loop.MediaRejectedError, ValueError)


def test_the_vendor_api_does_not_import_the_trainer() -> None:
    code = "import sys, flywheel.queue.api; print('torch' in sys.modules, 'ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
