"""The queue store on a real SQLite file and a real PostgreSQL: enqueue, leases,
answers, consensus, gold, verify."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from flywheel.db import queue_tables as t
from flywheel.db import run_transaction, transaction
from flywheel.errors import ConfigError, NotFoundError
from flywheel.queue import answers, leasing, store
from flywheel.queue.errors import ConflictError, InvalidAnswerError, LeaseExpiredError
from flywheel.queue.stats import queue_stats
from flywheel.queue.tasks import add_gold, enqueue

PREFILL = {"label": "cat", "confidence": 0.7, "top_k": [["cat", 0.7], ["dog", 0.3]]}


def items(n: int, start: int = 0, **extra: Any) -> list[dict[str, Any]]:
    return [
        {"sample_id": f"s{i:04d}", "prefill": PREFILL, **extra} for i in range(start, start + n)
    ]


def lease(
    engine: Engine, token: str, queue: str, n: int, seconds: int | None = None
) -> leasing.Lease:
    with transaction(engine) as conn:
        return leasing.lease(conn, store.authenticate(conn, token), queue, n, seconds)


def submit(
    engine: Engine, token: str, lease_id: str | None, *given: tuple[int, str, str | None, str]
):  # type: ignore[no-untyped-def]
    """given: (task_id, annotator, label or None for skip, key)."""
    batch = [answers.Answer(tid, who, label, label is None, key) for tid, who, label, key in given]
    return run_transaction(
        engine, lambda conn: answers.submit(conn, store.authenticate(conn, token), lease_id, batch)
    )


def count(engine: Engine, table: Any, *where: Any) -> int:
    with transaction(engine) as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def test_enqueue_skips_samples_already_queued_or_labelled(engine: Engine) -> None:
    store.create_queue(engine, "q", ["cat", "dog"])
    store.create_queue(engine, "other", ["cat", "dog"])
    assert enqueue(engine, "q", items(5)).added == 5
    again = enqueue(engine, "other", items(7))  # 5 queued elsewhere, 2 new
    assert (again.added, again.skipped) == (2, 5)
    verify = enqueue(engine, "q", [{"sample_id": "s0000", "kind": "verify", "prefill": PREFILL}])
    assert verify.added == 1  # a different question about the same sample
    add_gold(engine, "q", [{"sample_id": "g1", "label": "dog"}])
    assert enqueue(engine, "q", [{"sample_id": "g1"}]).skipped == 1  # already labelled
    dupes = enqueue(engine, "q", [{"sample_id": "x1"}, {"sample_id": "x1"}])
    assert (dupes.added, dupes.skipped) == (1, 1)
    # The selection stage's shape of top_k: a list of {label, prob}.
    top_k = [{"label": "dog", "prob": 0.6}, {"label": "cat", "prob": 0.4}]
    enqueue(engine, "q", [{"sample_id": "x2", "prefill": {"label": "dog", "top_k": top_k}}])
    with transaction(engine) as conn:
        stored = conn.execute(select(t.tasks.c.prefill).where(t.tasks.c.sample_id == "x2"))
        assert stored.scalar_one()["top_k"] == [["dog", 0.6], ["cat", 0.4]]


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"sample_id": "bad id!"}, "not a sample id"),
        ({"sample_id": "a", "kind": "rate"}, "kind 'rate'"),
        ({"sample_id": "a", "kind": "verify"}, "needs prefill.label"),
        ({"sample_id": "a", "prefill": {"label": "zebra"}}, "prefill label 'zebra'"),
    ],
)
def test_enqueue_rejects_bad_items(engine: Engine, item: dict[str, Any], message: str) -> None:
    store.create_queue(engine, "q", ["cat", "dog"])
    with pytest.raises(ConfigError, match=message):
        enqueue(engine, "q", [item])
    assert count(engine, t.tasks) == 0


def test_create_queue_and_vendor_validate(engine: Engine) -> None:
    store.create_queue(engine, "q", ["cat", "dog"])
    with pytest.raises(ConfigError, match="already exists"):
        store.create_queue(engine, "q", ["cat", "dog"])
    with pytest.raises(ConfigError, match="at least 2"):
        store.create_queue(engine, "one", ["cat"])
    with pytest.raises(ConfigError, match="gold-rate"):
        store.create_queue(engine, "g", ["a", "b"], gold_rate=0.9)
    with pytest.raises(NotFoundError, match="no queue named 'nope'"):
        store.add_vendor(engine, "v", ["nope"])
    token = store.add_vendor(engine, "v", ["q"])
    assert len(token) >= 40
    with transaction(engine) as conn:
        stored = conn.execute(select(t.vendors.c.token_hash)).scalar_one()
    assert token not in stored and stored == store.hash_token(token)
    store.revoke_vendor(engine, "v")
    with pytest.raises(Exception, match="invalid or revoked"), transaction(engine) as conn:
        store.authenticate(conn, token)


def test_a_task_is_in_one_live_lease_and_expired_leases_return(engine: Engine) -> None:
    store.create_queue(engine, "q", ["cat", "dog"])
    enqueue(engine, "q", items(6))
    a = store.add_vendor(engine, "a", ["q"])
    b = store.add_vendor(engine, "b", ["q"])
    first = lease(engine, a, "q", 4, seconds=1)
    second = lease(engine, b, "q", 4)
    ids1, ids2 = {x.task_id for x in first.tasks}, {x.task_id for x in second.tasks}
    assert len(ids1) == 4 and len(ids2) == 2 and not ids1 & ids2
    assert lease(engine, b, "q", 4).lease_id is None  # nothing free: no lease made
    assert first.tasks[0].prefill == PREFILL and first.tasks[0].labels == ("cat", "dog")
    time.sleep(1.1)
    third = lease(engine, b, "q", 10)
    assert {x.task_id for x in third.tasks} == ids1
    with pytest.raises(LeaseExpiredError), transaction(engine) as conn:
        leasing.heartbeat(conn, store.authenticate(conn, a), first.lease_id or "")


def test_heartbeat_release_and_strangers(engine: Engine) -> None:
    store.create_queue(engine, "q", ["cat", "dog"], lease_seconds=60)
    enqueue(engine, "q", items(3))
    a = store.add_vendor(engine, "a", ["q"])
    b = store.add_vendor(engine, "b", ["q"])
    got = lease(engine, a, "q", 3, seconds=5)
    assert got.lease_id
    with transaction(engine) as conn:
        expires, held = leasing.heartbeat(conn, store.authenticate(conn, a), got.lease_id, 100)
    assert expires > time.time() + 90 and held == sorted(x.task_id for x in got.tasks)
    with pytest.raises(NotFoundError), transaction(engine) as conn:
        leasing.heartbeat(conn, store.authenticate(conn, b), got.lease_id)
    with pytest.raises(NotFoundError):
        submit(engine, b, got.lease_id, (got.tasks[0].task_id, "x", "cat", "k"))
    with transaction(engine) as conn:
        assert leasing.release(conn, store.authenticate(conn, a), got.lease_id) == 3
    assert len(lease(engine, b, "q", 5).tasks) == 3


def test_submit_is_idempotent_and_validated(engine: Engine) -> None:
    store.create_queue(engine, "q", ["cat", "dog"])
    enqueue(engine, "q", items(3))
    a = store.add_vendor(engine, "a", ["q"])
    got = lease(engine, a, "q", 3)
    t1, t2, t3 = (x.task_id for x in got.tasks)
    first = submit(engine, a, got.lease_id, (t1, "ann", "cat", "k1"), (t2, "ann", None, "k2"))
    again = submit(engine, a, got.lease_id, (t1, "ann", "cat", "k1"), (t2, "ann", None, "k2"))
    assert first == again
    assert count(engine, t.annots) == 2
    with pytest.raises(ConflictError, match="idempotency key 'k1'"):
        submit(engine, a, got.lease_id, (t3, "ann", "cat", "k1"))
    with pytest.raises(InvalidAnswerError, match="'zebra' is not one of cat, dog"):
        submit(engine, a, got.lease_id, (t3, "ann", "zebra", "k3"))
    with pytest.raises(InvalidAnswerError, match="task 999999 is not in lease"):
        submit(engine, a, got.lease_id, (999999, "ann", "cat", "k4"))
    # All or none: the good answer before the bad one is not stored either.
    with pytest.raises(InvalidAnswerError):
        submit(engine, a, got.lease_id, (t3, "ann", "cat", "k5"), (t3, "bob", "emu", "k6"))
    assert count(engine, t.annots) == 2


def test_late_answers_are_taken_only_while_needed(engine: Engine) -> None:
    store.create_queue(engine, "q", ["cat", "dog"])
    enqueue(engine, "q", items(2))
    a = store.add_vendor(engine, "a", ["q"])
    b = store.add_vendor(engine, "b", ["q"])
    old = lease(engine, a, "q", 2, seconds=1)
    t1, t2 = (x.task_id for x in old.tasks)
    time.sleep(1.1)
    # Expired but nobody answered t1 yet: still needed, so taken.
    submit(engine, a, old.lease_id, (t1, "ann", "dog", "late-1"))
    # t2 was leased again and answered by b: a's late answer is no longer needed.
    new = lease(engine, b, "q", 5)
    assert [x.task_id for x in new.tasks] == [t2]
    submit(engine, b, new.lease_id, (t2, "bea", "cat", "b-1"))
    with pytest.raises(ConflictError, match="needs no more answers"):
        submit(engine, a, old.lease_id, (t2, "ann", "dog", "late-2"))
    assert count(engine, t.labels) == 2


def test_consensus_reopens_on_low_agreement(engine: Engine) -> None:
    store.create_queue(engine, "q", ["cat", "dog"], consensus=2)
    enqueue(engine, "q", items(1))
    a = store.add_vendor(engine, "a", ["q"])
    answered = []
    for who, label in [("u1", "cat"), ("u2", "dog"), ("u3", "cat")]:
        got = lease(engine, a, "q", 1)
        assert len(got.tasks) == 1, f"task should be open for {who}"
        task_id = got.tasks[0].task_id
        submit(engine, a, got.lease_id, (task_id, who, label, f"{who}-key"))
        answered.append(task_id)
    assert lease(engine, a, "q", 1).lease_id is None  # decided after 3 answers
    with transaction(engine) as conn:
        row = conn.execute(select(t.labels)).one()
    assert (row.label, row.method, row.n_answers) == ("cat", "majority", 3)
    assert row.votes == {"cat": 2, "dog": 1} and row.agreement == pytest.approx(2 / 3)


def test_distinct_annotators(engine: Engine) -> None:
    store.create_queue(engine, "q", ["cat", "dog"], consensus=2)
    enqueue(engine, "q", items(1))
    a = store.add_vendor(engine, "a", ["q"])
    got = lease(engine, a, "q", 1)
    task_id = got.tasks[0].task_id
    submit(engine, a, got.lease_id, (task_id, "same", "cat", "k1"))
    again = lease(engine, a, "q", 1)
    with pytest.raises(ConflictError, match="already answered"):
        submit(engine, a, again.lease_id, (task_id, "same", "cat", "k2"))


def test_gold_is_mixed_in_and_measures_vendors(engine: Engine) -> None:
    store.create_queue(engine, "q", ["cat", "dog"], gold_rate=0.2)
    add_gold(engine, "q", [{"sample_id": f"g{i}", "label": "dog"} for i in range(5)])
    result = enqueue(engine, "q", items(8))
    assert (result.added, result.gold) == (8, 2)  # 2 / (8 + 2) = 0.2
    a = store.add_vendor(engine, "a", ["q"])
    got = lease(engine, a, "q", 10)
    assert len(got.tasks) == 10
    gold_ids = {x.task_id for x in got.tasks if x.sample_id.startswith("g")}
    assert len(gold_ids) == 2
    submit(engine, a, got.lease_id, *[
        (x.task_id, "ann", "dog" if x.task_id == min(gold_ids) else "cat", f"k{x.task_id}")
        for x in got.tasks
    ])  # fmt: skip
    [stats] = queue_stats(engine, "q")
    assert (stats.done, stats.open, stats.labels) == (10, 0, 8)
    [vendor] = stats.vendors
    assert (vendor.gold_answers, vendor.gold_correct, vendor.gold_accuracy) == (2, 1, 0.5)
    assert stats.annotators[0].estimated_accuracy is not None


def test_verify_yes_labels_and_no_asks_for_a_label(engine: Engine) -> None:
    store.create_queue(engine, "q", ["cat", "dog"])
    verify = {"kind": "verify", "prefill": PREFILL}
    enqueue(engine, "q", [{"sample_id": "v1", **verify}, {"sample_id": "v2", **verify}])
    a = store.add_vendor(engine, "a", ["q"])
    got = lease(engine, a, "q", 2)
    assert got.tasks[0].labels == ("yes", "no", "unsure")
    with pytest.raises(InvalidAnswerError):
        submit(engine, a, got.lease_id, (got.tasks[0].task_id, "ann", "cat", "bad"))
    submit(
        engine, a, got.lease_id,
        (got.tasks[0].task_id, "ann", "yes", "k1"), (got.tasks[1].task_id, "ann", "no", "k2"),
    )  # fmt: skip
    with transaction(engine) as conn:
        label = conn.execute(select(t.labels)).one()
    assert (label.sample_id, label.label, label.kind) == ("v1", "cat", "verify")
    relabel = lease(engine, a, "q", 5)
    assert [(x.sample_id, x.kind) for x in relabel.tasks] == [("v2", "label")]
    assert relabel.tasks[0].prefill and relabel.tasks[0].prefill["top_k"] == [["dog", 0.3]]


def test_gold_accuracy_weighs_votes(engine: Engine) -> None:
    store.create_queue(engine, "q", ["cat", "dog"], consensus=3, gold_rate=0.5)
    add_gold(engine, "q", [{"sample_id": f"g{i}", "label": "dog"} for i in range(4)])
    enqueue(engine, "q", items(4))  # 4 regular + 4 gold copies
    a = store.add_vendor(engine, "a", ["q"])
    # good1 and good2 are right on gold; bad1..bad3 always say cat.
    for who in ["good1", "good2", "bad1"]:
        got = lease(engine, a, "q", 20)
        submit(engine, a, got.lease_id, *[
            (x.task_id, who, "dog" if who.startswith("good") else "cat", f"{who}{x.task_id}")
            for x in got.tasks
        ])  # fmt: skip
    with transaction(engine) as conn:
        methods = {
            r.method for r in conn.execute(select(t.labels).where(t.labels.c.kind == "label"))
        }
        labels = {r.label for r in conn.execute(select(t.labels).where(t.labels.c.kind == "label"))}
    assert methods == {"weighted"}  # gold showed who to trust
    assert labels == {"dog"}


def test_a_batch_decides_tasks_answered_by_annotators_new_to_it(engine: Engine) -> None:
    """One submit that closes two tasks whose second answers come from two annotators
    this batch has not seen before each task: every annotator's accuracy is looked up
    (a regression: the second lookup used a cache filled before that annotator)."""
    store.create_queue(engine, "q", ["cat", "dog"], consensus=2)
    enqueue(engine, "q", items(2))
    a = store.add_vendor(engine, "a", ["q"])
    first = lease(engine, a, "q", 2)
    t1, t2 = (task.task_id for task in first.tasks)
    submit(engine, a, first.lease_id, (t1, "u1", "cat", "k1"), (t2, "u2", "dog", "k2"))
    second = lease(engine, a, "q", 2)
    assert {task.task_id for task in second.tasks} == {t1, t2}
    submit(engine, a, second.lease_id, (t1, "u3", "cat", "k3"), (t2, "u4", "dog", "k4"))
    with transaction(engine) as conn:
        decided = {
            r.task_id: r.label for r in conn.execute(select(t.labels.c.task_id, t.labels.c.label))
        }
    assert decided == {t1: "cat", t2: "dog"}


def test_gold_is_once_per_lease_and_prefilled_like_its_neighbours(engine: Engine) -> None:
    store.create_queue(engine, "q", ["cat", "dog", "cow"], gold_rate=0.5)
    add_gold(engine, "q", [{"sample_id": "g1", "label": "dog"}])  # stored without a prefill
    for start in (0, 10, 20):  # each enqueue owes gold: one copy of g1 each time
        enqueue(engine, "q", items(3, start), seed=start)
    a = store.add_vendor(engine, "a", ["q"])
    got = lease(engine, a, "q", 50)
    ids = [x.sample_id for x in got.tasks]
    assert ids.count("g1") == 1 and len(ids) == 10  # 9 regular tasks and one gold copy
    gold = next(x for x in got.tasks if x.sample_id == "g1")
    assert gold.prefill is not None and gold.prefill["label"] in ("cat", "dog", "cow")
    assert gold.prefill["confidence"] == PREFILL["confidence"]
    assert [p for _, p in gold.prefill["top_k"]] == [p for _, p in PREFILL["top_k"]]
    assert len(count_copies := [x for x in lease(engine, a, "q", 50).tasks]) == 1  # the next
    assert count_copies[0].sample_id == "g1"


def gold_carry(engine: Engine, queue: str) -> float:
    with transaction(engine) as conn:
        return float(
            conn.execute(select(t.queues.c.gold_carry).where(t.queues.c.name == queue)).scalar_one()
        )


def test_gold_is_owed_per_label_task_and_verify_only_enqueues_add_none(engine: Engine) -> None:
    store.create_queue(engine, "q", ["cat", "dog", "cow"], gold_rate=0.2)  # 1 gold per 4 labels
    add_gold(engine, "q", [{"sample_id": f"g{i}", "label": "dog"} for i in range(5)])
    verify = [{**x, "kind": "verify"} for x in items(8, 100)]
    only_verify = enqueue(engine, "q", verify)
    assert (only_verify.added, only_verify.gold) == (8, 0)  # no label task stands out
    assert count(engine, t.tasks, t.tasks.c.kind == "label") == 0
    assert gold_carry(engine, "q") == 0.0  # verify tasks owe nothing
    # 4 label + 8 verify: one gold for the 4 labels (three if verify tasks counted too)
    mixed = enqueue(engine, "q", items(4) + [{**x, "kind": "verify"} for x in items(8, 200)])
    assert (mixed.added, mixed.gold) == (12, 1)
    gold = next(
        x
        for x in lease(engine, store.add_vendor(engine, "a", ["q"]), "q", 50).tasks
        if x.sample_id.startswith("g")
    )
    assert gold.kind == "label" and gold.prefill is not None
    assert [p for _, p in gold.prefill["top_k"]] == [p for _, p in PREFILL["top_k"]]


def test_a_gold_carry_waits_for_the_next_enqueue_with_label_tasks(engine: Engine) -> None:
    store.create_queue(engine, "q", ["cat", "dog", "cow"], gold_rate=0.2)
    add_gold(engine, "q", [{"sample_id": f"g{i}", "label": "dog"} for i in range(5)])
    mixed = enqueue(engine, "q", items(2) + [{**x, "kind": "verify"} for x in items(4, 100)])
    assert mixed.gold == 0 and gold_carry(engine, "q") == pytest.approx(0.5)
    later = enqueue(engine, "q", [{**x, "kind": "verify"} for x in items(4, 200)])
    assert later.gold == 0 and gold_carry(engine, "q") == pytest.approx(0.5)  # still owed
    labels = enqueue(engine, "q", items(2, 300))
    assert labels.gold == 1 and gold_carry(engine, "q") == pytest.approx(0.0)


def test_a_vendor_with_registered_annotators_answers_only_as_them(engine: Engine) -> None:
    store.create_queue(engine, "q", ["cat", "dog"], consensus=2)
    enqueue(engine, "q", items(1))
    a = store.add_vendor(engine, "a", ["q"], annotators=["a-team"])  # one name: one annotator
    got = lease(engine, a, "q", 1)
    task_id = got.tasks[0].task_id
    with pytest.raises(InvalidAnswerError, match="not registered"):
        submit(
            engine, a, got.lease_id, (task_id, "alice", "cat", "k1"), (task_id, "bob", "cat", "k2")
        )
    with pytest.raises(ConflictError, match="distinct annotators"):
        submit(
            engine,
            a,
            got.lease_id,
            (task_id, "a-team", "cat", "k3"),
            (task_id, "a-team", "cat", "k4"),
        )
    submit(engine, a, got.lease_id, (task_id, "a-team", "cat", "k5"))
    assert count(engine, t.labels) == 0  # consensus 2 needs another annotator
    b = store.add_vendor(engine, "b", ["q"])
    submit(engine, b, lease(engine, b, "q", 1).lease_id, (task_id, "bea", "cat", "k6"))
    assert count(engine, t.labels) == 1


def test_revoking_a_vendor_gives_its_leased_tasks_back(engine: Engine) -> None:
    store.create_queue(engine, "q", ["cat", "dog"])
    enqueue(engine, "q", items(3))
    a, b = store.add_vendor(engine, "a", ["q"]), store.add_vendor(engine, "b", ["q"])
    assert len(lease(engine, a, "q", 3, seconds=3600).tasks) == 3
    assert len(lease(engine, b, "q", 3).tasks) == 0
    assert store.revoke_vendor(engine, "a") == 3
    assert len(lease(engine, b, "q", 3).tasks) == 3
