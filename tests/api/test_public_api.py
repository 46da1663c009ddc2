"""The public surface of flywheel.api (the HTTP edge; its names are pinned in
tests/test_public_api.py): what it serves, and its import stays light."""

from __future__ import annotations

import subprocess
import sys

import flywheel.api


def test_the_app_serves_the_queue_and_the_feedback_routes() -> None:
    paths = set(flywheel.api.openapi_document()["paths"])
    assert {"/v1/queues", "/v1/annotations", "/v1/feedback"} <= paths


def test_the_vendor_api_does_not_import_the_trainer() -> None:
    code = "import sys, flywheel.api; print('torch' in sys.modules, 'ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
