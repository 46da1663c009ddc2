"""The HTTP edge: the vendor API that vendors reach, composed above the queue and the loop.

The queue serves its routes (queues, leases, answers, media: ``flywheel.queue.api``);
the loop records field feedback (``flywheel.loop.feedback``). This package puts the two
into one app and is the only package that imports both for HTTP; neither imports it.

Public surface (pinned by tests/api/test_public_api.py):

- ``create_app(settings, config=None, after_commit=None)``: the app (``flywheel serve``).
- ``create_app_from_env()``: the factory for ASGI hosts (``uvicorn --factory``).
- ``ApiConfig``: process-level switches (public URL, body limit).
- ``openapi_document()``: the OpenAPI document, as checked in at schemas/openapi.json.
"""

from flywheel.api.app import create_app, create_app_from_env, openapi_document
from flywheel.queue import ApiConfig

__all__ = ["ApiConfig", "create_app", "create_app_from_env", "openapi_document"]
