"""Starting or joining Ray: the embedded default is an in-process local cluster bound
to 127.0.0.1; with an address (``--ray-address``/``RAY_ADDRESS``) we join that cluster."""

from __future__ import annotations

import logging
import os

import ray

from flywheel.config import Settings


def ensure_ray(settings: Settings) -> None:
    """Connect to Ray once per process (a no-op when already connected, as in tests and
    inside a Ray job, where Ray sets RAY_ADDRESS for the driver)."""
    if ray.is_initialized():
        return
    # Ray's own noise (token-auth notice, usage stats) is not flywheel's output.
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if settings.ray_address:
        ray.init(address=settings.ray_address, logging_level=logging.WARNING)
        return
    ray.init(
        address="local",  # always a fresh in-process cluster, never one found by chance
        _node_ip_address="127.0.0.1",
        include_dashboard=False,
        logging_level=logging.WARNING,
        configure_logging=True,
    )


def cluster_cpus() -> int:
    """CPUs the cluster offers now (at least 1): the size of a per-CPU actor pool."""
    return max(1, int(ray.cluster_resources().get("CPU", 1)))
