"""`flywheel report confusion` on the report lake's two real models: the labelled
matrix as PNG and HTML, the change from the other version, bad requests in one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from flywheel.lake import Lake
from flywheel.reports.confusion import Matrix, aligned_labels, change
from flywheel.train.registry import Models
from tests.reports.browser import Browser
from tests.reports.conftest import MIXED, ReportLake, keep_screenshot, run_cli


def _matrix(report_lake: ReportLake, version: str) -> Matrix:
    return Matrix.from_row(Models.read(Lake(report_lake.settings)).get(version))


def test_the_matrix_page_and_figure_show_the_models_counts(
    report_lake: ReportLake, tmp_path: Path, browser: Browser
) -> None:
    code, stdout, err = run_cli(report_lake.settings, "report", "confusion", "--out",
                                str(tmp_path / "m1.html"), "--model", "m0001")  # fmt: skip
    assert code == 0, err
    assert stdout.count("\n") == 1 and stdout.startswith("confusion: m0001 accuracy ")
    with Image.open(tmp_path / "m1.png") as png:
        assert png.width > 300 and png.height > 300
    m1 = _matrix(report_lake, "m0001")
    browser.open(tmp_path / "m1.html")
    assert browser.errors() == []
    cells = browser.eval(
        "Array.from(document.querySelectorAll('table.grid')[0].querySelectorAll('td')).map(td => Number(td.textContent))"
    )
    assert np.array_equal(np.array(cells).reshape(m1.counts.shape), m1.counts)
    headers = browser.eval(
        "Array.from(document.querySelectorAll('table.grid')[0].querySelectorAll('tr:first-child th')).slice(1).map(th => th.textContent)"
    )
    assert headers == m1.labels
    assert browser.eval("document.images[0].complete && document.images[0].naturalWidth > 0")
    keep_screenshot(browser, tmp_path, "confusion")


def test_the_change_between_two_versions(
    report_lake: ReportLake, tmp_path: Path, browser: Browser
) -> None:
    code, stdout, err = run_cli(report_lake.settings, "report", "confusion", "--out",
                                str(tmp_path / "diff.png"), "--model", "m0002", "--against", "m0001")  # fmt: skip
    assert code == 0, err
    assert "confusion: m0002 accuracy" in stdout and " vs m0001 " in stdout
    assert (tmp_path / "diff.png").exists() and (tmp_path / "diff.html").exists()
    m2, m1 = _matrix(report_lake, "m0002"), _matrix(report_lake, "m0001")
    labels = aligned_labels(m2, m1)
    delta = change(m2, m1, labels)
    i = labels.index("eight")
    rates2, rates1 = m2.counts[m2.labels.index("eight")], m1.counts[m1.labels.index("eight")]
    expected = 100 * (
        rates2[m2.labels.index("eight")] / rates2.sum()
        - rates1[m1.labels.index("eight")] / rates1.sum()
    )
    assert delta[i, i] == pytest.approx(expected)
    if MIXED in labels and MIXED not in m1.labels:  # a class only one version knows
        assert np.isnan(delta[labels.index(MIXED)]).all()
    browser.open(tmp_path / "diff.html")
    assert browser.errors() == []
    assert (
        browser.eval("document.querySelectorAll('table.grid').length") == 4
    )  # 2 matrices, change, per class
    shown = browser.eval(
        f"document.querySelectorAll('table.grid')[2].querySelectorAll('tr')[{i + 1}].querySelectorAll('td')[{i}].textContent"
    )
    assert shown == f"{expected:+.0f}"
    keep_screenshot(browser, tmp_path, "confusion-change")


def test_the_html_reports_the_holdouts_and_per_class_scores(
    report_lake: ReportLake, tmp_path: Path
) -> None:
    code, _, err = run_cli(
        report_lake.settings, "report", "confusion", "--out", str(tmp_path / "c.html")
    )
    assert code == 0, err
    html = (tmp_path / "c.html").read_text()
    promoted = Models.read(Lake(report_lake.settings)).get("promoted")
    assert f"<b>{promoted['version']}</b> (promoted)" in html
    for name, scores in json.loads(promoted["metrics"])["per_class"].items():
        assert f'<th class="name">{name}</th><td>{scores["precision"]:.3f}</td>' in html


def test_bad_requests_fail_in_one_line(report_lake: ReportLake, tmp_path: Path) -> None:
    for args, needle in [
        (["--out", str(tmp_path / "x.html"), "--model", "m0042"], "m0042"),
        (["--out", str(tmp_path / "x.html"), "--against", "nope"], "nope"),
        (["--out", str(tmp_path / "x.txt")], ".html or .png"),
    ]:
        code, _, err = run_cli(report_lake.settings, "report", "confusion", *args)
        assert code == 2 and err.count("\n") == 1 and needle in err, err
