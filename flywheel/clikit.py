"""What every verb's command line shares: the lake check, ``--format``, class lists,
and defaults that two verbs must agree on. Light on purpose: it loads with the verb.

Conventions (docs/decisions/cli-conventions.md):

- a list of names (``--blocklist``, ``--labels``) is ``a,b,c`` or ``@FILE`` (one name a
  line, ``#`` starts a comment);
- ``--format`` is ``table``, ``csv`` or ``json`` wherever rows are printed;
- a read-only verb refuses a data root that holds no lake, and creates nothing there;
- text from outside (annotator names, lake values) reaches a terminal through ``printable``.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from flywheel.config import Settings
from flywheel.errors import ConfigError, NotFoundError

F = TypeVar("F", bound=Callable[..., Any])

FORMATS = ("table", "csv", "json")

format_option = click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="table",
    show_default=True,
    help="table for people; csv and json for programs.",
)


def _where(settings: Settings) -> str:
    if settings.catalog_is_sqlite:
        return str(settings.root)
    from sqlalchemy.engine import make_url

    return make_url(settings.catalog_uri).render_as_string(hide_password=True)


def _sqlite_file(settings: Settings) -> Path | None:
    if not settings.catalog_is_sqlite:
        return None
    from sqlalchemy.engine import make_url

    database = make_url(settings.catalog_uri).database
    return Path(database) if database and database != ":memory:" else None


def require_catalog(settings: Settings) -> None:
    """Refuse a data root whose catalog database does not exist (a mistyped --root),
    before anything opens it and so creates it."""
    path = _sqlite_file(settings)
    if path is not None and not path.exists():
        raise NotFoundError(
            f"no flywheel lake at {_where(settings)}; run `flywheel ingest` or check --root"
        )


def require_lake(settings: Settings) -> None:
    """Refuse a data root with no lake: no catalog, or nothing ever ingested."""
    require_catalog(settings)
    from flywheel.lake import Lake

    if "samples" not in Lake(settings).existing_tables():
        raise NotFoundError(
            f"no flywheel lake at {_where(settings)}; run `flywheel ingest` or check --root"
        )


def _requires(check: Callable[[Settings], None], doc: str) -> Callable[[F], F]:
    """A decorator that runs ``check`` on the verb's settings before the verb."""

    def decorate(f: F) -> F:
        @functools.wraps(f)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            check(click.get_current_context().obj)
            return f(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    decorate.__doc__ = doc
    return decorate


needs_lake = _requires(require_lake, "A verb that reads the lake runs only where one exists.")
needs_catalog = _requires(
    require_catalog, "A verb that reads the queue or the catalog runs without creating them."
)


def parse_names(value: str, option: str) -> list[str]:
    """``a,b,c`` or ``@FILE`` (one name a line, ``#`` comments) as a list of names.

    >>> parse_names(" cat, dog ,", "--labels")
    ['cat', 'dog']
    """
    if value.startswith("@"):
        path = Path(value[1:])
        try:
            text = path.read_text()
        except OSError as err:
            raise ConfigError(f"cannot read {option} file {path}: {err.strerror}") from None
        names = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    else:
        names = [part.strip() for part in value.split(",")]
    return list(dict.fromkeys(n for n in names if n))


def names_option(name: str, help_: str, **kwargs: Any) -> Callable[[F], F]:
    """An option that takes ``a,b,c`` or ``@FILE``."""
    return click.option(name, metavar="A,B|@FILE", help=f"{help_} (a,b,... or @FILE)", **kwargs)


_MAX_SHOWN = 80


def printable(text: str, limit: int | None = _MAX_SHOWN) -> str:
    r"""``text`` with control and format characters (Unicode category C: newline, tab,
    ESC, bidi overrides) written as escapes, cut to ``limit`` characters (None: whole),
    so text from outside (annotator names, lake values) cannot forge or recolour a
    terminal line. Vendors choose annotator names; names imported from Label Studio or
    stored before the API refused control characters still reach ``queue stats``.

    >>> printable("ann-7\n  vendor x: gold 10/10\x1b[2K")
    'ann-7\\n  vendor x: gold 10/10\\x1b[2K'
    >>> printable("abc\u202e", limit=None)
    'abc\\u202e'
    """
    safe = "".join(
        ch.encode("unicode_escape").decode("ascii")
        if unicodedata.category(ch).startswith("C")
        else ch
        for ch in text
    )
    return safe if limit is None or len(safe) <= limit else safe[: limit - 1] + "…"
