"""The loop: the controller that keeps the flywheel turning, the promotion gates, field
feedback and the regression gallery, the model registry view, and ``flywheel status``.

Public surface (pinned by tests/loop/test_public_api.py); names load lazily, so the
vendor API, which only records feedback, does not import the trainer:

- ``run_loop(settings, LoopConfig(queue=...), on_idle=None, echo=None)`` -> ``LoopSummary``
- ``GateConfig``, ``evaluate_gates``, ``gate_candidate``, ``load_blocklist``
- ``FeedbackReport``, ``record_feedback``
- ``read_status`` (the model registry is ``flywheel.train.Models``)

The simulated vendor that answers while the loop waits is ``flywheel.sim``'s.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flywheel.loop.config import LoopConfig
    from flywheel.loop.controller import LoopSummary, RoundSummary, run_loop
    from flywheel.loop.errors import (
        LoopBusyError,
        LoopError,
        LoopTakenOverError,
        MediaRejectedError,
    )
    from flywheel.loop.feedback import (
        MAX_MEDIA_BYTES,
        FeedbackReport,
        FeedbackResult,
        record_feedback,
    )
    from flywheel.loop.gates import (
        GateConfig,
        GateResult,
        evaluate_gates,
        gate_candidate,
        load_blocklist,
    )
    from flywheel.loop.status import Status, read_status

_WHERE = {
    "MAX_MEDIA_BYTES": "feedback",
    "LoopConfig": "config",
    "LoopSummary": "controller",
    "RoundSummary": "controller",
    "run_loop": "controller",
    "LoopError": "errors",
    "LoopBusyError": "errors",
    "LoopTakenOverError": "errors",
    "MediaRejectedError": "errors",
    "FeedbackReport": "feedback",
    "FeedbackResult": "feedback",
    "record_feedback": "feedback",
    "GateConfig": "gates",
    "GateResult": "gates",
    "evaluate_gates": "gates",
    "gate_candidate": "gates",
    "load_blocklist": "gates",
    "Status": "status",
    "read_status": "status",
}
__all__ = [
    "MAX_MEDIA_BYTES",
    "FeedbackReport",
    "FeedbackResult",
    "GateConfig",
    "GateResult",
    "LoopBusyError",
    "LoopConfig",
    "LoopError",
    "LoopSummary",
    "LoopTakenOverError",
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


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(f"flywheel.loop.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
