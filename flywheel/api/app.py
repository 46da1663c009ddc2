"""The vendor API as one ASGI app: the queue's routes and the feedback route.

Run it with ``flywheel serve``, or on any ASGI host with
``uvicorn --factory flywheel.api:create_app_from_env`` (add ``--http h11
--h11-max-incomplete-event-size 16384`` to bound the request head as serve does).
Regenerate the checked-in OpenAPI document with ``python -m flywheel.api schemas/openapi.json``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from flywheel.api.feedback import FEEDBACK_MAX_BODY_BYTES, FeedbackIn, FeedbackOut, submit_feedback
from flywheel.config import Settings
from flywheel.queue import ApiConfig, ApiState, Token, access, store
from flywheel.queue import create_app as create_queue_app

FEEDBACK_PATH = "/v1/feedback"


def create_app(
    settings: Settings,
    config: ApiConfig | None = None,
    after_commit: Callable[[], None] | None = None,
) -> FastAPI:
    """The vendor API over the queue tables in ``settings.catalog_uri``.
    ``after_commit`` is a fault-injection hook, called after an answer's commit and
    before its reply (the crash-safety test passes one that ends the process)."""
    app = create_queue_app(
        settings, config, after_commit, body_limits={FEEDBACK_PATH: FEEDBACK_MAX_BODY_BYTES}
    )
    _add_feedback_route(app, app.state.flywheel)
    return app


def _add_feedback_route(app: FastAPI, state: ApiState) -> None:
    @app.post(
        FEEDBACK_PATH,
        response_model=FeedbackOut,
        tags=["feedback"],
        max_body_size=FEEDBACK_MAX_BODY_BYTES,
    )
    def post_feedback(body: FeedbackIn, token: Token) -> FeedbackOut:
        """Report a bad model output; the sample joins the regression gallery that
        every candidate model is gated on. The same report twice is recorded once.
        A `sample_id` must be one of the vendor's tasks (else 404, whether or not
        it exists)."""

        def work(conn: Any) -> store.Vendor:
            vendor = store.authenticate(conn, token)
            if body.sample_id is not None:
                access.check_seen(conn, vendor, body.sample_id)
            return vendor

        vendor = state.run(work)
        return submit_feedback(state.settings, body, source=f"api:{vendor.name}")


def create_app_from_env() -> FastAPI:
    """Factory for ASGI hosts (``uvicorn --factory``): settings from the environment."""
    return create_app(Settings.from_env(), ApiConfig.from_env())


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document of the app (no database needed)."""
    settings = Settings.from_env(root="/nonexistent", environ={})
    return create_app(settings).openapi()


def write_openapi(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(openapi_document(), indent=2, sort_keys=True) + "\n")
