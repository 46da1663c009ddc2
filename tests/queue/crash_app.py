"""The vendor API with a fault injected: the process ends (exit code 17) right after an
answer's commit, before the reply leaves. ``uvicorn --factory
tests.queue.crash_app:create_app``; settings from the environment, as the product's
factory takes them."""

from __future__ import annotations

import os

from fastapi import FastAPI

from flywheel.api import ApiConfig
from flywheel.api import create_app as create_product_app
from flywheel.config import Settings

EXIT_CODE = 17


def _die() -> None:
    os._exit(EXIT_CODE)  # no cleanup, no reply: as a SIGKILL between commit and reply


def create_app() -> FastAPI:
    return create_product_app(Settings.from_env(), ApiConfig.from_env(), after_commit=_die)
