"""Queue throughput and latency over real HTTP: tasks leased+answered per second, and
p50/p99 latency of the lease and submit calls, with 1, 8 and 32 concurrent clients,
batches of 1 and 50, on SQLite and PostgreSQL.

    .venv/bin/python benchmarks/bench_queue.py [--duration 3] [--backends sqlite,postgres]

Each configuration gets a fresh queue, then every client loops lease(batch) ->
submit(answers) for ``--duration`` seconds. The API runs as ``flywheel serve`` runs it
(uvicorn, h11 with its header bound) in a child process on 127.0.0.1; PostgreSQL is a
throwaway local cluster (tests/services.py). Clients and server share the machine, so
the figures are a floor, not a ceiling; the server's own CPU per call is measured
(from /proc) to say what bounds them.

Goal (issue 10): at least 1,000 tasks/s batched (50 a lease) with p99 under 50 ms (lease
and submit) at 8 clients. The last lines say whether each backend met it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from flywheel.queue import store  # noqa: E402
from flywheel.queue.tasks import enqueue  # noqa: E402

CLIENTS = (1, 8, 32)
BATCHES = (1, 50)
GOAL_CLIENTS, GOAL_BATCH, GOAL_TASKS_PER_S, GOAL_P99_MS = 8, 50, 1000.0, 50.0
_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def api_server(root: Path, catalog_uri: str) -> Iterator[tuple[str, int]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLYWHEEL_", "AWS_"))}
    env.update(FLYWHEEL_ROOT=str(root), FLYWHEEL_CATALOG_URI=catalog_uri)
    cmd = [sys.executable, "-m", "uvicorn", "--factory", "flywheel.api:create_app_from_env",
           "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
           "--http", "h11", "--h11-max-incomplete-event-size", str(16 << 10)]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=REPO, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            with contextlib.suppress(httpx.TransportError):
                httpx.get(f"{url}/v1/queues", timeout=1)
                break
            time.sleep(0.1)
        yield url, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def run_config(
    url: str, pid: int, engine: object, clients: int, batch: int, duration: float
) -> dict[str, float]:
    name = f"bench-{uuid.uuid4().hex[:8]}"
    store.create_queue(engine, name, ["a", "b"], lease_seconds=300)  # type: ignore[arg-type]
    n_tasks = int(min(40_000, max(2_000, clients * batch * 150)))
    enqueue(engine, name, [{"sample_id": f"{name}-{i}"} for i in range(n_tasks)])  # type: ignore[arg-type]
    token = store.add_vendor(engine, name, [name])  # type: ignore[arg-type]
    lease_ms: list[float] = []
    submit_ms: list[float] = []
    answered = [0]
    errors = [0]
    lock = threading.Lock()
    stop_at = [0.0]
    # The clock starts when the last client is ready (building 32 clients on a loaded
    # box can take longer than the run), set by the barrier before it lets anyone go.
    start_gate = threading.Barrier(
        clients + 1, action=lambda: stop_at.__setitem__(0, time.perf_counter() + duration)
    )

    def client(i: int) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=url, headers=headers, timeout=60) as http:
            start_gate.wait()
            while time.perf_counter() < stop_at[0]:
                t0 = time.perf_counter()
                r = http.post(f"/v1/queues/{name}/lease", json={"max_tasks": batch})
                t1 = time.perf_counter()
                tasks = r.json().get("tasks") or []
                if r.status_code != 200 or not tasks:
                    with lock:
                        errors[0] += r.status_code != 200
                    if r.status_code != 200:
                        print(f"lease answered {r.status_code}: {r.text[:200]}", file=sys.stderr)
                    break  # queue exhausted (or failing): stop this client
                body = {
                    "lease_id": r.json()["lease_id"],
                    "answers": [{"task_id": x["task_id"], "annotator": f"c{i}", "label": "a",
                                 "idempotency_key": uuid.uuid4().hex} for x in tasks],
                }  # fmt: skip
                s = http.post("/v1/annotations", json=body)
                t2 = time.perf_counter()
                with lock:
                    lease_ms.append((t1 - t0) * 1e3)
                    submit_ms.append((t2 - t1) * 1e3)
                    if s.status_code == 200:
                        answered[0] += len(tasks)
                    else:
                        errors[0] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for th in threads:
        th.start()
    server_cpu = cpu_seconds(pid)
    start_gate.wait()
    began = time.perf_counter()
    for th in threads:
        th.join()
    elapsed = time.perf_counter() - began
    server_cpu = cpu_seconds(pid) - server_cpu
    calls = len(lease_ms) + len(submit_ms)
    lease_a, submit_a = np.array(lease_ms or [np.nan]), np.array(submit_ms or [np.nan])
    return {
        "tasks_per_s": answered[0] / elapsed,
        "lease_p50": float(np.percentile(lease_a, 50)),
        "lease_p99": float(np.percentile(lease_a, 99)),
        "submit_p50": float(np.percentile(submit_a, 50)),
        "submit_p99": float(np.percentile(submit_a, 99)),
        "errors": errors[0],
        "server_cpu_ms_per_call": server_cpu * 1e3 / max(calls, 1),
        "server_cores": server_cpu / elapsed,
        "load": os.getloadavg()[0],
    }


@contextlib.contextmanager
def backend(kind: str, root: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{root / 'catalog.db'}"
        return
    from tests.services import postgres_server

    with postgres_server() as pg:
        yield pg.url()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per configuration")
    parser.add_argument("--backends", default="sqlite,postgres")
    args = parser.parse_args()
    rows = []
    for kind in args.backends.split(","):
        with tempfile.TemporaryDirectory() as tmp, backend(kind, Path(tmp)) as uri:
            engine = store.open_engine(uri)
            with api_server(Path(tmp), uri) as (url, pid):
                for batch in BATCHES:
                    for clients in CLIENTS:
                        r = run_config(url, pid, engine, clients, batch, args.duration)
                        rows.append((kind, clients, batch, r))
                        print(f"{kind} clients={clients} batch={batch}: {r['tasks_per_s']:.0f} tasks/s",
                              file=sys.stderr)  # fmt: skip
            engine.dispose()
    print("| backend | clients | batch | tasks/s | lease p50 ms | lease p99 ms | submit p50 ms "
          "| submit p99 ms | errors | server CPU ms/call | server cores busy | load |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for kind, clients, batch, r in rows:
        print(f"| {kind} | {clients} | {batch} | {r['tasks_per_s']:.0f} | {r['lease_p50']:.1f} | "
              f"{r['lease_p99']:.1f} | {r['submit_p50']:.1f} | {r['submit_p99']:.1f} | "
              f"{r['errors']:.0f} | {r['server_cpu_ms_per_call']:.1f} | "
              f"{r['server_cores']:.2f} | {r['load']:.1f} |")  # fmt: skip
    for kind, clients, batch, r in rows:
        if (clients, batch) == (GOAL_CLIENTS, GOAL_BATCH):
            p99 = max(r["lease_p99"], r["submit_p99"])
            met = r["tasks_per_s"] >= GOAL_TASKS_PER_S and p99 < GOAL_P99_MS
            print(f"goal on {kind} ({GOAL_TASKS_PER_S:.0f} tasks/s, p99 < {GOAL_P99_MS:.0f} ms at "
                  f"{GOAL_CLIENTS} clients, batch {GOAL_BATCH}): {'met' if met else 'NOT met'} "
                  f"({r['tasks_per_s']:.0f} tasks/s, p99 {p99:.0f} ms)")  # fmt: skip


if __name__ == "__main__":
    main()
