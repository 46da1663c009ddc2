"""`flywheel browse` on the report lake and on spoken words: the page opens from disk in
headless Chromium with no console errors, shows one card per sample and quarantined
input with its media, and its class, source and flag filters work."""

from __future__ import annotations

from pathlib import Path

import pytest

from flywheel.config import Settings
from flywheel.ingest import IngestConfig, ingest
from flywheel.lake import sql
from tests.reports.browser import Browser
from tests.reports.conftest import MIXED, Annotated, keep_screenshot, run_cli

VISIBLE = "document.querySelectorAll('article.card:not([hidden])').length"
LOADED_IMAGES = "Array.from(document.images).filter(i => i.complete && i.naturalWidth > 0).length"


def _choose(browser: Browser, select_id: str, value: str) -> None:
    browser.eval(
        f"(() => {{ const s = document.getElementById({select_id!r}); s.value = {value!r}; "
        "s.dispatchEvent(new Event('change')); })()"
    )


def _count(settings: Settings, where: str) -> int:
    return int(sql(f"select count(*) as n from {where}", settings).column("n")[0].as_py())


@pytest.fixture(scope="module")
def gallery(annotated: Annotated, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("browse")
    code, stdout, err = run_cli(annotated.lake.settings, "browse", "--out", str(out),
                                "--sample", "0", "--seed", "1", "--no-progress")  # fmt: skip
    assert code == 0, err
    return out, stdout


def test_every_sample_and_quarantined_input_gets_a_card_with_its_media(
    gallery: tuple[Path, str], annotated: Annotated, browser: Browser, tmp_path: Path
) -> None:
    out, stdout = gallery
    settings = annotated.lake.settings
    samples, rejected = _count(settings, "samples"), _count(settings, "quarantine")
    assert stdout.count("\n") == 1 and stdout.startswith(f"browse: {samples + rejected} of ")
    browser.open(out / "index.html")
    assert browser.errors() == []
    assert browser.eval("document.querySelectorAll('article.card').length") == samples + rejected
    assert browser.eval("document.querySelectorAll('article.card.quarantined').length") == rejected
    # Every sample shows a thumbnail; a quarantined input only when its bytes still decode.
    images = browser.eval("document.images.length")
    assert samples <= images < samples + rejected
    assert browser.eval(LOADED_IMAGES) == images
    assert (
        browser.eval("document.querySelectorAll('.nomedia').length") == samples + rejected - images
    )
    keep_screenshot(browser, tmp_path, "browse")


def test_filters_show_only_the_chosen_class_source_or_flag(
    gallery: tuple[Path, str], annotated: Annotated, browser: Browser
) -> None:
    out, _ = gallery
    settings = annotated.lake.settings
    browser.open(out / "index.html")
    _choose(browser, "filter-class", MIXED)
    mixed = _count(settings, f"samples where weak_label = '{MIXED}'")
    assert browser.eval(VISIBLE) == mixed > 0
    assert browser.eval("document.getElementById('shown').textContent").startswith(
        f"showing {mixed} of"
    )
    _choose(browser, "filter-class", "")
    _choose(browser, "filter-flag", "quarantined")
    assert browser.eval(VISIBLE) == _count(settings, "quarantine")
    _choose(browser, "filter-flag", "")
    source = sql(
        "select source, count(*) as n from samples group by 1 order by 1", settings
    ).to_pylist()[0]
    _choose(browser, "filter-source", source["source"])
    assert browser.eval(VISIBLE) == source["n"] + _count(
        settings, f"quarantine where source = '{source['source']}'"
    )
    _choose(browser, "filter-source", "")
    _choose(browser, "group-by", "source")
    assert browser.eval("document.querySelectorAll('section.group:not([hidden])').length") == 2
    assert browser.eval(VISIBLE) == browser.eval("document.querySelectorAll('article.card').length")


def test_cards_show_labels_from_the_queue_and_the_prediction(
    gallery: tuple[Path, str], annotated: Annotated, browser: Browser
) -> None:
    out, _ = gallery
    browser.open(out / "index.html")
    verified = annotated.verified[0]
    text = browser.eval(f"document.querySelector('article[data-id=\"{verified}\"]').innerText")
    assert f"{MIXED} (verify)" in text and "predicted" in text
    gold = next(iter(annotated.gold))
    text = browser.eval(f"document.querySelector('article[data-id=\"{gold}\"]').innerText")
    assert "(gold)" in text


def test_where_sample_and_seed(annotated: Annotated, tmp_path: Path, browser: Browser) -> None:
    settings = annotated.lake.settings
    pages = []
    for name, seed in (("a", "7"), ("b", "7"), ("c", "8")):
        code, stdout, err = run_cli(settings, "browse", "--out", str(tmp_path / name), "--where",
                                    "class_name = 'three' and not quarantined", "--sample", "6",
                                    "--seed", seed, "--no-progress")  # fmt: skip
        assert code == 0, err
        assert stdout.startswith(
            f"browse: 6 of {_count(settings, 'samples where weak_label = ' + chr(39) + 'three' + chr(39))} "
        )
        browser.open(tmp_path / name / "index.html")
        pages.append(
            browser.eval(
                "Array.from(document.querySelectorAll('article.card')).map(c => c.dataset.id)"
            )
        )
        assert browser.eval(
            "Array.from(document.querySelectorAll('article.card')).every(c => c.dataset.class === 'three')"
        )
    assert pages[0] == pages[1] and pages[0] != pages[2]


def test_a_bad_where_fails_in_one_line(annotated: Annotated, tmp_path: Path) -> None:
    code, _, err = run_cli(
        annotated.lake.settings, "browse", "--out", str(tmp_path), "--where", "no_such_column = 1"
    )
    assert code == 2 and err.count("\n") == 1 and "no_such_column" in err
    code, _, err = run_cli(
        annotated.lake.settings, "browse", "--out", str(tmp_path), "--sample", "-1"
    )
    assert code == 2 and "--sample" in err


def test_audio_cards_have_a_player_and_a_waveform(
    spoken_folder,
    ray_cluster,
    tmp_path: Path,
    browser: Browser,
) -> None:
    settings = Settings.from_env(root=tmp_path / "root", environ={})
    ingest(settings, IngestConfig(str(spoken_folder.root), spoken_folder.taxonomy, progress=False))
    code, stdout, err = run_cli(settings, "browse", "--out", str(tmp_path / "out"), "--no-progress")
    assert code == 0, err
    clips, rejected = _count(settings, "samples"), _count(settings, "quarantine")
    assert " clip" in stdout and "no model" in stdout
    browser.open(tmp_path / "out" / "index.html")
    assert browser.errors() == []
    assert browser.eval("document.querySelectorAll('article.card').length") == clips + rejected
    # Quarantined clips that still decode (near-silent, cut off) get a player too.
    players = browser.eval("document.querySelectorAll('article.card audio').length")
    waves = browser.eval("document.querySelectorAll('article.card img[alt^=\"waveform\"]').length")
    assert players == waves and clips <= waves < clips + rejected
    assert browser.eval(LOADED_IMAGES) == browser.eval("document.images.length")
    keep_screenshot(browser, tmp_path, "browse-audio")
