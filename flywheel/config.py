"""Explicit configuration: the one place that turns flags and environment into settings.

Nothing below this module reads ``os.environ``; a ``Settings`` is built here (from the
CLI's flags plus the environment) and passed down, including into Ray actors.

Embedded default (a laptop, CI)::

    root/            FLYWHEEL_ROOT or --root, default ./flywheel-data
      catalog.db     SQLite: the Iceberg SQL catalog (and, later, the queue tables)
      warehouse/     Parquet data files and Iceberg metadata; media objects under media/

Cluster: ``FLYWHEEL_CATALOG_URI=postgresql+psycopg2://...`` and
``FLYWHEEL_WAREHOUSE=s3://bucket/prefix`` with the usual AWS variables
(``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_REGION``) and the endpoint
override for S3-compatible stores (``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlparse

from flywheel.errors import ConfigError

DEFAULT_ROOT = "./flywheel-data"
# A training run's defaults, shared by `TrainConfig`, `flywheel train` and `flywheel loop`
# (here, not in flywheel.train, so the loop's --help shows them without importing torch).
DEFAULT_EPOCHS = 5  # passes over the data
DEFAULT_WORKERS = 1  # data-parallel workers
DEFAULT_BATCH_SIZE = 32
DEFAULT_LR = 1e-3  # AdamW learning rate
DEFAULT_WEAK_WEIGHT = 0.3  # loss weight of a weak label (a consolidated one weighs 1)
DEFAULT_SEED = 0
NAMESPACE = "flywheel"


@dataclass(frozen=True)
class S3Settings:
    """How to reach an S3-compatible store. ``endpoint`` None means AWS itself.

    >>> S3Settings(endpoint="http://127.0.0.1:9000").pyiceberg_properties()["s3.endpoint"]
    'http://127.0.0.1:9000'
    """

    endpoint: str | None = None
    region: str = "us-east-1"
    access_key_id: str | None = None
    secret_access_key: str | None = None
    session_token: str | None = None
    # Seconds before an unreachable endpoint is reported; kept short so a wrong
    # endpoint fails in seconds, not after botocore's default minutes of retries.
    connect_timeout_s: float = 3.0

    def pyiceberg_properties(self) -> dict[str, str]:
        props = {"s3.region": self.region}
        if self.endpoint:
            props["s3.endpoint"] = self.endpoint
        if self.access_key_id:
            props["s3.access-key-id"] = self.access_key_id
        if self.secret_access_key:
            props["s3.secret-access-key"] = self.secret_access_key
        if self.session_token:
            props["s3.session-token"] = self.session_token
        props["s3.connect-timeout"] = str(self.connect_timeout_s)
        return props

    def boto3_kwargs(self) -> dict[str, object]:
        kwargs: dict[str, object] = {"region_name": self.region}
        if self.endpoint:
            kwargs["endpoint_url"] = self.endpoint
        if self.access_key_id:
            kwargs["aws_access_key_id"] = self.access_key_id
        if self.secret_access_key:
            kwargs["aws_secret_access_key"] = self.secret_access_key
        if self.session_token:
            kwargs["aws_session_token"] = self.session_token
        return kwargs


@dataclass(frozen=True)
class Settings:
    """Where flywheel keeps everything. Build it with ``Settings.from_env``.

    >>> s = Settings.from_env(root="/tmp/fw", environ={})
    >>> s.catalog_uri, s.warehouse
    ('sqlite:////tmp/fw/catalog.db', 'file:///tmp/fw/warehouse')
    """

    root: Path
    catalog_uri: str
    warehouse: str
    s3: S3Settings = field(default_factory=S3Settings)
    ray_address: str | None = None
    namespace: str = NAMESPACE
    # Ray's own logs on the terminal too; by default they go to root/logs/ (flywheel.runtime).
    verbose: bool = False

    def __post_init__(self) -> None:
        scheme = urlparse(self.warehouse).scheme
        if scheme not in ("file", "s3"):
            raise ConfigError(
                f"warehouse {self.warehouse!r} must be a file:// or s3:// URI "
                "(set FLYWHEEL_WAREHOUSE, e.g. s3://bucket/flywheel)"
            )
        if not self.catalog_uri.startswith(("sqlite:", "postgresql")):
            raise ConfigError(
                f"catalog URI {self.catalog_uri!r} is not SQLite or PostgreSQL "
                "(set FLYWHEEL_CATALOG_URI, e.g. postgresql+psycopg2://user@host/db)"
            )

    @property
    def warehouse_is_s3(self) -> bool:
        return self.warehouse.startswith("s3://")

    @property
    def catalog_is_sqlite(self) -> bool:
        return self.catalog_uri.startswith("sqlite:")

    def media_prefix(self) -> str:
        """Where large media objects live, beside the tables."""
        return self.warehouse.rstrip("/") + "/media"

    def with_root(self, root: str | os.PathLike[str]) -> Settings:
        """The same settings over another data root (``--root`` given after the verb)."""
        return Settings.from_env(root=root, ray_address=self.ray_address, verbose=self.verbose)

    def with_verbose(self) -> Settings:
        return replace(self, verbose=True)

    def with_ray_address(self, address: str) -> Settings:
        """The same settings on another Ray cluster (``--ray-address`` after the verb)."""
        return replace(self, ray_address=address)

    @classmethod
    def from_env(
        cls,
        root: str | os.PathLike[str] | None = None,
        environ: Mapping[str, str] | None = None,
        ray_address: str | None = None,
        verbose: bool = False,
    ) -> Settings:
        """Build settings from explicit values, then the environment, then defaults."""
        env = os.environ if environ is None else environ
        root_path = Path(root or env.get("FLYWHEEL_ROOT") or DEFAULT_ROOT).expanduser().absolute()
        catalog_uri = env.get("FLYWHEEL_CATALOG_URI") or f"sqlite:///{root_path / 'catalog.db'}"
        warehouse = env.get("FLYWHEEL_WAREHOUSE") or (root_path / "warehouse").as_uri()
        s3 = S3Settings(
            endpoint=env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or None,
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
            access_key_id=env.get("AWS_ACCESS_KEY_ID") or None,
            secret_access_key=env.get("AWS_SECRET_ACCESS_KEY") or None,
            session_token=env.get("AWS_SESSION_TOKEN") or None,
        )
        return cls(
            root=root_path,
            catalog_uri=catalog_uri,
            warehouse=warehouse,
            s3=s3,
            ray_address=ray_address or env.get("RAY_ADDRESS") or None,
            verbose=verbose,
        )
