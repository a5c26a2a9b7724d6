"""A small learned model for the grading tests, trained by the engine's own training on
synthetic closed leads whose facts look like the inputs the tests ingest.

Winning depends on the industry, on demo requests and pricing-page views, and against a
lead with a single touch; ``trained(seed)`` trains (3 folds, a second or less) once per
seed and session. :class:`Registry` stands in for ``app.models`` (the store's registry
is another branch's): ``load`` by id, nothing else.
"""

from __future__ import annotations

import math
import random
import uuid
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from lifecycle.scoring.learned.artifact import content_hash, encode, model_id_of
from lifecycle.scoring.learned.facts import LeadFacts
from lifecycle.scoring.learned.model import Model
from lifecycle.scoring.learned.training import Example, Examples, train

__all__ = ["CHANNELS", "KINDS", "PROFILES", "Registry", "trained"]

KINDS = ("page_view", "email_open", "email_click", "webinar_attended", "demo_requested",
         "pricing_page_view", "content_download")
CHANNELS = ("seo", "paid_search", "email")
PROFILES: tuple[dict[str, Any], ...] = (
    {"industry": "software", "employees": 300, "title": "CTO", "country": "US"},
    {"industry": "retail", "employees": 40, "title": "Manager", "country": "DE"},
    {"industry": "education", "employees": 5, "title": "Student", "country": "BR"})
T0 = datetime(2023, 6, 1, tzinfo=UTC)


def _examples(n: int, seed: int) -> Examples:
    rng = random.Random(seed)
    items = []
    for i in range(n):
        captured = T0 + timedelta(days=rng.uniform(0, 200))
        profile = dict(rng.choice(PROFILES))
        touches = sorted((captured + timedelta(hours=rng.uniform(0, 300)), rng.choice(KINDS),
                          rng.choice(CHANNELS)) for _ in range(rng.randint(1, 7)))
        count = {k: sum(1 for _, kind, _ in touches if kind == k) for k in KINDS}
        logit = (-1.0 + 1.2 * (profile["industry"] == "software")
                 + 0.8 * count["demo_requested"] + 0.3 * count["pricing_page_view"]
                 - 0.6 * (len(touches) == 1))
        label = int(rng.random() < 1 / (1 + math.exp(-logit)))
        at = touches[-1][0] + timedelta(days=rng.uniform(1, 20))
        facts = LeadFacts(template="generic_b2b", captured_at=captured, channel=touches[0][2],
                          source=rng.choice(("website", "crm")), profile=profile,
                          has_email=True, newest_at=touches[-1][0], touches=touches)
        items.append(Example(uuid.UUID(int=seed * 100_000 + i), facts, at, label,
                             float(len(touches)), at))
    return Examples(items=items)


@cache
def trained(seed: int = 0, *, sales: bool = False) -> Model:
    """A model trained on 400 synthetic closed leads (``seed``: which ones); ``sales``:
    one that reads sales facts too (BANT criteria confirmed, here)."""
    data = _examples(400, seed)
    if sales:
        rng = random.Random(seed)
        for example in data.items:
            met = rng.randint(0, 4) if example.label else rng.randint(0, 2)
            example.facts.sales.update(actions=1, bant=met)
    artifact = train(data, folds=3, seed=seed, sales=sales,
                     created_at=datetime(2024, 1, 1, tzinfo=UTC))
    return Model(artifact, model_id_of(content_hash(encode(artifact))))


class Registry:
    """``app.models`` for the tests: ``load`` by id (LookupError for an unknown one)."""

    def __init__(self, *models: Model, ids: dict[str, Model] | None = None) -> None:
        self.models = {m.model_id: m for m in models} | (ids or {})

    def load(self, model_id: str) -> Model:
        if model_id not in self.models:
            raise LookupError(f"no model {model_id}")
        return self.models[model_id]

    def active(self) -> Model | None:
        raise AssertionError("the test sets the active model itself")
