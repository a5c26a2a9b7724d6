"""Behaviour: points per touchpoint kind, each decaying by half every
``half_life_days`` from the business time it happened, so
``score(t) = sum(w_i * 2 ** (-(t - t_i) / half_life))``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

# Its public names are listed once, in the package's __all__ (lifecycle.scoring).


@dataclass(frozen=True, slots=True)
class Contribution:
    """One touchpoint's points, decaying from the business time it happened."""

    occurred_at: datetime
    kind: str
    points: float

    def value_at(self, at: datetime, half_life_seconds: float) -> float:
        return self.points * decay_factor(self.occurred_at, at, half_life_seconds)


def decay_factor(since: datetime, at: datetime, half_life_seconds: float) -> float:
    """``2 ** (-(at - since) / half_life)``; 1.0 when ``at`` is not after ``since``."""
    dt = (at - since).total_seconds()
    if dt <= 0:
        return 1.0
    return float(2.0 ** (-dt / half_life_seconds))


def behaviour_at(
    contributions: tuple[Contribution, ...] | list[Contribution],
    at: datetime,
    half_life_seconds: float,
) -> float:
    """The behaviour score at ``at`` from every contribution that happened by then."""
    total = 0.0
    for c in contributions:
        if c.occurred_at <= at:
            total += c.value_at(at, half_life_seconds)
    return total

