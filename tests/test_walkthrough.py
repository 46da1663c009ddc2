"""The README's vendor walk-through, end to end, across stages: ingest real digits,
select a batch into a queue (cold start: random), give a vendor a token, lease over
real HTTP from `flywheel serve`, answer from the ground truth, export, and find the
labels with `flywheel sql`."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from flywheel.cli import main
from flywheel.config import Settings
from flywheel.ingest import IngestConfig, ingest
from flywheel.lake import sql

pytestmark = pytest.mark.usefixtures("ray_cluster")


def _cli(capsys: pytest.CaptureFixture[str], root: Path, *args: str) -> str:
    capsys.readouterr()
    code = main(["--root", str(root), *args])
    out = capsys.readouterr()
    assert code == 0, out.err
    return out.out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(root: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLYWHEEL_")}
    cmd = [sys.executable, "-m", "flywheel.cli", "--root", str(root), "serve", "--port", str(port)]
    proc = subprocess.Popen(cmd, stdout=log.open("wb"), stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/v1/queues", timeout=1)
            return proc
        except httpx.TransportError:
            assert proc.poll() is None, log.read_text()
            time.sleep(0.3)
    proc.kill()
    raise AssertionError(f"flywheel serve did not start: {log.read_text()}")


def test_vendor_walkthrough(tmp_path: Path, digits_folder, capsys) -> None:  # type: ignore[no-untyped-def]
    root = tmp_path / "root"
    settings = Settings.from_env(root=root, environ={})
    ingest(settings, IngestConfig(str(digits_folder.root), digits_folder.taxonomy, progress=False))
    truth = {
        hashlib.sha256((digits_folder.root / rel).read_bytes()).hexdigest(): label
        for rel, label in digits_folder.truth.items()
    }
    classes = sorted(set(truth.values()))
    _cli(capsys, root, "queue", "create", "digits", "--labels", ",".join(classes))
    out = _cli(capsys, root, "select", "--strategy", "random", "--budget", "12",
               "--queue", "digits", "--seed", "1")  # fmt: skip
    assert "12 tasks added" in out
    token = _cli(capsys, root, "vendor", "add", "acme", "--queues", "digits").strip()
    assert len(token.split()) == 1 and len(token) >= 20  # the token, alone

    port = _free_port()
    server = _serve(root, port, tmp_path / "serve.log")
    try:
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers) as client:
            assert [q["name"] for q in client.get("/v1/queues").json()["queues"]] == ["digits"]
            lease = client.post("/v1/queues/digits/lease", json={"max_tasks": 50}).json()
            tasks = lease["tasks"]
            assert len(tasks) == 12 and all(t["kind"] == "label" for t in tasks)
            media = client.get(f"/v1/media/{tasks[0]['task_id']}")
            assert hashlib.sha256(media.content).hexdigest() == tasks[0]["sample_id"]
            answers = [
                {"task_id": t["task_id"], "annotator": "ann-1", "label": truth[t["sample_id"]],
                 "idempotency_key": f"ann-1/{t['task_id']}"}
                for t in tasks
            ]  # fmt: skip
            reply = client.post(
                "/v1/annotations", json={"lease_id": lease["lease_id"], "answers": answers}
            )
            assert reply.status_code == 200, reply.text
            assert (
                client.get("/v1/queues", headers={"Authorization": "Bearer wrong"}).status_code
                == 401
            )
    finally:
        server.terminate()
        server.wait(timeout=30)

    _cli(capsys, root, "export-labels")
    labels = sql("select sample_id, label from labels", settings).to_pylist()
    assert {r["sample_id"]: r["label"] for r in labels} == {
        t["sample_id"]: truth[t["sample_id"]] for t in tasks
    }
    _cli(capsys, root, "export-labels")  # exactly once: a second export adds nothing
    assert sql("select count(*) as n from labels", settings).column("n")[0].as_py() == 12
    picked = sql("select count(*) as n from selections where queue = 'digits'", settings)
    assert picked.column("n")[0].as_py() == 12
