"""``POST /v1/feedback``: the wire contract (pydantic) and the call behind it.

The route is added to the queue's routes in ``flywheel.api.app`` (authenticated like
them); this module is what it calls, and the loop (``flywheel.loop.feedback``) records
the report. Media travels base64-encoded in the JSON body, so one request is the whole
report.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from flywheel.config import Settings
from flywheel.errors import ConfigError
from flywheel.loop import MAX_MEDIA_BYTES, FeedbackReport, record_feedback

# The feedback route's body limit: the media (base64) plus the report's few fields.
FEEDBACK_MAX_BODY_BYTES = (MAX_MEDIA_BYTES * 4) // 3 + (64 << 10)
_Text = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00]+$")]


class FeedbackIn(BaseModel):
    """A bad output: the sample (``sample_id``) or its bytes (``media_base64``), what the
    model said and what it should have said."""

    model_config = ConfigDict(extra="forbid")

    sample_id: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")] | None = Field(
        None, description="a sample already in the lake (sha256 of its bytes, hex)"
    )
    media_base64: str | None = Field(
        None,
        max_length=(MAX_MEDIA_BYTES * 4) // 3 + 4,
        description="the media itself, base64; it is ingested with split = regression",
    )
    filename: _Text | None = Field(None, description="the media's file name, for its type")
    predicted: _Text = Field(description="the output seen in the field")
    expected: _Text = Field(description="the right class")
    model_version: _Text | None = Field(None, description="the model that gave it, if known")
    note: Annotated[str, StringConstraints(max_length=2000, pattern=r"^[^\x00]*$")] | None = None


class FeedbackOut(BaseModel):
    """What the vendor learns: the report's id and the sample's id, nothing else (no
    split, nor whether the sample or the report existed before: no existence oracle)."""

    feedback_id: str = Field(description="the same report again gets the same id")
    sample_id: str = Field(description="sha256 of the media's bytes, hex")


def submit_feedback(settings: Settings, body: FeedbackIn, source: str) -> FeedbackOut:
    """Record one report from the HTTP API; errors are ``FlywheelError``s (4xx)."""
    media = None
    if body.media_base64 is not None:
        try:
            media = base64.b64decode(body.media_base64, validate=True)
        except (binascii.Error, ValueError):
            raise ConfigError("media_base64 is not valid base64") from None
    report = FeedbackReport(
        predicted=body.predicted,
        expected=body.expected,
        sample_id=body.sample_id,
        media=media,
        filename=body.filename or "upload",
        model_version=body.model_version,
        note=body.note,
        source=source,
    )
    result = record_feedback(settings, report)
    return FeedbackOut(feedback_id=result.feedback_id, sample_id=result.sample_id)
