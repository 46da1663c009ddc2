"""The README's main job, end to end on a small setting: real digits with noisy
hashtags and a feed that lumps two digits into one class, a first model, one round
through the real HTTP API with a bad annotator, export, retrain, gate, the HTML report,
and the four data reports opened in headless Chromium."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from flywheel.config import Settings
from flywheel.lake import sql
from tests.test_cli_quiet import RAY_NOISE

REPO = Path(__file__).resolve().parents[1]
LOADED_IMAGES = "Array.from(document.images).filter(i => i.complete && i.naturalWidth > 0).length"


@pytest.mark.slow
def test_demo_runs_to_the_end(tmp_path: Path) -> None:
    root = tmp_path / "demo"
    proc = subprocess.run(
        [sys.executable, "-m", "jobs.demo", "--root", str(root), "--rounds", "1",
         "--budget", "40", "--epochs", "2"],
        cwd=REPO, capture_output=True, text=True, timeout=1500,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    # flywheel's own lines and progress bars only; Ray's output is in the named log file.
    noisy = [ln for ln in (out + proc.stderr).splitlines() if RAY_NOISE.search(ln)]
    assert not noisy, noisy[:5]
    assert proc.stderr.rstrip().splitlines()[-1].startswith(f"flywheel: Ray's log: {root}/logs/")
    assert "round 1:" in out and "== label quality" in out
    quality = out.split("== label quality")[1]
    for name in ("ann-ada", "ann-bo", "ann-cy", "ann-dee", "ann-eve"):
        assert f"{name}" in quality and "accuracy on gold" in quality
    report = root / "demo-report" / "index.html"
    assert report.is_file() and (root / "demo-report" / "accuracy.png").is_file()
    settings = Settings.from_env(root=root, environ={})
    versions = sql("select distinct version from models order by 1", settings).column("version")
    assert versions.to_pylist() == ["m0001", "m0002"]
    labels = sql("select count(*) as n from labels", settings).column("n")[0].as_py()
    assert labels >= 40
    _check_data_reports(root / "demo-report", tmp_path, out, _mixed_composition(root, settings))
    # A second run on the same root refuses to overwrite a lake it did not start over.
    again = subprocess.run([sys.executable, "-m", "jobs.demo", "--root", str(root)], cwd=REPO,
                           capture_output=True, text=True, timeout=120)  # fmt: skip
    assert again.returncode == 2 and "add --fresh" in again.stderr


def _mixed_composition(root: Path, settings: Settings) -> dict[str, int]:
    """True digits of the samples still in `seven-or-one` when the report ran (weak label
    `seven-or-one`, no vendor label moving them out): feed-b's folders name the truth."""
    truth = {hashlib.sha256(p.read_bytes()).hexdigest(): p.parent.name
             for p in (root / "demo-source" / "feed-b").rglob("*.png")}  # fmt: skip
    weak = sql("select sample_id from samples where weak_label = 'seven-or-one'", settings)
    labels = sql("select sample_id, label from labels", settings).to_pylist()
    moved = {r["sample_id"] for r in labels if r["label"] != "seven-or-one"}
    kept = [s for s in weak.column("sample_id").to_pylist() if s not in moved]
    return dict(Counter(truth.get(s, "?") for s in kept))


