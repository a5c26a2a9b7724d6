"""Decaying engagement, alerts and cooling, told as lead stories on SQLite and PostgreSQL.

Each story is recorded through the application and projected by the embedded runner;
the reports are then asked about chosen moments. Expected values are worked out by hand
from the story (``points * 2 ** (-(T - t) / half_life)``, the alert rules of the
built-in scoring file), never by the report code.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from lifecycle.aggregates.lead import Lead
from lifecycle.application import LeadLifecycle, Outcome
from lifecycle.contracts import SalesAction, Touchpoint
from lifecycle.policies import run_policies
from lifecycle.policies.facts import engagement
from lifecycle.projections import ProjectionRunner, ProjectionStore, build_runner
from lifecycle.reports import build_report
from lifecycle.scoring import ScoringConfig, behaviour_at, decay_factor
from lifecycle.settings import Settings
from lifecycle.templates import TemplateRegistry
from tests.support import ICP, T0, action, touchpoint

pytestmark = pytest.mark.integration

NOW = datetime(2024, 6, 1, tzinfo=UTC)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)

Item = Touchpoint | SalesAction


def day(n: float) -> datetime:
    return T0 + n * DAY


def iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat()


@dataclass
class Engine:
    app: LeadLifecycle
    store: ProjectionStore
    runner: ProjectionRunner
    templates: TemplateRegistry
    scoring: ScoringConfig

    def record(self, items: Sequence[Item]) -> None:
        results = self.app.record_batch(items)
        assert [r.outcome for r in results] == [Outcome.ACCEPTED] * len(items), results
        self.runner.run()

    def report(self, name: str, at: datetime) -> dict[str, Any]:
        return build_report(name, self.store, self.templates, self.scoring, at=at)

    def lead(self, email: str) -> str:
        return str(self.app.find_lead(email))


@pytest.fixture
def engine(database_url: str, templates: TemplateRegistry,
           scoring: ScoringConfig) -> Iterator[Engine]:
    app = LeadLifecycle(Settings(database_url=database_url), templates=templates,
                        scoring=scoring, clock=lambda: NOW)
    store = ProjectionStore(database_url)
    try:
        yield Engine(app, store, build_runner(app, store), templates, scoring)
    finally:
        store.close()
        app.close()


def by_time(items: Sequence[Item]) -> list[Item]:
    return sorted(items, key=lambda i: i.occurred_at)


# -- decay --------------------------------------------------------------------------------

DEE = "dee@acme.com"
# (touchpoint id, kind, day); the day-5 pricing page view is delivered last, late
DEE_TOUCHES = [("d-1", "form_submit", 0.0), ("d-2", "content_download", 3.0),
               ("d-3", "webinar_attended", 10.0), ("d-4", "unsubscribe", 12.0),
               ("d-5", "pricing_page_view", 5.0)]
POINTS = {"form_submit": 10.0, "content_download": 8.0, "webinar_attended": 15.0,
          "unsubscribe": -20.0, "pricing_page_view": 6.0}
"""The built-in scoring file's weights, written down again on purpose."""


def by_hand(at: datetime, half_life_days: float = 14.0) -> float:
    """Dee's engagement at ``at``: each touch's points, halved every half-life since."""
    total = 0.0
    for _, kind, d in DEE_TOUCHES:
        if day(d) <= at:
            elapsed_days = (at - day(d)).total_seconds() / 86_400
            total += POINTS[kind] * 0.5 ** (elapsed_days / half_life_days)
    return total


def test_engagement_is_the_sum_of_halving_points_at_any_moment(
    engine: Engine, scoring: ScoringConfig,
) -> None:
    assert {k: scoring.behaviour.weights[k] for k in POINTS} == POINTS
    assert scoring.behaviour.half_life_days == 14.0
    engine.record([touchpoint(tid, kind, email=DEE, profile=ICP if tid == "d-1" else None,
                              at=day(d)) for tid, kind, d in DEE_TOUCHES]
                  + [touchpoint("s-1", "form_submit", email="solo@acme.com", at=day(0))])
    dee, solo = engine.lead(DEE), engine.lead("solo@acme.com")
    half_life = scoring.behaviour.half_life_days

    def scores(at: datetime) -> dict[str, dict[str, Any]]:
        return engagement(engine.store, at.timestamp(), half_life, [dee, solo])

    # one touch of 10 points: halved every 14 days, exactly
    assert [scores(day(d))[solo]["score"] for d in (0, 14, 28)] == pytest.approx(
        [10.0, 5.0, 2.5], rel=1e-12)
    assert dee not in scores(day(0) - HOUR)  # nothing happened yet

    lead = engine.app.get_lead(UUID(dee))
    seconds = half_life * 86_400
    for at in (day(0), day(2.5), day(4), day(5), day(7), day(11), day(12), day(30)):
        expected = by_hand(at)
        row = scores(at)[dee]
        assert row["score"] == pytest.approx(expected, rel=1e-9, abs=1e-12), at
        happened = [(kind, d) for _, kind, d in DEE_TOUCHES if day(d) <= at]
        assert row["touches"] == len(happened)
        assert row["last_touch"] == max(day(d) for _, d in happened).timestamp()
        assert row["by_kind"] == {kind: 1 for kind, _ in happened}
        # the aggregate agrees: from its contributions at any moment...
        assert behaviour_at(lead.contributions, at, seconds) == pytest.approx(
            expected, rel=1e-9, abs=1e-12), at
    # ... and from its running score, kept at its newest touch (the late one included)
    assert lead.behaviour_at == day(12)
    assert lead.behaviour == pytest.approx(by_hand(day(12)), abs=1e-6)
    assert lead.behaviour * decay_factor(lead.behaviour_at, day(30), seconds) == pytest.approx(
        by_hand(day(30)), abs=1e-6)
    # the late touch is counted from its own business time, not from its delivery
    step = scores(day(5))[dee]["score"] - scores(day(5) - timedelta(seconds=1))[dee]["score"]
    assert step == pytest.approx(6.0, abs=1e-3)


