"""Where a vendor gets a task's media: bytes through the API, or a presigned S3 URL.

The lake's ``samples`` table holds small media inline (``media``) and large media as
objects (``media_uri``). Objects on S3 are handed out as presigned GET URLs that expire
with the lease; everything else is served by ``GET /v1/media/{task_id}``.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from flywheel.config import Settings
from flywheel.errors import NotFoundError, StorageError
from flywheel.lake import among


@dataclass(frozen=True)
class Media:
    """Either ``data`` (with ``mime``) or ``redirect`` (a presigned URL) is set."""

    mime: str
    data: bytes | None = None
    redirect: str | None = None


class MediaSource:
    """Reads sample media through the lake; one per API process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lake: Any = None
        self._s3: Any = None
        self._lock = threading.Lock()

    @property
    def lake(self) -> Any:
        with self._lock:
            if self._lake is None:
                from flywheel.lake import Lake

                self._lake = Lake(self.settings)
            return self._lake

    def _client(self) -> Any:
        with self._lock:
            if self._s3 is None:
                from flywheel.lake import s3_client

                self._s3 = s3_client(self.settings.s3)
            return self._s3

    def presign(self, uri: str, expires_in: int) -> str:
        """A presigned GET URL for ``s3://bucket/key``, valid ``expires_in`` seconds."""
        parsed = urlparse(uri)
        url: str = self._client().generate_presigned_url(
            "get_object",
            Params={"Bucket": parsed.netloc, "Key": parsed.path.lstrip("/")},
            ExpiresIn=max(1, int(expires_in)),
        )
        return url

    def presigned_urls(self, sample_ids: Sequence[str], expires_in: int) -> dict[str, str]:
        """Presigned URLs of the samples whose media is an S3 object; only looked up
        when the warehouse is on S3 (a local lake serves everything itself). A lake
        that cannot be read leaves the API URL in place rather than failing the lease."""
        if not self.settings.warehouse_is_s3 or not sample_ids:
            return {}
        where = among("sample_id", sample_ids)
        try:
            rows = self.lake.read(
                "samples", columns=["sample_id", "media_uri"], row_filter=where
            ).to_pylist()
        except (OSError, StorageError):
            return {}
        return {
            r["sample_id"]: self.presign(r["media_uri"], expires_in)
            for r in rows
            if r["media_uri"] and r["media_uri"].startswith("s3://")
        }

    def modalities(self, sample_ids: Sequence[str]) -> set[str]:
        """The modalities of those of ``sample_ids`` that are in the lake's samples table
        (empty when none is, or when there is no lake yet)."""
        if not sample_ids:
            return set()
        try:
            where = among("sample_id", sample_ids)
            scan = self.lake.table("samples").scan(row_filter=where, selected_fields=("modality",))
            return set(scan.to_arrow().column("modality").to_pylist())
        except (OSError, NotFoundError, StorageError):
            return set()

    def fetch(self, sample_id: str, expires_in: int = 600) -> Media:
        """The media of ``sample_id``: its bytes, or a presigned URL for an S3 object."""
        from flywheel.lake import media_batches, media_of

        try:
            found = [
                b for b in media_batches(self.lake, [sample_id], columns=["mime"]) if b.num_rows
            ]
        except OSError as err:
            raise StorageError(f"cannot read the samples table: {err}") from None
        if not found:
            raise NotFoundError(f"sample {sample_id} is not in the lake's samples table")
        row = found[0].slice(0, 1)
        mime, uri = row.column("mime")[0].as_py(), row.column("media_uri")[0].as_py()
        if not row.column("media")[0].is_valid and uri and uri.startswith("s3://"):
            return Media(mime=mime, redirect=self.presign(uri, expires_in))
        return Media(mime=mime, data=media_of(row, self.settings.s3)[0])
