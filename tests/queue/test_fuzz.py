"""Schemathesis fuzzes the checked-in OpenAPI document against the running API (on
SQLite and PostgreSQL): whatever it sends, the answer is never a 5xx."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from sqlalchemy import Engine

from flywheel.queue import store
from flywheel.queue.tasks import enqueue
from tests.queue.conftest import ApiServer

OPENAPI = Path(__file__).resolve().parents[2] / "schemas" / "openapi.json"


@pytest.fixture
def fuzz_token(shared_server: ApiServer, shared_engine: Engine) -> str:
    """A vendor with a queue of 50 tasks, so leases return something to answer."""
    tag = uuid.uuid4().hex[:8]
    store.create_queue(shared_engine, f"fuzz-{tag}", ["cat", "dog"])
    enqueue(shared_engine, f"fuzz-{tag}", [{"sample_id": f"f{i}-{tag}"} for i in range(50)])
    return store.add_vendor(shared_engine, f"fuzzer-{tag}", [f"fuzz-{tag}"])


schema = schemathesis.openapi.from_path(OPENAPI)


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_5xx(case: Any, shared_server: ApiServer, fuzz_token: str) -> None:
    response = case.call(
        base_url=shared_server.url, headers={"Authorization": f"Bearer {fuzz_token}"}, timeout=30
    )
    assert response.status_code < 500, (case.method, case.path, response.text)
    if response.status_code >= 400:
        assert response.json()["error"]  # every error carries a message
