"""The benchmark end to end on real digits: tiny runs (a few optimizer steps per round),
the .npz dataset forms, bad input, and the click command."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.datasets import load_digits

from flywheel.bench import BenchConfig, run_benchmark
from flywheel.bench.cli import bench
from flywheel.bench.data import prepare_data
from flywheel.errors import ConfigError, FlywheelError

# Tiny but real: 1 epoch of at least 4 steps per round, a 300-digit pool, 150 test digits.
TINY = {"epochs": 1, "min_steps": 4, "pool_size": 300, "test_size": 150, "seeds": 1}


def tiny(tmp_path: Path, dataset: str = "digits", **overrides: object) -> BenchConfig:
    fields: dict[str, object] = {
        "dataset": dataset,
        "strategies": ("random", "margin"),
        "budget": 60,
        "step": 20,
        "init": 20,
        "out": tmp_path / "out",
        **TINY,
    }
    fields.update(overrides)
    return BenchConfig(**fields)  # type: ignore[arg-type]


def read_curves(out: Path) -> list[dict[str, str]]:
    with (out / "curves.csv").open() as f:
        return list(csv.DictReader(f))


def check_outputs(out: Path, strategies: tuple[str, ...], seeds: int = 1) -> None:
    rows = read_curves(out)
    assert list(rows[0]) == ["strategy", "seed", "n_labels", "accuracy"]
    for name in strategies:
        for seed in range(seeds):
            ns = [
                int(r["n_labels"]) for r in rows if (r["strategy"], r["seed"]) == (name, str(seed))
            ]
            assert ns == [20, 40, 60]  # monotone, init to budget
    assert all(0.0 <= float(r["accuracy"]) <= 1.0 for r in rows)
    summary = json.loads((out / "summary.json").read_text())
    assert 0.0 < summary["full_data_accuracy"] <= 1.0 and summary["complete"] is True
    assert list(summary["strategies"]) == list(strategies)
    for entry in summary["strategies"].values():
        assert set(entry) == {"labels_to_95", "labels_to_99", "accuracy_at_budget"}
        assert entry["labels_to_95"] is None or 20 <= entry["labels_to_95"] <= 60
        assert 0.0 <= entry["accuracy_at_budget"] <= 1.0
    assert (out / "learning_curves.png").read_bytes()[:4] == b"\x89PNG"


def test_tiny_run_on_digits(tmp_path: Path) -> None:
    lines: list[str] = []
    result = run_benchmark(tiny(tmp_path, strategies=("random", "badge")), progress=lines.append)
    check_outputs(tmp_path / "out", ("random", "badge"))
    assert any("[badge seed 0] round 3/3: 60 labels" in line for line in lines)
    assert any(line.startswith("[full data seed 0] 300 labels") for line in lines)
    # Both strategies start from the same initial labels and weights: the same first point.
    first = [p.accuracy for p in result.points if p.n_labels == 20]
    assert len(first) == 2 and first[0] == first[1]


def digits_npz(path: Path, channel_axis: bool) -> Path:
    digits = load_digits()
    x = (digits.images[:500] / 16.0).astype(np.float32)  # (500, 8, 8) in [0, 1]
    np.savez(path, x=x[:, None] if channel_axis else x, y=digits.target[:500])
    return path


def test_npz_dataset(tmp_path: Path) -> None:
    path = digits_npz(tmp_path / "digits.npz", channel_axis=False)
    config = tiny(tmp_path, str(path), strategies=("entropy", "kcenter"), pool_size=None)
    data = prepare_data(config)
    assert (data.pool_size, data.test.num_rows, data.arch) == (350, 150, "tiny-cnn")
    run_benchmark(config, progress=lambda _: None)
    check_outputs(tmp_path / "out", ("entropy", "kcenter"))


def test_npz_with_a_channel_axis_is_the_same_data(tmp_path: Path) -> None:
    flat = prepare_data(tiny(tmp_path, str(digits_npz(tmp_path / "a.npz", channel_axis=False))))
    chw = prepare_data(tiny(tmp_path, str(digits_npz(tmp_path / "b.npz", channel_axis=True))))
    assert flat.pool.equals(chw.pool) and flat.test.equals(chw.test)
    assert (chw.pool_labels == flat.pool_labels).all() and chw.arch == "tiny-cnn"


def test_cli(tmp_path: Path) -> None:
    out = tmp_path / "cli"
    args = ["active-learning", "--dataset", "digits", "--strategies", "random,bald"]
    args += ["--budget", "60", "--step", "20", "--init", "20", "--seeds", "1", "--out", str(out)]
    args += ["--epochs", "1", "--min-steps", "4", "--pool-size", "300", "--test-size", "150"]
    result = CliRunner().invoke(bench, args)
    assert result.exit_code == 0, result.output
    check_outputs(out, ("random", "bald"))
    assert "full-data accuracy" in result.stdout and "labels_to_95 x random" in result.stdout
    assert "[bald seed 0] round 1/3" in result.stderr


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"dataset": "cifar"}, "unknown dataset 'cifar'"),
        ({"strategies": ("random", "smart")}, "unknown strategy 'smart'; valid strategies:"),
        ({"strategies": ("label-errors",)}, "picks samples to verify, not to label"),
        ({"strategies": ()}, "--strategies is empty"),
        ({"budget": 10}, "--budget 10 is smaller than --init 20"),
        ({"step": 0}, "--step must be at least 1, got 0"),
        ({"seeds": 0}, "--seeds must be at least 1"),
        ({"budget": 400}, "--pool-size 300 is smaller than --budget 400"),
        ({"budget": 400, "pool_size": None}, "--budget 400 is larger than the pool"),
        ({"pool_size": 2000}, "--pool-size 2000 is larger than the 1647 samples left"),
        ({"arch": "vgg"}, "unknown image architecture 'vgg'"),
    ],
)
def test_bad_input_fails_before_any_work(
    tmp_path: Path, overrides: dict[str, object], message: str
) -> None:
    fields = {"test_size": 150, "pool_size": 300, **overrides}
    if overrides.get("pool_size", 0) is None:
        fields["test_size"] = 1600
    with pytest.raises(ConfigError) as err:
        run_benchmark(tiny(tmp_path, **fields), progress=lambda _: None)
    assert message in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "out").exists()


def test_npz_without_x_and_y(tmp_path: Path) -> None:
    path = tmp_path / "bad.npz"
    np.savez(path, images=np.zeros((10, 8, 8)), labels=np.zeros(10, dtype=int))
    with pytest.raises(ConfigError, match="must hold arrays 'x' and 'y'"):
        run_benchmark(tiny(tmp_path, str(path)), progress=lambda _: None)
    assert not (tmp_path / "out").exists()


def test_cli_bad_input_is_a_flywheel_error(tmp_path: Path) -> None:
    args = ["active-learning", "--dataset", "digits", "--strategies", "random", "--budget"]
    args += ["10", "--step", "5", "--init", "20", "--out", str(tmp_path / "x")]
    result = CliRunner().invoke(bench, args)
    assert result.exit_code != 0 and isinstance(result.exception, FlywheelError)
    assert "--budget 10 is smaller than --init 20" in str(result.exception)
    assert not (tmp_path / "x").exists()
