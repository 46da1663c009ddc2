"""Peak memory of a process tree: the sum of PSS over a process and all its descendants
(Ray's raylet, GCS and workers are descendants of a driver that starts a local cluster),
sampled from /proc by a background thread. Linux only (``/proc/PID/smaps_rollup``).

PSS (proportional set size) charges each shared page to the processes that map it in
equal parts, so summing it over a tree counts shared libraries and Ray's shared-memory
object store once, not once per process.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

_PROC = Path("/proc")


def _parents() -> dict[int, int]:
    """pid -> parent pid of every process we can see now."""
    parents: dict[int, int] = {}
    for entry in os.scandir(_PROC):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:  # exited while we looked
            continue
        # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
        fields = stat[stat.rindex(")") + 2 :].split()
        parents[int(entry.name)] = int(fields[1])
    return parents


def descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (children, their children, ...), not ``pid``."""
    children: dict[int, list[int]] = {}
    for child, parent in _parents().items():
        children.setdefault(parent, []).append(child)
    found: list[int] = []
    todo = list(children.get(pid, []))
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(children.get(p, []))
    return found


def pss_bytes(pid: int) -> int:
    """The PSS of one process in bytes (0 when it is gone or unreadable)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024  # the kernel reports kB
    except (OSError, ValueError):
        pass
    return 0


def tree_pss_bytes(pid: int) -> int:
    """Sum of PSS over ``pid`` and all its descendants, in bytes."""
    return sum(pss_bytes(p) for p in [pid, *descendants(pid)])


class PeakSampler:
    """Samples ``tree_pss_bytes(pid)`` every ``interval`` seconds on a daemon thread
    until ``stop()``, which returns the peak seen (bytes)."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        self.pid = pid
        self.interval = interval
        self.peak = 0
        self.samples = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"pss-{pid}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            self.peak = max(self.peak, tree_pss_bytes(self.pid))
            self.samples += 1
            if self._done.wait(self.interval):
                return

    def stop(self) -> int:
        self._done.set()
        self._thread.join()
        return self.peak


@dataclass(frozen=True)
class Measured:
    """One command's wall time (s), peak process-tree PSS (bytes) and exit status."""

    seconds: float
    peak_bytes: int
    returncode: int
    samples: int


def run_measured(
    cmd: Sequence[str],
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    log: Path | None = None,
    interval: float = 0.2,
    timeout: float | None = None,
) -> Measured:
    """Run ``cmd`` to its end (stdout and stderr to ``log``, else discarded) while
    sampling the PSS of its process tree."""
    out = log.open("ab") if log is not None else subprocess.DEVNULL
    try:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        sampler = PeakSampler(proc.pid, interval)
        try:
            returncode = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            returncode = proc.wait()
        seconds = time.perf_counter() - start
        peak = sampler.stop()
    finally:
        if log is not None and not isinstance(out, int):
            out.close()
    return Measured(seconds, peak, returncode, sampler.samples)
