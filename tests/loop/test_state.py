"""The loop's state tables: one controller at a time, rounds resumed, no Ray needed."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from flywheel.config import Settings
from flywheel.db import open_engine
from flywheel.loop.config import LoopConfig
from flywheel.loop.errors import LoopBusyError, LoopTakenOverError
from flywheel.loop.gates import GateConfig
from flywheel.loop.state import LoopStore, read_events, read_rounds, read_state
from flywheel.selection import SelectConfig
from flywheel.train import TrainConfig


@pytest.fixture
def engine(tmp_path: Path):  # type: ignore[no-untyped-def]
    eng = open_engine(Settings.from_env(root=tmp_path / "root", environ={}).catalog_uri)
    yield eng
    eng.dispose()


def test_a_live_controller_keeps_others_out(engine) -> None:  # type: ignore[no-untyped-def]
    first = LoopStore(engine, "main")
    first.claim()
    other = LoopStore(engine, "main")
    other.pid = first.pid + 1_000_000  # another process...
    other.host = "elsewhere"  # ...on another machine: only its heartbeat can tell
    with pytest.raises(LoopBusyError, match="is run by"):
        other.claim()
    LoopStore(engine, "another-loop").claim()  # loops with other names are independent
    first.release()
    other.claim()  # released: free to take
    assert read_state(engine, "main").owner == f"elsewhere:{other.pid}"  # type: ignore[union-attr]


def test_a_killed_controller_on_this_host_is_taken_over_at_once(engine) -> None:  # type: ignore[no-untyped-def]
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    ghost = LoopStore(engine, "main")
    ghost.pid = int(dead.stdout)  # exited: its heartbeat is fresh, but it is gone
    ghost.claim()
    heir = LoopStore(engine, "main")
    heir.claim()
    assert read_state(engine, "main").owner == f"{heir.host}:{heir.pid}"  # type: ignore[union-attr]


def test_a_silent_holder_elsewhere_is_taken_over_after_the_stale_period(engine) -> None:  # type: ignore[no-untyped-def]
    ghost = LoopStore(engine, "main", stale_after_s=0.0)
    ghost.host = "elsewhere"
    ghost.claim()
    heir = LoopStore(engine, "main", stale_after_s=0.0)
    heir.claim()
    assert read_state(engine, "main").owner == f"{heir.host}:{heir.pid}"  # type: ignore[union-attr]


@pytest.fixture(params=["sqlite", "postgres"])
def both_engines(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    """An engine on a SQLite file, then on a fresh PostgreSQL database."""
    uri = (
        str(request.getfixturevalue("pg_url"))
        if request.param == "postgres"
        else f"sqlite:///{tmp_path / 'catalog.db'}"
    )
    eng = open_engine(uri)
    yield eng
    eng.dispose()


def test_a_controller_taken_over_writes_nothing_more(both_engines) -> None:  # type: ignore[no-untyped-def]
    engine = both_engines
    old = LoopStore(engine, "main", stale_after_s=0.0)
    old.host = "elsewhere"
    old.claim()
    old.set_phase("train", "m0002 from scratch", 1)
    heir = LoopStore(engine, "main", stale_after_s=0.0)
    heir.claim()  # old went silent: taken over
    heir.set_phase("export")
    message = f"loop 'main' was taken over by {heir.host}:{heir.pid}; this controller stops"
    with pytest.raises(LoopTakenOverError, match=f"^{message}$"):
        old.set_phase("select")
    with pytest.raises(LoopTakenOverError):
        old.heartbeat()
    with pytest.raises(LoopTakenOverError):
        old.start_round("m0003")
    old.release("failed", "LoopTakenOverError")  # leaves the new holder's row alone
    state = read_state(engine, "main")
    assert state is not None and state.owner == f"{heir.host}:{heir.pid}"
    assert (state.phase, state.round) == ("export", None)
    assert read_rounds(engine, "main") == []
    heir.heartbeat()
    heir.release()
    assert read_state(engine, "main").owner is None  # type: ignore[union-attr]


def test_claims_in_one_process_are_fenced_apart(engine) -> None:  # type: ignore[no-untyped-def]
    """Two stores of one process differ only in their claim's time: still fenced."""
    first = LoopStore(engine, "main")
    first.claim()
    second = LoopStore(engine, "main")
    second.claim()  # same host and pid: its own, so free to take
    assert second.claimed_at is not None and first.claimed_at is not None
    assert second.claimed_at > first.claimed_at
    with pytest.raises(LoopTakenOverError):
        first.set_phase("export")


