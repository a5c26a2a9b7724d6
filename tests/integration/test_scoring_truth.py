"""One scoring truth: the cooling report and the decay policy agree with the Lead itself.

A lead is listed as cooling at ``T`` exactly when regrading it at ``T`` lowers its
grade; after ``policies run --at T`` nothing is listed at ``T`` any more, and no lead
the report left out would change if regraded. Told first as the story that broke it (a
Hot lead kept Hot by its BANT answers), then over generated leads on both databases.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lifecycle.aggregates.lead import Lead
from lifecycle.application import LeadLifecycle, Outcome
from lifecycle.contracts import SalesAction, Touchpoint
from lifecycle.policies import run_policies
from lifecycle.projections import ProjectionStore, build_runner
from lifecycle.reports import build_report
from lifecycle.scoring import ScoringConfig
from lifecycle.settings import Settings
from lifecycle.templates import CLOSED_STAGES, TemplateRegistry
from tests.harness.postgres import fresh_database
from tests.support import ICP, T0, action, touchpoint

pytestmark = pytest.mark.integration

NOW = datetime(2024, 9, 1, tzinfo=UTC)
DAY = timedelta(days=1)


@contextmanager
def engine(url: str, templates: TemplateRegistry,
           scoring: ScoringConfig) -> Iterator[tuple[LeadLifecycle, ProjectionStore]]:
    app = LeadLifecycle(Settings(database_url=url), templates=templates, scoring=scoring,
                        clock=lambda: NOW)
    store = ProjectionStore(url)
    try:
        yield app, store
    finally:
        store.close()
        app.close()


def record(app: LeadLifecycle, store: ProjectionStore,
           items: list[Touchpoint | SalesAction]) -> None:
    results = app.record_batch(items)
    assert [r.outcome for r in results] == [Outcome.ACCEPTED] * len(items), results
    build_runner(app, store).run()


def cooling(app: LeadLifecycle, store: ProjectionStore, at: datetime) -> set[str]:
    # app.scoring: the report itself must score each lead by its template's configuration
    data = build_report("cooling", store, app.templates, app.scoring, at=at)
    assert data["count"] == len(data["leads"])
    return {row["lead_id"] for row in data["leads"]}


def decay_regrades(app: LeadLifecycle, lead_ids: list[str], at: datetime) -> set[str]:
    """The leads a decay policy run at ``at`` regraded (their Graded events)."""
    return {lid for lid in lead_ids for e in app.lead_events(UUID(lid))
            if isinstance(e, Lead.Graded) and e.trigger == "decay" and e.occurred_at == at}


def would_regrade(app: LeadLifecycle, lead_id: str, at: datetime) -> bool:
    """Whether regrading the stored lead at ``at`` changes its grade (nothing saved)."""
    lead = app.get_lead(UUID(lead_id))
    return lead.regrade(at, template=app.templates[lead.template],
                        config=app.scoring.for_template(lead.template), recorded_at=NOW,
                        cause="test:probe")


def test_a_hot_lead_kept_hot_by_its_bant_answers_is_not_cooling(
    database_url: str, templates: TemplateRegistry, scoring: ScoringConfig,
) -> None:
    email = "bea@acme.com"
    with engine(database_url, templates, scoring) as (app, store):
        record(app, store, [
            touchpoint("b-1", "demo_requested", email=email, profile=ICP, at=T0),
            touchpoint("b-2", "trial_started", email=email, at=T0 + DAY),
            action("b-3", "accept", email=email, at=T0 + 2 * DAY),
            # Hot already: confirming all four criteria changes no grade, so no Graded
            # event carries the answers
            action("b-4", "bant", email=email, budget=True, authority=True, need=True,
                   timeline=True, at=T0 + 3 * DAY),
        ])
        bea = str(app.find_lead(email))
        assert app.get_lead(UUID(bea)).grade == "hot"
        # 20 days on, behaviour ~24: with BANT 4/4 the total is ~69.8 (Hot); without the
        # answers it would be ~62 (Warm), which the report used to compute
        at = T0 + 20 * DAY
        assert not would_regrade(app, bea, at)
        assert cooling(app, store, at) == set()
        result = run_policies(app, at=at, store=store)
        assert (result["cooling"], result["regraded"]) == (0, 0)

        # much later the behaviour is gone and even BANT cannot hold it: both agree
        later = T0 + 60 * DAY
        assert cooling(app, store, later) == {bea}
        result = run_policies(app, at=later, store=store)
        assert (result["cooling"], result["regraded"]) == (1, 1)
        assert app.get_lead(UUID(bea)).grade == "warm"
        assert cooling(app, store, later) == set()


def test_a_better_profile_recorded_without_a_new_grade_counts_too(
    database_url: str, templates: TemplateRegistry, scoring: ScoringConfig,
) -> None:
    email = "cal@acme.com"
    with engine(database_url, templates, scoring) as (app, store):
        record(app, store, [
            touchpoint("c-1", "trial_started", email=email,
                       profile={"industry": "software", "country": "US"}, at=T0),
            touchpoint("c-2", "demo_requested", email=email, at=T0 + DAY),
            # the full profile raises fit to 100 while the lead stays Hot: no Graded event
            touchpoint("c-3", "page_view", email=email, profile=ICP, at=T0 + 2 * DAY),
        ])
        cal = str(app.find_lead(email))
        assert app.get_lead(UUID(cal)).grade == "hot"
        for days in range(0, 60, 3):
            at = T0 + (2 + days) * DAY
            assert (cal in cooling(app, store, at)) == would_regrade(app, cal, at), days


# -- over generated leads -------------------------------------------------------------------

KINDS = ("page_view", "form_submit", "webinar_attended", "demo_requested", "trial_started",
         "meeting_held", "unsubscribe", "email_click")
PROFILES = (None, ICP, {"industry": "software", "country": "US"}, {"employees": 20},
            {"title": "intern"}, {"title": "Working Professional"})


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[Touchpoint | SalesAction], datetime]:
    items: list[Touchpoint | SalesAction] = []
    latest = T0
    for n in range(draw(st.integers(1, 4))):
        email = f"lead{n}@acme{n}.com"
        # a consumer lead is graded by the scoring file's consumer override (its fit,
        # its grading): the report must ask the same configuration
        template = draw(st.sampled_from(("generic_b2b", "consumer")))
        t = T0 + draw(st.integers(0, 72)) * timedelta(hours=6)
        mine: list[Touchpoint | SalesAction] = []
        for k in range(draw(st.integers(1, 5))):
            profile = draw(st.sampled_from(PROFILES)) if k else ICP
            mine.append(touchpoint(f"{n}-t{k}", draw(st.sampled_from(KINDS)), email=email,
                                   profile=profile, at=t, template=template))
            t += draw(st.integers(0, 40)) * timedelta(hours=6)
        if draw(st.booleans()):
            mine.append(action(f"{n}-a", "accept", email=email, skip_reason="call", at=t))
            answers = draw(st.lists(st.booleans() | st.none(), min_size=4, max_size=4))
            if any(a is not None for a in answers):
                t += DAY
                fields: dict[str, Any] = dict(zip(("budget", "authority", "need", "timeline"),
                                                  answers, strict=True))
                mine.append(action(f"{n}-b", "bant", email=email, at=t, **fields))
        if draw(st.booleans()) and len(mine) > 1:  # one touch arrives late
            late = mine.pop(draw(st.integers(1, len(mine) - 1)))
            mine.append(late)
        latest = max(latest, t)
        items.extend(mine)
    return items, latest + draw(st.integers(0, 90)) * timedelta(hours=12)


@contextmanager
def fresh_url(backend: str, postgres_url: str | None) -> Iterator[str]:
    if backend == "postgres":
        assert postgres_url is not None
        with fresh_database(postgres_url) as url:
            yield url
        return
    with tempfile.TemporaryDirectory() as directory:
        yield f"sqlite:///{Path(directory) / 'lifecycle.db'}"


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres",
                                                            marks=pytest.mark.postgres)])
def test_the_cooling_list_is_exactly_what_the_policy_regrades(
    backend: str, request: pytest.FixtureRequest, templates: TemplateRegistry,
    scoring: ScoringConfig,
) -> None:
    pg = request.getfixturevalue("postgres_url") if backend == "postgres" else None

    @settings(max_examples=25 if backend == "sqlite" else 12, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(histories())
    def check(history: tuple[list[Touchpoint | SalesAction], datetime]) -> None:
        items, at = history
        with fresh_url(backend, pg) as url, engine(url, templates, scoring) as (app, store):
            record(app, store, items)
            leads = [str(app.find_lead(f"lead{n}@acme{n}.com"))
                     for n in range(len({i.email for i in items}))]
            listed = cooling(app, store, at)
            expected = {lid for lid in leads if would_regrade(app, lid, at)}
            assert listed == expected
            result = run_policies(app, at=at, store=store)
            assert result["regraded"] == result["cooling"] == len(listed)
            assert decay_regrades(app, leads, at) == listed
            assert cooling(app, store, at) == set()
            for lid in leads:  # and nobody the report left out would change now
                assert not would_regrade(app, lid, at), lid
                lead = app.get_lead(UUID(lid))
                assert lead.stage in CLOSED_STAGES or lead.grade is not None

    check()
