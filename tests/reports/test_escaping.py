"""Names that come from outside (class names from a taxonomy, tags from a manifest,
annotator names from a vendor) are printed as text on every page, never run as markup.

A small real lake whose taxonomy names two classes ``<script>alert(1)</script>`` and
``"><img src=x onerror=alert(1)>`` and whose manifest tags every item with both, ingested,
trained (one epoch), scored and reported through the CLI; each page is then read as
text and opened in headless Chromium: the names show as text, and no element, handler
or script of theirs exists in the page.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from flywheel.config import Settings
from flywheel.demo_report import write_report
from flywheel.ingest import IngestConfig, ingest
from flywheel.sample_data import lump_classes, write_digits_folder
from flywheel.score import ScoreConfig, score
from tests.reports.browser import Browser
from tests.reports.conftest import TRAIN, run_cli

SCRIPT = "<script>alert(1)</script>"
ATTRIBUTE = '"><img src=x onerror=alert(1)>'
HOSTILE = (SCRIPT, ATTRIBUTE)
# Nothing a hostile name could have added: an element of its own, an inline handler, or
# a script (other than the page's own and its JSON data) that mentions it.
INJECTED = (
    "document.querySelectorAll('img[src=\"x\"], [onerror]').length + "
    "[...document.scripts].filter(s => s.type !== 'application/json' && "
    "s.textContent.includes('alert(1)')).length"
)


@pytest.fixture(scope="module")
def hostile_lake(tmp_path_factory: pytest.TempPathFactory, ray_cluster: None) -> Settings:
    base = tmp_path_factory.mktemp("hostile")
    folder = write_digits_folder(base / "digits", n=120, seed=3, faults=False)
    taxonomy = yaml.safe_load(folder.taxonomy.read_text())
    taxonomy["classes"][SCRIPT] = taxonomy["classes"].pop("three")
    folder.taxonomy.write_text(yaml.safe_dump(taxonomy, sort_keys=False))
    lump_classes(folder, ATTRIBUTE, ["one", "seven"])
    lines = [json.loads(line) for line in folder.manifest.read_text().splitlines()]
    for line in lines:
        line["tags"] = [*line["tags"], *HOSTILE]
    folder.manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))
    settings = Settings.from_env(root=base / "root", environ={})
    ingest(settings, IngestConfig(str(folder.root), folder.taxonomy, progress=False))
    code, _, err = run_cli(settings, "train", "--epochs", "1", *TRAIN)
    assert code == 0, err
    score(settings, ScoreConfig(batch_size=64, mc_passes=0, concurrency=1))
    return settings


def _assert_inert(browser: Browser, page: Path, names: tuple[str, ...] = HOSTILE) -> str:
    """Open ``page``; the names are text on it and nothing of theirs runs. Returns its
    visible text."""
    source = page.read_text(encoding="utf-8")
    assert SCRIPT not in source and "<img src=x" not in source
    browser.open(page)
    assert browser.errors() == []
    assert browser.eval(INJECTED) == 0
    text = browser.eval("document.body.innerText")
    for name in names:
        assert name in text, name
    return str(text)


def test_the_gallery_prints_class_names_and_tags_as_text(
    hostile_lake: Settings, tmp_path: Path, browser: Browser
) -> None:
    code, _, err = run_cli(hostile_lake, "browse", "--out", str(tmp_path), "--sample", "0",
                           "--no-progress")  # fmt: skip
    assert code == 0, err
    _assert_inert(browser, tmp_path / "index.html")
    classes = browser.eval("[...new Set([...document.querySelectorAll('article.card')]"
                           ".map(c => c.dataset.class))]")  # fmt: skip
    assert set(HOSTILE) <= set(classes)
    options = browser.eval(
        "[...document.querySelectorAll('#filter-class option')].map(o => o.value)"
    )
    assert set(HOSTILE) <= set(options)
    browser.eval("(() => { const s = document.getElementById('filter-class'); "
                 f"s.value = {json.dumps(SCRIPT)}; s.dispatchEvent(new Event('change')); }})()")  # fmt: skip
    shown = "[...document.querySelectorAll('article.card:not([hidden])')].map(c => c.dataset.class)"
    visible = browser.eval(shown)
    assert visible and set(visible) == {SCRIPT}
    tags = browser.eval("document.querySelector('article.card:not(.quarantined) dd:nth-of-type(2)')"
                        ".textContent")  # fmt: skip
    assert SCRIPT in tags and ATTRIBUTE in tags


def test_the_confusion_page_prints_class_names_as_text(
    hostile_lake: Settings, tmp_path: Path, browser: Browser
) -> None:
    code, _, err = run_cli(hostile_lake, "report", "confusion", "--out", str(tmp_path / "c.html"))
    assert code == 0, err
    _assert_inert(browser, tmp_path / "c.html")
    headers = browser.eval("[...document.querySelectorAll('table.grid')[0]"
                           ".querySelectorAll('tr:first-child th')].slice(1).map(th => th.textContent)")  # fmt: skip
    assert set(HOSTILE) <= set(headers)


def test_the_split_cluster_page_and_the_scatter_print_class_names_as_text(
    hostile_lake: Settings, tmp_path: Path, browser: Browser
) -> None:
    code, _, err = run_cli(hostile_lake, "embeddings", "--out", str(tmp_path), "--no-progress")
    assert code == 0, err
    _assert_inert(browser, tmp_path / "split_clusters.html")
    sections = browser.eval(
        "[...document.querySelectorAll('section.cls')].map(s => s.dataset.class)"
    )
    assert set(HOSTILE) <= set(sections)
    _assert_inert(browser, tmp_path / "index.html")
    legend = browser.eval(
        "[...document.querySelectorAll('.legend button')].map(b => b.dataset.class)"
    )
    assert set(HOSTILE) <= set(legend)
    # The hover data survived the trip through <script type="application/json">.
    classes = browser.eval("[...new Set(JSON.parse(document.getElementById('points').textContent)"
                           ".map(p => p.cls))]")  # fmt: skip
    assert set(HOSTILE) <= set(classes)


def test_the_balance_page_prints_class_names_as_text(
    hostile_lake: Settings, tmp_path: Path, browser: Browser
) -> None:
    code, _, err = run_cli(hostile_lake, "report", "balance", "--out", str(tmp_path / "b.html"))
    assert code == 0, err
    _assert_inert(browser, tmp_path / "b.html")


@dataclass
class _Round:  # what the demo's report reads of each round
    round: int
    version: str
    status: str
    accuracy: float
    labels: int
    reason: str


def test_the_demo_report_prints_annotator_names_and_reasons_as_text(
    tmp_path: Path, browser: Browser
) -> None:
    rounds = [_Round(0, "m0001", "promoted", 0.91, 40, "first model"),
              _Round(1, "m0002", "rejected", 0.9, 80, f"gallery: {SCRIPT}")]  # fmt: skip
    annotators = [("ann-a", 0.95, 0.93), (ATTRIBUTE, None, 0.4)]
    links = [("Gallery", "gallery/index.html", f"400 cards of {SCRIPT}"),
             ("Balance", "balance.html", "fine")]  # fmt: skip
    page = write_report(tmp_path, rounds, annotators, f"confusion\n{SCRIPT}", links)
    text = _assert_inert(browser, page)
    hrefs = browser.eval("[...document.querySelectorAll('ul a')].map(a => a.getAttribute('href'))")
    assert hrefs == ["gallery/index.html", "balance.html"]
    assert "n/a" in text and "95%" in text
    rows = browser.eval("[...document.querySelectorAll('table')[0].querySelectorAll('tr')]"
                        ".slice(1).map(r => r.cells[3].textContent)")  # fmt: skip
    assert rows == ["0.910", "0.900"]
