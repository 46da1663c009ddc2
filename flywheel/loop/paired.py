"""A paired test of two models on the same samples: the exact McNemar test.

Only the discordant samples carry information about which model is better: ``b``,
those the reference model gets right and the candidate wrong, and ``c``, the reverse.
Under "the candidate is no worse", b is at most Binomial(b + c, 1/2); the one-sided
p-value is P(X >= b). Exact (a binomial tail, scipy's ``binomtest``), so it is right
for the handful of discordant pairs a small held-out set gives.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from scipy.stats import binomtest


@dataclass(frozen=True)
class PairedTest:
    """``b``: right before, wrong now; ``c``: wrong before, right now; ``p_value``:
    one-sided, small when the candidate is worse."""

    b: int
    c: int
    p_value: float

    def describe(self) -> str:
        """One clause for a gate's reason."""
        return (
            f"exact McNemar p = {self.p_value:.3g} for worse "
            f"({self.b} newly wrong, {self.c} newly right)"
        )

    def facts(self) -> dict[str, float | int | str]:
        return {"test": "mcnemar-exact", "b": self.b, "c": self.c, "p_value": self.p_value}


def mcnemar_worse(reference_right: Sequence[bool], candidate_right: Sequence[bool]) -> PairedTest:
    """Is the candidate worse than the reference on the same samples?

    >>> t = mcnemar_worse([True] * 10, [True] * 3 + [False] * 7)
    >>> (t.b, t.c, round(t.p_value, 4))
    (7, 0, 0.0078)
    >>> mcnemar_worse([True, False], [True, False]).p_value  # no discordant pair
    1.0
    """
    b = sum(r and not n for r, n in zip(reference_right, candidate_right, strict=True))
    c = sum(n and not r for r, n in zip(reference_right, candidate_right, strict=True))
    p = binomtest(b, b + c, 0.5, alternative="greater").pvalue if b + c else 1.0
    return PairedTest(b, c, float(p))
