"""The README's "Train, score, select" and "Annotation" sections, run line by line
through the real command line on the embedded defaults with the digits sample data:
ingest, train, score, select, the model tables, a queue, a vendor and its token,
`flywheel serve`, the two curl requests (sent as the README writes them), the export,
the labels and the queue's stats. Every command line is read from README.md (its bare
form, optional ``[...]`` left out), so the test fails when the README drifts from what
the product does; the few values changed to run here are named where they change."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from flywheel.cli import main
from flywheel.config import Settings
from tests.lake_checks import assert_one_row_per_key
from tests.test_readme import bash_blocks, readme_commands, variants

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("ray_cluster")]

TRAIN = "Train, score, select"
ANNOTATION = "Annotation"


def flywheel(root: Path, args: list[str]) -> tuple[str, str]:
    """Run ``flywheel --root ROOT ARGS`` in this process (Ray is the session's cluster);
    its stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["--root", str(root), *args])
    assert code == 0, f"`flywheel {shlex.join(args)}`: {err.getvalue()}"
    return out.getvalue(), err.getvalue()


def readme_lines(section: str, verb: str) -> list[list[str]]:
    """The bare form of the section's `flywheel VERB ...` lines (``verb`` may be two
    words: ``queue create``)."""
    words = verb.split()
    found = [variants(c)[0] for c in readme_commands(section)]
    return [args for args in found if args[: len(words)] == words]


def readme_line(section: str, verb: str) -> list[str]:
    lines = readme_lines(section, verb)
    assert len(lines) == 1, f"README section {section!r}: {len(lines)} `flywheel {verb}` lines"
    return lines[0]


def table_rows(out: str) -> list[list[str]]:
    """The rows of ``flywheel sql``'s table (header and rule dropped), split on the
    two-space column gaps."""
    lines = out.splitlines()
    assert set(lines[1]) <= {"-", " "}, out
    return [re.split(r"\s{2,}", ln.strip()) for ln in lines[2:] if not ln.startswith("(")]


@dataclass
class Lake:
    root: Path
    out: dict[str, str]  # stdout of each README line run, by verb
    truth: dict[str, str]  # sample_id -> true class of the digits


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory, digits_folder: Any) -> Lake:
    """A lake made by the README's own lines: ingest ("Using it"), then every line of
    "Train, score, select" in order."""
    root = tmp_path_factory.mktemp("readme") / "root"
    out: dict[str, str] = {}
    # The README ingests photos/ with taxonomy.yaml: here the digits and their taxonomy.
    here = {"photos/": str(digits_folder.root), "taxonomy.yaml": str(digits_folder.taxonomy)}
    ingest = readme_line("Using it", "ingest")
    assert set(here) <= set(ingest), ingest
    out["ingest"], _ = flywheel(root, [here.get(w, w) for w in ingest])

    train = readme_line(TRAIN, "train")
    out["train"], _ = flywheel(root, [*train, "--epochs", "1"])  # one epoch, not five
    out["score"], _ = flywheel(root, readme_line(TRAIN, "score"))
    out["select"], _ = flywheel(root, readme_line(TRAIN, "select"))
    for args in readme_lines(TRAIN, "sql"):
        table = re.search(r"\bfrom (\w+)", args[1])
        assert table, args
        out[f"sql {table.group(1)}"], _ = flywheel(root, args)
    truth = {
        hashlib.sha256((digits_folder.root / rel).read_bytes()).hexdigest(): label
        for rel, label in digits_folder.truth.items()
    }
    return Lake(root, out, truth)


