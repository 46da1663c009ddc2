"""Object storage: a local folder or an S3-compatible store, behind one small API.

Files go through pyarrow's filesystems (the same ones pyiceberg and the SQL layer use);
boto3 is kept for what the S3 protocol offers beyond files: bucket checks, listings,
presigned URLs.
"""

from __future__ import annotations

import functools
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import pyarrow.fs as pafs

from flywheel.config import S3Settings, Settings
from flywheel.errors import NotFoundError, StorageError

if TYPE_CHECKING:
    import pyarrow as pa


def s3_client(s3: S3Settings) -> Any:
    """A boto3 S3 client that fails fast when the endpoint is unreachable."""
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=s3.connect_timeout_s,
        read_timeout=max(10.0, s3.connect_timeout_s),
        retries={"total_max_attempts": 2, "mode": "standard"},
        s3={"addressing_style": "path"} if s3.endpoint else {},
    )
    return boto3.client("s3", config=config, **s3.boto3_kwargs())


def filesystem(uri: str, s3: S3Settings) -> tuple[pafs.FileSystem, str]:
    """The pyarrow filesystem for ``uri`` and the path inside it."""
    parsed = urlparse(uri)
    if parsed.scheme == "s3":
        return _s3_filesystem(s3), parsed.netloc + parsed.path
    if parsed.scheme in ("", "file"):
        return _LOCAL, parsed.path if parsed.scheme else uri
    raise StorageError(f"unsupported storage URI {uri!r}; use a local path, file:// or s3://")


_LOCAL = pafs.LocalFileSystem()


@functools.cache
def _s3_filesystem(s3: S3Settings) -> pafs.S3FileSystem:
    """One S3 filesystem per settings and process (it holds a connection pool)."""
    kwargs: dict[str, object] = {
        "region": s3.region,
        "connect_timeout": s3.connect_timeout_s,
        "request_timeout": max(10.0, s3.connect_timeout_s),
    }
    if s3.endpoint:
        endpoint = urlparse(s3.endpoint)
        kwargs["endpoint_override"] = endpoint.netloc or s3.endpoint
        kwargs["scheme"] = endpoint.scheme or "https"
    if s3.access_key_id:
        kwargs["access_key"] = s3.access_key_id
        kwargs["secret_key"] = s3.secret_access_key
        kwargs["session_token"] = s3.session_token
    return pafs.S3FileSystem(**kwargs)


def read_bytes(uri: str, s3: S3Settings) -> bytes:
    if uri.startswith("/"):  # the common case for local sources: no filesystem layer
        with open(uri, "rb") as f:
            return f.read()
    fs, path = filesystem(uri, s3)
    with fs.open_input_stream(path) as f:
        return bytes(f.read())


def media_of(rows: pa.Table | pa.RecordBatch, s3: S3Settings) -> list[bytes]:
    """The media of each of ``rows`` (``samples`` rows with sample_id, media and
    media_uri): its inline bytes, else the object at its ``media_uri``. Every reader of
    sample media resolves them here: ``Lake.media`` and, a batch at a time, the Ray Data
    pipelines of training and scoring.

    >>> import pyarrow as pa
    >>> rows = pa.table({"sample_id": ["a"], "media": [b"png"], "media_uri": [None]})
    >>> media_of(rows, S3Settings())
    [b'png']
    """
    out = []
    for sid, data, uri in zip(
        rows.column("sample_id").to_pylist(),
        rows.column("media").to_pylist(),
        rows.column("media_uri").to_pylist(),
        strict=True,
    ):
        if data is None:
            if not uri:
                raise NotFoundError(f"sample {sid} has neither inline media nor a media_uri")
            try:
                data = read_bytes(uri, s3)
            except OSError as err:
                raise StorageError(f"cannot read the media of sample {sid}: {err}") from None
        out.append(data)
    return out


def put_bytes_if_absent(uri: str, data: bytes, s3: S3Settings) -> None:
    """Write ``data`` at ``uri`` unless an object is there already (content-addressed
    objects: same name, same bytes). Local writes go through a temp file and a rename,
    so a reader never sees half an object."""
    fs, path = filesystem(uri, s3)
    if fs.get_file_info(path).type != pafs.FileType.NotFound:
        return
    if isinstance(fs, pafs.LocalFileSystem):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=Path(path).parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
        return
    with fs.open_output_stream(path) as f:  # an S3 PUT is atomic
        f.write(data)


def check_reachable(settings: Settings) -> None:
    """Fail fast, with one line, when the data root or warehouse cannot be written."""
    root = settings.root
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=root, prefix=".write-check-"):
            pass
    except OSError as err:
        raise StorageError(
            f"data root {root} is not writable ({err.strerror or err}); "
            "choose another with --root or FLYWHEEL_ROOT"
        ) from None
    if settings.warehouse_is_s3:
        bucket = urlparse(settings.warehouse).netloc
        check_bucket(bucket, settings.s3)


def check_bucket(bucket: str, s3: S3Settings) -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    where = s3.endpoint or "AWS S3"
    try:
        s3_client(s3).head_bucket(Bucket=bucket)
    except ClientError as err:
        code = err.response.get("Error", {}).get("Code", "?")
        if code in ("404", "NoSuchBucket"):
            raise StorageError(
                f"bucket {bucket!r} does not exist at {where}; create it first"
            ) from None
        raise StorageError(f"cannot use bucket {bucket!r} at {where}: {code}") from None
    except BotoCoreError as err:
        raise StorageError(f"cannot reach S3 endpoint {where}: {err}") from None
