"""HTML building blocks shared by the report pages: escaping, the page shell, colours.

Every page is a static file that opens from disk: no CDN, no server, no network. Data a
page's script needs travels inside it as JSON (``<script type="application/json">``).
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

# Class colours: Tableau 20, dark shades first, so the first ten classes are easy to tell
# apart on white, with its greys swapped for colours (grey means "no class" in the
# scatter). Class i gets PALETTE[i % 20].
PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#393b79", "#bcbd22", "#17becf",
    "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5",
    "#c49c94", "#f7b6d2", "#637939", "#dbdb8d", "#9edae5",
)  # fmt: skip

BASE_CSS = """
:root { --fg: #1b1f24; --muted: #59636e; --line: #d0d7de; --bg: #f6f8fa; --accent: #0969da; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       color: var(--fg); margin: 0; background: #fff; }
header.top { position: sticky; top: 0; z-index: 5; background: var(--bg);
             border-bottom: 1px solid var(--line); padding: 10px 18px; }
header.top h1 { font-size: 18px; margin: 0 0 4px; }
header.top p { margin: 0; color: var(--muted); }
main { padding: 12px 18px 40px; }
nav.links a { margin-right: 14px; color: var(--accent); }
table.grid { border-collapse: collapse; margin: 8px 0 18px; }
table.grid th, table.grid td { border: 1px solid var(--line); padding: 4px 8px; text-align: right; }
table.grid th { background: var(--bg); }
table.grid td.name, table.grid th.name { text-align: left; }
.muted { color: var(--muted); }
code { background: var(--bg); padding: 1px 4px; border-radius: 3px; }
"""


def esc(value: object) -> str:
    """``value`` as text safe inside HTML and attribute values.

    >>> esc('<a href="x">')
    '&lt;a href=&quot;x&quot;&gt;'
    """
    return html.escape("" if value is None else str(value), quote=True)


def color_for(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def json_script(element_id: str, data: Any) -> str:
    """``data`` as a JSON script element; ``</`` is escaped so no value can end it."""
    text = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    return f'<script type="application/json" id="{esc(element_id)}">{text}</script>'


def render_page(title: str, body: str, css: str = "", script: str = "") -> str:
    """A whole HTML document. The Content-Security-Policy forbids every network fetch:
    media come from files beside the page (``file:``) or ``data:`` URIs."""
    csp = (
        "default-src 'none'; img-src file: data:; media-src file: data:; "
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'"
    )
    tail = f"<script>{script}</script>" if script else ""
    return (
        "<!doctype html>\n<html lang=en><head><meta charset=utf-8>"
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{BASE_CSS}{css}</style></head>"
        f"<body>{body}{tail}</body></html>\n"
    )


def write_page(path: Path, document: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(document, encoding="utf-8")
    return path
