"""Run the whole benchmark: check, split, run every (strategy, seed) curve and the
full-data reference, and write DIR/curves.csv, DIR/summary.json, DIR/learning_curves.png.

Jobs run in this process (``workers=1``) or as that many parallel Ray tasks of one CPU
each (``workers>1``). Full-data jobs go first and curves seed by seed, so a run cut
short still holds comparable curves; curves.csv is rewritten after every job.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flywheel.bench.config import TARGETS, BenchConfig
from flywheel.bench.data import BenchData, prepare_data
from flywheel.bench.learner import Learner
from flywheel.bench.report import (
    plot_curves,
    summarize,
    summarize_weak,
    write_curves,
    write_summary,
)
from flywheel.bench.simulate import CurvePoint, Progress, full_data_accuracy, run_curve
from flywheel.bench.weak import run_weak_curve, weak_only_accuracy
from flywheel.config import Settings

CURVES, SUMMARY, PLOT = "curves.csv", "summary.json", "learning_curves.png"


@dataclass(frozen=True)
class Job:
    """One learning curve (``strategy`` set) or one reference run (``strategy`` None):
    the full (clean) data, or with ``weak_only`` the weak labels alone."""

    strategy: str | None
    seed: int
    weak_only: bool = False


@dataclass
class BenchResult:
    """What a run wrote, and the summary it printed."""

    out: Path
    points: list[CurvePoint] = field(default_factory=list)
    full_data_accuracies: list[float] = field(default_factory=list)
    weak_only_accuracies: list[float] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def files(self) -> dict[str, Path]:
        return {name: self.out / name for name in (CURVES, SUMMARY, PLOT)}


def run_benchmark(
    config: BenchConfig, settings: Settings | None = None, progress: Progress | None = None
) -> BenchResult:
    """Check ``config`` against its data, run every job and write the outputs.
    ``settings`` says which Ray to join when ``config.workers > 1``."""
    report = progress or _stderr
    start = time.monotonic()
    data = prepare_data(config)  # every ConfigError comes before this line returns
    report(
        f"{data.name}: pool {data.pool_size}, test {data.test.num_rows}, arch {data.arch}, "
        f"{len(config.strategies)} strategies x {config.seeds} seeds x {config.rounds} rounds"
    )
    config.out.mkdir(parents=True, exist_ok=True)
    result = BenchResult(out=config.out)
    jobs = [Job(None, s) for s in range(config.seeds)]
    jobs += [Job(None, s, weak_only=True) for s in range(config.seeds) if config.weak]
    jobs += [Job(name, s) for s in range(config.seeds) for name in config.strategies]
    for job, output in _execute(jobs, config, data, settings, report):
        if isinstance(output, list):
            result.points = _ordered([*result.points, *output], config)
        elif job.weak_only:
            result.weak_only_accuracies.append(output)
        else:
            result.full_data_accuracies.append(output)
        if result.points and result.full_data_accuracies:
            # Every file after every job: a run cut short still leaves a readable result.
            write_outputs(result, config, data, complete=False)
    write_outputs(result, config, data, complete=True)
    result.seconds = time.monotonic() - start
    return result


def write_outputs(
    result: BenchResult, config: BenchConfig, data: BenchData, complete: bool
) -> None:
    """curves.csv, summary.json and the PNG from the points and full-data runs so far."""
    write_curves(config.out / CURVES, result.points)
    result.summary = summarize(result.points, result.full_data_accuracies, config.budget)
    result.summary["full_data_accuracy_per_seed"] = result.full_data_accuracies
    if config.weak and result.weak_only_accuracies:
        weak = summarize_weak(
            result.points, result.weak_only_accuracies, result.full_data_accuracies
        )
        for name, entry in weak.pop("strategies").items():
            result.summary["strategies"][name].update(entry)  # next to labels_to_95, ...
        result.summary |= weak
    result.summary["complete"] = complete
    result.summary["settings"] = {**config.to_json(), "arch": data.arch}
    write_summary(config.out / SUMMARY, result.summary)
    seeds = len({p.seed for p in result.points})
    title = f"{data.name}: pool {data.pool_size}, test {data.test.num_rows}, mean of {seeds} seeds"
    if "weak_only_accuracy" in result.summary:
        title += f", {config.weak_noise:.0%} {config.noise_kind} weak-label noise (band: ±1 SE)"
        levels = {
            "clean (all true labels)": result.summary["clean_accuracy"],
            "weak labels only": result.summary["weak_only_accuracy"],
        }
        plot_curves(config.out / PLOT, result.points, levels, title, band="se")
        return
    full = result.summary["full_data_accuracy"]
    levels = {f"{f:.0%} of full data": f * full for f in TARGETS}
    plot_curves(config.out / PLOT, result.points, levels, title + " (band: min-max)")


def _execute(
    jobs: list[Job],
    config: BenchConfig,
    data: BenchData,
    settings: Settings | None,
    progress: Progress,
) -> Iterator[tuple[Job, float | list[CurvePoint]]]:
    if config.workers == 1:
        learner = Learner(config, data)
        with _torch_threads(1):
            for job in jobs:
                yield job, run_job(job, config, data, learner, progress)
        return
    yield from _execute_on_ray(jobs, config, data, settings, progress)


def run_job(
    job: Job, config: BenchConfig, data: BenchData, learner: Learner, progress: Progress
) -> float | list[CurvePoint]:
    """A full-data or weak-only accuracy, or a learning curve."""
    if job.weak_only:
        return weak_only_accuracy(config, data, learner, job.seed, progress)
    if job.strategy is None:
        return full_data_accuracy(data, learner, job.seed, progress)
    run = run_weak_curve if config.weak else run_curve
    return run(config, data, learner, job.strategy, job.seed, progress)


def _execute_on_ray(
    jobs: list[Job],
    config: BenchConfig,
    data: BenchData,
    settings: Settings | None,
    progress: Progress,
) -> Iterator[tuple[Job, float | list[CurvePoint]]]:
    """At most ``config.workers`` jobs at once, each a one-CPU Ray task. Tasks send
    their progress lines through a Ray queue, so the driver prints them as they come
    (worker stdout would arrive prefixed, and Ray folds lines that look alike)."""
    import ray
    from ray.util.queue import Queue

    _start_ray(settings, config.workers)
    task = ray.remote(num_cpus=1)(_job_task)
    config_ref, data_ref, lines = ray.put(config), ray.put(data), Queue()
    pending: dict[Any, Job] = {}
    queue = list(reversed(jobs))
    try:
        while queue or pending:
            while queue and len(pending) < config.workers:
                job = queue.pop()
                pending[task.remote(job, config_ref, data_ref, lines)] = job
            done, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
            _drain(lines, progress)
            for ref in done:
                yield pending.pop(ref), ray.get(ref)
    finally:
        lines.shutdown()


def _start_ray(settings: Settings | None, workers: int) -> None:
    """Join the configured cluster, else start a private local one of ``workers`` CPUs.
    Not a bare ``ray.init()``: that joins whichever cluster was started last on this
    machine (someone else's, on a shared box)."""
    import ray

    from flywheel.runtime import ensure_ray

    if ray.is_initialized():
        return
    if settings is not None and settings.ray_address:
        ensure_ray(settings)
        return
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(
        address="local",
        num_cpus=workers,
        _node_ip_address="127.0.0.1",
        include_dashboard=False,
        logging_level=logging.WARNING,
    )


def _drain(lines: Any, progress: Progress) -> None:
    while not lines.empty():
        for line in lines.get_nowait_batch(lines.qsize()):
            progress(line)


def _job_task(
    job: Job, config: BenchConfig, data: BenchData, lines: Any
) -> float | list[CurvePoint]:
    with _torch_threads(1):
        return run_job(job, config, data, Learner(config, data), lines.put)


@contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    """One intra-op thread per job: these small convolutions gain little from more, and
    on a busy machine extra threads spin against each other (10x slower steps were
    measured on the shared 2-core box). Parallelism comes from ``workers`` instead."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _ordered(points: list[CurvePoint], config: BenchConfig) -> list[CurvePoint]:
    rank = {name: i for i, name in enumerate(config.strategies)}
    return sorted(points, key=lambda p: (rank[p.strategy], p.seed, p.n_labels))


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
