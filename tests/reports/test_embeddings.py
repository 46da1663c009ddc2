"""`flywheel embeddings` on the report lake: the mixed weak class "seven-or-one" (real 1s
and 7s) is reported split along the real classes, no clean class is, the scatter works
in headless Chromium, and the TensorBoard projector export is complete."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from flywheel.lake import sql
from tests.reports.browser import Browser
from tests.reports.conftest import MIXED, ReportLake, keep_screenshot, run_cli


@pytest.fixture(scope="module")
def report_dir(
    report_lake: ReportLake, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("embeddings")
    code, stdout, err = run_cli(
        report_lake.settings, "embeddings", "--out", str(out), "--no-progress"
    )
    assert code == 0, err
    return out, stdout


def test_the_mixed_class_is_split_into_the_real_classes_and_no_clean_class_is(
    report_dir: tuple[Path, str], report_lake: ReportLake
) -> None:
    out, stdout = report_dir
    assert stdout.count("\n") == 1 and f"split classes: {MIXED} (2 groups) of " in stdout
    doc = json.loads((out / "split_clusters.json").read_text())
    by_class = {c["class"]: c for c in doc["classes"]}
    assert set(by_class) == {MIXED, "zero", "one", "two", "three", "four", "five", "six", "seven",
                             "eight", "nine"}  # fmt: skip
    assert [c["class"] for c in doc["classes"] if c["split"]] == [MIXED]
    mixed = by_class[MIXED]
    assert mixed["separation"] >= 5.0 and len(mixed["groups"]) == 2
    in_lake = sql(
        f"select count(*) as n from samples where weak_label = '{MIXED}'", report_lake.settings
    )
    assert sum(g["size"] for g in mixed["groups"]) == in_lake.column("n")[0].as_py()
    kinds = [{report_lake.truth[s] for s in g["examples"]} for g in mixed["groups"]]
    assert sorted(k.pop() for k in kinds if len(k) == 1) == ["one", "seven"]  # pure examples
    for entry in doc["classes"]:
        if entry["class"] != MIXED:
            assert len(entry["groups"]) == 1 and entry["groups"][0]["examples"]


def test_the_scatter_shows_every_point_filters_by_class_and_previews_on_hover(
    report_dir: tuple[Path, str], browser: Browser, tmp_path: Path
) -> None:
    out, _ = report_dir
    n_points = len((out / "tensors.tsv").read_text().splitlines())
    browser.open(out / "index.html")
    assert browser.errors() == []
    assert browser.eval("document.querySelectorAll('svg.scatter circle').length") == n_points
    mixed = browser.eval(f"document.querySelectorAll('circle[data-class=\"{MIXED}\"]').length")
    browser.eval(f"document.querySelector('.legend button[data-class=\"{MIXED}\"]').click()")
    visible = "Array.from(document.querySelectorAll('svg.scatter circle')).filter(c => getComputedStyle(c).display !== 'none').length"
    assert browser.eval(visible) == n_points - mixed
    browser.eval(f"document.querySelector('.legend button[data-class=\"{MIXED}\"]').click()")
    assert browser.eval(visible) == n_points
    box = browser.eval(
        "(() => { const r = document.querySelector('svg.scatter circle').getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()"
    )
    browser.call("Input.dispatchMouseEvent", type="mouseMoved", x=box[0], y=box[1])
    assert browser.eval("getComputedStyle(document.getElementById('tip')).display") == "block"
    assert browser.eval(
        "(() => { const i = document.querySelector('#tip img'); return i !== null && i.complete && i.naturalWidth > 0; })()"
    )
    keep_screenshot(browser, tmp_path, "embeddings")


def test_the_split_cluster_page_shows_the_groups_with_examples(
    report_dir: tuple[Path, str], browser: Browser, tmp_path: Path
) -> None:
    out, _ = report_dir
    browser.open(out / "split_clusters.html")
    assert browser.errors() == []
    assert browser.eval("document.querySelectorAll('section.cls').length") == 11
    assert browser.eval(
        "Array.from(document.querySelectorAll('section.cls.split')).map(s => s.dataset.class)"
    ) == [MIXED]
    assert browser.eval("document.querySelectorAll('section.cls.split .group').length") == 2
    images = browser.eval("document.images.length")
    assert (
        images >= 11
        and browser.eval("Array.from(document.images).filter(i => i.naturalWidth > 0).length")
        == images
    )
    keep_screenshot(browser, tmp_path, "split-clusters")


def test_the_projector_export_is_complete(report_dir: tuple[Path, str]) -> None:
    out, _ = report_dir
    tensors = np.loadtxt(out / "tensors.tsv", delimiter="\t", ndmin=2)
    meta = (out / "metadata.tsv").read_text().splitlines()
    assert meta[0].split("\t") == ["sample_id", "class", "weak_label", "label", "predicted",
                                   "confidence", "split_group"]  # fmt: skip
    assert len(meta) == len(tensors) + 1 and tensors.shape[1] > 8
    assert sum(f"\t{MIXED}:" in line for line in meta) == sum(
        f"\t{MIXED}\t" in line for line in meta[1:]
    )
    side = int(np.ceil(np.sqrt(len(tensors))))
    with Image.open(out / "sprite.png") as sprite:
        assert sprite.size == (side * 32, side * 32)
    config = (out / "projector_config.pbtxt").read_text()
    for needle in ('tensor_path: "tensors.tsv"', 'metadata_path: "metadata.tsv"',
                   'image_path: "sprite.png"', "single_image_dim: 32"):  # fmt: skip
        assert needle in config


def test_bad_embeddings_requests_fail_in_one_line(report_lake: ReportLake, tmp_path: Path) -> None:
    for args, needle in [
        (["--model", "m0099"], "m0099"),
        (["--method", "umap"], "umap-learn"),
        (["--max-points", "0"], "--max-points"),
        (["--min-group-share", "0.9"], "min group share"),
    ]:
        code, _, err = run_cli(report_lake.settings, "embeddings", "--out", str(tmp_path), *args)
        assert code == 2 and err.count("\n") == 1 and needle in err, err
