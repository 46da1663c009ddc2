"""Names that vendors choose (annotators, and vendors' own) made safe to show.

A vendor sends annotator names; the API refuses control characters in new ones, but
names imported from Label Studio or stored before that rule still reach the operator's
terminal (``queue stats``) and pages. ``printable`` is applied wherever they are shown.
"""

from __future__ import annotations

import unicodedata

_MAX_SHOWN = 80


def printable(name: str) -> str:
    r"""``name`` with control and format characters (newline, ESC, bidi overrides)
    written as escapes, cut to 80 characters, so it cannot forge or recolour a line.

    >>> printable("ann-7\n  vendor x: gold 10/10\x1b[2K")
    'ann-7\\n  vendor x: gold 10/10\\x1b[2K'
    """
    safe = "".join(
        ch.encode("unicode_escape").decode("ascii")
        if unicodedata.category(ch).startswith("C")
        else ch
        for ch in name
    )
    return safe if len(safe) <= _MAX_SHOWN else safe[: _MAX_SHOWN - 1] + "…"
