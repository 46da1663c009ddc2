"""Row filters for Iceberg scans, built as pyiceberg expressions, never as text.

A value is a value: a queue, version or id with a quote in it cannot change what a
filter means, and a filter needs no quoting rules of its own. ``equal(split="pool",
modality="image")`` and ``among("sample_id", ids)`` cover every filter flywheel reads
with; anything else composes them with pyiceberg's ``And``/``Or``/``Not``.
"""

from __future__ import annotations

from collections.abc import Iterable

from pyiceberg.expressions import (
    AlwaysFalse,
    AlwaysTrue,
    And,
    BooleanExpression,
    EqualTo,
    In,
    Reference,
)
from pyiceberg.expressions.literals import literal


def equal(**columns: str | int) -> BooleanExpression:
    """Rows whose every named column equals its value (all rows when none is named)."""
    terms: list[BooleanExpression] = [
        EqualTo(term=Reference(name), value=literal(value)) for name, value in columns.items()
    ]
    if not terms:
        return AlwaysTrue()
    return terms[0] if len(terms) == 1 else And(*terms)


def among(column: str, values: Iterable[str | int]) -> BooleanExpression:
    """Rows whose ``column`` is one of ``values`` (no rows when there are none)."""
    wanted = set(values)
    if not wanted:
        return AlwaysFalse()
    return In(term=Reference(column), values={literal(v) for v in wanted})