def test_the_heartbeat_stops_and_the_controller_stops_at_its_next_step(
    tmp_path: Path,
) -> None:
    from flywheel.loop.controller import _Heartbeat, _run_claimed
    from flywheel.queue import create_queue

    settings = Settings.from_env(root=tmp_path / "root", environ={})
    engine = open_engine(settings.catalog_uri)
    create_queue(engine, "q", ["cat", "dog"])
    old = LoopStore(engine, "default", stale_after_s=0.0)
    old.host = "elsewhere"
    old.claim()
    heir = LoopStore(engine, "default", stale_after_s=0.0)
    heir.claim()
    beat = _Heartbeat(old, interval_s=0.01)
    beat.start()
    beat.join(timeout=10)
    assert not beat.is_alive() and isinstance(beat.lost, LoopTakenOverError)
    lines: list[str] = []
    with pytest.raises(LoopTakenOverError, match="taken over by"):
        _run_claimed(settings, LoopConfig(queue="q"), old, engine, None, lines.append)
    state = read_state(engine, "default")
    assert state is not None and (state.owner, state.phase) == (
        f"{heir.host}:{heir.pid}",
        "starting",
    )
    engine.dispose()


def test_flywheel_loop_taken_over_says_so_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A real `flywheel loop` whose claim another controller takes (its heartbeat made
    stale by that controller's stale_after_s=0) stops at its next step with one line."""
    import threading

    from flywheel.cli import main
    from flywheel.queue import create_queue

    settings = Settings.from_env(root=tmp_path / "root", environ={})
    engine = open_engine(settings.catalog_uri)
    create_queue(engine, "q", ["cat", "dog"])
    heir = LoopStore(engine, "default", stale_after_s=0.0)
    heir.host = "elsewhere"

    def take_over() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            state = read_state(engine, "default")
            if state is not None and state.owner is not None:
                heir.claim()
                return
            time.sleep(0.001)

    thief = threading.Thread(target=take_over)
    thief.start()
    code = main(["--root", str(settings.root), "loop", "--queue", "q"])
    thief.join()
    err = capsys.readouterr().err
    assert code != 0 and err.count("\n") == 1, err
    assert f"loop 'default' was taken over by elsewhere:{heir.pid}; this controller stops" in err
    assert read_state(engine, "default").owner == f"elsewhere:{heir.pid}"  # type: ignore[union-attr]
    engine.dispose()


def test_rounds_are_numbered_and_an_unfinished_one_is_found_again(engine) -> None:  # type: ignore[no-untyped-def]
    store = LoopStore(engine, "main")
    store.claim()
    assert store.open_round() is None
    first = store.start_round("m0002")
    assert (first.round, first.candidate) == (1, "m0002")
    store.finish_round(1, "promoted", "passed", {"seconds": 1.5})
    second = store.start_round("m0003")
    store.set_candidate(second.round, "m0004")
    store.log("train", "training m0004", second.round)
    again = LoopStore(engine, "main").open_round()
    assert again is not None and (again.round, again.candidate) == (2, "m0004")
    assert [(r.round, r.decision) for r in read_rounds(engine, "main")] == [
        (1, "promoted"),
        (2, None),
    ]
    assert read_events(engine, "main")[-1][1:] == ("train", "training m0004")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"select": SelectConfig("margin", budget=0)}, "--budget"),
        ({"low_water": 50}, "--low-water"),
        ({"rounds": 0}, "--rounds"),
        ({"pause_at": ("lunch",)}, "unknown pause points"),
        (
            {
                "gates": GateConfig(blocklist=frozenset({"x"})),
                "select": SelectConfig("margin", 10, blocklist=frozenset({"y"})),
            },
            "the blocklist once",
        ),
        ({"select": SelectConfig("margin", budget=10, queue="other")}, "its own queue"),
        ({"train": TrainConfig(from_version="m0001")}, "from the promoted model"),
    ],
)
def test_bad_loop_config_names_the_flag(kwargs: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValueError, match=message):
        LoopConfig(queue="q", **kwargs)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--queue", "nope"], "no queue named 'nope'"),
        (["--queue", "q", "--strategy", "coin-flip"], "coin-flip"),
        (["--queue", "q", "--budget", "0"], "--budget"),
        (["--queue", "q", "--blocklist", "@/nonexistent/list.txt"], "cannot read --blocklist"),
        (["--queue", "q"], "is run by elsewhere:"),
    ],
)
def test_a_loop_that_cannot_start_says_why_in_one_line(
    tmp_path: Path, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from flywheel.cli import main
    from flywheel.queue import create_queue

    settings = Settings.from_env(root=tmp_path / "root", environ={})
    engine = open_engine(settings.catalog_uri)
    create_queue(engine, "q", ["cat", "dog"])
    other = LoopStore(engine, "default")
    other.host = "elsewhere"
    other.claim()  # a live controller on another machine
    engine.dispose()
    code = main(["--root", str(settings.root), "loop", *args])
    err = capsys.readouterr().err
    assert code != 0 and err.count("\n") == 1 and message in err, err


RACER = """
import sys, time
from pathlib import Path
from flywheel.config import Settings
from flywheel.loop.errors import LoopBusyError, LoopTakenOverError
from flywheel.loop.gates import GateConfig
from flywheel.loop.state import LoopStore
from flywheel.db import open_engine
root, uri, gate = sys.argv[1:4]
settings = Settings.from_env(root=Path(root), environ={"FLYWHEEL_CATALOG_URI": uri})
engine = open_engine(settings.catalog_uri)
while not Path(gate).exists():
    time.sleep(0.002)
try:
    LoopStore(engine, "main").claim()
except LoopBusyError:
    print("busy", flush=True)
else:
    print("won", flush=True)
    time.sleep(3)  # hold it while the others try
"""


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
@pytest.mark.parametrize("before", ["never run", "released"])
def test_controllers_started_together_elect_exactly_one(
    tmp_path: Path, request: pytest.FixtureRequest, backend: str, before: str
) -> None:
    """Six `flywheel loop` processes claiming one loop at the same instant: one runs it,
    the others are told who does (on a fresh database and on one a controller released)."""
    root = tmp_path / "root"
    uri = (
        str(request.getfixturevalue("pg_url"))
        if backend == "postgres"
        else f"sqlite:///{root / 'catalog.db'}"
    )
    settings = Settings.from_env(root=root, environ={"FLYWHEEL_CATALOG_URI": uri})
    engine = open_engine(settings.catalog_uri)
    if before == "released":
        earlier = LoopStore(engine, "main")
        earlier.claim()
        earlier.release()
    gate = tmp_path / "go"
    procs = [
        subprocess.Popen([sys.executable, "-c", RACER, str(root), uri, str(gate)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(6)
    ]  # fmt: skip
    time.sleep(4)  # every racer has its engine open and waits at the gate
    gate.touch()
    outcomes = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-2000:]
        outcomes.append(out.strip())
    assert sorted(outcomes) == ["busy"] * 5 + ["won"]
    engine.dispose()
