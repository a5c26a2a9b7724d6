"""Ingest throughput: touchpoints through the engine, against a naive baseline.

Run from the repository root (``./run bench ingest`` runs the same)::

    .venv/bin/python bench/ingest.py --touchpoints 100000 --leads 5000 \\
        --backends sqlite,postgres --repeat 3

What it does:

1. Generates ``--touchpoints`` realistic synthetic touchpoints over ``--leads`` leads,
   deterministically from ``--seed``: mixed kinds and channels, a profile on each
   lead's first touch (and a few later profile changes), ~1 % redeliveries of earlier
   touchpoints and ~0.5 % late ones (business time in the past).
2. Validates them with :func:`lifecycle.contracts.parse_inbound` before any timing
   (and reports that validation throughput on its own).
3. For each backend (a fresh SQLite file; a fresh PostgreSQL database on the server
   from ``tests/harness/postgres.py`` — ``LIFECYCLE_TEST_POSTGRES_URL`` or a throwaway
   one), times ``LeadLifecycle.record_batch`` over the whole input in batches of
   ``--batch-size``, then a naive baseline on the first ``--baseline-touchpoints`` of
   the same input: a plain eventsourcing ``Application`` (default mapper and
   recorder, no aggregate cache) with the same ``Lead`` aggregate, doing one
   ``repository.get`` and one ``save`` per touchpoint. Rates are compared, so the
   baseline may run on a subset: it is slow.

Every run of a phase happens in a fresh process forked from a small server process
started before the input is generated (``forkserver``), so runs share no caches and
peak memory is the ``resource.getrusage`` ``ru_maxrss`` of that process: the validated
input included; ``growth`` is how much the timed phase added to the peak. Before the
timed phase each worker collects and freezes (``gc.freeze``) what it holds, the input
above all: a streaming ingest does not hold 100,000 validated inputs, and the
collector scanning them would be a cost of the benchmark, not of the engine. Both the
engine and the baseline get the same treatment. CPU seconds of the worker are
reported beside wall time (on a shared machine they say more; on PostgreSQL they
leave out the server's work). With ``--repeat R`` every phase runs R times and the
figures are medians. Nothing is asserted about speed: the goals (≥ 20,000
touchpoints/s on SQLite, ≥ 10 x the naive baseline on the same database) are
reported, never enforced.

The last line of the output is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib.metadata
import json
import multiprocessing
import os
import platform
import random
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from uuid import UUID

from rich.console import Console

if __package__ in (None, ""):  # run as a plain script: make ``lifecycle``/``tests`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eventsourcing.application import AggregateNotFoundError, Application

from bench._common import database, print_goals
from lifecycle.aggregates.lead import Lead
from lifecycle.aggregates.values import lead_id_for
from lifecycle.application import LeadLifecycle, Outcome
from lifecycle.contracts import SalesAction, Touchpoint, parse_inbound
from lifecycle.handling import apply_input, keys_of
from lifecycle.scoring import load_scoring
from lifecycle.settings import Settings, persistence_env
from lifecycle.templates import load_templates

__all__ = ["generate_touchpoints", "main", "validate"]

GOAL_SQLITE_TPS = 20_000.0
GOAL_RATIO = 10.0
_MIB = 1024.0 * 1024.0
_MAXRSS_UNIT = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB else

# --------------------------------------------------------------------------- input

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


def _input_mix(items: Sequence[Touchpoint]) -> tuple[int, int]:
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


# --------------------------------------------------------------------------- phases


class NaiveLifecycle(Application[UUID]):
    """The baseline: eventsourcing as the tutorial uses it, with the engine's Lead.

    One ``repository.get`` (a whole history replay: no aggregate cache) and one
    ``save`` (one transaction) per touchpoint; default mapper, JSON transcoder and
    recorder; no key index (a lead is found by the uuid5 of one of its keys).
    """

    name = "naive"

    def __init__(self, url: str) -> None:
        self.templates = load_templates()
        self.scoring = load_scoring()
        super().__init__(env=persistence_env(url))

    def record(self, tp: Touchpoint, recorded_at: datetime) -> tuple[Outcome, int]:
        keys = keys_of(tp)
        lead: Lead | None = None
        for key in keys:
            try:
                lead = self.repository.get(lead_id_for(key))
            except AggregateNotFoundError:
                continue
            break
        template = self.templates[tp.template or self.templates.default]
        if lead is None:
            lead = apply_input(None, tp, template=template, config=self.scoring,
                               recorded_at=recorded_at, keys=keys)
        else:
            if f"touchpoint:{tp.touchpoint_id}" in lead.seen:
                return Outcome.DUPLICATE, 0
            apply_input(lead, tp, template=self.templates[lead.template],
                        config=self.scoring, recorded_at=recorded_at)
        events = len(lead.pending_events)
        self.save(lead)
        return Outcome.ACCEPTED, events


@dataclass
class PhaseRun:
    """One timed run of one phase in its own process."""

    touchpoints: int
    seconds: float
    validate_seconds: float
    accepted: int = 0
    duplicate: int = 0
    rejected: int = 0
    lead_events: int = 0
    stored_events: int = 0
    maxrss_before: int = 0
    maxrss_after: int = 0
    cpu_seconds: float = 0.0

    @property
    def tps(self) -> float:
        return self.touchpoints / self.seconds if self.seconds else 0.0

    @property
    def eps(self) -> float:
        return self.lead_events / self.seconds if self.seconds else 0.0


def _maxrss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * _MAXRSS_UNIT


def _settle() -> None:
    """Collects, then freezes what the worker holds (the input): see the module doc."""
    gc.collect()
    gc.freeze()


def _count(run: PhaseRun, outcome: Outcome, events: int) -> None:
    if outcome is Outcome.ACCEPTED:
        run.accepted += 1
        run.lead_events += events
    elif outcome is Outcome.DUPLICATE:
        run.duplicate += 1
    else:
        run.rejected += 1


def run_engine(url: str, raw: Sequence[dict[str, Any]], batch_size: int) -> PhaseRun:
    """Times ``record_batch`` over every input (in a worker process)."""
    items, validate_seconds = validate(raw)
    app = LeadLifecycle(Settings(database_url=url))
    try:
        inputs: Sequence[Touchpoint | SalesAction] = items
        _settle()
        run = PhaseRun(len(items), 0.0, validate_seconds, maxrss_before=_maxrss())
        started, cpu = time.perf_counter(), time.process_time()
        for start in range(0, len(inputs), batch_size):
            for result in app.record_batch(inputs[start : start + batch_size]):
                _count(run, result.outcome, result.events)
        run.seconds = time.perf_counter() - started
        run.cpu_seconds = time.process_time() - cpu
        run.maxrss_after = _maxrss()
        run.stored_events = app.process_recorder.max_notification_id() or 0
    finally:
        app.close()
    return run


def run_naive(url: str, raw: Sequence[dict[str, Any]]) -> PhaseRun:
    """Times the naive baseline, one get + save per touchpoint (in a worker process)."""
    items, validate_seconds = validate(raw)
    app = NaiveLifecycle(url)
    try:
        _settle()
        run = PhaseRun(len(items), 0.0, validate_seconds, maxrss_before=_maxrss())
        recorded_at = datetime.now(UTC)
        started, cpu = time.perf_counter(), time.process_time()
        for item in items:
            outcome, events = app.record(item, recorded_at)
            _count(run, outcome, events)
        run.seconds = time.perf_counter() - started
        run.cpu_seconds = time.process_time() - cpu
        run.maxrss_after = _maxrss()
        run.stored_events = app.recorder.max_notification_id() or 0
    finally:
        app.close()
    return run


# --------------------------------------------------------------------------- driver


@dataclass
class BackendFigures:
    """Medians over the repeats of one backend, and every run."""

    backend: str
    engine: list[PhaseRun] = field(default_factory=list)
    naive: list[PhaseRun] = field(default_factory=list)

    @staticmethod
    def _median(runs: Sequence[PhaseRun], get: Callable[[PhaseRun], float]) -> float:
        return statistics.median(get(r) for r in runs) if runs else 0.0

    def summary(self) -> dict[str, Any]:
        e, n, med = self.engine, self.naive, self._median
        engine_tps = med(e, lambda r: r.tps)
        naive_tps = med(n, lambda r: r.tps)
        last_e = e[-1] if e else None
        last_n = n[-1] if n else None
        return {
            "touchpoints_per_s": round(engine_tps, 1),
            "events_per_s": round(med(e, lambda r: r.eps), 1),
            "stored_events_per_s": round(med(e, lambda r: r.stored_events / r.seconds), 1),
            "seconds": round(med(e, lambda r: r.seconds), 3),
            "cpu_seconds": round(med(e, lambda r: r.cpu_seconds), 3),
            "touchpoints_per_cpu_s": round(med(e, lambda r: r.touchpoints / r.cpu_seconds), 1),
            "touchpoints": last_e.touchpoints if last_e else 0,
            "accepted": last_e.accepted if last_e else 0,
            "duplicate": last_e.duplicate if last_e else 0,
            "rejected": last_e.rejected if last_e else 0,
            "lead_events": last_e.lead_events if last_e else 0,
            "stored_events": last_e.stored_events if last_e else 0,
            "events_per_touchpoint": round(
                last_e.lead_events / last_e.touchpoints, 3) if last_e else 0.0,
            "peak_rss_mib": round(med(e, lambda r: r.maxrss_after) / _MIB, 1),
            "rss_growth_mib": round(
                med(e, lambda r: r.maxrss_after - r.maxrss_before) / _MIB, 1),
            "runs_touchpoints_per_s": [round(r.tps, 1) for r in e],
            "naive": {
                "touchpoints_per_s": round(naive_tps, 1),
                "events_per_s": round(med(n, lambda r: r.eps), 1),
                "seconds": round(med(n, lambda r: r.seconds), 3),
                "cpu_seconds": round(med(n, lambda r: r.cpu_seconds), 3),
                "touchpoints_per_cpu_s": round(
                    med(n, lambda r: r.touchpoints / r.cpu_seconds), 1),
                "touchpoints": last_n.touchpoints if last_n else 0,
                "accepted": last_n.accepted if last_n else 0,
                "duplicate": last_n.duplicate if last_n else 0,
                "lead_events": last_n.lead_events if last_n else 0,
                "peak_rss_mib": round(med(n, lambda r: r.maxrss_after) / _MIB, 1),
                "rss_growth_mib": round(
                    med(n, lambda r: r.maxrss_after - r.maxrss_before) / _MIB, 1),
                "runs_touchpoints_per_s": [round(r.tps, 1) for r in n],
            },
            "ratio_vs_naive": round(engine_tps / naive_tps, 2) if naive_tps else None,
        }


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Touchpoint ingest throughput of the engine vs a naive baseline.")
    parser.add_argument("--touchpoints", type=int, default=100_000, metavar="N",
                        help="touchpoints through the engine (default 100000)")
    parser.add_argument("--leads", type=int, default=5_000, metavar="M",
                        help="distinct leads (default 5000)")
    parser.add_argument("--backends", default="sqlite,postgres",
                        help="comma-separated: sqlite, postgres (default both)")
    parser.add_argument("--batch-size", type=int, default=Settings().batch_size,
                        help="inputs per record_batch call (default: the engine's, 2000)")
    parser.add_argument("--seed", type=int, default=20240108, help="input generator seed")
    parser.add_argument("--baseline-touchpoints", type=int, default=5_000, metavar="K",
                        help="first K touchpoints through the naive baseline (default 5000; "
                        "0 skips it)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs per phase; figures are medians (default 1)")
    parser.add_argument("--sqlite-dir", type=Path, default=None,
                        help="where the SQLite files go (default: a temporary directory)")
    args = parser.parse_args(argv)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = sorted(set(backends) - {"sqlite", "postgres"})
    if unknown or not backends:
        parser.error(f"--backends: unknown {', '.join(unknown) or '(none given)'}; "
                     "use sqlite, postgres")
    if args.touchpoints < 1 or args.leads < 1 or args.batch_size < 1 or args.repeat < 1:
        parser.error("--touchpoints, --leads, --batch-size and --repeat must be positive")
    args.backends = backends
    args.baseline_touchpoints = max(0, min(args.baseline_touchpoints, args.touchpoints))
    return args


_WORKERS = multiprocessing.get_context("forkserver")


def _in_worker(fn: Callable[..., PhaseRun], *args: Any) -> PhaseRun:
    with ProcessPoolExecutor(max_workers=1, mp_context=_WORKERS) as pool:
        return pool.submit(fn, *args).result()


def _start_workers() -> None:
    """Starts the fork server while this process is still small (see the module doc)."""
    _WORKERS.set_forkserver_preload(["lifecycle.application"])
    _in_worker(_nothing)


def _nothing() -> PhaseRun:
    return PhaseRun(0, 0.0, 0.0, maxrss_after=_maxrss())


def _render(console: Console, result: dict[str, Any], args: argparse.Namespace) -> None:
    """The readable part of the output: a table per path, then notes and goals."""
    from rich.table import Table

    table = Table(title=f"ingest: {args.touchpoints:,} touchpoints / {args.leads:,} leads, "
                  f"batch {args.batch_size}, median of {args.repeat} (tp = touchpoints; "
                  "+MiB = peak growth during the timed phase)")
    for col in ("backend", "path", "touchpoints", "tp/s", "events/s", "ev/tp", "tp/CPU-s",
                "peak MiB", "+MiB", "vs naive"):
        table.add_column(col, justify="left" if col in ("backend", "path") else "right")
    for name, s in result["backends"].items():
        table.add_row(name, "engine", f"{s['touchpoints']:,}", f"{s['touchpoints_per_s']:,.0f}",
                      f"{s['events_per_s']:,.0f}", f"{s['events_per_touchpoint']:.2f}",
                      f"{s['touchpoints_per_cpu_s']:,.0f}",
                      f"{s['peak_rss_mib']:.0f}", f"{s['rss_growth_mib']:.0f}",
                      f"{s['ratio_vs_naive']:.1f}x" if s["ratio_vs_naive"] else "-")
        n = s["naive"]
        if n["touchpoints"]:
            table.add_row(name, "naive", f"{n['touchpoints']:,}",
                          f"{n['touchpoints_per_s']:,.0f}", f"{n['events_per_s']:,.0f}",
                          f"{n['lead_events'] / n['touchpoints']:.2f}",
                          f"{n['touchpoints_per_cpu_s']:,.0f}",
                          f"{n['peak_rss_mib']:.0f}", f"{n['rss_growth_mib']:.0f}", "1.0x")
    console.print(table)
    mix = result["input"]
    console.print(f"validation (parse_inbound): {result['validation_per_s']:,.0f} inputs/s, "
                  f"measured apart; input has {mix['redeliveries']} redeliveries and "
                  f"{mix['late']} late touchpoints")
    if result["baseline_touchpoints"]:
        console.print(f"note: {result['baseline_note']}")
    console.print(f"memory: {result['memory']}")
    console.print(f"gc: {result['gc']} (see the module docstring)")
    print_goals(console, result["goals"])


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    console = Console(width=120)
    _start_workers()
    console.print(f"generating {args.touchpoints:,} touchpoints over {args.leads:,} leads "
                  f"(seed {args.seed}) ...")
    raw = generate_touchpoints(args.touchpoints, args.leads, args.seed)
    items, validate_seconds = validate(raw)
    redeliveries, late = _input_mix(items)
    del items
    baseline = raw[: args.baseline_touchpoints]

    figures: dict[str, BackendFigures] = {}
    stack = contextlib.ExitStack()
    with stack:
        workdir = args.sqlite_dir or Path(stack.enter_context(
            tempfile.TemporaryDirectory(prefix="lc-bench-")))
        workdir.mkdir(parents=True, exist_ok=True)
        pg_base: str | None = None
        if "postgres" in args.backends:
            from tests.harness.postgres import postgres_server

            pg_base = stack.enter_context(postgres_server())
        for backend in args.backends:
            fig = figures[backend] = BackendFigures(backend)
            for rep in range(args.repeat):
                console.print(f"[{backend}] run {rep + 1}/{args.repeat}: engine ...",
                              markup=False)
                with database(backend, workdir, f"engine-{rep}", pg_base) as url:
                    fig.engine.append(_in_worker(run_engine, url, raw, args.batch_size))
                if baseline:
                    console.print(f"[{backend}] run {rep + 1}/{args.repeat}: naive baseline ...",
                                  markup=False)
                    with database(backend, workdir, f"naive-{rep}", pg_base) as url:
                        fig.naive.append(_in_worker(run_naive, url, baseline))

    validation_runs = [validate_seconds] + [r.validate_seconds for f in figures.values()
                                            for r in f.engine]
    validation_tps = len(raw) / statistics.median(validation_runs)
    result: dict[str, Any] = {
        "bench": "ingest",
        "touchpoints": args.touchpoints,
        "leads": args.leads,
        "batch_size": args.batch_size,
        "seed": args.seed,
        "repeat": args.repeat,
        "statistic": "median",
        "input": {"redeliveries": redeliveries, "late": late},
        "baseline_touchpoints": len(baseline),
        "baseline_note": (f"naive baseline ran on the first {len(baseline)} touchpoints of "
                          "the same input; rates are compared" if baseline else "skipped"),
        "validation_per_s": round(validation_tps, 1),
        "memory": "peak RSS of the worker process (resource.getrusage ru_maxrss, "
                  "validated input included); growth = peak after - peak before the phase",
        "gc": "workers gc.collect() + gc.freeze() the validated input before timing",
        "backends": {name: f.summary() for name, f in figures.items()},
        "goals": {},
        "python": platform.python_version(),
        "eventsourcing": importlib.metadata.version("eventsourcing"),
        "cpus": os.cpu_count(),
    }
    sqlite = result["backends"].get("sqlite")
    if sqlite is not None:
        result["goals"]["sqlite_touchpoints_per_s"] = {
            "goal": GOAL_SQLITE_TPS, "value": sqlite["touchpoints_per_s"],
            "met": sqlite["touchpoints_per_s"] >= GOAL_SQLITE_TPS}
    for name, summary in result["backends"].items():
        if summary["ratio_vs_naive"] is not None:
            result["goals"][f"{name}_ratio_vs_naive"] = {
                "goal": GOAL_RATIO, "value": summary["ratio_vs_naive"],
                "met": summary["ratio_vs_naive"] >= GOAL_RATIO}

    _render(console, result, args)
    sys.stdout.flush()
    print(json.dumps(result, sort_keys=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
