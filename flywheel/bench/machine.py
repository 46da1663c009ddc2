"""What a benchmark records about the machine it ran on, next to its figures."""

from __future__ import annotations

import os
import platform
from typing import Any


def machine() -> dict[str, Any]:
    """CPU count, CPU model (from /proc/cpuinfo where there is one) and the 1-minute
    load average now (call it at the end of a run: it tells how busy the box was)."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            model = next(
                ln.split(":", 1)[1].strip() for ln in cpuinfo if ln.startswith("model name")
            )
    except (OSError, StopIteration):
        pass
    return {"cpus": os.cpu_count(), "cpu_model": model, "load_avg_1m": os.getloadavg()[0]}