def _check_data_reports(dest: Path, tmp_path: Path, out: str, mixed: dict[str, int]) -> None:
    """The split-cluster report names the mixed class and no clean one; every page the
    demo report links opens from disk in Chromium without console errors.

    ``mixed``: the true digits still in `seven-or-one` at report time. The round's vendors
    relabel what margin picks, feed-b's 1s and 7s among them; the detector's balanced cut
    needs a fifth of the class on each side, so the split is required while the smaller
    kind holds at least 30% of the class (20 of 46 in the run measured), and a class the
    vendors have already unmixed below 10% must not be called mixed."""
    from tests.reports.browser import Browser, find_chromium

    clusters = json.loads((dest / "embeddings" / "split_clusters.json").read_text())
    split = {c["class"]: c for c in clusters["classes"] if c["split"]}
    # On failure: per class, its size, verdict and z in each view, not a truncated dump.
    evidence = {c["class"]: (sum(g["size"] for g in c["groups"]), c["split"],
                             {e["view"]: e["z"] for e in c["evidence"]})
                for c in clusters["classes"]}  # fmt: skip
    minority = min(mixed.get("one", 0), mixed.get("seven", 0)) / max(sum(mixed.values()), 1)
    if minority < 0.1:
        assert "seven-or-one" not in split, (mixed, evidence)
    elif minority >= 0.3:
        assert "seven-or-one" in split, (mixed, evidence)
    assert len(clusters["classes"]) == 11
    # Known, left open under issue 13: sklearn's 1s come in two writing styles, which the
    # label-free ImageNet view scores as two groups (z 5.3 to 8.6 across runs, against the
    # 5.5 threshold), and the 1s the model must share with seven-or-one pull the honest
    # `one` apart in the model's view in some runs (z 2.7 to above 5.5). What must hold:
    # in the model's view the mixed class is the clearest split of all, by a margin.
    model_z = {c["class"]: next(e["z"] for e in c["evidence"] if e["view"] == "model")
               for c in clusters["classes"] if c["evidence"]}  # fmt: skip
    runner_up = max(z for name, z in model_z.items() if name != "seven-or-one")
    if minority >= 0.3:
        assert model_z["seven-or-one"] >= runner_up + 1.0, (mixed, evidence)
        assert "seven-or-one mixed" in out
    binary = find_chromium()
    assert binary is not None, "chromium is not installed; scripts/setup installs it"
    browser = Browser(binary, tmp_path / "chromium")
    try:
        browser.open(dest / "index.html")
        assert browser.errors() == []
        hrefs = browser.eval(
            "[...document.querySelectorAll('ul a')].map(a => a.getAttribute('href'))"
        )
        assert hrefs == ["gallery/index.html", "confusion.html", "embeddings/index.html",
                         "embeddings/split_clusters.html", "balance.html"]  # fmt: skip
        for href in hrefs:
            browser.open(dest / href)
            assert browser.errors() == [], href
            assert browser.eval(LOADED_IMAGES) == browser.eval("document.images.length"), href
        cards = "document.querySelectorAll('article.card').length"
        browser.open(dest / "gallery" / "index.html")
        assert browser.eval(cards) == 400 and browser.eval(LOADED_IMAGES) > 0
        browser.open(dest / "embeddings" / "split_clusters.html")
        assert "seven-or-one" in browser.eval("document.body.innerText")
        assert browser.eval(LOADED_IMAGES) > 0  # example thumbnails of each group
    finally:
        browser.close()


@pytest.mark.slow
def test_audio_demo_keeps_every_clean_clip_and_finds_the_lumped_words(tmp_path: Path) -> None:
    """The issue's keyword set (espeak-ng voices, the word anywhere in one second, half
    under room noise): nothing quarantined, a model trains, and the split-cluster report
    names `stop-or-go`, the clearest split of all in the label-free log-mel view."""
    root = tmp_path / "audio-demo"
    proc = subprocess.run(
        [sys.executable, "-m", "jobs.demo", "--root", str(root), "--rounds", "1",
         "--budget", "40", "--epochs", "4", "--modality", "audio"],
        cwd=REPO, capture_output=True, text=True, timeout=1500,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    settings = Settings.from_env(root=root, environ={})
    assert sql("select count(*) as n from quarantine", settings).column("n")[0].as_py() == 0
    assert sql("select count(*) as n from samples", settings).column("n")[0].as_py() == 368
    versions = sql("select distinct version from models order by 1", settings).column("version")
    assert versions.to_pylist() == ["m0001", "m0002"]
    dest = root / "demo-report" / "embeddings"
    clusters = json.loads((dest / "split_clusters.json").read_text())
    evidence = {c["class"]: (sum(g["size"] for g in c["groups"]), c["split"],
                             {e["view"]: e["z"] for e in c["evidence"]})
                for c in clusters["classes"]}  # fmt: skip
    assert clusters_named(clusters, "stop-or-go"), evidence
    # Known, left open under issue 13: with about 25 clips a class, an honest word can
    # pass the threshold in the model's view (one CI run: `go`, which had taken back the
    # feed-b clips the vendors relabelled and which the model had learnt to set apart
    # under the lumped name, z 7.6; `left` at 5.5). What must hold: in the view the
    # labels did not shape, the lumped words are the clearest split of all, by a margin
    # (22.3 against 5.0 in that run).
    logmel = {name: views["log-mel"] for name, (_, _, views) in evidence.items() if views}
    runner_up = max(z for name, z in logmel.items() if name != "stop-or-go")
    assert logmel["stop-or-go"] >= runner_up + 5.0, evidence
    page = (dest / "split_clusters.html").read_text()
    assert "log-mel statistics (no labels)" in page
    verdict = next(ln for ln in proc.stdout.splitlines() if ln.startswith("split clusters: "))
    assert "stop-or-go" in verdict.split(" mixed;")[0], verdict


def clusters_named(clusters: dict[str, Any], name: str) -> bool:
    return any(c["class"] == name and c["split"] for c in clusters["classes"])
