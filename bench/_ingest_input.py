"""The ingest benchmark's input: a B2B funnel's touchpoints, generated from a seed
(redeliveries and late arrivals included), validated with the contract."""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from lifecycle.contracts import Touchpoint, parse_inbound

__all__ = ["generate_touchpoints", "input_mix", "validate"]

# (kind, relative weight, channels it arrives on): a B2B funnel's usual mix.
_KINDS: tuple[tuple[str, float, tuple[str, ...]], ...] = (
    ("page_view", 38.0, ("seo", "paid_search", "direct", "social", "referral")),
    ("email_open", 18.0, ("email",)),
    ("email_click", 9.0, ("email",)),
    ("content_download", 5.0, ("content", "seo", "paid_search", "social")),
    ("form_submit", 4.0, ("content", "direct", "paid_search")),
    ("pricing_page_view", 6.0, ("direct", "seo", "paid_search")),
    ("webinar_registered", 3.0, ("webinar", "email")),
    ("webinar_attended", 2.0, ("webinar",)),
    ("event_attended", 1.5, ("event",)),
    ("demo_requested", 1.0, ("direct", "paid_search", "content")),
    ("contact_sales", 0.6, ("direct", "referral", "partner")),
    ("trial_started", 0.6, ("direct", "seo")),
    ("meeting_held", 0.8, ("other", "event")),
    ("quote_sent", 0.4, ("other",)),
    ("quote_revised", 0.2, ("other",)),
    ("reply_received", 1.5, ("email",)),
    ("unsubscribe", 0.4, ("email",)),
    ("email_bounced", 0.3, ("email",)),
)
_KIND_NAMES = [k for k, _, _ in _KINDS]
_KIND_WEIGHTS = [w for _, w, _ in _KINDS]
_CHANNELS = {k: c for k, _, c in _KINDS}
_SOURCE_BY_CHANNEL = {
    "seo": "web", "paid_search": "web", "direct": "web", "content": "web",
    "social": "linkedin", "email": "marketo", "webinar": "on24", "event": "crm",
    "referral": "crm", "partner": "partner_portal", "other": "crm",
}
_FIRST_CHANNELS = ("seo", "paid_search", "content", "webinar", "event", "referral", "social",
                   "direct", "partner")
_FIRST_KINDS = ("form_submit", "content_download", "webinar_registered", "page_view",
                "event_attended", "demo_requested")
_INDUSTRIES = ("software", "saas", "manufacturing", "industrial_machinery", "financial_services",
               "logistics", "retail", "healthcare", "energy", "telecom", "education", "media",
               "government", "hospitality")
_TITLES = ("CEO", "CTO", "VP Engineering", "Head of Marketing", "Director of IT",
           "Marketing Manager", "Team Lead", "Software Engineer", "Data Analyst",
           "Procurement Specialist", "Consultant", "Student", "Founder", "Operations Director")
_COUNTRIES = ("US", "US", "GB", "DE", "FR", "NL", "SE", "CA", "AU", "ES", "IT", "PL", "JP",
              "BR", "IN", "MX", "ch")
_FIRST_NAMES = ("anna", "ben", "chloe", "david", "eva", "felix", "grace", "hugo", "ines",
                "jonas", "kim", "lena", "marco", "nora", "oscar", "paula", "quinn", "rosa")
_LAST_NAMES = ("smith", "mueller", "garcia", "rossi", "dubois", "jansen", "nowak", "silva",
               "tanaka", "brown", "schmidt", "martin", "weber", "lopez", "kowalski")
_FREE_MAIL = ("gmail.com", "yahoo.com", "outlook.com", "gmx.de")
_PATHS = ("/", "/pricing", "/product", "/blog/event-sourcing", "/customers", "/docs/start",
          "/integrations", "/security")
_CAMPAIGNS = ("q1_launch", "webinar_series", "retargeting", "newsletter_12", "summit_2024")
_OFFSETS = (UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5)),
            timezone(timedelta(hours=9)))
_START = datetime(2024, 1, 8, 8, 0, tzinfo=UTC)
_SPAN = timedelta(days=120)


@dataclass(frozen=True, slots=True)
class _Person:
    external_id: str | None
    email: str | None
    late_external_id: str | None  # known by a second system from its 3rd touch on
    profile: dict[str, Any]
    template: str | None
    first_source: str


