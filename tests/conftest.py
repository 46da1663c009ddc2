"""Shared fixtures: a real local Ray cluster, data roots, and real sample data.

PostgreSQL and the S3 server come from tests/services.py (real servers on 127.0.0.1).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from flywheel.config import Settings

pytest_plugins = ["tests.services"]


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[None]:
    """One local Ray cluster for the whole session, bound to 127.0.0.1."""
    import ray

    ray.init(
        address="local",  # a new cluster, even when `ray start` left one running
        num_cpus=2,
        _node_ip_address="127.0.0.1",
        include_dashboard=False,
        logging_level=logging.WARNING,
    )
    yield
    ray.shutdown()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Embedded defaults under a fresh data root: SQLite catalog, local warehouse."""
    return Settings.from_env(root=tmp_path / "root", environ={})


@pytest.fixture(scope="session")
def digits_folder(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """scikit-learn digits as PNG files with hashtags, plus corrupt, truncated,
    mismatched, duplicate and too-small files (see flywheel.sample_data)."""
    from flywheel.sample_data import write_digits_folder

    return write_digits_folder(tmp_path_factory.mktemp("digits"), n=300, seed=0)


@pytest.fixture(scope="session")
def spoken_folder(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """Spoken words from espeak-ng, plus near-silent, cut-off and truncated clips."""
    from flywheel.sample_data import write_spoken_words_folder

    return write_spoken_words_folder(tmp_path_factory.mktemp("spoken"))


@pytest.fixture(scope="session")
def filled_root(tmp_path_factory, digits_folder, ray_cluster) -> Path:  # type: ignore[no-untyped-def]
    """A data root that already holds the digits folder, ingested once.
    Tests that use it must not write to it."""
    from flywheel.ingest import IngestConfig, ingest

    root = tmp_path_factory.mktemp("filled") / "root"
    settings = Settings.from_env(root=root, environ={})
    ingest(settings, IngestConfig(str(digits_folder.root), digits_folder.taxonomy, progress=False))
    return root


@pytest.fixture(scope="session")
def scored(tmp_path_factory, digits_folder, ray_cluster) -> Settings:  # type: ignore[no-untyped-def]
    """A lake with the digits, m0001 trained on their weak labels, the pool scored
    (tests/scored.py). Tests that use it may add selections, queues and tasks; they must
    not add samples or predictions."""
    from tests.scored import build_scored

    return build_scored(tmp_path_factory.mktemp("scored") / "root", digits_folder)