# -- alerts -------------------------------------------------------------------------------

HANA, QUINN, REMY, SAM = "hana@acme.com", "quinn@acme.com", "remy@acme.com", "sam@acme.com"
REFS = [f"ref{i}@acme.com" for i in range(1, 6)]


def opportunity(email: str, name: str, *, template: str) -> list[Item]:
    """A Hot lead that asks for sales, is accepted at 2 h (sales contact) and so is an SQL."""
    return [
        touchpoint(f"{name}-1", "trial_started", email=email, profile=ICP, template=template,
                   at=day(0)),
        touchpoint(f"{name}-2", "contact_sales" if template == "industrial" else "demo_requested",
                   email=email, at=day(0) + HOUR),
        action(f"{name}-a", "accept", email=email, at=day(0) + 2 * HOUR),
    ]


def alert_story() -> list[Item]:
    items: list[Item] = [
        # hana: Hot at once (trial by an ideal customer), contacted only at 30 h
        touchpoint("hana-1", "trial_started", email=HANA, profile=ICP, template="industrial",
                   at=day(0)),
        touchpoint("hana-2", "meeting_held", email=HANA, at=day(0) + 30 * HOUR),
        # quinn: a quote on day 2, the reply on day 10
        *opportunity(QUINN, "quinn", template="industrial"),
        touchpoint("quinn-q", "quote_sent", email=QUINN, at=day(2)),
        touchpoint("quinn-r", "reply_received", email=QUINN, at=day(10)),
        # remy: quoted on day 1, terms revised on days 2, 3 and 4, lost on day 5
        *opportunity(REMY, "remy", template="industrial"),
        touchpoint("remy-q", "quote_sent", email=REMY, at=day(1)),
        *(touchpoint(f"remy-r{n}", "quote_revised", email=REMY, at=day(n)) for n in (2, 3, 4)),
        action("remy-l", "lose", email=REMY, reason="competitor_won", competitor="Initech",
               at=day(5)),
    ]
    # five leads spend 1..5 days in discovery (generic B2B); sam enters with them and
    # stays until day 8: discovery's p90 of five completed stays is 4.6 days
    for i, email in enumerate([*REFS, SAM], start=1):
        name = email.split("@")[0]
        items += opportunity(email, name, template="generic_b2b")
        items.append(action(f"{name}-d", "advance", email=email, at=day(1)))
        leaves = day(1 + i) if email != SAM else day(8)
        items.append(action(f"{name}-p", "advance", email=email, at=leaves))
    return by_time(items)


TEMPLATE = {HANA: "industrial", QUINN: "industrial", REMY: "industrial", SAM: "generic_b2b"}

# moment -> {(lead, rule): None for "not open", or (opened at, the lead's stage then)}
ALERT_CHECKS: list[tuple[datetime, dict[tuple[str, str], tuple[datetime, str] | None]]] = [
    (day(0) + 23 * HOUR, {(HANA, "hot_not_contacted"): None}),
    (day(0) + 25 * HOUR, {(HANA, "hot_not_contacted"): (day(1), "nurturing"),
                          (QUINN, "hot_not_contacted"): None}),
    (day(0) + 31 * HOUR, {(HANA, "hot_not_contacted"): None}),
    (day(3.5), {(REMY, "terms_revised"): None}),
    (day(4) + HOUR, {(REMY, "terms_revised"): (day(4), "sql")}),
    (day(5.5), {(REMY, "terms_revised"): None,  # lost: closed leads raise nothing
                (SAM, "stuck_in_stage"): None}),  # only four stays completed so far
    (day(6.5), {(SAM, "stuck_in_stage"): (day(5.6), "discovery")}),
    (day(8.5), {(SAM, "stuck_in_stage"): None}),
    (day(9) - HOUR, {(QUINN, "quote_no_reply"): None}),
    (day(9) + HOUR, {(QUINN, "quote_no_reply"): (day(9), "sql")}),
    (day(10) + HOUR, {(QUINN, "quote_no_reply"): None}),
]


