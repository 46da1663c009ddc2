"""Quiet by default, through the real CLI beside another local Ray instance: ingest and
train print flywheel's own lines and progress bars only, Ray's output (the workers' and
actors' too: Ray Train's controller) goes to the log file the last line names, and
training reports one line per epoch, the confusion matrix once, and what promotes a
candidate. Then the verbs that follow a first model: queue labels from the promoted
model, score and select as quiet, the export summary as a sentence."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Ray's own output, as it reached the terminal before (issue 12): none of it may show.
RAY_NOISE = re.compile(
    r"\bINFO\b|WARNING|\(pid=|core_worker|multiple active Ray|Traceback|Running Dataset|"
    r"Execution plan|TrainController|Started a local Ray|ray\.data|Dataset job will hang"
)
LOG_LINE = re.compile(r"^flywheel: Ray's log: (\S+/logs/ray-[\w-]+\.log)$")


def flywheel(root: Path, *args: str) -> tuple[str, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "flywheel.cli", *args, "--root", str(root)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout, proc.stderr


def quiet(stdout: str, stderr: str, root: Path) -> tuple[list[str], Path]:
    """The lines printed and Ray's log, after checking that no line is Ray's and the log
    is named. (The log may be empty: a healthy run's driver can have nothing to say; the
    -v test below shows Ray's lines reach the terminal when asked for.)"""
    lines = [ln for ln in (stdout + stderr).replace("\r", "\n").splitlines() if ln.strip()]
    noisy = [ln for ln in lines if RAY_NOISE.search(ln)]
    assert not noisy, noisy
    named = LOG_LINE.match(stderr.strip().splitlines()[-1])
    assert named, stderr[-500:]
    log = Path(named.group(1))
    assert log.is_file() and log.parent == root / "logs"
    return lines, log


def no_failure_in(log: Path) -> None:
    """Quiet is not enough: each of the run's processes, Ray Train's own actors too
    (its PlacementGroupCleaner looks the cluster up again), found its own cluster."""
    text = log.read_text()
    assert "multiple active Ray instances" not in text, text[-3000:]
    assert "Traceback" not in text, text[-3000:]


@pytest.mark.slow
def test_ingest_and_train_are_quiet_beside_another_ray(
    ray_cluster: None, digits_folder, tmp_path: Path
) -> None:
    # ray_cluster is a second local Ray instance in this process, up the whole time.
    root = tmp_path / "root"
    out, err = flywheel(root, "ingest", str(digits_folder.root), "--taxonomy",
                        str(digits_folder.taxonomy))  # fmt: skip
    lines, _ = quiet(out, err, root)
    assert out.startswith(f"ingest {digits_folder.root}:")
    own = [ln for ln in lines if not ln.startswith("ingest:")]  # "ingest:" is our bar
    assert len(own) <= 7, own

    out, err = flywheel(root, "train", "--epochs", "2")
    _, log = quiet(out, err, root)
    no_failure_in(log)
    # What Ray Train's controller actor printed (here: the core worker's line about the
    # PreemptionWatcher actor it starts) is in the log, with Ray's own prefix.
    assert re.search(r"^\(TrainController pid=\d+\) \S", log.read_text(), re.M), log.read_text()
    epochs = [ln for ln in out.splitlines() if ln.startswith("epoch ")]
    assert [ln.split()[1] for ln in epochs] == ["1/2", "2/2"]
    assert all("loss" in ln and "accuracy" in ln and "macro-F1" in ln for ln in epochs)
    assert out.count("true\\pred") == 1  # the confusion matrix, once, at the end
    assert out.splitlines()[-1].startswith("m0001 (promoted)")

    out, err = flywheel(root, "train", "--epochs", "1", "--from", "promoted")
    no_failure_in(quiet(out, err, root)[1])
    assert out.splitlines()[-1] == (
        "m0002 is a candidate: score and select keep using m0001 until `flywheel gate "
        "m0002` promotes it (it must pass the gates; `flywheel loop` gates its own candidates)"
    )

    # A queue takes its labels from the promoted model when none are given.
    out, _ = flywheel(root, "queue", "create", "digits")
    assert out.startswith("created queue digits: 10 labels")
    # Scoring (Ray Data, the loudest part of Ray before) and selection are quiet too.
    out, err = flywheel(root, "score", "--mc-passes", "0")
    quiet(out, err, root)
    assert out.startswith("score with m0001: ")
    out, err = flywheel(
        root, "select", "--strategy", "margin", "--budget", "5", "--queue", "digits"
    )
    assert not RAY_NOISE.search(out + err) and err == "", err  # select starts no Ray at all
    assert "\nselect round 1: 5 of " in out and "queue digits: 5 tasks added" in out, out
    out, _ = flywheel(root, "export-labels")
    assert out == "exported 0 annotations and 0 labels (watermarks: annotation 0, label 0)\n"


@pytest.mark.slow
@pytest.mark.parametrize("where", ["before the verb", "after the verb"])
def test_verbose_leaves_rays_output_on_the_terminal(tmp_path: Path, where: str) -> None:
    from flywheel.sample_data import write_digits_folder

    folder = write_digits_folder(tmp_path / "few", n=20, seed=1)
    root = tmp_path / "root"
    args = ["ingest", str(folder.root), "--taxonomy", str(folder.taxonomy)]
    args = ["-v", *args] if where == "before the verb" else [*args, "-v"]
    _, err = flywheel(root, *args)
    assert RAY_NOISE.search(err), err  # Ray's own lines (at least its start-up notice)
    assert "Ray's log" not in err
    assert not (root / "logs").exists()