def test_train_score_select_do_what_the_readme_says(lake: Lake) -> None:
    from flywheel.lake import sql

    settings = Settings.from_env(root=lake.root, environ={})
    # train: one line per epoch, then the labelled confusion matrix; a row in `models`.
    train = lake.out["train"].splitlines()
    assert [ln.split()[:2] for ln in train if ln.startswith("epoch ")] == [["epoch", "1/1"]]
    assert lake.out["train"].count("true\\pred") == 1
    assert train[-1].startswith("m0001 (promoted)"), train[-1]
    models = table_rows(lake.out["sql models"])
    assert [row[:2] for row in models] == [["m0001", "promoted"]]
    assert [row[:2] for row in table_rows(lake.out["sql model_events"])] == [["m0001", "promoted"]]
    checkpoint = sql("select checkpoint_uri from models", settings).column(0)[0].as_py()
    assert Path(checkpoint.removeprefix("file://")).is_file()

    # score: the unscored pool, with probabilities, embedding and every uncertainty.
    assert lake.out["score"].startswith("score with m0001: "), lake.out["score"]
    pool = sql("select count(*) from samples where split = 'pool'", settings).column(0)[0]
    scored = sql(
        "select count(*) from predictions where model_version = 'm0001' and probs is not null "
        "and embedding is not null and least_confidence is not null and margin is not null "
        "and entropy is not null and bald is not null",
        settings,
    ).column(0)[0]
    assert scored.as_py() == pool.as_py() > 100

    # select (no --queue): the picks are recorded in `selections`, none queued.
    assert "\nselect round 1: 100 of " in lake.out["select"], lake.out["select"]
    picked = sql("select count(*), count(queue) from selections", settings).to_pylist()
    assert list(picked[0].values()) == [100, 0]


@dataclass
class Curl:
    method: str
    port: int
    path: str
    headers: dict[str, str]
    body: str


def readme_curls() -> tuple[list[Curl], dict[str, Any]]:
    """The Annotation section's curl requests, and the lease response it shows (the
    ``# {...}`` comment under the first, ``[...]`` read as an empty list)."""
    block = next(b for b in bash_blocks(ANNOTATION) if "curl " in b)
    curls, shown = [], []
    for line in block.splitlines():
        if line.startswith("curl "):
            curls.append(_curl(shlex.split(line)))
        elif line.startswith("#") and len(curls) == 1:
            shown.append(line.lstrip("# "))
    return curls, json.loads(" ".join(shown).replace("[...]", "[]"))


