"""Feedback from the field, by CLI and over the real HTTP API: a reported sample joins
the regression gallery; reported media goes through ingest with split = regression."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from flywheel.cli import main
from flywheel.lake import Lake
from flywheel.loop.evaluation import read_gallery
from flywheel.queue import enqueue, open_engine
from tests.loop.conftest import Template
from tests.queue.conftest import ApiServer

pytestmark = pytest.mark.usefixtures("ray_cluster")


def _png(seed: int) -> bytes:
    """A new 8x8 grayscale image: new bytes, so a new sample."""
    pixels = np.random.default_rng(seed).integers(0, 256, (8, 8), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).resize((16, 16)).save(buf, format="PNG")
    return buf.getvalue()


def _run(root: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["--root", str(root), *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def _feedback(lake: Lake) -> list[dict]:  # type: ignore[type-arg]
    return lake.read("feedback").to_pylist()


def test_cli_reports_join_the_gallery(loop_template: Template, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    settings = loop_template.restore()
    lake = Lake(settings)
    sample_id = sorted(loop_template.truth)[0]
    right = loop_template.truth[sample_id]
    wrong = next(c for c in loop_template.classes if c != right)
    args = ["report-error", "--sample-id", sample_id, "--predicted", wrong, "--expected", right]
    code, out, err = _run(settings.root, capsys, *args, "--model", "m0001", "--note", "seen live")
    assert code == 0, err
    assert "recorded" in out and "split pool" in out
    code, out, _ = _run(settings.root, capsys, *args, "--model", "m0001")  # same report: once
    assert code == 0 and "already recorded" in out
    media = tmp_path / "field.png"
    media.write_bytes(_png(1))
    code, out, err = _run(
        settings.root,
        capsys,
        "report-error",
        "--media",
        str(media),
        "--predicted",
        "one",
        "--expected",
        "seven",
    )
    assert code == 0, err
    assert "split regression" in out and "ingested" in out

    rows = _feedback(lake)
    assert len(rows) == 2
    assert {r["source"] for r in rows} == {"cli"}
    new = next(r for r in rows if r["sample_id"] != sample_id)
    sample = lake.read("samples", row_filter=f"sample_id == '{new['sample_id']}'").to_pylist()
    assert sample[0]["split"] == "regression" and sample[0]["source"] == "feedback"
    gallery, _ = read_gallery(lake, "image")
    assert dict(zip(gallery.sample_ids, gallery.labels, strict=True)) == {
        sample_id: right,
        new["sample_id"]: "seven",
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sample-id", "ab" * 32, "--predicted", "one", "--expected", "two"], "no sample"),
        (["--sample-id", "xyz", "--predicted", "one", "--expected", "two"], "not a sample id"),
        (["--predicted", "one", "--expected", "two"], "exactly one of"),
        (["--sample-id", "PLACEHOLDER", "--predicted", "one", "--expected", "ten"], "'ten'"),
        (
            [
                "--sample-id",
                "PLACEHOLDER",
                "--predicted",
                "one",
                "--expected",
                "two",
                "--model",
                "m0999",
            ],
            "m0999",
        ),
    ],
)
def test_bad_reports_are_one_line_and_write_nothing(
    loop_template: Template, args: list[str], message: str, capsys
) -> None:  # type: ignore[no-untyped-def]
    settings = loop_template.settings  # read-only here: no restore needed
    args = [sorted(loop_template.truth)[0] if a == "PLACEHOLDER" else a for a in args]
    before = Lake(settings).snapshot_ids()
    code, _, err = _run(settings.root, capsys, "report-error", *args)
    assert code != 0 and err.count("\n") == 1 and message in err, err
    assert Lake(settings).snapshot_ids() == before


def test_undecodable_media_is_quarantined_not_reported(
    loop_template: Template, tmp_path: Path, capsys
) -> None:  # type: ignore[no-untyped-def]
    settings = loop_template.restore()
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(200)))
    code, _, err = _run(
        settings.root,
        capsys,
        "report-error",
        "--media",
        str(bad),
        "--predicted",
        "one",
        "--expected",
        "two",
    )
    assert code != 0 and "rejected by ingest" in err and err.count("\n") == 1
    lake = Lake(settings)
    assert _feedback(lake) == []
    reasons = lake.read("quarantine", row_filter="source == 'feedback'")["reason"].to_pylist()
    assert reasons == ["undecodable"]


def test_http_feedback_is_authenticated_and_lands_in_the_gallery(
    loop_template: Template, api: ApiServer
) -> None:
    settings = loop_template.restore()
    api.start()
    sample_id = sorted(loop_template.truth)[1]
    right = loop_template.truth[sample_id]
    auth = {"Authorization": f"Bearer {loop_template.token}"}
    body = {"sample_id": sample_id, "predicted": "zero", "expected": right}
    with httpx.Client(base_url=api.url, timeout=60) as client:
        assert client.post("/v1/feedback", json=body).status_code == 401
        unseen = client.post("/v1/feedback", json=body, headers=auth)
        assert unseen.status_code == 404  # in the lake, but never leased to this vendor
        engine = open_engine(settings.catalog_uri)
        enqueue(engine, "digits", [{"sample_id": sample_id}])
        engine.dispose()
        client.post("/v1/queues/digits/lease", json={"max_tasks": 1}, headers=auth)
        reply = client.post("/v1/feedback", json=body, headers=auth)
        assert reply.status_code == 200, reply.text
        first = reply.json()
        assert first == {"feedback_id": first["feedback_id"], "sample_id": sample_id}
        again = client.post("/v1/feedback", json=body, headers=auth).json()
        assert again == first
        upload = {
            "media_base64": base64.b64encode(_png(2)).decode(),
            "filename": "from-app.png",
            "predicted": "three",
            "expected": "eight",
            "note": "user complaint #42",
        }
        reply = client.post("/v1/feedback", json=upload, headers=auth)
        assert reply.status_code == 200, reply.text
        assert sorted(reply.json()) == ["feedback_id", "sample_id"]  # no split, no oracle
        bad = client.post("/v1/feedback", json={**upload, "media_base64": "%%%"}, headers=auth)
        assert bad.status_code == 422 and "base64" in bad.json()["error"]
        unknown = client.post("/v1/feedback", json={**body, "expected": "ten"}, headers=auth)
        assert unknown.status_code == 422 and "ten" in unknown.json()["error"]
    lake = Lake(settings)
    rows = _feedback(lake)
    assert sorted(r["source"] for r in rows) == ["api:sim", "api:sim"]
    gallery, _ = read_gallery(lake, "image")
    assert gallery.labels[gallery.sample_ids.index(sample_id)] == right
    assert "eight" in gallery.labels
