"""The one simulated annotation vendor: it works through the real HTTP API, leases
batches, answers from the ground truth with each annotator's error rate, and submits
with idempotency keys, exactly as a real vendor's tool would. The demo runs it in a
thread (``work``); the loop's tests plug ``answer_all`` in as the controller's idle
hook::

    vendor = SimulatedVendor(api_url, token, "digits", truth,
                             [SimulatedAnnotator("ann-1"), SimulatedAnnotator("bad", 0.4)])
    run_loop(settings, LoopConfig(queue="digits", rounds=3), on_idle=vendor.answer_all)

Nothing in it is faked on the server side. (The active-learning benchmark's
``flywheel.bench.simulate.Oracle`` is not a vendor: it answers in-process, always
right, with no queue between.)
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import httpx


@dataclass(frozen=True)
class SimulatedAnnotator:
    """One simulated person: answers wrong with probability ``error_rate``."""

    name: str
    error_rate: float = 0.0


@dataclass
class VendorStats:
    leases: int = 0
    answers: int = 0
    wrong: Counter[str] = field(default_factory=Counter)  # annotator -> wrong answers
    given: Counter[str] = field(default_factory=Counter)  # annotator -> answers


class SimulatedVendor:
    """Leases from ``queue`` at ``base_url`` with ``token`` and answers every task.

    ``truth`` maps sample_id -> true class. Each task goes to an annotator that has not
    answered it yet (consensus needs distinct people), chosen in turn; the idempotency
    key is the annotator and the task, so a resent answer is the same answer.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        queue: str,
        truth: Mapping[str, str],
        annotators: Sequence[SimulatedAnnotator] = (SimulatedAnnotator("annotator-1"),),
        seed: int = 0,
        batch_size: int = 25,
        timeout_s: float = 60.0,
    ) -> None:
        if not annotators:
            raise ValueError("a vendor needs at least one annotator")
        self.client = httpx.Client(base_url=base_url, timeout=timeout_s,
                                   headers={"Authorization": f"Bearer {token}"})  # fmt: skip
        self.queue, self.truth, self.annotators = queue, dict(truth), list(annotators)
        self.batch_size = batch_size
        self.rng = random.Random(seed)
        self._who: dict[int, set[str]] = {}  # task_id -> annotators who answered it
        self.turn = 0
        self.stats = VendorStats()

    @property
    def answered(self) -> int:
        """Answers sent so far."""
        return self.stats.answers

    def answer_all(self) -> int:
        """Lease and answer until the queue has nothing free; the answers sent (the
        loop's ``on_idle`` hook)."""
        before = self.stats.answers
        self.work()
        return self.stats.answers - before

    def work(self, max_batches: int = 1000) -> VendorStats:
        """Lease and answer until the queue has nothing free (or ``max_batches``)."""
        for _ in range(max_batches):
            reply = self.client.post(
                f"/v1/queues/{self.queue}/lease", json={"max_tasks": self.batch_size}
            )
            reply.raise_for_status()
            lease = reply.json()
            if not lease["tasks"]:
                break
            self.stats.leases += 1
            answers = [self._answer(task) for task in lease["tasks"]]
            done = self.client.post(
                "/v1/annotations", json={"lease_id": lease["lease_id"], "answers": answers}
            )
            if done.is_error:  # an httpx.HTTPError, with the server's answer in it
                raise httpx.HTTPStatusError(
                    f"submit failed: HTTP {done.status_code} {done.text[:300]}",
                    request=done.request,
                    response=done,
                )
        return self.stats

    def close(self) -> None:
        self.client.close()

    def _pick_annotator(self, task_id: int) -> SimulatedAnnotator:
        seen = self._who.setdefault(task_id, set())
        for _ in range(len(self.annotators)):
            person = self.annotators[self.turn % len(self.annotators)]
            self.turn += 1
            if person.name not in seen:
                seen.add(person.name)
                return person
        raise RuntimeError(
            f"task {task_id} wants another answer but all {len(self.annotators)} simulated "
            "annotators gave one already; simulate more annotators than 2 x consensus + 1"
        )

    def _answer(self, task: Mapping[str, object]) -> dict[str, object]:
        task_id = int(task["task_id"])  # type: ignore[call-overload]
        person = self._pick_annotator(task_id)
        true = self.truth[str(task["sample_id"])]
        choices = [str(c) for c in task["labels"]]  # type: ignore[attr-defined]
        if task["kind"] == "verify":
            claimed = task["prefill"]["label"]  # type: ignore[index]
            right = "yes" if claimed == true else "no"
        else:
            right = true
        wrong = self.rng.random() < person.error_rate
        label = (
            self.rng.choice([c for c in choices if c != right and c != "unsure"])
            if wrong
            else right
        )
        self.stats.answers += 1
        self.stats.given[person.name] += 1
        self.stats.wrong[person.name] += int(label != right)
        return {"task_id": task_id, "annotator": person.name, "label": label,
                "idempotency_key": f"{person.name}/{task_id}"}  # fmt: skip
