"""Synthetic training examples with a known signal, for the learned-scoring unit tests.

Winning depends on the industry (software wins), on pricing-page visits, on a numeric
property (pages per visit above 6) and *against* many email opens; the "rules" total
rewards email opens and webinars, so it ranks winners little better than chance while a
model of the facts can learn the signal.
"""

from __future__ import annotations

import math
import random
import uuid
from datetime import UTC, datetime, timedelta

from lifecycle.scoring.learned.facts import LeadFacts
from lifecycle.scoring.learned.training import Example, Examples

__all__ = ["CREATED", "T0", "synthetic"]

T0 = datetime(2024, 1, 1, tzinfo=UTC)
CREATED = datetime(2025, 1, 1, tzinfo=UTC)
KINDS = ("email_open", "webinar", "pricing_visit", "demo_requested")
INDUSTRIES = ("software", "retail", "health", "finance")


def synthetic(n: int, *, seed: int = 1, days: float = 200, first_id: int = 1) -> Examples:
    """``n`` examples captured over ``days`` days, each closed 10 days after capture."""
    rng = random.Random(seed)
    items = []
    for i in range(n):
        captured = T0 + timedelta(days=rng.uniform(0, days))
        industry = rng.choice(INDUSTRIES)
        counts = {k: rng.randint(0, 4) for k in KINDS}
        pages = round(rng.uniform(0, 10), 3)
        touches = sorted((captured + timedelta(hours=rng.uniform(1, 200)), kind, "web")
                         for kind, c in counts.items() for _ in range(c))
        logit = (-1.2 + 1.6 * (industry == "software") + 0.9 * counts["pricing_visit"]
                 - 0.8 * (counts["email_open"] >= 3) + 0.7 * (pages > 6))
        label = int(rng.random() < 1 / (1 + math.exp(-logit)))
        at = captured + timedelta(days=10)
        rules = 5.0 * counts["email_open"] + 3.0 * counts["webinar"] + rng.gauss(0, 5)
        facts = LeadFacts(template="generic_b2b", captured_at=captured, channel="web",
                          source="site", profile={"industry": industry}, has_email=True,
                          newest_at=touches[-1][0] if touches else captured, touches=touches,
                          properties={"pages": pages}, sums={"pages": pages * len(touches)})
        items.append(Example(uuid.UUID(int=first_id + i), facts, at, label, rules,
                             at + timedelta(hours=1)))
    return Examples(items=items, skipped={"open": 3, "screened": 1})
