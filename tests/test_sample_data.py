"""The sample-data generators: determinism, layout, and expected counts that match what
a person derives from the written files (hashing bytes, parsing the manifest)."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import Counter
from pathlib import Path

import filetype
import pytest
import yaml

from flywheel.errors import ConfigError, SourceError
from flywheel.sample_data import (
    SampleFolder,
    write_digits_folder,
    write_spoken_words_folder,
)

needs_espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None, reason="espeak-ng is not installed"
)


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def derive_counts(folder: SampleFolder) -> dict[str, object]:
    """Recount from the files themselves, without the generator's bookkeeping."""
    classes = yaml.safe_load(folder.taxonomy.read_text())["classes"]
    class_of_tag = {tag: name for name, tags in classes.items() for tag in tags}
    tags_of, bad_lines = {}, 0
    for line in folder.manifest.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            bad_lines += 1
            continue
        tags_of[row["path"]] = row["tags"]
    media = [p for p in folder.root.rglob("*") if p.is_file() and p.parent != folder.root]
    seen: set[str] = set()
    counts: Counter[str] = Counter(files=len(media))
    for path in sorted(media):
        rel = str(path.relative_to(folder.root))
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        kind = filetype.guess_extension(path.read_bytes())
        if kind is not None and kind != path.suffix.lstrip("."):
            counts["mismatched"] += 1
        if rel in folder.rejected:
            continue
        if digest in seen:
            counts["duplicates"] += 1
            continue
        seen.add(digest)
        named = {class_of_tag[t] for t in tags_of.get(rel, []) if t in class_of_tag}
        counts["untagged" if rel not in tags_of else f"classes={len(named)}"] += 1
        counts["mislabelled"] += len(named) == 1 and named != {folder.truth[rel]}
    return {**counts, "samples": len(seen), "bad_lines": bad_lines}


def test_digits_counts_match_what_the_files_show(tmp_path: Path) -> None:
    digits = write_digits_folder(tmp_path, n=200, seed=3)
    derived = derive_counts(digits)
    assert derived["files"] == digits.n_files == 205
    assert derived["samples"] == digits.expected_new_samples == 201
    assert derived["classes=1"] == digits.expected_weak_labelled == 193
    assert derived["mislabelled"] == digits.expected_mislabelled == 2
    assert derived["classes=2"] == digits.expected_ambiguous == 4
    assert derived["untagged"] == digits.expected_untagged == 4
    assert derived["duplicates"] == digits.expected_duplicates == 1
    # the .jpg holding PNG bytes; the corrupt file also starts with the PNG signature
    assert derived["mismatched"] == digits.expected_mismatched == 1
    assert derived["bad_lines"] == digits.expected_quarantine["bad_manifest_line"] == 1
    assert digits.expected_quarantine == {
        "undecodable": 1, "truncated": 1, "too_small": 1, "bad_manifest_line": 1,
    }  # fmt: skip
    assert sorted(digits.rejected.values()) == ["too_small", "truncated", "undecodable"]


def test_digits_taxonomy_and_manifest_format(tmp_path: Path) -> None:
    digits = write_digits_folder(tmp_path, n=50, faults=False)
    classes = yaml.safe_load(digits.taxonomy.read_text())["classes"]
    assert classes["three"] == ["#three", "#3"] and len(classes) == 10
    rows = [json.loads(line) for line in digits.manifest.read_text().splitlines()]
    assert all(set(row) == {"path", "tags", "source_ref"} for row in rows)
    assert all((tmp_path / row["path"]).is_file() for row in rows)
    assert rows[0]["source_ref"].startswith("digits-")
    assert all(row["path"].startswith(f"images/{digits.truth[row['path']]}/") for row in rows)


def test_digits_are_deterministic_per_seed(tmp_path: Path) -> None:
    write_digits_folder(tmp_path / "a", n=30, seed=1)
    write_digits_folder(tmp_path / "b", n=30, seed=1)
    write_digits_folder(tmp_path / "c", n=30, seed=2)
    assert snapshot(tmp_path / "a") == snapshot(tmp_path / "b")
    assert snapshot(tmp_path / "a") != snapshot(tmp_path / "c")


def test_digits_without_faults_use_the_whole_dataset(tmp_path: Path) -> None:
    digits = write_digits_folder(tmp_path, faults=False)
    assert digits.n_files == digits.expected_new_samples == 1797
    assert digits.rejected == {} and set(digits.expected_quarantine.values()) == {0}


def test_digits_reject_an_impossible_n(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"n must be in 4\.\.1793"):
        write_digits_folder(tmp_path, n=1797)


@needs_espeak
def test_spoken_words_counts_match_what_the_files_show(tmp_path: Path) -> None:
    words = write_spoken_words_folder(tmp_path)
    derived = derive_counts(words)
    assert derived["files"] == words.n_files == 52
    assert derived["samples"] == words.expected_new_samples == 48
    assert derived["classes=1"] == words.expected_weak_labelled == 46
    assert derived["mislabelled"] == words.expected_mislabelled == 1
    assert derived["classes=2"] == words.expected_ambiguous == 1
    assert derived["untagged"] == words.expected_untagged == 1
    assert derived.get("duplicates", 0) == words.expected_duplicates == 0
    assert derived.get("mismatched", 0) == words.expected_mismatched == 0
    assert words.expected_quarantine == dict.fromkeys(
        ["undecodable", "truncated", "near_silent", "cut_off"], 1
    )
    assert yaml.safe_load(words.taxonomy.read_text())["classes"]["yes"] == ["#yes"]


@needs_espeak
def test_spoken_words_are_deterministic(tmp_path: Path) -> None:
    write_spoken_words_folder(tmp_path / "a", words=("yes", "no"), voices=("en-us",))
    write_spoken_words_folder(tmp_path / "b", words=("yes", "no"), voices=("en-us",))
    assert snapshot(tmp_path / "a") == snapshot(tmp_path / "b")


def test_spoken_words_need_espeak(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH with no espeak-ng on it
    with pytest.raises(SourceError, match="apt-get install espeak-ng"):
        write_spoken_words_folder(tmp_path / "out")
