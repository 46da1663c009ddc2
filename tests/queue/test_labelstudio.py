"""Label Studio interop: export tasks with prefill as predictions, import answers back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

import flywheel.cli
from flywheel.config import Settings
from flywheel.db import open_engine, transaction
from flywheel.db import queue_tables as t
from flywheel.queue import labelstudio, store
from flywheel.queue.cli import COMMANDS
from flywheel.queue.tasks import enqueue

for _command in COMMANDS:
    flywheel.cli.cli.add_command(_command)

PREFILL = {"label": "dog", "confidence": 0.8, "top_k": [["dog", 0.8], ["cat", 0.2]]}


def ls_annotation(ann_id: int, who: str, choice: str | None) -> dict[str, Any]:
    result = [{"from_name": "label", "to_name": "image", "type": "choices",
               "value": {"choices": [choice]}}] if choice else []  # fmt: skip
    return {"id": ann_id, "completed_by": {"id": 7, "email": who}, "result": result,
            "was_cancelled": choice is None}  # fmt: skip


def test_export_and_import_round_trip(engine: Engine) -> None:
    store.create_queue(engine, "q", ["cat", "dog"], consensus=2)
    enqueue(engine, "q", [{"sample_id": f"s{i}", "prefill": PREFILL} for i in range(3)])
    store.add_vendor(engine, "studio", ["q"])
    lease_id, tasks = labelstudio.export_tasks(
        engine, "studio", "q", 2, "https://media.example/{sample_id}", lease_seconds=3600
    )
    assert lease_id and len(tasks) == 2
    first = tasks[0]
    assert first["data"]["image"] == "https://media.example/s0"
    assert first["data"]["flywheel_lease_id"] == lease_id
    [prediction] = first["predictions"]
    assert prediction["score"] == 0.8
    assert prediction["result"][0]["value"] == {"choices": ["dog"]}

    # What Label Studio exports after two people labelled: the same tasks + annotations.
    first["annotations"] = [ls_annotation(1, "ann@x", "dog"), ls_annotation(2, "bob@x", "dog")]
    tasks[1]["annotations"] = [ls_annotation(3, "ann@x", "zebra"), ls_annotation(4, "bob@x", None)]
    result = labelstudio.import_annotations(engine, "studio", tasks)
    assert (result.stored, result.already) == (3, 0)
    assert len(result.rejected) == 1 and "'zebra' is not one of cat, dog" in result.rejected[0]
    again = labelstudio.import_annotations(engine, "studio", tasks)
    assert (again.stored, again.already) == (0, 3)
    with transaction(engine) as conn:
        label = conn.execute(select(t.labels)).one()
        n_answers = len(conn.execute(select(t.annots.c.id)).all())
    assert (label.sample_id, label.label, label.method, label.n_answers) == (
        "s0",
        "dog",
        "majority",
        2,
    )
    assert n_answers == 3


def test_labeling_config_and_cli(
    capsys: pytest.CaptureFixture[str], settings: Settings, tmp_path: Path
) -> None:
    assert 'Header value="Is this $prefill_label?"' in labelstudio.labeling_config(
        ["cat"], kind="verify"
    )
    root = ["--root", str(settings.root)]
    assert flywheel.cli.main([*root, "queue", "create", "q", "--labels", "cat,dog"]) == 0
    items = tmp_path / "items.jsonl"
    items.write_text(json.dumps({"sample_id": "s1", "prefill": {"label": "cat"}}) + "\n")
    assert flywheel.cli.main([*root, "queue", "enqueue", "q", str(items)]) == 0
    assert flywheel.cli.main([*root, "vendor", "add", "studio", "--queues", "q"]) == 0
    capsys.readouterr()
    out_json, config = tmp_path / "ls.json", tmp_path / "config.xml"
    code = flywheel.cli.main([*root, "queue", "export-ls", "q", "--vendor", "studio",
                              "-o", str(out_json), "--config-out", str(config)])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0 and out.startswith(f"wrote 1 Label Studio tasks to {out_json} (lease ")
    assert '<Choice value="dog"/>' in config.read_text()
    exported = json.loads(out_json.read_text())
    exported[0]["annotations"] = [ls_annotation(9, "ann@x", "cat")]
    out_json.write_text(json.dumps(exported))
    code = flywheel.cli.main([*root, "queue", "import-ls", str(out_json), "--vendor", "studio"])
    assert code == 0
    assert capsys.readouterr().out == "imported 1 answers (0 already imported, 0 not taken)\n"


def lake_samples(settings: Settings, modalities: dict[str, str]) -> None:
    """Commit ``samples`` rows (id -> modality) to the lake the CLI reads."""
    import pyarrow as pa

    from flywheel.lake import Lake
    from tests.queue.test_api import samples_table

    table = samples_table([(sid, b"bytes", None) for sid in modalities])
    column = pa.array(list(modalities.values()), pa.string())
    table = table.set_column(table.schema.get_field_index("modality"), "modality", column)
    Lake(settings).commit("samples", table, {})


@pytest.mark.parametrize(("modality", "tag"), [("image", "<Image"), ("audio", "<Audio")])
def test_round_trip_follows_the_queues_modality(
    capsys: pytest.CaptureFixture[str], settings: Settings, tmp_path: Path, modality: str, tag: str
) -> None:
    """No --data-key: export-ls takes the object from the queue's samples in the lake,
    and Label Studio's export of that project imports back."""
    settings.root.mkdir(parents=True, exist_ok=True)
    lake_samples(settings, {"s1": modality, "s2": modality})
    root = ["--root", str(settings.root)]
    assert flywheel.cli.main([*root, "queue", "create", "q", "--labels", "yes,no"]) == 0
    items = tmp_path / "items.jsonl"
    items.write_text("".join(json.dumps({"sample_id": s, "prefill": {"label": "yes",
                     "confidence": 0.7}}) + "\n" for s in ("s1", "s2")))  # fmt: skip
    assert flywheel.cli.main([*root, "queue", "enqueue", "q", str(items)]) == 0
    assert flywheel.cli.main([*root, "vendor", "add", "studio", "--queues", "q"]) == 0
    out_json, config = tmp_path / "ls.json", tmp_path / "config.xml"
    code = flywheel.cli.main([*root, "queue", "export-ls", "q", "--vendor", "studio",
                              "-o", str(out_json), "--config-out", str(config)])  # fmt: skip
    assert code == 0
    xml = config.read_text()
    assert f'{tag} name="{modality}" value="${modality}"/>' in xml
    assert f'toName="{modality}"' in xml
    exported = json.loads(out_json.read_text())
    other = {"image": "audio", "audio": "image"}[modality]
    for task in exported:
        assert task["data"][modality].endswith(f"/v1/media/{task['data']['flywheel_task_id']}")
        assert other not in task["data"]
        assert task["predictions"][0]["result"][0]["to_name"] == modality
    # What Label Studio exports: the result names the object of the config it was made with.
    for n, task in enumerate(exported):
        task["annotations"] = [{"id": n, "completed_by": {"email": "ann@x"}, "result": [
            {"from_name": "label", "to_name": modality, "type": "choices",
             "value": {"choices": ["no"]}}]}]  # fmt: skip
    out_json.write_text(json.dumps(exported))
    capsys.readouterr()
    code = flywheel.cli.main([*root, "queue", "import-ls", str(out_json), "--vendor", "studio"])
    assert code == 0
    assert capsys.readouterr().out == "imported 2 answers (0 already imported, 0 not taken)\n"
    engine = open_engine(settings.catalog_uri)
    with transaction(engine) as conn:
        labels = {r.sample_id: r.label for r in conn.execute(select(t.labels))}
    assert labels == {"s1": "no", "s2": "no"}


