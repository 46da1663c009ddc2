"""flywheel.loop's public errors (its names are pinned in tests/test_public_api.py)."""

from __future__ import annotations

import flywheel.loop
from flywheel.errors import FlywheelError


def test_loop_errors_are_in_the_one_tree() -> None:
    assert issubclass(flywheel.loop.LoopBusyError, FlywheelError)
    assert issubclass(flywheel.loop.MediaRejectedError, ValueError)
