"""What the report pages share: the Jinja2 environment that renders them, and colours.

Every page is a static file that opens from disk: no CDN, no server, no network. Its
markup lives in ``flywheel/reports/templates/*.html.j2`` (stylesheets and scripts in
``templates/assets/``); Python only gathers the data. Autoescape is on, so any value a
template prints is escaped, and data a page's script needs travels inside it as JSON
(``<script type="application/json">{{ data|tojson }}</script>``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

# Class colours: Tableau 20, dark shades first, so the first ten classes are easy to tell
# apart on white, with its greys swapped for colours (grey means "no class" in the
# scatter). Class i gets PALETTE[i % 20].
PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#393b79", "#bcbd22", "#17becf",
    "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5",
    "#c49c94", "#f7b6d2", "#637939", "#dbdb8d", "#9edae5",
)  # fmt: skip


def color_for(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def _blank_none(value: object) -> object:
    """Print ``None`` as nothing rather than ``"None"``."""
    return "" if value is None else value


_ENV = Environment(
    loader=PackageLoader("flywheel.reports", "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    finalize=_blank_none,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
# Compact JSON (the scatter carries one object per point); tojson still escapes
# < > & ' so no value can end the <script> element it sits in.
_ENV.policies["json.dumps_kwargs"] = {"sort_keys": False, "separators": (",", ":")}


def render(template: str, **context: Any) -> str:
    """``templates/<template>`` rendered with ``context``; every printed value is
    HTML-escaped and a name the template uses but ``context`` lacks is an error.

    >>> "&lt;b&gt;" in render("demo.html.j2", results=[], annotators=[], links=[],
    ...                       confusion="<b>")
    True
    """
    return _ENV.get_template(template).render(**context)


def write_page(path: Path, document: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(document, encoding="utf-8")
    return path
