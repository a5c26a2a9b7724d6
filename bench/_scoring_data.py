"""Closed leads for the scoring benchmark, as training examples built directly.

Going through the Lead aggregate costs ~50 µs a touchpoint (bench/ingest.py), so
100,000 closed leads with their touchpoints would take minutes to record before any
training starts; the benchmark measures training and scoring, so it builds each lead's
:class:`~lifecycle.scoring.learned.facts.LeadFacts` directly, as the aggregate would
have folded them (capture, then touchpoints with their kinds, channels, profiles and
properties), with the outcome a moment after the last touch.

Who buys follows the demo's buyers (:mod:`demo.buyers`: need, company size, country,
industry, busy researchers), plus a push from raising a hand; ``rules_total`` is the
engine's own rule-based total score at the outcome (fit by the scoring file, behaviour
points decayed to the outcome by :func:`lifecycle.aggregates.rules.touch_points` and
the half-life, no BANT), as training computes it for ``rules_auc``.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from uuid import UUID

from demo.buyers import buyer, pages_per_visit, requested
from lifecycle.aggregates.rules import touch_points
from lifecycle.scoring import ScoringConfig, decay_factor, fit_score, load_scoring, total_score
from lifecycle.scoring.learned.facts import LeadFacts
from lifecycle.scoring.learned.training import Example, Examples

__all__ = ["closed_leads"]

START = datetime(2024, 1, 1, tzinfo=UTC)
TEMPLATES = {"saas": 0.5, "industrial": 0.3, "generic_b2b": 0.2}
SIZE = {"saas": 180.0, "industrial": 900.0, "generic_b2b": 300.0}
CHANNELS = {"paid_search": 25, "social": 15, "seo": 16, "content": 10, "webinar": 9,
            "email": 6, "event": 8, "referral": 6, "partner": 3, "direct": 2}
CHANNEL_LEAN = {"referral": 0.8, "partner": 0.6, "event": 0.5, "direct": 0.3,
                "paid_search": -0.4, "social": -0.6}
COUNTRIES = ("US", "GB", "DE", "FR", "NL", "SE", "PL", "IN", "IT", "ES", "AT", "CH", "JP",
             "BR", "CN")
INDUSTRIES = ("software", "saas", "financial_services", "manufacturing", "logistics",
              "healthcare", "retail", "energy", "construction", "education", "media")
TITLES = {"CEO": 0.3, "VP Sales": 0.3, "Director of Operations": 0.2, "IT Manager": 0.0,
          "Data Analyst": -0.2, "Marketing Coordinator": -0.4, "Head of Procurement": 0.3,
          "Plant Manager": 0.0}
"""Titles and their push on buying (the seniority the scoring file rewards, roughly)."""
MARKETING = {"page_view": 30.0, "email_open": 22.0, "email_click": 8.0,
             "content_download": 10.0, "webinar_registered": 5.0, "webinar_attended": 3.0,
             "event_attended": 2.0, "form_submit": 3.0, "unsubscribe": 1.0}


def _pick(rng: random.Random, weights: dict[str, float] | dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _lead(no: int, seed: int, rng: random.Random, config: ScoringConfig) -> Example:
    template = _pick(rng, TEMPLATES)
    channel = _pick(rng, CHANNELS)
    country, industry = rng.choice(COUNTRIES), rng.choice(INDUSTRIES)
    employees = max(1, round(SIZE[template] * rng.lognormvariate(0.0, 1.0)))
    title = rng.choice(list(TITLES))
    profile: dict[str, object] = {"country": country, "industry": industry,
                                  "employees": employees, "title": title}
    b = buyer(seed, no, template=template, employees=employees, country=country,
              industry=industry)
    captured = START + timedelta(minutes=rng.randrange(540 * 24 * 60))
    facts = LeadFacts(template=template, captured_at=captured, channel=channel,
                      source="website", profile=profile, has_email=True, newest_at=captured)
    t = captured
    points: list[tuple[datetime, float]] = []
    marketing = dict(MARKETING, pricing_page_view=2.0 + 10.0 * b.keen)
    raised = rng.random() < 0.15 + 0.3 * b.keen + 0.2 * (channel in ("referral", "direct"))
    for _ in range(max(1, int(rng.expovariate(1 / (5.0 * b.busy))))):
        t += timedelta(days=rng.expovariate(1 / 3.0))
        kind = _pick(rng, marketing)
        properties: dict[str, object] = {}
        if kind == "page_view":
            properties["pages_per_visit"] = pages_per_visit(rng, b.need)
        _touch(facts, t, kind, "seo", properties)
        points.append((t, touch_points(config, kind, properties)))
    if raised:
        t += timedelta(days=rng.expovariate(1 / 4.0))
        kind = "trial_started" if rng.random() < b.keen and template == "saas" else (
            "demo_requested" if template != "industrial" else "contact_sales")
        name = "units_requested" if template == "industrial" else "seats_requested"
        properties = {name: requested(rng, template, employees, b.need)}
        _touch(facts, t, kind, "direct", properties)
        points.append((t, touch_points(config, kind, properties)))
    at = t + timedelta(days=rng.uniform(0.5, 30.0))
    logit = -1.1 + b.lean + 0.7 * raised + CHANNEL_LEAN.get(channel, 0.0) + TITLES[title]
    label = int(rng.random() < 1.0 / (1.0 + math.exp(-logit)))
    scoring = config.for_template(template)
    fit, _ = fit_score(profile, scoring.fit)
    behaviour = sum(p * decay_factor(when, at, scoring.half_life_seconds) for when, p in points)
    total = total_score(fit, behaviour, None, scoring.grading)
    return Example(lead_id=UUID(int=no), facts=facts, at=at, label=label,
                   rules_total=float(total), recorded_at=at)


def _touch(facts: LeadFacts, t: datetime, kind: str, channel: str,
           properties: dict[str, object]) -> None:
    """As :meth:`LeadFacts.add` folds a ``TouchpointRecorded``."""
    facts.touches.append((t, kind, channel))
    facts.newest_at = max(facts.newest_at, t)
    for name, value in properties.items():
        facts.properties[name] = value
        if isinstance(value, int | float):
            facts.sums[name] = facts.sums.get(name, 0.0) + value


def closed_leads(n: int, seed: int = 1, config: ScoringConfig | None = None) -> Examples:
    """``n`` closed leads (deterministic for a seed)."""
    config = config or load_scoring()
    rng = random.Random(seed)
    return Examples(items=[_lead(no, seed, rng, config) for no in range(1, n + 1)])
