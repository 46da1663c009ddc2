"""The API's edges against a hostile vendor, over real HTTP (uvicorn in a subprocess,
and `flywheel serve` for the header bound), on SQLite and PostgreSQL: bodies bounded
and never read before authentication, media and feedback scoped to what the vendor
holds or answered, media_url from the configured public URL, registered annotators."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from flywheel.cli import main
from flywheel.config import Settings
from flywheel.lake import Lake
from flywheel.queue import store
from flywheel.queue.api import MAX_BODY_BYTES
from flywheel.queue.tasks import enqueue
from tests.queue.conftest import REPO, ApiServer, auth, free_port
from tests.queue.test_api import PREFILL, answer, samples_table

PUBLIC = "https://labels.example.com/api"


@pytest.fixture(scope="module")
def public_server(shared_settings: Settings, shared_engine: Engine) -> Iterator[ApiServer]:
    env = {"FLYWHEEL_PUBLIC_URL": PUBLIC}
    server = ApiServer(shared_settings, env, shared_settings.root / "edges-api.log")
    yield server.start()
    server.stop()


@dataclass
class Queue:
    engine: Engine
    server: ApiServer
    settings: Settings
    name: str
    token: str
    tag: str


@pytest.fixture
def q(shared_engine: Engine, public_server: ApiServer, shared_settings: Settings) -> Queue:
    tag = uuid.uuid4().hex[:8]
    name = f"q-{tag}"
    store.create_queue(shared_engine, name, ["cat", "dog"])
    enqueue(
        shared_engine, name, [{"sample_id": f"s{i}-{tag}", "prefill": PREFILL} for i in range(4)]
    )
    token = store.add_vendor(shared_engine, f"acme-{tag}", [name])
    return Queue(shared_engine, public_server, shared_settings, name, token, tag)


def raw_request(port: int, head: str, body: bytes = b"", timeout: float = 5.0) -> tuple[int, bytes]:
    """Send ``head`` (and ``body``) on a plain socket; the status and body of the answer.
    Times out (the test fails) when the server waits for a body that is never sent."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        header, _, rest = data.partition(b"\r\n\r\n")
        lines = header.decode("latin-1").split("\r\n")
        fields = dict(line.lower().split(": ", 1) for line in lines[1:] if ": " in line)
        while len(rest) < int(fields.get("content-length", 0)):
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        return int(lines[0].split()[1]), rest


def test_an_unauthenticated_body_is_never_read(q: Queue) -> None:
    for token_line in ("", "Authorization: Bearer not-a-token\n"):
        head = (
            f"POST /v1/annotations HTTP/1.1\nHost: x\n{token_line}"
            f"Content-Type: application/json\nContent-Length: {MAX_BODY_BYTES - 1}\n"
        )
        started = time.monotonic()
        status, body = raw_request(q.server.port, head)  # the body is never sent
        assert status == 401 and b"token" in body
        assert time.monotonic() - started < 5


def test_a_body_over_the_limit_is_413_before_it_is_read(q: Queue) -> None:
    for path, size in (("/v1/annotations", 60_000_000), ("/v1/feedback", 60_000_000)):
        head = (
            f"POST {path} HTTP/1.1\nHost: x\nAuthorization: Bearer {q.token}\n"
            f"Content-Type: application/json\nContent-Length: {size}\n"
        )
        status, body = raw_request(q.server.port, head)
        assert status == 413 and b"request body over" in body, body
    # Without a length (chunked), the body is counted as it comes and cut at the limit.
    chunk = b"x" * 65536
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(20)) + b"0\r\n\r\n"
    head = (
        f"POST /v1/annotations HTTP/1.1\nHost: x\nAuthorization: Bearer {q.token}\n"
        "Content-Type: application/json\nTransfer-Encoding: chunked\n"
    )
    status, body = raw_request(q.server.port, head, chunks)
    assert status == 413 and b"request body over" in body