def test_a_queue_of_mixed_modalities_asks_for_the_data_key(
    capsys: pytest.CaptureFixture[str], settings: Settings, tmp_path: Path
) -> None:
    settings.root.mkdir(parents=True, exist_ok=True)
    lake_samples(settings, {"pic": "image", "clip": "audio"})
    root = ["--root", str(settings.root)]
    assert flywheel.cli.main([*root, "queue", "create", "q", "--labels", "yes,no"]) == 0
    items = tmp_path / "items.jsonl"
    items.write_text('{"sample_id": "pic"}\n{"sample_id": "clip"}\n')
    assert flywheel.cli.main([*root, "queue", "enqueue", "q", str(items)]) == 0
    assert flywheel.cli.main([*root, "vendor", "add", "studio", "--queues", "q"]) == 0
    capsys.readouterr()
    out_json = tmp_path / "ls.json"
    code = flywheel.cli.main([*root, "queue", "export-ls", "q", "--vendor", "studio",
                              "-o", str(out_json)])  # fmt: skip
    err = capsys.readouterr().err
    assert code != 0 and "holds audio and image samples; pass --data-key" in err
    assert not out_json.exists()
    code = flywheel.cli.main([*root, "queue", "export-ls", "q", "--vendor", "studio",
                              "--data-key", "audio", "-o", str(out_json)])  # fmt: skip
    assert code == 0 and all("audio" in x["data"] for x in json.loads(out_json.read_text()))
