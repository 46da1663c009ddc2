"""A simulated vendor for demos and tests: it goes through the real vendor HTTP API
(lease, answer) and answers from the ground truth, each annotator with its own error
rate. Plug it into the loop as the idle hook, so it answers while the loop waits::

    vendor = SimulatedVendor(api_url, token, "digits", truth,
                             [SimulatedAnnotator("ann-1"), SimulatedAnnotator("bad", 0.4)])
    run_loop(settings, LoopConfig(queue="digits", rounds=3), on_idle=vendor.answer_all)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np


@dataclass(frozen=True)
class SimulatedAnnotator:
    """One annotator: ``error_rate`` of its answers are a wrong class, chosen at random."""

    name: str
    error_rate: float = 0.0


class SimulatedVendor:
    """Leases every open task of ``queue`` and answers it from ``truth`` (sample_id ->
    class). A task goes to the annotators in turn, so consensus gets distinct ones."""

    def __init__(
        self,
        base_url: str,
        token: str,
        queue: str,
        truth: Mapping[str, str],
        annotators: Sequence[SimulatedAnnotator] = (SimulatedAnnotator("annotator-1"),),
        seed: int = 0,
        max_tasks: int = 500,
        timeout_s: float = 30.0,
    ) -> None:
        if not annotators:
            raise ValueError("a vendor needs at least one annotator")
        self.queue, self.truth, self.annotators = queue, dict(truth), list(annotators)
        self.max_tasks = max_tasks
        self.rng = np.random.default_rng(seed)
        self.client = httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout_s
        )
        self._turns: dict[int, int] = {}  # task_id -> times this vendor answered it
        self.answered = 0

    def answer_all(self) -> int:
        """Lease and answer until the queue has nothing free; returns answers sent."""
        sent = 0
        while True:
            reply = self.client.post(
                f"/v1/queues/{self.queue}/lease", json={"max_tasks": self.max_tasks}
            )
            reply.raise_for_status()
            lease = reply.json()
            if not lease["tasks"]:
                self.answered += sent
                return sent
            answers = [self._answer(task) for task in lease["tasks"]]
            reply = self.client.post(
                "/v1/annotations", json={"lease_id": lease["lease_id"], "answers": answers}
            )
            reply.raise_for_status()
            sent += len(answers)

    def _answer(self, task: dict[str, Any]) -> dict[str, object]:
        task_id = int(task["task_id"])
        turn = self._turns.get(task_id, 0)
        self._turns[task_id] = turn + 1
        annotator = self.annotators[(task_id + turn) % len(self.annotators)]
        right = self.truth[str(task["sample_id"])]
        if task["kind"] == "verify":
            prefill = task["prefill"] or {}
            label = "yes" if prefill.get("label") == right else "no"
            if self.rng.random() < annotator.error_rate:
                label = "no" if label == "yes" else "yes"
        else:
            label = right
            if self.rng.random() < annotator.error_rate:
                others = [c for c in task["labels"] if c != right]
                label = str(self.rng.choice(others))
        return {
            "task_id": task_id,
            "annotator": annotator.name,
            "label": label,
            "idempotency_key": f"{annotator.name}/{task_id}/{turn}",
        }

    def close(self) -> None:
        self.client.close()
