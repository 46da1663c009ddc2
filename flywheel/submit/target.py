"""Which Ray Jobs API to talk to, and with which token: the one place in ``submit`` that
reads flags and the environment (``JobsTarget.from_env``).

The token is looked up the way Ray 2.60 itself does (``ray._raylet.AuthenticationTokenLoader``
and ``ray get-auth-token``), after an explicit ``--token``:

1. ``RAY_AUTH_TOKEN``, the token itself;
2. ``RAY_AUTH_TOKEN_PATH``, a file holding it (unreadable or empty is an error, as in Ray);
3. ``~/.ray/auth_token``, where ``ray get-auth-token --generate`` (and ``ray.init()`` of a
   new local cluster) writes it, and which ``ray start --head`` picks up.

It travels as ``Authorization: Bearer <token>``, the header Ray's dashboard checks.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from flywheel.errors import ConfigError

DEFAULT_TOKEN_FILE = Path(".ray") / "auth_token"  # under $HOME, as in Ray
_LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


@dataclass(frozen=True)
class JobsTarget:
    """A Ray Jobs API address (the head's dashboard) and the token for it.

    >>> t = JobsTarget("http://127.0.0.1:8265/", token="s3cret", token_source="--token")
    >>> t.address, t.headers()
    ('http://127.0.0.1:8265', {'Authorization': 'Bearer s3cret'})
    """

    address: str
    token: str | None = field(default=None, repr=False)
    token_source: str = "no token"
    # Seconds. Connecting is quick or never; a loaded head may be slow to answer.
    connect_timeout_s: float = 3.0
    read_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        parts = urlsplit(self.address)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                f"Ray Jobs API address {self.address!r} is not an http(s) URL "
                "(give the head's dashboard, e.g. --address http://127.0.0.1:8265)"
            )
        object.__setattr__(self, "address", self.address.rstrip("/"))
        if self.connect_timeout_s <= 0 or self.read_timeout_s <= 0:
            raise ConfigError("Jobs API timeouts must be positive seconds")

    @property
    def is_loopback(self) -> bool:
        return urlsplit(self.address).hostname in _LOOPBACK_HOSTS

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    @classmethod
    def from_env(
        cls,
        address: str | None = None,
        token: str | None = None,
        cluster_address: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> JobsTarget | None:
        """The target named by flags, then the environment; None when nothing names one
        (``flywheel submit`` then runs the verb locally).

        ``address`` is ``--address``; ``cluster_address`` is the settings' Ray address
        (``--ray-address``/``RAY_ADDRESS``), used only when it is an http(s) URL, because a
        bare ``host:port`` there is the GCS address that ``ray.init`` takes, not the Jobs API.
        """
        env = os.environ if environ is None else environ
        url = _resolve_address(address, env.get("RAY_API_SERVER_ADDRESS"), cluster_address)
        if url is None:
            return None
        found, source = find_token(token, env)
        return cls(address=url, token=found, token_source=source)


def _resolve_address(
    flag: str | None, api_server_env: str | None, cluster_address: str | None
) -> str | None:
    for value in (flag, api_server_env):
        if value:
            # A bare host:port here means the dashboard, as in Ray's own SubmissionClient.
            return value if "://" in value else f"http://{value}"
    if not cluster_address:
        return None
    if cluster_address.startswith(("http://", "https://")):
        return cluster_address
    raise ConfigError(
        f"the Ray address {cluster_address!r} (--ray-address or RAY_ADDRESS) is the "
        "cluster's, not its Jobs API: pass --address http://HEAD:8265 or set "
        "RAY_API_SERVER_ADDRESS (ray start --head prints it)"
    )


def find_token(token: str | None, environ: Mapping[str, str]) -> tuple[str | None, str]:
    """``(token, where it came from)``; ``(None, "no token")`` when there is none.

    >>> find_token(None, {"RAY_AUTH_TOKEN": "abc"})
    ('abc', 'RAY_AUTH_TOKEN')
    """
    if token:
        return token.strip(), "--token"
    if environ.get("RAY_AUTH_TOKEN"):
        return environ["RAY_AUTH_TOKEN"].strip(), "RAY_AUTH_TOKEN"
    if environ.get("RAY_AUTH_TOKEN_PATH"):
        path = Path(environ["RAY_AUTH_TOKEN_PATH"]).expanduser()
        text = _read_token_file(path)
        if not text:
            raise ConfigError(
                f"RAY_AUTH_TOKEN_PATH={path} is missing, unreadable or empty "
                "(point it at the cluster's token file, or unset it)"
            )
        return text, f"RAY_AUTH_TOKEN_PATH ({path})"
    home = Path(environ["HOME"]) if environ.get("HOME") else Path.home()
    path = home / DEFAULT_TOKEN_FILE
    text = _read_token_file(path)
    return (text, str(path)) if text else (None, "no token")


def _read_token_file(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except OSError:
        return None