def test_alerts_open_when_a_deadline_passes_and_resolve_when_the_lead_acts(
    engine: Engine,
) -> None:
    """Fed as the story unfolds, the alerts at each moment are the ones the rules say;
    asked again once everything is recorded, every past moment gives the same answer."""
    pending = alert_story()
    live: dict[datetime, dict[str, Any]] = {}
    names: dict[str, str] = {}
    for moment, expected in ALERT_CHECKS:
        due = [i for i in pending if i.occurred_at <= moment]
        pending = pending[len(due):]
        engine.record(due)
        names.update({engine.lead(email): email for email, _ in expected})
        data = engine.report("alerts", moment)
        live[moment] = data
        opened = {(names.get(a["lead_id"]), a["rule"]): a for a in data["alerts"]}
        for key, then in expected.items():
            if then is None:
                assert key not in opened, (moment, key)
                continue
            assert key in opened, (moment, key, data["alerts"])
            alert, (opened_at, stage) = opened[key], then
            assert (alert["opened_at"], alert["stage"], alert["template"]) == (
                iso(opened_at), stage, TEMPLATE[key[0]]), (moment, key)
            assert alert["open_hours"] == round((moment - opened_at) / HOUR, 1)
        assert data["count"] == len(data["alerts"])
        assert sum(data["by_rule"].values()) == data["count"]

    engine.record(pending)
    for moment, data in live.items():
        assert engine.report("alerts", moment) == data, moment


# -- cooling and the decay policy ---------------------------------------------------------

CORA, CLEO = "cora@acme.com", "cleo@acme.com"


def test_a_quiet_hot_lead_cools_and_the_policy_regrades_it(
    engine: Engine, scoring: ScoringConfig,
) -> None:
    engine.record(by_time([
        # cora: trial and demo request by an ideal customer: Hot, then silence
        touchpoint("cora-1", "trial_started", email=CORA, profile=ICP, at=day(0)),
        touchpoint("cora-2", "demo_requested", email=CORA, at=day(0) + HOUR),
        # cleo: a Warm reader who keeps reading
        touchpoint("cleo-1", "page_view", email=CLEO, profile=ICP, at=day(0)),
        touchpoint("cleo-2", "page_view", email=CLEO, at=day(15)),
    ]))
    cora = engine.lead(CORA)
    assert engine.app.get_lead(UUID(cora)).grade == "hot"

    def cooling(at: datetime) -> dict[str, dict[str, Any]]:
        return {row["lead_id"]: row for row in engine.report("cooling", at)["leads"]}

    assert cooling(day(5)) == {}  # 35 + 30 points five days on: still Hot

    at = day(20)
    behaviour = 35 * 2 ** (-20 / 14) + 30 * 2 ** (-(20 - 1 / 24) / 14)
    total = round((0.4 * 100 + 0.4 * behaviour) / 0.8, 2)  # fit 100, no BANT
    assert 35 <= total < 65  # Warm by now
    row = cooling(at)[cora]
    assert (row["grade"], row["grade_now"], row["reasons"]) == (
        "hot", "warm", ["score_below_threshold"])
    assert row["total_now"] == pytest.approx(total, abs=0.01)
    assert row["behaviour_now"] == pytest.approx(behaviour, abs=1e-4)
    assert list(cooling(at)) == [cora]

    result = run_policies(engine.app, at=at, store=engine.store)
    assert (result["cooling"], result["regraded"]) == (1, 1)
    assert (result["nurturing"], result["nurture_sent"]) == (1, 1)  # cleo's day-12 step

    last = engine.app.lead_events(UUID(cora))[-1]
    assert isinstance(last, Lead.Graded)
    assert (last.grade, last.previous, last.trigger, last.actor, last.occurred_at) == (
        "warm", "hot", "decay", "policy:decay", at)
    assert last.total == pytest.approx(total, abs=0.01)
    assert engine.app.get_lead(UUID(cora)).grade == "warm"

    # projected at once (embedded mode): no longer cooling at that moment...
    assert cora not in cooling(at)
    assert cooling(at - HOUR)[cora]["grade"] == "hot"  # ... but it was, just before
    # later it is listed for the silence only, apart: regrading would not change it
    # (fit 100 keeps it Warm), so it is not cooling
    def idle(at: datetime) -> dict[str, dict[str, Any]]:
        return {row["lead_id"]: row for row in engine.report("cooling", at)["idle"]}

    assert cora not in cooling(day(30))
    later = idle(day(30))[cora]
    assert later["grade"] == later["grade_now"] == "warm"
    assert later["idle_days"] == pytest.approx(30 - 1 / 24, abs=0.1)
    # running the policy again changes nothing
    again = run_policies(engine.app, at=at, store=engine.store)
    assert (again["cooling"], again["regraded"], again["nurture_sent"]) == (0, 0, 0)
    # a closed lead is not idle from then on; before, it still was
    engine.record([action("cora-x", "disqualify", email=CORA, reason="no_budget", at=day(31))])
    assert cora not in idle(day(32))
    assert idle(day(30)) == {cora: later}
