"""The policies' decisions as pure functions of facts: which leads cool, which alerts are
open, which leads are due a regrade or a nurture step (no database, no clock)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid5

from lifecycle.policies import (
    Alert,
    AlertKind,
    Cooling,
    Due,
    decide_alerts,
    decide_cooling,
    nurture_due,
    regrades_due,
)
from lifecycle.policies.alerts import by_urgency
from lifecycle.policies.dwell import stage_p90_seconds
from lifecycle.policies.facts import DAY, HOUR, AlertFacts, HeldGrade, ScoringInputs
from lifecycle.projections.queries import History, LeadRow, Visit
from lifecycle.scoring import BantAssessment, ScoringConfig

T0 = datetime(2025, 3, 3, tzinfo=UTC)
NS = UUID("6f1c2a4e-9a57-4b8e-8f3c-2d0b7d1e5a10")


def lead_id(name: str) -> str:
    return str(uuid5(NS, name))


def history(stages: dict[str, tuple[str, float]]) -> History:
    """Leads by name, each in (stage, since) as its only visit."""
    h = History(as_of=None)
    for name, (stage, since) in stages.items():
        lid = lead_id(name)
        h.leads[lid] = LeadRow(lid, "saas", "web", "form", T0.timestamp(), "2025-03")
        h.visits[lid].append(Visit(lid, stage, since, None, None, None, None))
    return h


def held(fit: float, behaviour: float, since: datetime, *, erased: bool = False,
         bant: BantAssessment | None = None) -> ScoringInputs:
    return ScoringInputs(fit, behaviour, since, bant or BantAssessment(), erased)


def test_cooling_lists_leads_whose_grade_falls_and_apart_those_only_idle(
        scoring: ScoringConfig) -> None:
    # Half-life 14 days; without BANT the total is the mean of fit and capped behaviour.
    at = T0 + timedelta(days=56)
    touched = {"a": T0, "b": at - timedelta(days=14), "c": T0, "d": T0, "e": T0, "f": T0,
               "g": at - timedelta(days=1)}
    grades = {lead_id("a"): HeldGrade("hot", 40.0, None),     # 100 → 6.25: cold
              lead_id("b"): HeldGrade("warm", 30.0, None),    # 40 → 20: cold, touched lately
              lead_id("c"): HeldGrade("warm", 100.0, None),   # fit alone keeps it warm
              lead_id("d"): HeldGrade("hot", 40.0, None),     # won: closed
              lead_id("e"): HeldGrade("hot", 40.0, None),     # erased
              lead_id("f"): HeldGrade("cold", 0.0, None),     # cold: nothing to lose
              lead_id("g"): HeldGrade("warm", 100.0, None)}   # warm and touched: nothing
    inputs = {lead_id("a"): held(40.0, 100.0, T0),
              lead_id("b"): held(30.0, 40.0, touched["b"]),
              lead_id("c"): held(100.0, 0.0, T0),
              lead_id("d"): held(40.0, 100.0, T0),
              lead_id("e"): held(40.0, 100.0, T0, erased=True),
              lead_id("f"): held(0.0, 0.0, T0),
              lead_id("g"): held(100.0, 0.0, touched["g"])}
    activity: dict[str, dict[str, Any]] = {
        lead_id(n): {"score": 0.0, "last_touch": t.timestamp()} for n, t in touched.items()}
    stages = {n: ("mql", T0.timestamp()) for n in touched} | {"d": ("won", T0.timestamp())}

    decision = decide_cooling(grades, inputs, activity, history(stages), scoring, at=at)

    assert decision.at == at
    assert [c.lead_id for c in decision.cooling] == [lead_id("a"), lead_id("b")]
    a, b = decision.cooling
    assert a == Cooling(lead_id("a"), "hot", "cold", 23.12, scoring.grading.hot, 6.25,
                        T0.timestamp(), 56 * DAY, "mql", "saas",
                        ("score_below_threshold", "no_touch"))
    assert (b.grade_was, b.grade_now, b.reasons) == ("warm", "cold", ("score_below_threshold",))
    assert [(c.lead_id, c.grade_was, c.grade_now, c.reasons) for c in decision.idle] == [
        (lead_id("c"), "warm", "warm", ())]
    assert regrades_due(decision) == (Due(UUID(lead_id("a")), "regrade"),
                                      Due(UUID(lead_id("b")), "regrade"))


def test_open_alerts_follow_the_rules_deadlines(scoring: ScoringConfig) -> None:
    rules = scoring.alerts
    t0 = T0.timestamp()
    at = t0 + 8 * DAY
    h = history({"hot": ("mql", t0), "hot-contacted": ("mql", t0), "quoted": ("sql", t0),
                 "revised": ("sql", t0), "stuck": ("negotiation", t0), "lost": ("lost", t0),
                 "nurturing": ("nurturing", t0)})
    revision = rules.revision_kind
    facts = AlertFacts(
        touches={lead_id("hot-contacted"): [(t0 + 2 * HOUR, rules.contact_kinds[0])],
                 lead_id("quoted"): [(t0, rules.quote_kinds[0])],
                 lead_id("revised"): [(t0 + i * HOUR, revision) for i in (1, 2, 3)]
                 + [(t0 + 4 * HOUR, rules.reply_kinds[0])]},
        sales={},
        hot_since={lead_id(n): t0 for n in ("hot", "hot-contacted", "lost")})
    p90 = {("saas", "negotiation"): 2 * DAY, ("saas", "nurturing"): DAY}

    alerts = decide_alerts(facts, h, p90, rules, at=at)

    def open_at(name: str, kind: AlertKind, opened: float, since: float,
                **extra: Any) -> Alert:
        stage = h.current_stage(lead_id(name))
        return Alert(kind, lead_id(name), opened, since, stage, "saas", "web", **extra)

    assert set(alerts) == {
        open_at("hot", "hot_not_contacted", t0 + rules.hot_not_contacted_hours * HOUR, t0),
        open_at("quoted", "quote_no_reply", t0 + rules.quote_no_reply_days * DAY, t0),
        open_at("revised", "terms_revised", t0 + rules.terms_revised_times * HOUR,
                t0 + rules.terms_revised_times * HOUR, revisions=3),
        open_at("stuck", "stuck_in_stage", t0 + 2 * DAY, t0, p90_seconds=2 * DAY),
    }
    # Twenty hours in only the revisions' alert is open: the other deadlines are ahead.
    assert [a.kind for a in decide_alerts(facts, h, p90, rules, at=t0 + 20 * HOUR)] == [
        "terms_revised"]


def test_only_nurturing_leads_are_due_a_nurture_step() -> None:
    h = history({"n1": ("nurturing", 0.0), "m": ("mql", 0.0), "n2": ("nurturing", 0.0)})
    assert nurture_due(h) == (Due(UUID(lead_id("n1")), "send_nurture"),
                              Due(UUID(lead_id("n2")), "send_nurture"))


def test_stuck_in_stage_watches_sales_stages_only(scoring: ScoringConfig) -> None:
    """Captured and nurturing leads are marketing's: however long they stay and whatever
    their stage's p90, they are never stuck; MQL, SQL and opportunity stages are."""
    t0 = T0.timestamp()
    at = t0 + 400 * DAY
    stages = ("captured", "nurturing", "mql", "sql", "demo")
    h = history({stage: (stage, t0) for stage in stages})
    p90 = {("saas", stage): DAY for stage in stages}
    no_facts = AlertFacts(touches={}, sales={}, hot_since={})

    stuck = decide_alerts(no_facts, h, p90, scoring.alerts, at=at)

    assert {(a.kind, a.stage) for a in stuck} == {
        ("stuck_in_stage", "mql"), ("stuck_in_stage", "sql"), ("stuck_in_stage", "demo")}


