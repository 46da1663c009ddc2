"""16 concurrent vendor clients against the real API on SQLite and PostgreSQL: no task in
two live leases, no acknowledged answer lost, none doubled."""

from __future__ import annotations

import itertools
import random
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field

import httpx
import pytest
from sqlalchemy import Engine, select

from flywheel.db import queue_tables as t
from flywheel.db import transaction
from flywheel.queue import store
from flywheel.queue.tasks import enqueue
from tests.queue.conftest import ApiServer, auth

N_TASKS = 240
N_VENDORS, CLIENTS_PER_VENDOR = 4, 4  # 16 clients
DEADLINE_S = 180


@dataclass
class Ledger:
    """What the clients were told, shared between their threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    acked: dict[str, tuple[int, int]] = field(default_factory=dict)  # key -> (annotation, task)
    statuses: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    errors: list[str] = field(default_factory=list)

    def done(self) -> bool:
        with self.lock:
            return len(self.acked) >= N_TASKS


def client_loop(url: str, token: str, queue: str, name: str, ledger: Ledger, seed: int) -> None:
    rng = random.Random(seed)
    deadline = time.monotonic() + DEADLINE_S
    with httpx.Client(base_url=url, headers=auth(token), timeout=60) as http:

        def call(method: str, path: str, **kwargs: object) -> httpx.Response:
            r = http.request(method, path, **kwargs)  # type: ignore[arg-type]
            with ledger.lock:
                ledger.statuses[r.status_code] += 1
                if r.status_code != 200:
                    ledger.errors.append(f"{name} {method} {path}: {r.status_code} {r.text}")
            return r

        while not ledger.done() and time.monotonic() < deadline:
            got = call("POST", f"/v1/queues/{queue}/lease", json={"max_tasks": rng.randint(1, 8)})
            tasks = got.json()["tasks"]
            if not tasks:
                time.sleep(0.05)  # others hold the rest; they answer or release soon
                continue
            lease_id = got.json()["lease_id"]
            if rng.random() < 0.15:  # give the whole lease back unanswered
                call("DELETE", f"/v1/leases/{lease_id}")
                continue
            cut = rng.randint(1, len(tasks))  # answer a prefix, release the rest
            body = {
                "lease_id": lease_id,
                "answers": [
                    {"task_id": x["task_id"], "annotator": name, "label": rng.choice(["a", "b"]),
                     "idempotency_key": uuid.uuid4().hex}
                    for x in tasks[:cut]
                ],
            }  # fmt: skip
            first = call("POST", "/v1/annotations", json=body)
            if rng.random() < 0.3:  # a client retry: same result, nothing new stored
                again = call("POST", "/v1/annotations", json=body)
                if again.json() != first.json():
                    with ledger.lock:
                        ledger.errors.append(f"{name}: retry answered differently")
            if first.status_code == 200:
                with ledger.lock:
                    for stored in first.json()["annotations"]:
                        ledger.acked[stored["idempotency_key"]] = (
                            stored["annotation_id"], stored["task_id"],
                        )  # fmt: skip
            if cut < len(tasks):
                call("DELETE", f"/v1/leases/{lease_id}")


@pytest.mark.slow
def test_16_concurrent_clients(api_server: ApiServer, engine: Engine) -> None:
    store.create_queue(engine, "c", ["a", "b"], lease_seconds=120)
    enqueue(engine, "c", [{"sample_id": f"s{i:05d}"} for i in range(N_TASKS)])
    tokens = [store.add_vendor(engine, f"v{v}", ["c"]) for v in range(N_VENDORS)]
    ledger = Ledger()
    threads = [
        threading.Thread(
            target=client_loop,
            args=(api_server.url, tokens[i % N_VENDORS], "c", f"client{i}", ledger, i),
        )
        for i in range(N_VENDORS * CLIENTS_PER_VENDOR)
    ]
    for th in threads:
        th.start()
    for th in threads:
        th.join(DEADLINE_S + 30)

    assert not ledger.errors, ledger.errors[:5]
    assert set(ledger.statuses) == {200}
    assert len(ledger.acked) == N_TASKS

    with transaction(engine) as conn:
        rows = conn.execute(
            select(t.annots.c.id, t.annots.c.task_id, t.annots.c.idempotency_key)
        ).all()
        tasks = conn.execute(select(t.tasks.c.id, t.tasks.c.status)).all()
        held = conn.execute(
            select(
                t.lease_tasks.c.task_id,
                t.leases.c.id,
                t.leases.c.created_at,
                t.leases.c.expires_at,
                t.leases.c.released_at,
            )
            .join(t.leases, t.leases.c.id == t.lease_tasks.c.lease_id)
            .order_by(t.lease_tasks.c.task_id, t.leases.c.created_at)
        ).all()
        answered_in = {
            (r.lease_id, r.task_id): r.created_at
            for r in conn.execute(
                select(t.annots.c.lease_id, t.annots.c.task_id, t.annots.c.created_at)
            )
        }
    # No acknowledged answer lost, none doubled, nothing stored that was not acknowledged.
    stored = {r.idempotency_key: (r.id, r.task_id) for r in rows}
    assert stored == ledger.acked
    assert len(rows) == N_TASKS
    assert sorted(r.task_id for r in rows) == sorted(x.id for x in tasks)  # one answer each
    assert {x.status for x in tasks} == {"done"}
    # No task in two live leases: each next lease of a task starts after the previous
    # one let it go (released, expired, or answered). A lease's start is read after its
    # tasks are picked, so this holds exactly; 1 ms of slack for float rounding.
    by_task = defaultdict(list)
    for r in held:
        by_task[r.task_id].append(r)
    for task_id, leases in by_task.items():
        for prev, nxt in itertools.pairwise(leases):
            let_go = min(
                x
                for x in (prev.expires_at, prev.released_at, answered_in.get((prev.id, task_id)))
                if x is not None
            )
            assert nxt.created_at >= let_go - 0.001, (task_id, prev, nxt)
