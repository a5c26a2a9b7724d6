"""Small pieces every part of the demo generator shares: the history being written
(queued inputs in one order), weighted draws, and value helpers.

Only ``random.Random`` instances seeded from the demo's seed are drawn from, so the same
arguments always give the same history.
"""

from __future__ import annotations

import random
import unicodedata
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar

from lifecycle.scoring import ScoringConfig
from lifecycle.templates import TemplateRegistry

K = TypeVar("K")
MINUTE = timedelta(minutes=1)
DAY = timedelta(days=1)


@dataclass(slots=True)
class Item:
    """One input queued for delivery (``delivered``, then ``order``, sorts the history)."""

    delivered: datetime
    order: int
    occurred: datetime
    lead: int
    data: dict[str, object]
    is_action: bool
    late: bool = False
    deliberate: bool = False


@dataclass(slots=True)
class History:
    """What the stories write into: the period, the engine's configuration, the inputs."""

    seed: int
    start: datetime
    end: datetime
    registry: TemplateRegistry
    scoring: ScoringConfig
    items: list[Item] = field(default_factory=list)
    order: int = 0

    def next_order(self) -> int:
        """A number that keeps inputs delivered at the same moment in creation order."""
        self.order += 1
        return self.order


class Stop(Exception):
    """The lead's story reached the end of the history."""


def pick(rng: random.Random, weights: Mapping[K, float]) -> K:
    """A key drawn with probability proportional to its weight."""
    u = rng.random() * sum(weights.values())
    key = None
    for key, w in weights.items():
        u -= w
        if u < 0:
            return key
    assert key is not None, "no weights to pick from"
    return key


def slug(text: str) -> str:
    """Lower-case ASCII letters and digits only (for e-mail addresses and domains)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(c for c in ascii_text.lower() if c.isalnum())


def iso(at: datetime) -> str:
    return at.isoformat()


def text_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def by_count(counter: Counter[str]) -> dict[str, int]:
    """Most frequent first; ties in name order."""
    return dict(sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))
