"""The vendor API's request and response bodies (pydantic): the wire contract that
``schemas/openapi.json`` is generated from. Validation here is the API's edge."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

# Printable-ish text: no NUL (PostgreSQL cannot store it), bounded length.
Text = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00]+$")]
# A name shown to people (queue stats, pages): no control characters at all.
Name = Annotated[
    str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f-\x9f]+$")
]
LeaseId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]
TaskId = Annotated[int, Field(ge=1, le=2**53)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorOut(_Model):
    """Every 4xx (and 503) answer: one line saying what was wrong and how to fix it."""

    error: str


class QueueOut(_Model):
    name: str
    labels: list[str] = Field(description="answers of a `label` task")
    verify_labels: list[str] = Field(description="answers of a `verify` task")
    instructions: str
    consensus: int = Field(description="answers from distinct annotators per task")
    lease_seconds: int = Field(description="default lease length")


class QueuesOut(_Model):
    queues: list[QueueOut]


class LeaseIn(_Model):
    max_tasks: int = Field(10, ge=1, le=500)
    lease_seconds: int | None = Field(None, ge=1, le=86400, description="default: the queue's")


class TopK(_Model):
    """One class of the prefill's top k: the same ``{label, prob}`` as ``selections.top_k``."""

    label: str
    prob: float


class Prefill(_Model):
    """The model's guess, shown to the annotator (all null when there is none). For a
    `verify` task, `label` is the X of "is this X?"."""

    label: str | None = None
    confidence: float | None = None
    top_k: list[TopK] = Field(default_factory=list)


class TaskOut(_Model):
    task_id: int
    sample_id: str
    kind: Literal["label", "verify"]
    media_url: str = Field(description="GET it: the API's media endpoint or a presigned URL")
    labels: list[str] = Field(description="the answers this task accepts")
    prefill: Prefill


class LeaseOut(_Model):
    lease_id: str | None = Field(description="null when no task was free")
    expires_at: datetime | None
    tasks: list[TaskOut]


class HeartbeatIn(_Model):
    lease_seconds: int | None = Field(None, ge=1, le=86400, description="default: the queue's")


class HeartbeatOut(_Model):
    lease_id: str
    expires_at: datetime
    task_ids: list[int] = Field(description="tasks the lease still holds")


class ReleaseOut(_Model):
    lease_id: str
    returned: int = Field(description="tasks given back to the queue")


class AnswerIn(_Model):
    task_id: TaskId
    annotator: Name = Field(
        description="who answered (no control characters); consensus needs distinct "
        "annotators, and a vendor with registered names must use one of them"
    )
    label: Text | None = None
    skip: bool = False
    idempotency_key: Text = Field(description="a resubmission with the same key is a no-op")

    @model_validator(mode="after")
    def _label_or_skip(self) -> AnswerIn:
        if self.skip == (self.label is not None):
            raise ValueError('send either "label" or "skip": true')
        return self


class AnnotationsIn(_Model):
    lease_id: LeaseId
    answers: list[AnswerIn] = Field(min_length=1, max_length=500)


class StoredOut(_Model):
    annotation_id: int
    task_id: int
    idempotency_key: str


class AnnotationsOut(_Model):
    lease_id: str
    annotations: list[StoredOut]
