"""The vendor API over real HTTP (uvicorn in a subprocess) on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pyarrow as pa
import pytest
from sqlalchemy import Engine, func, select

from flywheel.api import openapi_document
from flywheel.config import Settings
from flywheel.db import queue_tables as t
from flywheel.db import transaction
from flywheel.lake import Lake
from flywheel.queue import store
from flywheel.queue.tasks import enqueue
from tests.queue.conftest import ApiServer, auth

REPO = Path(__file__).resolve().parents[2]
PREFILL = {"label": "cat", "confidence": 0.7, "top_k": [["cat", 0.7], ["dog", 0.3]]}


@dataclass
class World:
    """A queue ``q`` with four tasks for vendor ``token``, and another vendor's queue;
    names are unique per test, since the database is shared by the module."""

    engine: Engine
    server: ApiServer
    settings: Settings
    q: str
    private: str
    token: str
    tag: str

    def add_vendor(self, name: str, queues: list[str]) -> str:
        return store.add_vendor(self.engine, f"{name}-{self.tag}", queues)


@pytest.fixture
def world(shared_engine: Engine, shared_server: ApiServer, shared_settings: Settings) -> World:
    tag = uuid.uuid4().hex[:8]
    q, private = f"q-{tag}", f"private-{tag}"
    store.create_queue(shared_engine, q, ["cat", "dog"], instructions="Pick the animal.")
    store.create_queue(shared_engine, private, ["cat", "dog"])
    enqueue(shared_engine, q, [{"sample_id": f"s{i}-{tag}", "prefill": PREFILL} for i in range(4)])
    enqueue(shared_engine, private, [{"sample_id": f"p1-{tag}"}])
    store.add_vendor(shared_engine, f"other-{tag}", [private])
    token = store.add_vendor(shared_engine, f"acme-{tag}", [q])
    return World(shared_engine, shared_server, shared_settings, q, private, token, tag)


def answer(task_id: int, key: str, label: str = "cat", who: str = "ann") -> dict[str, object]:
    return {"task_id": task_id, "annotator": who, "label": label, "idempotency_key": key}


def count_answers(engine: Engine, key_prefix: str) -> int:
    with transaction(engine) as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(t.annots)
                .where(t.annots.c.idempotency_key.startswith(key_prefix))
            ).scalar_one()
        )


def test_vendor_flow(world: World) -> None:
    with httpx.Client(base_url=world.server.url, headers=auth(world.token)) as client:
        queues = client.get("/v1/queues").json()["queues"]
        assert [q["name"] for q in queues] == [world.q]  # not the other vendor's queue
        assert queues[0]["instructions"] == "Pick the animal."
        got = client.post(
            f"/v1/queues/{world.q}/lease", json={"max_tasks": 3, "lease_seconds": 30}
        ).json()
        assert len(got["tasks"]) == 3
        task = got["tasks"][0]
        assert task["prefill"] == {
            "label": "cat", "confidence": 0.7,
            "top_k": [{"label": "cat", "prob": 0.7}, {"label": "dog", "prob": 0.3}],
        }  # fmt: skip
        assert task["labels"] == ["cat", "dog"] and task["kind"] == "label"
        assert task["media_url"] == f"/v1/media/{task['task_id']}"  # relative: no public URL set
        expires = datetime.fromisoformat(got["expires_at"])
        assert 20 < (expires - datetime.now(UTC)).total_seconds() <= 30
        beat = client.post(f"/v1/leases/{got['lease_id']}/heartbeat", json={"lease_seconds": 60})
        assert beat.status_code == 200 and len(beat.json()["task_ids"]) == 3
        key = f"{world.tag}-k1"
        body = {"lease_id": got["lease_id"], "answers": [answer(task["task_id"], key)]}
        first = client.post("/v1/annotations", json=body)
        assert first.status_code == 200
        retry = client.post("/v1/annotations", json=body)
        assert retry.json() == first.json()
        released = client.delete(f"/v1/leases/{got['lease_id']}").json()
        assert released["returned"] == 2
    assert count_answers(world.engine, world.tag) == 1


def test_errors_are_4xx_with_a_message(world: World) -> None:
    other = world.add_vendor("stranger", [world.private])
    with httpx.Client(base_url=world.server.url) as client:
        r = client.get("/v1/queues")
        assert r.status_code == 401 and "bearer token" in r.json()["error"]
        assert r.headers["www-authenticate"] == "Bearer"
        r = client.get("/v1/queues", headers=auth("wrong"))
        assert r.status_code == 401 and r.json()["error"] == "invalid or revoked token"
        client.headers.update(auth(world.token))
        r = client.post(f"/v1/queues/{world.private}/lease", json={"max_tasks": 1})
        assert r.status_code == 404  # another vendor's queue reads as absent
        got = client.post(f"/v1/queues/{world.q}/lease", json={"max_tasks": 2}).json()
        lease_id, task_id = got["lease_id"], got["tasks"][0]["task_id"]
        skip_and_label = {**answer(task_id, "k"), "skip": True}
        cases = [
            ({"lease_id": lease_id, "answers": [answer(task_id, "k", "zebra")]}, 422, "zebra"),
            ({"lease_id": lease_id, "answers": [answer(2**50, "k")]}, 422, "not in lease"),
            ({"lease_id": lease_id, "answers": [skip_and_label]}, 422, "skip"),
            ({"lease_id": "0" * 32, "answers": [answer(task_id, "k")]}, 404, "no lease"),
            ({"lease_id": lease_id, "answers": []}, 422, "answers"),
            ({"lease_id": lease_id, "answers": [answer(task_id, "k\x00")]}, 422, "key"),
        ]
        for body, status, words in cases:
            r = client.post("/v1/annotations", json=body)
            assert r.status_code == status, (body, r.text)
            assert words in r.json()["error"]
        r = client.post(
            "/v1/annotations",
            content=b'{"lease_id": ',
            headers={"content-type": "application/json"},
        )
        assert r.status_code == 422 and r.json()["error"]
        assert client.get(f"/v1/media/{2**50}").status_code == 404
    with httpx.Client(base_url=world.server.url, headers=auth(other)) as stranger:
        assert stranger.post(f"/v1/leases/{lease_id}/heartbeat").status_code == 404
        body = {"lease_id": lease_id, "answers": [answer(task_id, "s")]}
        assert stranger.post("/v1/annotations", json=body).status_code == 404
        assert stranger.delete(f"/v1/leases/{lease_id}").status_code == 404
        assert stranger.get(f"/v1/media/{task_id}").status_code == 404
    store.revoke_vendor(world.engine, f"stranger-{world.tag}")
    with httpx.Client(base_url=world.server.url, headers=auth(other)) as revoked:
        assert revoked.get("/v1/queues").status_code == 401


def test_answer_after_expiry(world: World) -> None:
    b = world.add_vendor("beta", [world.q])
    url = world.server.url
    with (
        httpx.Client(base_url=url, headers=auth(world.token)) as a_client,
        httpx.Client(base_url=url, headers=auth(b)) as b_client,
    ):
        lease_path = f"/v1/queues/{world.q}/lease"
        old = a_client.post(lease_path, json={"max_tasks": 4, "lease_seconds": 1}).json()
        t1, t2 = old["tasks"][0]["task_id"], old["tasks"][1]["task_id"]
        time.sleep(1.2)
        r = a_client.post(f"/v1/leases/{old['lease_id']}/heartbeat")
        assert r.status_code == 409 and "expired" in r.json()["error"]
        late = {"lease_id": old["lease_id"], "answers": [answer(t1, f"{world.tag}-late-1")]}
        assert a_client.post("/v1/annotations", json=late).status_code == 200  # still needed
        new = b_client.post(lease_path, json={"max_tasks": 4}).json()
        assert t1 not in [x["task_id"] for x in new["tasks"]]
        b_body = {"lease_id": new["lease_id"], "answers": [answer(t2, f"{world.tag}-b", who="bea")]}
        assert b_client.post("/v1/annotations", json=b_body).status_code == 200
        late = {"lease_id": old["lease_id"], "answers": [answer(t2, f"{world.tag}-late-2")]}
        r = a_client.post("/v1/annotations", json=late)
        assert r.status_code == 409 and "no more answers" in r.json()["error"]
    assert count_answers(world.engine, world.tag) == 2


def test_media_bytes_from_a_local_lake(world: World, tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(b"B" * 1000)
    s0, s1 = f"s0-{world.tag}", f"s1-{world.tag}"
    rows = [(s0, b"\x89PNG-inline", None), (s1, None, big.as_uri())]
    Lake(world.settings).commit("samples", samples_table(rows), {})
    with httpx.Client(base_url=world.server.url, headers=auth(world.token)) as client:
        tasks = client.post(f"/v1/queues/{world.q}/lease", json={"max_tasks": 4}).json()["tasks"]
        by_sample = {x["sample_id"]: x for x in tasks}
        r = client.get(by_sample[s0]["media_url"])
        assert r.status_code == 200 and r.content == b"\x89PNG-inline"
        assert r.headers["content-type"] == "image/png"
        r = client.get(by_sample[s1]["media_url"])
        assert r.status_code == 200 and r.content == b"B" * 1000
        r = client.get(by_sample[f"s2-{world.tag}"]["media_url"])
        assert r.status_code == 404 and "not in the lake" in r.json()["error"]


def samples_table(rows: list[tuple[str, bytes | None, str | None]]) -> pa.Table:
    """Minimal ``samples`` rows: id, inline bytes or an object URI, PNG."""
    from flywheel.lake import TABLE_SCHEMAS

    n = len(rows)
    now = datetime.now(UTC)
    data = {
        "sample_id": [r[0] for r in rows], "modality": ["image"] * n, "mime": ["image/png"] * n,
        "mime_mismatch": [False] * n, "source": ["test"] * n, "source_ref": [r[0] for r in rows],
        "source_path": ["/x"] * n, "tags": [[] for _ in rows], "weak_label": [None] * n,
        "weak_label_rule": [None] * n, "split": ["pool"] * n, "media": [r[1] for r in rows],
        "media_uri": [r[2] for r in rows], "size_bytes": [10] * n, "width": [None] * n,
        "height": [None] * n, "channels": [None] * n, "duration_s": [None] * n,
        "sample_rate": [None] * n, "ingest_run": ["r"] * n, "ingested_at": [now] * n,
    }  # fmt: skip
    return pa.Table.from_pydict(data, schema=TABLE_SCHEMAS["samples"])


def test_openapi_document_is_checked_in() -> None:
    checked_in = json.loads((REPO / "schemas" / "openapi.json").read_text())
    assert checked_in == openapi_document(), (
        "schemas/openapi.json is stale: run `python -m flywheel.api schemas/openapi.json`"
    )
    paths = {(p, m) for p, ops in checked_in["paths"].items() for m in ops}
    assert paths == {
        ("/v1/queues", "get"), ("/v1/queues/{queue}/lease", "post"),
        ("/v1/leases/{lease_id}/heartbeat", "post"), ("/v1/leases/{lease_id}", "delete"),
        ("/v1/annotations", "post"), ("/v1/media/{task_id}", "get"), ("/v1/feedback", "post"),
    }  # fmt: skip
