"""The command line people live in (issue 12), checked through the real CLI: it starts
fast, refuses a root with no lake, takes --root after the verb, prints one error prefix,
and shares its conventions across verbs. The quiet-Ray and training-output checks run a
real ingest and train in tests/test_cli_quiet.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

import flywheel
from flywheel import cli
from flywheel.cli import VERBS, main
from flywheel.config import Settings
from flywheel.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
NO_LAKE = "run `flywheel ingest` or check --root"

# What `import flywheel.cli` may load besides the standard library: click, and these.
ALLOWED_FLYWHEEL = {"flywheel", "flywheel.cli", "flywheel.config", "flywheel.errors"}
ALLOWED_THIRD_PARTY = {"click"}


def run(*args: str) -> tuple[int, str, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "flywheel.cli", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return proc.returncode, proc.stdout, proc.stderr


def in_process(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_import_of_the_cli_loads_no_heavy_module() -> None:
    probe = "import json, sys, flywheel.cli; print(json.dumps(sorted(sys.modules)))"
    proc = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True
    )
    loaded = set(json.loads(proc.stdout))
    ours = {m for m in loaded if m == "flywheel" or m.startswith("flywheel.")}
    assert ours == ALLOWED_FLYWHEEL
    tops = {m.split(".")[0] for m in loaded} - {"flywheel"}
    third_party = {
        t for t in tops if t not in sys.stdlib_module_names and not t.startswith("_")
    } - {"__editable___flywheel_0_1_0_finder"}
    assert third_party <= ALLOWED_THIRD_PARTY, third_party - ALLOWED_THIRD_PARTY


# Verbs that only read: they run without torch, Ray or scipy (seconds of start-up each).
LIGHT_VERBS = [
    ["models"],
    ["models", "--help"],
    ["status"],
    ["status", "--help"],
    ["tables"],
    ["sql", "select 1"],
    ["queue", "stats"],
    ["jobs", "list"],
    ["loop", "--help"],
    ["gate", "--help"],
    ["report-error", "--help"],
]
HEAVY = ("torch", "ray", "scipy")


def test_the_verbs_that_read_load_no_torch_ray_or_scipy(filled_root: Path) -> None:
    # One process runs them in turn through the real CLI and, after each, names the
    # heavy modules loaded so far: the first verb that loads one is the one named.
    probe = (
        "import contextlib, io, json, sys\n"
        "from flywheel.cli import main\n"
        "for args in json.loads(sys.argv[1]):\n"
        "    with contextlib.redirect_stdout(io.StringIO()) as out, "
        "contextlib.redirect_stderr(out):\n"
        "        code = main(['--root', sys.argv[2], *args])\n"
        f"    heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "    print(json.dumps([args, code, heavy, out.getvalue()[-300:]]))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    proc = subprocess.run(
        [sys.executable, "-c", probe, json.dumps(LIGHT_VERBS), str(filled_root)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        env=env,
        timeout=300,
    )
    results = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r[0] for r in results] == LIGHT_VERBS
    for args, code, heavy, out in results:
        # jobs list without an address says so (exit 2); every other verb runs.
        assert code == (2 if args == ["jobs", "list"] else 0), (args, out)
        assert heavy == [], (args, heavy)


def test_version_prints_the_package_version() -> None:
    # How fast --help and --version start is measured in benchmarks/bench_cli.py; what
    # keeps them fast (no torch, Ray or DuckDB at import) is the test above.
    code, out, _ = run("--version")
    assert code == 0 and out.strip() == f"flywheel {flywheel.__version__}" == "flywheel 0.1.0"


def test_every_verb_loads_under_its_name_and_its_help_runs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    group = cli.cli
    ctx = click.Context(group)
    for name in VERBS:
        command = group.get_command(ctx, name)
        assert command is not None and command.name == name
        code, out, _ = in_process(capsys, name, "--help")
        assert code == 0 and "Usage: flywheel " + name in out
    code, out, _ = in_process(capsys, "--help")
    assert all(name in out for name in VERBS)


READ_ONLY = [
    ["tables"],
    ["sql", "select 1"],
    ["duckdb-init"],
    ["models"],
    ["status"],
    ["score"],
    ["select", "--strategy", "random", "--budget", "1"],
    ["train", "--epochs", "1"],
    ["gate", "m0001"],
    ["loop", "--queue", "q", "--rounds", "1"],
    ["browse", "--out", "gallery"],
    ["embeddings", "--out", "emb"],
    ["report", "confusion", "--out", "c.html"],
    ["report", "balance", "--out", "b.html"],
    ["report", "verify-cluster", "a:1", "--queue", "q"],
    ["export-labels"],
    ["queue", "stats"],
    ["queue", "enqueue", "q", "items.jsonl"],
    # Verbs that write, but only into a lake or catalog that is there already.
    ["serve", "--port", "1"],
    ["vendor", "add", "v", "--queues", "q"],
    ["report-error", "--sample-id", "s", "--predicted", "a", "--expected", "b"],
    ["report-error", "--media", "x.png", "--predicted", "a", "--expected", "b"],
]


@pytest.mark.parametrize("args", READ_ONLY, ids=lambda a: " ".join(a[:2]))
def test_a_verb_that_reads_refuses_a_root_with_no_lake_and_creates_nothing(
    args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "flywheel-dta"  # a typo of the real root
    for where in (["--root", str(root), *args], [*args, "--root", str(root)]):
        code, out, err = in_process(capsys, *where)
        assert code == 2, (out, err)
        assert err == f"flywheel: error: no flywheel lake at {root}; {NO_LAKE}\n"
        assert not root.exists()


def test_root_after_the_verb_is_the_same_as_before(
    filled_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = in_process(capsys, "--root", str(filled_root), "tables")
    after = in_process(capsys, "tables", "--root", str(filled_root))
    assert before == after and before[0] == 0 and "samples\trows=" in before[1]


def test_ray_address_after_the_verb_is_the_same_as_before(
    filled_root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import flywheel.train.run

    # `flywheel train` up to the point it joins Ray: the cluster it would join is the
    # one given, wherever --ray-address stands; then it stops, writing nothing.
    asked: list[str | None] = []

    def stop_at_ray(settings: Settings) -> None:
        asked.append(settings.ray_address)
        raise ConfigError("stopped before Ray")

    monkeypatch.setattr(flywheel.train.run, "ensure_ray", stop_at_ray)
    root = str(filled_root)
    address = "10.0.0.9:6379"
    for args in (
        ["--ray-address", address, "train", "--epochs", "1", "--root", root],
        ["train", "--epochs", "1", "--ray-address", address, "--root", root],
        ["train", "--root", root, "--epochs", "1", "--ray-address", address],
    ):
        code, _, err = in_process(capsys, *args)
        assert code == 2 and err == "flywheel: error: stopped before Ray\n", (args, err)
    assert asked == [address] * 3
    # Every verb takes it after its name (before: "No such option"), a group's too.
    code, out, err = in_process(capsys, "tables", "--ray-address", address, "--root", root)
    assert code == 0 and "samples\trows=" in out, err
    code, out, err = in_process(capsys, "queue", "stats", "--ray-address", address, "--root", root)
    assert code == 0, err


def test_a_usage_error_names_flywheel_once(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = in_process(capsys, "tables", "--bogus")
    assert code == 2 and err.startswith("flywheel: error: tables: No such option '--bogus'")
    assert err.count("flywheel") == 1
    code, _, err = in_process(capsys, "--bogus")
    assert err.startswith("flywheel: error: No such option") and err.count("flywheel") == 1
    code, _, err = in_process(capsys, "queue", "create")
    assert err.startswith("flywheel: error: queue create: Missing argument 'NAME'")


def test_empty_results_say_so(filled_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = in_process(capsys, "models", "--root", str(filled_root))
    assert code == 0 and out.startswith("no models yet")
    code, out, _ = in_process(capsys, "sql", "select * from feedback", "--root", str(filled_root))
    assert code == 0 and out.rstrip().endswith("(0 rows)")


def test_sql_announces_that_it_cut_long_text(
    filled_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    query = "select repeat('y', 80) as long"
    code, out, _ = in_process(capsys, "--root", str(filled_root), "sql", query)
    assert code == 0 and "y" * 61 not in out
    assert "(values longer than 60 characters are cut; --format csv or json" in out
    code, out, _ = in_process(capsys, "--root", str(filled_root), "sql", query, "--format", "csv")
    assert "y" * 80 in out


def test_a_cold_start_error_suggests_the_random_strategy(
    filled_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["select", "--strategy", "margin", "--budget", "5", "--root", str(filled_root)]
    code, _, err = in_process(capsys, *args)
    assert code == 2 and "--strategy random" in err and err.count("\n") == 1


def _params(verb: str) -> dict[str, click.Parameter]:
    command = cli.cli.get_command(click.Context(cli.cli), verb)
    assert command is not None
    return {p.name or "": p for p in command.params}


def test_one_convention_across_verbs(capsys: pytest.CaptureFixture[str]) -> None:
    # --format: the same choices wherever rows are printed.
    for verb in ("sql", "models"):
        fmt = _params(verb)["fmt"]
        assert isinstance(fmt.type, click.Choice) and list(fmt.type.choices) == [
            "table",
            "csv",
            "json",
        ]
    # The same training defaults for train and loop, and the ones TrainConfig takes
    # when a job or the demo builds it without flags.
    from flywheel.train import TrainConfig

    made = TrainConfig()
    shared = {"epochs": 5, "batch_size": 32, "lr": 1e-3, "weak_weight": 0.3, "seed": 0,
              "workers": 1}  # fmt: skip
    for name, value in shared.items():
        train_default = _params("train")[name].default
        assert train_default == _params("loop")[name].default == getattr(made, name) == value
    for verb in ("train", "loop"):
        code, out, _ = in_process(capsys, verb, "--help")
        help_ = " ".join(out.split())
        for option, shown in (("--batch-size", "32"), ("--lr", "0.001"), ("--weak-weight", "0.3"),
                              ("--seed", "0"), ("--workers", "1"), ("--epochs", "5")):  # fmt: skip
            text = help_.split(f" {option} ", 1)[1].split(" --", 1)[0]
            assert text.endswith(f"[default: {shown}]"), (verb, option, text)
    # Required options are shown as required.
    code, out, _ = in_process(capsys, "select", "--help")
    for option in ("--strategy", "--budget"):
        line = next(ln for ln in out.splitlines() if ln.strip().startswith(option))
        assert "[required]" in line or "[required]" in out.split(option, 1)[1].split("--", 1)[0]
    # One way to queue a cluster for verification: report verify-cluster.
    code, _, err = in_process(capsys, "select", "--from-cluster", "a:1")
    assert code == 2 and "No such option '--from-cluster'" in err
    # A list of names is a,b or @FILE, for every --blocklist.
    for verb in ("select", "loop", "gate"):
        assert _params(verb)["blocklist"].metavar == "A,B|@FILE"


def test_a_blocklist_file_is_read_the_same_by_every_verb(
    filled_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.txt"
    for args in (
        ["select", "--strategy", "random", "--budget", "1"],
        ["gate", "m0001"],
        ["loop", "--queue", "q", "--rounds", "1"],
    ):
        code, _, err = in_process(
            capsys, "--root", str(filled_root), *args, "--blocklist", f"@{missing}"
        )
        assert code == 2, err
        assert (
            err
            == f"flywheel: error: cannot read --blocklist file {missing}: No such file or directory\n"
        )


def test_topk_uses_one_key_in_the_api_and_the_selections_table() -> None:
    openapi = json.loads((REPO / "schemas" / "openapi.json").read_text())
    assert set(openapi["components"]["schemas"]["TopK"]["properties"]) == {"label", "prob"}
    selections = (REPO / "schemas" / "selections.json").read_text()
    assert "struct<label: string, prob: float>" in selections


def test_queue_labels_come_from_the_taxonomy_when_not_given(
    tmp_path: Path, digits_folder, capsys: pytest.CaptureFixture[str]
) -> None:
    root = str(tmp_path / "root")
    code, out, err = in_process(
        capsys, "--root", root, "queue", "create", "q", "--taxonomy", str(digits_folder.taxonomy)
    )
    assert code == 0, err
    assert out.startswith("created queue q: 10 labels")
    code, _, err = in_process(capsys, "--root", root, "queue", "create", "q2")
    assert code == 2 and "give --labels a,b,... or --taxonomy FILE" in err
