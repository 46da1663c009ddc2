"""Label Studio as a labelling UI on top of a queue.

``export_tasks`` leases tasks to a vendor (the team running Label Studio) and turns them
into Label Studio task JSON, the model's prefill as a pre-annotation ("prediction");
``import_annotations`` reads Label Studio's JSON export back and submits each answer
like the API would, keyed by Label Studio's annotation id, so importing the same file
twice stores nothing new. ``labeling_config`` writes the matching project config.

Both follow the queue's modality (``queue_modality``: what its samples are in the lake):
an ``<Image>`` and ``data.image`` for pictures, an ``<Audio>`` and ``data.audio`` for clips.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from xml.sax.saxutils import quoteattr

from sqlalchemy import Engine, select

from flywheel.db import queue_tables as t
from flywheel.db import run_transaction, transaction
from flywheel.errors import ConfigError, NotFoundError
from flywheel.queue import answers, leasing, store
from flywheel.queue.errors import ConflictError, InvalidAnswerError

FROM_NAME = "label"  # the <Choices name=...> of the labeling config
MODEL_VERSION = "flywheel-prefill"
DATA_KEYS = ("image", "audio")  # a modality is its Label Studio object tag's data key
MODALITY_PROBE = 1000  # sample ids of a queue looked up to learn its modality


class ModalityLookup(Protocol):
    def modalities(self, sample_ids: Sequence[str]) -> set[str]: ...


def queue_modality(engine: Engine, queue_name: str, lookup: ModalityLookup) -> str:
    """The modality of ``queue_name``'s samples in the lake, which is the Label Studio
    data key of its tasks. A queue whose samples the lake does not know (nothing
    ingested there yet) is taken as images; one that mixes modalities is an error."""
    with transaction(engine) as conn:
        queue_id = store.get_queue(conn, queue_name).id
        ids = conn.execute(
            select(t.tasks.c.sample_id)
            .where(t.tasks.c.queue_id == queue_id)
            .distinct()
            .limit(MODALITY_PROBE)
        ).scalars()
        sample_ids = list(ids)
    found = lookup.modalities(sample_ids)
    if len(found) > 1:
        raise ConfigError(
            f"queue {queue_name!r} holds {' and '.join(sorted(found))} samples;"
            " pass --data-key to pick the Label Studio object"
        )
    modality = found.pop() if found else "image"
    if modality not in DATA_KEYS:
        raise ConfigError(f"queue {queue_name!r} holds {modality} samples; Label Studio export"
                          f" knows {', '.join(DATA_KEYS)}")  # fmt: skip
    return modality


def labeling_config(labels: Sequence[str], kind: str = "label", data_key: str = "image") -> str:
    """Label Studio labeling config for a queue's tasks of ``kind``.

    >>> print(labeling_config(["cat", "dog"]))  # doctest: +NORMALIZE_WHITESPACE
    <View><Image name="image" value="$image"/><Choices name="label" toName="image"
    choice="single" showInline="true"><Choice value="cat"/><Choice value="dog"/></Choices></View>
    """
    tag = {"image": "Image", "audio": "Audio"}.get(data_key)
    if tag is None:
        raise ConfigError(f"--data-key {data_key!r} must be image or audio")
    choices = store.VERIFY_LABELS if kind == "verify" else tuple(labels)
    header = '<Header value="Is this $prefill_label?"/>' if kind == "verify" else ""
    options = "".join(f"<Choice value={quoteattr(c)}/>" for c in choices)
    return (
        f'<View><{tag} name="{data_key}" value="${data_key}"/>{header}'
        f'<Choices name="{FROM_NAME}" toName="{data_key}" choice="single" showInline="true">'
        f"{options}</Choices></View>"
    )


def export_tasks(
    engine: Engine,
    vendor_name: str,
    queue_name: str,
    max_tasks: int,
    media_url: str,
    lease_seconds: int | None = None,
    kind: str = "label",
    data_key: str = "image",
) -> tuple[str | None, list[dict[str, Any]]]:
    """Lease up to ``max_tasks`` tasks of ``kind`` to ``vendor_name`` and return the
    lease id and the tasks as Label Studio JSON. ``media_url`` is a template with
    ``{task_id}`` and ``{sample_id}``, e.g. ``https://host/media/{sample_id}``."""

    def work(conn: Any) -> leasing.Lease:
        vendor = store.get_vendor(conn, vendor_name)
        return leasing.lease(conn, vendor, queue_name, max_tasks, lease_seconds, kind=kind)

    lease = run_transaction(engine, work)
    return lease.lease_id, [
        _ls_task(lease.lease_id or "", x, media_url, data_key) for x in lease.tasks
    ]


