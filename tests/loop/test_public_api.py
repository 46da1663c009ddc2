"""The public surface of flywheel.loop, pinned."""

from __future__ import annotations

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
        "RoundSummary",
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
