"""The API process dies between an answer's commit and its reply: after a restart the
answer is stored once and the client's retry is idempotent."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import Engine, select

from flywheel.config import Settings
from flywheel.db import queue_tables as t
from flywheel.db import transaction
from flywheel.queue import store
from flywheel.queue.tasks import enqueue
from tests.queue.conftest import ApiServer, auth
from tests.queue.crash_app import EXIT_CODE


@pytest.mark.slow
def test_kill_between_commit_and_reply(
    queue_settings: Settings, engine: Engine, tmp_path: object
) -> None:
    store.create_queue(engine, "q", ["cat", "dog"])
    enqueue(engine, "q", [{"sample_id": "s1"}, {"sample_id": "s2"}])
    token = store.add_vendor(engine, "v", ["q"])
    server = ApiServer(queue_settings, {}, queue_settings.root / "api.log")
    server.start(factory="tests.queue.crash_app:create_app")  # dies after a commit
    try:
        with httpx.Client(base_url=server.url, headers=auth(token)) as client:
            got = client.post("/v1/queues/q/lease", json={"max_tasks": 2}).json()
            body = {
                "lease_id": got["lease_id"],
                "answers": [
                    {"task_id": x["task_id"], "annotator": "ann", "label": "dog",
                     "idempotency_key": f"key-{x['task_id']}"}
                    for x in got["tasks"]
                ],
            }  # fmt: skip
            with pytest.raises(httpx.TransportError):  # no reply: the process is gone
                client.post("/v1/annotations", json=body)
        assert server.wait_exit() == EXIT_CODE
        with transaction(engine) as conn:
            committed = conn.execute(select(t.annots.c.id, t.annots.c.idempotency_key)).all()
        assert len(committed) == 2  # the commit landed before the crash

        server.start()  # the same database, without the hook
        with httpx.Client(base_url=server.url, headers=auth(token)) as client:
            retry = client.post("/v1/annotations", json=body)
        assert retry.status_code == 200
        assert {
            (a["annotation_id"], a["idempotency_key"]) for a in retry.json()["annotations"]
        } == {(r.id, r.idempotency_key) for r in committed}
        with transaction(engine) as conn:
            assert len(conn.execute(select(t.annots.c.id)).all()) == 2
            assert len(conn.execute(select(t.labels.c.id)).all()) == 2
    finally:
        server.stop()