def _ls_task(
    lease_id: str, task: leasing.LeasedTask, media_url: str, data_key: str
) -> dict[str, Any]:
    prefill = task.prefill or {}
    ls: dict[str, Any] = {
        "data": {
            data_key: media_url.format(task_id=task.task_id, sample_id=task.sample_id),
            "flywheel_task_id": task.task_id,
            "flywheel_lease_id": lease_id,
            "sample_id": task.sample_id,
            "kind": task.kind,
            "prefill_label": prefill.get("label"),
        },
        "predictions": [],
    }
    # A verify task's prefill is the question, not an answer: no pre-annotation.
    if prefill.get("label") and task.kind == "label":
        ls["predictions"].append(
            {
                "model_version": MODEL_VERSION,
                "score": prefill.get("confidence"),
                "result": [
                    {
                        "from_name": FROM_NAME,
                        "to_name": data_key,
                        "type": "choices",
                        "value": {"choices": [prefill["label"]]},
                    }
                ],
            }
        )
    return ls


@dataclass
class ImportResult:
    stored: int = 0
    already: int = 0  # imported before (same Label Studio annotation id)
    rejected: list[str] = field(default_factory=list)  # one line per answer not taken


def import_annotations(
    engine: Engine, vendor_name: str, ls_tasks: Sequence[Mapping[str, Any]]
) -> ImportResult:
    """Submit the answers in a Label Studio JSON export (tasks with ``annotations``)
    as ``vendor_name``. Each answer is its own transaction, so one refused answer (no
    longer needed, unknown label) is reported without blocking the rest."""
    result = ImportResult()
    with transaction(engine) as conn:
        vendor = store.get_vendor(conn, vendor_name)
    for index, ls_task in enumerate(ls_tasks):
        data = ls_task.get("data") or {}
        task_id = data.get("flywheel_task_id")
        if not isinstance(task_id, int):
            result.rejected.append(f"task #{index}: no data.flywheel_task_id (not from export-ls)")
            continue
        lease_id = data.get("flywheel_lease_id") or None
        for ann in ls_task.get("annotations") or []:
            answer = _answer(task_id, ann)
            try:

                def work(
                    conn: Any, answer: answers.Answer = answer, lease_id: str | None = lease_id
                ) -> bool:
                    known = answers.is_known(conn, vendor, answer.idempotency_key)
                    answers.submit(conn, vendor, lease_id, [answer])
                    return known

                if run_transaction(engine, work):
                    result.already += 1
                else:
                    result.stored += 1
            except (ConflictError, InvalidAnswerError, NotFoundError) as err:
                result.rejected.append(f"task {task_id}: {err}")
    return result


def _answer(task_id: int, ann: Mapping[str, Any]) -> answers.Answer:
    who = ann.get("completed_by")
    if isinstance(who, Mapping):
        who = who.get("email") or who.get("id")
    annotator = f"labelstudio:{who if who is not None else 'unknown'}"
    key = f"labelstudio:{task_id}:{ann.get('id')}"
    choices = [
        c
        for r in ann.get("result") or []
        if r.get("from_name") == FROM_NAME
        for c in (r.get("value") or {}).get("choices") or []
    ]
    if ann.get("was_cancelled") or not choices:
        return answers.Answer(task_id, annotator, None, True, key)
    return answers.Answer(task_id, annotator, str(choices[0]), False, key)