def _person(rng: random.Random, j: int) -> _Person:
    first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
    company_no = rng.randrange(max(1, j // 3 + 1))  # colleagues share a company
    company = f"Company {company_no:05d}"
    roll = rng.random()
    if roll < 0.08:
        domain = rng.choice(_FREE_MAIL)  # screened out under a B2B template
    elif roll < 0.10:
        domain = f"uni{company_no % 50}.edu"
    else:
        domain = f"co{company_no:05d}.example.com"
    email: str | None = f"{first}.{last}.{j}@{domain}"
    external_id: str | None = f"crm-{j:07d}"
    late_external_id = None
    roll = rng.random()
    if roll < 0.55:
        pass  # both keys on every touch
    elif roll < 0.70:
        late_external_id, external_id = external_id, None  # email first, CRM id later
    elif roll < 0.90:
        external_id = None
    else:
        email = None
    profile: dict[str, Any] = {
        "name": f"{first.title()} {last.title()}",
        "company": company,
        "industry": rng.choice(_INDUSTRIES),
        "employees": int(rng.lognormvariate(4.5, 1.6)),
        "title": rng.choice(_TITLES),
        "country": rng.choice(_COUNTRIES),
    }
    if email is None or rng.random() < 0.3:
        profile["phone"] = f"+1 555 {rng.randrange(10_000_000):07d}"
    for optional in ("industry", "employees", "title"):
        if rng.random() < 0.1:
            del profile[optional]
    roll = rng.random()
    template = "saas" if roll < 0.1 else "industrial" if roll < 0.15 else None
    return _Person(external_id, email, late_external_id, profile, template,
                   _SOURCE_BY_CHANNEL[rng.choice(_FIRST_CHANNELS)])


def _stamp(rng: random.Random, at: datetime) -> str:
    return at.astimezone(rng.choice(_OFFSETS)).isoformat()


def _first_touch(rng: random.Random, i: int, person: _Person, now: datetime) -> dict[str, Any]:
    kind = rng.choice(_FIRST_KINDS)
    item: dict[str, Any] = {
        "touchpoint_id": f"tp-{i:09d}",
        "source": person.first_source,
        "channel": rng.choice(_CHANNELS[kind]),
        "kind": kind,
        "occurred_at": _stamp(rng, now),
        "profile": dict(person.profile),
    }
    if person.template is not None:
        item["template"] = person.template
    return item


def _later_touch(rng: random.Random, i: int, now: datetime) -> dict[str, Any]:
    kind = rng.choices(_KIND_NAMES, _KIND_WEIGHTS)[0]
    channel = rng.choice(_CHANNELS[kind])
    at = now
    if rng.random() < 0.005:  # late: happened a while ago, delivered only now
        at = now - timedelta(seconds=rng.uniform(3_600, 10 * 86_400))
    item: dict[str, Any] = {
        "touchpoint_id": f"tp-{i:09d}",
        "source": _SOURCE_BY_CHANNEL[channel],
        "channel": channel,
        "kind": kind,
        "occurred_at": _stamp(rng, at),
    }
    if rng.random() < 0.02:  # the source learned something new about the person
        item["profile"] = {"title": rng.choice(_TITLES),
                           "employees": int(rng.lognormvariate(4.5, 1.6))}
    if kind in ("page_view", "pricing_page_view") and rng.random() < 0.7:
        item["properties"] = {"path": rng.choice(_PATHS), "seconds": rng.randrange(2, 600)}
    elif channel == "email" and rng.random() < 0.8:
        item["properties"] = {"campaign": rng.choice(_CAMPAIGNS)}
    return item


def generate_touchpoints(n: int, leads: int, seed: int) -> list[dict[str, Any]]:
    """``n`` touchpoints (as decoded JSON objects) over ``leads`` leads, deterministically.

    Leads are captured evenly over the first 90 % of the stream; other touches go to
    already captured leads: 80 % to recently captured ones (exponentially fewer the
    older), 20 % to any. About 1 % are redeliveries
    of an earlier touchpoint (same ``touchpoint_id``, same payload), about 0.5 % arrive
    late (business time 1 h - 10 days before the stream's current time).
    """
    rng = random.Random(seed)
    leads = max(1, min(leads, n))
    people: list[_Person] = []
    touches: list[int] = []  # touches per captured lead
    out: list[dict[str, Any]] = []
    step = _SPAN / n
    capture_every = n * 0.9 / leads
    recent = max(10.0, leads / 20)  # mean distance back, in leads, of a recent-lead touch
    for i in range(n):
        now = _START + step * i + timedelta(seconds=rng.uniform(0, 60))
        if out and rng.random() < 0.01:  # redelivery of a recent touchpoint
            out.append(dict(out[max(0, len(out) - 1 - int(rng.expovariate(1 / 300)))]))
            continue
        if len(people) < leads and (i >= len(people) * capture_every or not people):
            j = len(people)
            person = _person(rng, j)
            people.append(person)
            touches.append(0)
            item = _first_touch(rng, i, person, now)
        else:
            # Recently captured leads are the active ones; some touch an old lead.
            back = int(rng.expovariate(1 / recent)) if rng.random() < 0.8 else len(people)
            j = len(people) - 1 - back if back < len(people) else rng.randrange(len(people))
            person = people[j]
            item = _later_touch(rng, i, now)
        if person.external_id is not None:
            item["external_id"] = person.external_id
        elif person.late_external_id is not None and touches[j] >= 2 and rng.random() < 0.5:
            item["external_id"] = person.late_external_id
        if person.email is not None:
            item["email"] = person.email.upper() if rng.random() < 0.02 else person.email
        touches[j] += 1
        out.append(item)
    return out


def validate(raw: Sequence[dict[str, Any]]) -> tuple[list[Touchpoint], float]:
    """Validates every input with ``parse_inbound``; returns them and the seconds it took."""
    started = time.perf_counter()
    items = [parse_inbound(r) for r in raw]
    seconds = time.perf_counter() - started
    touchpoints = [i for i in items if isinstance(i, Touchpoint)]
    if len(touchpoints) != len(items):  # the generator only makes touchpoints
        raise RuntimeError("generated input contains sales actions")
    return touchpoints, seconds


def input_mix(items: Sequence[Touchpoint]) -> tuple[int, int]:
    """How many inputs are redeliveries, and how many first deliveries are late (> 1 h)."""
    seen: set[str] = set()
    newest = _START - _SPAN
    redeliveries = late = 0
    for item in items:
        if item.touchpoint_id in seen:
            redeliveries += 1
            continue
        seen.add(item.touchpoint_id)
        if item.occurred_at < newest - timedelta(hours=1):
            late += 1
        newest = max(newest, item.occurred_at)
    return redeliveries, late
