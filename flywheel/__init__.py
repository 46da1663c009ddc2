"""flywheel: an active-learning data flywheel on Ray.

The public surface is re-exported here and pinned by tests/test_public_api.py.
"""

from flywheel.config import Settings
from flywheel.errors import FlywheelError
from flywheel.lake import Lake, sql

__all__ = ["FlywheelError", "Lake", "Settings", "sql"]
__version__ = "0.1.0"
