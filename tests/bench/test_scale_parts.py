"""The scale benchmark's parts that could fail silently: the PSS sampler must see a
child's memory, and the photo generator must give distinct, photo-sized JPEGs."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

from flywheel.bench.photos import (
    SIZE,
    load_photo_folder,
    write_manifest_subset,
    write_photo_folder,
)
from flywheel.bench.pss import descendants, run_measured, tree_pss_bytes

# A parent that starts a child holding 200 MB of touched memory, then waits for it.
_CHILD = "import time; b = bytearray(200_000_000); b[::4096] = b'x' * len(b[::4096]); time.sleep(2)"
_PARENT = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {_CHILD!r}])"


def test_peak_pss_counts_a_grandchilds_memory() -> None:
    alone = run_measured([sys.executable, "-c", "import time; time.sleep(1)"])
    tree = run_measured([sys.executable, "-c", _PARENT])
    assert alone.returncode == tree.returncode == 0
    assert tree.samples >= 5
    # The child's 200 MB is counted although the measured process holds none of it.
    assert tree.peak_bytes - alone.peak_bytes > 150_000_000


def test_descendants_and_tree_pss_of_this_process() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"])
    try:
        assert child.pid in descendants(os.getpid())
        assert tree_pss_bytes(child.pid) > 1_000_000
    finally:
        child.kill()
        child.wait()


def test_photos_are_unique_photo_sized_jpegs_with_tags(tmp_path: Path) -> None:
    articles = np.zeros((3, 28, 28), dtype=np.uint8)  # 3 identical articles, reused
    articles[:, 8:20, 10:18] = 255
    classes = np.array([0, 1, 1])
    folder = write_photo_folder(tmp_path, articles, classes, ("bag", "ankle-boot"), 7, seed=1)
    blobs = [(tmp_path / p).read_bytes() for p in folder.paths]
    assert len({hashlib.sha256(b).digest() for b in blobs}) == 7
    for blob in blobs:
        with Image.open(io.BytesIO(blob)) as img:
            assert (img.format, img.size, img.mode) == ("JPEG", (SIZE, SIZE), "RGB")
    lines = [json.loads(x) for x in folder.manifest.read_text().splitlines()]
    assert [x["path"] for x in lines] == folder.paths
    assert lines[1]["tags"][0] == "#ankleboot" and folder.labels[1] == "ankle-boot"
    taxonomy = yaml.safe_load(folder.taxonomy.read_text())
    assert taxonomy == {"classes": {"bag": ["#bag"], "ankle-boot": ["#ankleboot"]}}
    subset = write_manifest_subset(folder, 3)
    assert subset.read_text().splitlines() == folder.manifest.read_text().splitlines()[:3]
    again = write_photo_folder(tmp_path / "again", articles, classes, ("bag", "ankle-boot"), 2, 1)
    assert (again.root / again.paths[1]).read_bytes() == blobs[1]  # seeded: repeatable
    assert load_photo_folder(tmp_path, folder.class_names, 7) == folder
    assert load_photo_folder(tmp_path, folder.class_names, 8) is None  # too few: rewrite
