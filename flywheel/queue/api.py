"""The queue's half of the vendor HTTP API (FastAPI): ``create_app(settings)``.

Each request is one database transaction that also checks the bearer token. Errors map
to status codes in one table (``_STATUS``) and always carry ``{"error": "..."}``.

The app vendors reach is composed one layer up, in ``flywheel.api`` (the HTTP edge),
which adds the loop's feedback route to these; run it with ``flywheel serve`` or
``uvicorn --factory flywheel.api:create_app_from_env``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from anyio import to_thread
from fastapi import Depends, FastAPI, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from sqlalchemy.exc import DataError, OperationalError
from starlette.exceptions import HTTPException

from flywheel.config import Settings
from flywheel.db import open_engine, run_transaction
from flywheel.errors import ConfigError, FlywheelError, NotFoundError, StorageError
from flywheel.queue import access, answers, leasing, store
from flywheel.queue.errors import AuthError, ConflictError, InvalidAnswerError
from flywheel.queue.gate import RequestGate
from flywheel.queue.media import MediaSource
from flywheel.queue.models import (
    AnnotationsIn,
    AnnotationsOut,
    ErrorOut,
    HeartbeatIn,
    HeartbeatOut,
    LeaseId,
    LeaseIn,
    LeaseOut,
    Prefill,
    QueueOut,
    QueuesOut,
    ReleaseOut,
    StoredOut,
    TaskId,
    TaskOut,
    TopK,
)

API_VERSION = "1.1.0"
MAX_BODY_BYTES = 1 << 20  # every route but the edge's feedback: 500 answers are ~100 KB
MAX_HEADER_BYTES = 16 << 10  # request headers, all together

# The one place errors become HTTP: first matching class wins.
_STATUS: list[tuple[type[Exception], int]] = [
    (AuthError, 401),
    (NotFoundError, 404),
    (ConflictError, 409),
    (InvalidAnswerError, 422),
    (ConfigError, 422),
    (StorageError, 503),
    (FlywheelError, 400),
]


@dataclass(frozen=True)
class ApiConfig:
    """Process-level switches of the API. ``public_url`` is where vendors reach it
    (``https://labels.example.com``): ``media_url`` is built from it, never from the
    request's Host header; unset, ``media_url`` is a path relative to the API."""

    public_url: str | None = None
    max_body_bytes: int = MAX_BODY_BYTES

    def __post_init__(self) -> None:
        url = self.public_url
        if url is not None and not (url.startswith(("http://", "https://")) and "?" not in url):
            raise ConfigError(
                f"public URL {url!r} must be an http(s) base URL such as https://labels.example.com"
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ApiConfig:
        env = os.environ if environ is None else environ
        return cls(public_url=env.get("FLYWHEEL_PUBLIC_URL") or None)

    def media_url(self, task_id: int) -> str:
        return f"{(self.public_url or '').rstrip('/')}/v1/media/{task_id}"


class ApiState:
    """Per-app resources, opened on first use so building the app needs no database
    (``app.state.flywheel``; the edge's routes use it too)."""

    def __init__(
        self, settings: Settings, config: ApiConfig, after_commit: Callable[[], None] | None
    ) -> None:
        self.settings, self.config, self.after_commit = settings, config, after_commit
        self.media = MediaSource(settings)
        self._engine: Engine | None = None
        self._lock = threading.Lock()

    @property
    def engine(self) -> Engine:
        with self._lock:
            if self._engine is None:
                self._engine = open_engine(self.settings.catalog_uri)
            return self._engine

    def run(self, work: Callable[[Any], Any]) -> Any:
        """``work(conn)`` in one transaction of the queue database."""
        return run_transaction(self.engine, work)

    def token_known(self, token: str) -> bool:
        """Whether ``token`` is an active vendor's; a database error answers True so
        the route reports it (503) as it does for any request."""
        try:
            run_transaction(self.engine, lambda conn: store.authenticate(conn, token))
        except AuthError:
            return False
        except OperationalError:
            return True
        return True


_bearer = HTTPBearer(auto_error=False, description="the token from `flywheel vendor add`")
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (400, 401, 404, 409, 413, 422, 431, 503)
}


def _token(creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> str:
    if creds is None or not creds.credentials:
        raise AuthError("missing bearer token: send 'Authorization: Bearer <token>'")
    return creds.credentials


Token = Annotated[str, Depends(_token)]
QueueName = Annotated[str, Path(min_length=1, max_length=200, pattern=r"^[^\x00/]+$")]


def create_app(
    settings: Settings,
    config: ApiConfig | None = None,
    after_commit: Callable[[], None] | None = None,
    body_limits: Mapping[str, int] | None = None,
) -> FastAPI:
    """The queue's routes over the queue tables in ``settings.catalog_uri``.
    ``after_commit`` is a fault-injection hook, called after an answer's commit and
    before its reply (the crash-safety test passes one that ends the process).
    ``body_limits`` (path -> bytes) are routes, added by the caller, whose body may be
    larger than ``config.max_body_bytes``; the front gate enforces them."""
    state = ApiState(settings, config or ApiConfig(), after_commit)
    larger = dict(body_limits or {})
    app = FastAPI(
        title="flywheel vendor API",
        version=API_VERSION,
        description="Lease annotation tasks, see their media and prefill, submit answers.",
        responses=_ERRORS,
    )
    app.state.flywheel = state
    _add_error_handlers(app)

    async def known(token: str) -> bool:
        return await to_thread.run_sync(state.token_known, token)

    def limit(path: str) -> int:
        return larger.get(path, state.config.max_body_bytes)

    app.add_middleware(RequestGate, limit=limit, known=known, max_header_bytes=MAX_HEADER_BYTES)

    run = state.run

    @app.get("/v1/queues", response_model=QueuesOut, tags=["queues"])
    def get_queues(token: Token) -> QueuesOut:
        """The queues this vendor may lease from."""

        def work(conn: Any) -> list[store.Queue]:
            return store.list_queues(conn, store.authenticate(conn, token).id)

        return QueuesOut(
            queues=[
                QueueOut(
                    name=q.name,
                    labels=list(q.labels),
                    verify_labels=list(store.VERIFY_LABELS),
                    instructions=q.instructions,
                    consensus=q.consensus,
                    lease_seconds=q.lease_seconds,
                )
                for q in run(work)
            ]
        )

    # Per route, not app-wide: FastAPI's app-wide limiter sits outside the gate and
    # would answer the gate's own 401s in its place.
    small = state.config.max_body_bytes

    @app.post(
        "/v1/queues/{queue}/lease", response_model=LeaseOut, tags=["leases"], max_body_size=small
    )
    def post_lease(queue: QueueName, body: LeaseIn, token: Token) -> LeaseOut:
        """Lease up to `max_tasks` tasks; they are yours until `expires_at`."""

        def work(conn: Any) -> leasing.Lease:
            vendor = store.authenticate(conn, token)
            return leasing.lease(conn, vendor, queue, body.max_tasks, body.lease_seconds)

        lease = run(work)
        seconds = int((lease.expires_at or 0) - store.now()) if lease.expires_at else 0
        urls = state.media.presigned_urls([x.sample_id for x in lease.tasks], seconds)
        return LeaseOut(
            lease_id=lease.lease_id,
            expires_at=_when(lease.expires_at),
            tasks=[
                TaskOut(
                    task_id=x.task_id,
                    sample_id=x.sample_id,
                    kind=x.kind,
                    media_url=urls.get(x.sample_id) or state.config.media_url(x.task_id),
                    labels=list(x.labels),
                    prefill=_prefill(x.prefill),
                )
                for x in lease.tasks
            ],
        )

    @app.post(
        "/v1/leases/{lease_id}/heartbeat",
        response_model=HeartbeatOut,
        tags=["leases"],
        max_body_size=small,
    )
    def post_heartbeat(
        lease_id: Annotated[LeaseId, Path()], token: Token, body: HeartbeatIn | None = None
    ) -> HeartbeatOut:
        """Extend a live lease from now; answered tasks have already left it."""
        seconds = body.lease_seconds if body else None

        def work(conn: Any) -> tuple[float, list[int]]:
            vendor = store.authenticate(conn, token)
            return leasing.heartbeat(conn, vendor, lease_id, seconds)

        expires, task_ids = run(work)
        return HeartbeatOut(
            lease_id=lease_id, expires_at=datetime.fromtimestamp(expires, tz=UTC), task_ids=task_ids
        )

    @app.delete("/v1/leases/{lease_id}", response_model=ReleaseOut, tags=["leases"])
    def delete_lease(lease_id: Annotated[LeaseId, Path()], token: Token) -> ReleaseOut:
        """Give the lease's unanswered tasks back to the queue now."""

        def work(conn: Any) -> int:
            return leasing.release(conn, store.authenticate(conn, token), lease_id)

        return ReleaseOut(lease_id=lease_id, returned=run(work))

    @app.post(
        "/v1/annotations", response_model=AnnotationsOut, tags=["annotations"], max_body_size=small
    )
    def post_annotations(body: AnnotationsIn, token: Token) -> AnnotationsOut:
        """Submit answers, all or none. Retrying with the same idempotency keys returns
        the same result and stores nothing new. After the lease expired an answer is
        taken only if its task still needs one (else 409)."""
        given = [
            answers.Answer(a.task_id, a.annotator, a.label, a.skip, a.idempotency_key)
            for a in body.answers
        ]

        def work(conn: Any) -> list[answers.Stored]:
            return answers.submit(conn, store.authenticate(conn, token), body.lease_id, given)

        stored = run(work)
        if state.after_commit is not None:
            state.after_commit()  # fault injection: committed, the reply not yet sent
        return AnnotationsOut(
            lease_id=body.lease_id,
            annotations=[
                StoredOut(
                    annotation_id=s.annotation_id,
                    task_id=s.task_id,
                    idempotency_key=s.idempotency_key,
                )
                for s in stored
            ],
        )

    @app.get(
        "/v1/media/{task_id}",
        tags=["media"],
        response_class=Response,
        responses={
            200: {"description": "the media bytes", "content": {"application/octet-stream": {}}},
            307: {"description": "redirect to a presigned URL of the object"},
        },
    )
    def get_media(task_id: Annotated[TaskId, Path()], token: Token) -> Response:
        """The media of a task this vendor holds in a live lease or has answered."""

        def work(conn: Any) -> tuple[str, int]:
            return access.media_task(conn, store.authenticate(conn, token), task_id)

        sample_id, seconds = run(work)
        media = state.media.fetch(sample_id, seconds)
        if media.redirect is not None:
            return RedirectResponse(media.redirect, status_code=307)
        return Response(content=media.data, media_type=media.mime)

    return app


def _when(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, tz=UTC)


def _prefill(stored: dict[str, Any] | None) -> Prefill:
    if not stored:
        return Prefill()
    return Prefill(
        label=stored.get("label"),
        confidence=stored.get("confidence"),
        top_k=[TopK(label=label, prob=prob) for label, prob in stored.get("top_k") or []],
    )


def _error(status: int, message: str) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(FlywheelError)
    async def flywheel_error(_request: Request, err: FlywheelError) -> JSONResponse:
        status = next(code for cls, code in _STATUS if isinstance(err, cls))
        return _error(status, str(err))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, err: RequestValidationError) -> JSONResponse:
        first = err.errors()[0] if err.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return _error(422, f"{where}: {first.get('msg', 'invalid request')}")

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, err: HTTPException) -> JSONResponse:
        return _error(err.status_code, str(err.detail))

    @app.exception_handler(DataError)
    async def data_error(_request: Request, err: DataError) -> JSONResponse:
        # A value the database cannot store (out of range, bad encoding): bad input.
        return _error(422, f"a value cannot be stored: {str(err.orig).splitlines()[0]}")

    @app.exception_handler(OperationalError)
    async def db_down(_request: Request, err: OperationalError) -> JSONResponse:
        return _error(503, f"the queue database is unavailable: {str(err.orig).splitlines()[0]}")
