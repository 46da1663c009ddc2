"""``flywheel serve``: the vendor HTTP API under uvicorn.

``ctx.obj`` is the ``Settings``; bad input raises a ``FlywheelError`` that the main CLI
turns into one line on stderr.
"""

from __future__ import annotations

import click

from flywheel.clikit import needs_catalog
from flywheel.config import Settings
from flywheel.db import open_engine


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True)
@click.option(
    "--public-url",
    default=None,
    help="Base URL vendors reach the API at; media_url is built from it "
    "(default: $FLYWHEEL_PUBLIC_URL, else media_url is a relative path).",
)
@click.pass_obj
@needs_catalog
def serve(settings: Settings, host: str, port: int, public_url: str | None) -> None:
    """Run the vendor HTTP API (uvicorn)."""
    import dataclasses

    import uvicorn

    from flywheel.api.app import create_app
    from flywheel.queue import MAX_HEADER_BYTES, ApiConfig

    config = ApiConfig.from_env()
    if public_url is not None:
        config = dataclasses.replace(config, public_url=public_url)
    open_engine(settings.catalog_uri).dispose()  # create the tables before the first request
    # h11, not httptools: only h11 bounds the request head (431-class errors answer 400).
    uvicorn.run(
        create_app(settings, config),
        host=host,
        port=port,
        http="h11",
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,
    )
    click.echo(f"stopped serving on {host}:{port}")


COMMANDS = (serve,)