def _curl(words: list[str]) -> Curl:
    headers, method, url, body = {}, "GET", "", ""
    rest = iter(words[1:])
    for word in rest:
        if word == "-H":
            name, _, value = next(rest).partition(": ")
            headers[name] = value
        elif word == "-X":
            method = next(rest)
        elif word == "-d":
            body = next(rest)
        elif not word.startswith("-"):
            url = word
    host, _, path = url.partition("/")
    assert host.startswith("localhost:"), url
    return Curl(method, int(host.partition(":")[2]), f"/{path}", headers, body)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serving(root: Path, args: list[str], log: Path) -> Any:
    """``flywheel --root ROOT ARGS`` (the serve line) as a process, up until the block
    ends."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLYWHEEL_")}
    cmd = [sys.executable, "-m", "flywheel.cli", "--root", str(root), *args]
    proc = subprocess.Popen(cmd, stdout=log.open("wb"), stderr=subprocess.STDOUT, env=env)
    port = args[args.index("--port") + 1]
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/v1/queues", timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, f"serve did not start: {log.read_text()}"
                time.sleep(0.3)
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_annotation_does_what_the_readme_says(lake: Lake, tmp_path: Path) -> None:
    root = lake.root
    out, _ = flywheel(root, readme_line(ANNOTATION, "queue create"))
    assert out.startswith("created queue digits: 10 labels"), out  # the promoted model's
    out, _ = flywheel(root, readme_line(ANNOTATION, "select"))
    assert "queue digits: 50 tasks added" in out, out
    out, err = flywheel(root, readme_line(ANNOTATION, "vendor add"))
    token = out.strip()
    assert len(token.split()) == 1 and len(token) >= 20 and "only once" in err

    curls, shown = readme_curls()
    lease_req, answer_req = curls
    serve = readme_line(ANNOTATION, "serve")
    # The curl lines reach the port the serve line binds; here a free one instead.
    port = serve.index("--port") + 1
    assert int(serve[port]) == lease_req.port == answer_req.port
    serve[port] = str(_free_port())

    def send(req: Curl, body: str) -> httpx.Response:
        headers = {k: v.replace("$TOKEN", token) for k, v in req.headers.items()}
        url = f"http://127.0.0.1:{serve[port]}{req.path}"
        return httpx.request(req.method, url, headers=headers, content=body, timeout=30)

    with serving(root, serve, tmp_path / "serve.log"):
        reply = send(lease_req, lease_req.body)
        assert reply.status_code == 200, reply.text
        lease = reply.json()
        # The response has the keys the README shows, at every level.
        assert lease.keys() == shown.keys()
        tasks = lease["tasks"]
        assert len(tasks) == json.loads(lease_req.body)["max_tasks"] == 10
        for task in tasks:
            assert task.keys() == shown["tasks"][0].keys()
            assert task["prefill"].keys() == shown["tasks"][0]["prefill"].keys()
            assert task["kind"] == "label" and task["prefill"]["label"] in task["labels"]
            assert task["media_url"] == f"/v1/media/{task['task_id']}"
        media = httpx.get(  # media_url, with the same token
            f"http://127.0.0.1:{serve[port]}{tasks[0]['media_url']}",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert hashlib.sha256(media.content).hexdigest() == tasks[0]["sample_id"]

        # The README's answer, once per leased task: its annotator, the true class.
        body = json.loads(answer_req.body)
        example = body["answers"][0]
        assert example["idempotency_key"] == f"{example['annotator']}/{example['task_id']}"
        body["lease_id"] = lease["lease_id"]
        body["answers"] = [
            {**example, "task_id": t["task_id"], "label": lake.truth[t["sample_id"]],
             "idempotency_key": f"{example['annotator']}/{t['task_id']}"}
            for t in tasks
        ]  # fmt: skip
        reply = send(answer_req, json.dumps(body))
        assert reply.status_code == 200, reply.text
        assert len(reply.json()["annotations"]) == 10

    out, _ = flywheel(root, readme_line(ANNOTATION, "export-labels"))
    assert re.fullmatch(r"exported 10 annotations and 10 labels \(watermarks: .*\)\n", out), out
    out, _ = flywheel(root, readme_line(ANNOTATION, "sql"))
    assert out.splitlines()[0].split() == ["sample_id", "label", "method", "agreement"]
    rows = table_rows(out)
    answered = {t["sample_id"]: lake.truth[t["sample_id"]] for t in tasks}
    landed = {
        next(s for s in answered if s.startswith(row[0])): row[1] for row in rows
    }  # sample ids are cut to the table's width
    assert landed == answered
    out, _ = flywheel(root, readme_line(ANNOTATION, "queue stats"))
    assert out.startswith("digits: open 40, leased 0, expired 0, done 10, labels 10, "), out
    assert "vendor acme: gold 0/0" in out, out
    rows = assert_one_row_per_key(Settings.from_env(root=root, environ={}))
    assert rows["labels"] == 10 and rows["models"] == 1 and rows["samples"] > 100


LOOK = "Look at your data"


def test_looking_at_the_data_does_what_the_readme_says(lake: Lake, tmp_path: Path) -> None:
    # The README's pages go to the current folder; here each --out is under tmp_path.
    def run_line(verb: str) -> tuple[str, Path]:
        args = readme_line(LOOK, verb)
        at = args.index("--out") + 1
        out = tmp_path / args[at]
        args[at] = str(out)
        printed, _ = flywheel(lake.root, args)
        assert len(printed.splitlines()) == 1, printed  # one summary line, nothing else
        page = out / "index.html" if out.suffix == "" else out  # a folder, or a page
        assert f" -> {page}" in printed and page.is_file(), printed
        return printed, out

    printed, gallery = run_line("browse")
    assert re.match(r"browse: \d+ of \d+ matching cards \(", printed), printed
    page = (gallery / "index.html").read_text()
    assert page.count("<img") > 10

    printed, confusion = run_line("report confusion")
    assert printed.startswith("confusion: m0001 accuracy "), printed
    assert "<table" in confusion.read_text()
    assert Path(printed.rstrip().split(" -> ")[1].split(", ")[1]).is_file()  # the PNG

    printed, emb = run_line("embeddings")
    assert printed.startswith("embeddings of m0001: "), printed
    assert (emb / "index.html").is_file()
    assert isinstance(json.loads((emb / "split_clusters.json").read_text()), (dict, list))

    printed, balance = run_line("report balance")
    assert printed.startswith("balance: 10 classes; labels from weak tags "), printed
    assert balance.is_file() and "<table" in balance.read_text()