def test_a_stage_measures_stuck_only_once_it_has_enough_completed_stays() -> None:
    t0 = T0.timestamp()
    h = History(as_of=None)
    for i in range(5):
        lid = lead_id(f"done-{i}")
        h.leads[lid] = LeadRow(lid, "saas", "web", "form", t0, "2025-03")
        h.visits[lid].extend([Visit(lid, "mql", t0, t0 + (i + 1) * DAY, "sql_accepted",
                                    "sql", None),
                              Visit(lid, "sql", t0 + (i + 1) * DAY, None, None, None, None)])
    # Five completed MQL stays (1..5 days), no completed SQL stay.
    assert stage_p90_seconds(h, min_samples=6) == {}
    assert stage_p90_seconds(h, min_samples=5) == {("saas", "mql"): 397_440.0}  # 4.6 d


def test_alerts_are_listed_most_urgent_rule_first_then_longest_open() -> None:
    def alert(kind: AlertKind, name: str, opened: float) -> Alert:
        return Alert(kind, lead_id(name), opened, opened, "mql", "saas", "web")

    found = [alert("stuck_in_stage", "s-old", 1.0), alert("terms_revised", "t", 5.0),
             alert("hot_not_contacted", "h-new", 9.0), alert("quote_no_reply", "q", 7.0),
             alert("hot_not_contacted", "h-old", 3.0), alert("stuck_in_stage", "s-new", 8.0)]
    assert [(a.kind, a.lead_id) for a in by_urgency(found)] == [
        ("hot_not_contacted", lead_id("h-old")), ("hot_not_contacted", lead_id("h-new")),
        ("quote_no_reply", lead_id("q")), ("terms_revised", lead_id("t")),
        ("stuck_in_stage", lead_id("s-old")), ("stuck_in_stage", lead_id("s-new"))]