def test_flywheel_serve_bounds_the_request_head(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "serve.log"
    root = str(tmp_path / "root")
    # serve refuses a root with no catalog (a mistyped --root): a queue makes one.
    assert main(["--root", root, "queue", "create", "q", "--labels", "a,b"]) == 0
    cmd = [sys.executable, "-m", "flywheel.cli", "--root", root, "serve", "--port", str(port)]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{port}/v1/queues", timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None, log.read_text()
                time.sleep(0.2)
        status, _ = raw_request(port, "GET /v1/queues HTTP/1.1\nHost: x\n")
        assert status == 401
        pad = "GET /v1/queues HTTP/1.1\nHost: x\nX-Pad: {}\n"
        status, _ = raw_request(port, pad.format("a" * 20_000))  # parsed, then refused
        assert status == 431
        status, _ = raw_request(port, pad.format("a" * 2_000_000))  # never buffered whole
        assert status in (400, 431)
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_media_only_of_tasks_held_or_answered(q: Queue) -> None:
    Lake(q.settings).commit(
        "samples", samples_table([(f"s{i}-{q.tag}", b"\x89PNG", None) for i in range(4)]), {}
    )
    with httpx.Client(base_url=q.server.url, headers=auth(q.token)) as client:
        first = client.post(f"/v1/queues/{q.name}/lease", json={"max_tasks": 2}).json()
        held, other = first["tasks"][0]["task_id"], first["tasks"][1]["task_id"]
        never = held + 2  # a sequential id of the same queue, never leased
        assert client.get(f"/v1/media/{held}").status_code == 200
        assert client.get(f"/v1/media/{never}").status_code == 404
        body = {"lease_id": first["lease_id"], "answers": [answer(held, f"{q.tag}-m")]}
        assert client.post("/v1/annotations", json=body).status_code == 200
        assert client.delete(f"/v1/leases/{first['lease_id']}").status_code == 200
        assert client.get(f"/v1/media/{held}").status_code == 200  # answered: still visible
        released = client.get(f"/v1/media/{other}")
        assert released.status_code == 404 and "held or answered" in released.json()["error"]


def test_feedback_is_no_existence_oracle(q: Queue) -> None:
    tag = q.tag
    in_lake = uuid.uuid5(uuid.NAMESPACE_OID, tag).hex * 2  # 64 hex digits
    absent = uuid.uuid4().hex * 2
    Lake(q.settings).commit("samples", samples_table([(in_lake, b"\x89PNG", None)]), {})
    with httpx.Client(base_url=q.server.url, headers=auth(q.token), timeout=30) as client:
        answers = []
        for sample_id in (in_lake, absent):
            body = {"sample_id": sample_id, "predicted": "cat", "expected": "dog"}
            r = client.post("/v1/feedback", json=body)
            answers.append((r.status_code, r.json()["error"].replace(sample_id[:12], "<id>")))
    assert answers[0] == answers[1] and answers[0][0] == 404
    assert "split" not in answers[0][1] and "regression" not in answers[0][1]


def test_media_url_comes_from_the_public_url_not_the_host_header(q: Queue) -> None:
    with httpx.Client(base_url=q.server.url, headers=auth(q.token)) as client:
        forged = {"Host": "evil.example.org"}
        tasks = client.post(f"/v1/queues/{q.name}/lease", json={"max_tasks": 1}, headers=forged)
        task = tasks.json()["tasks"][0]
        assert task["media_url"] == f"{PUBLIC}/v1/media/{task['task_id']}"


def test_registered_annotators_are_the_only_ones_counted(q: Queue) -> None:
    name = f"c-{q.tag}"
    store.create_queue(q.engine, name, ["cat", "dog"], consensus=2)
    enqueue(q.engine, name, [{"sample_id": f"c-{q.tag}"}])
    token = store.add_vendor(q.engine, f"one-{q.tag}", [name], annotators=[f"one-{q.tag}"])
    with httpx.Client(base_url=q.server.url, headers=auth(token)) as client:
        got = client.post(f"/v1/queues/{name}/lease", json={"max_tasks": 1}).json()
        task_id = got["tasks"][0]["task_id"]
        invented = [
            answer(task_id, f"{q.tag}-a", who="alice"),
            answer(task_id, f"{q.tag}-b", who="bob"),
        ]
        r = client.post("/v1/annotations", json={"lease_id": got["lease_id"], "answers": invented})
        assert r.status_code == 422 and "not registered" in r.json()["error"]
        twice = [answer(task_id, f"{q.tag}-c", who=f"one-{q.tag}"),
                 answer(task_id, f"{q.tag}-d", who=f"one-{q.tag}")]  # fmt: skip
        r = client.post("/v1/annotations", json={"lease_id": got["lease_id"], "answers": twice})
        assert r.status_code == 409 and "distinct annotators" in r.json()["error"]
        control = [answer(task_id, f"{q.tag}-e", who="ann\n  vendor x: gold 9/9")]
        r = client.post("/v1/annotations", json={"lease_id": got["lease_id"], "answers": control})
        assert r.status_code == 422


def test_revoking_a_vendor_releases_its_leases(q: Queue) -> None:
    other = store.add_vendor(q.engine, f"beta-{q.tag}", [q.name])
    with httpx.Client(base_url=q.server.url) as client:
        got = client.post(
            f"/v1/queues/{q.name}/lease", json={"max_tasks": 4}, headers=auth(q.token)
        ).json()
        assert len(got["tasks"]) == 4
        assert store.revoke_vendor(q.engine, f"acme-{q.tag}") == 4
        again = client.post(
            f"/v1/queues/{q.name}/lease", json={"max_tasks": 4}, headers=auth(other)
        )
        assert len(again.json()["tasks"]) == 4  # at once, not at the old lease's expiry


def test_the_openapi_document_lists_the_limit_and_outage_answers() -> None:
    from flywheel.api import openapi_document

    for path, operations in openapi_document()["paths"].items():
        for method, operation in operations.items():
            codes = set(operation["responses"])
            assert {"400", "401", "413", "431", "503"} <= codes, (path, method, codes)
