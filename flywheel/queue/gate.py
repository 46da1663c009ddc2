"""The API's front gate: size and authentication checked before any body is read.

FastAPI reads (and parses) a request body before it resolves a route's dependencies, so
a bearer-token dependency alone would let anyone make the server buffer a body. This ASGI
middleware runs first: a ``Content-Length`` over the route's limit is a 413, a missing or
unknown token a 401, both answered without reading a byte of the body. A body sent
without a length (chunked) is counted by FastAPI's ``max_body_size`` as it arrives; the
gate gives that 413 the API's JSON shape. Headers over the bound are a 431; what the
server buffers before the app sees them is the HTTP server's bound (``flywheel serve``
sets it; docs/decisions/queue-limits.md). The routes still authenticate inside their
transaction: the gate only keeps strangers from costing memory.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

MISSING_TOKEN = "missing bearer token: send 'Authorization: Bearer <token>'"
BAD_TOKEN = "invalid or revoked token"
_KNOWN_TTL_S = 10.0  # a token seen valid skips the gate's lookup this long
_KNOWN_MAX = 10_000  # tokens remembered at most (forget all rather than grow)


class RequestGate:
    """ASGI middleware over the ``/v1/`` routes; other paths (docs) pass untouched.
    ``limit(path)`` is a route's largest body in bytes; ``known(token)`` says whether a
    token belongs to an active vendor."""

    def __init__(
        self,
        app: App,
        limit: Callable[[str], int],
        known: Callable[[str], Awaitable[bool]],
        max_header_bytes: int,
    ) -> None:
        self.app, self.limit, self.known = app, limit, known
        self.max_header_bytes = max_header_bytes
        self._seen: dict[str, float] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        if sum(len(k) + len(v) + 4 for k, v in scope["headers"]) > self.max_header_bytes:
            await _reply(send, 431, f"request headers over {self.max_header_bytes} bytes")
            return
        headers = dict(scope["headers"])
        limit = self.limit(scope["path"])
        length = headers.get(b"content-length", b"0")
        if not length.isdigit():
            await _reply(
                send, 400, f"Content-Length {length[:20].decode('latin-1')!r} is no number"
            )
            return
        if int(length) > limit:
            await _reply(send, 413, too_large(limit))
            return
        problem = await self._problem(headers.get(b"authorization", b"").decode("latin-1"))
        if problem is not None:
            await _reply(send, 401, problem)
            return
        await self.app(scope, receive, _json_413(send, limit))

    async def _problem(self, header: str) -> str | None:
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return MISSING_TOKEN
        at = time.monotonic()
        if self._seen.get(token, 0.0) > at:
            return None
        if not await self.known(token):
            return BAD_TOKEN
        if len(self._seen) >= _KNOWN_MAX:
            self._seen.clear()
        self._seen[token] = at + _KNOWN_TTL_S
        return None


def too_large(limit: int) -> str:
    return f"request body over {limit} bytes; send less per request"


def _json_413(send: Send, limit: int) -> Send:
    """``send`` with FastAPI's plain-text 413 (a chunked body cut off) in our shape."""
    replaced = False

    async def wrapped(message: Message) -> None:
        nonlocal replaced
        if message["type"] == "http.response.start" and message["status"] == 413:
            replaced = True
            await _reply(send, 413, too_large(limit))
        elif not replaced:
            await send(message)

    return wrapped


async def _reply(send: Send, status: int, error: str) -> None:
    body = json.dumps({"error": error}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),  # the unread body must not be parsed as a request
    ]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
