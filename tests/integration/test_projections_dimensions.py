"""Reports by a dimension, the dimensions projection and the quality report, told as
small lead stories on SQLite and PostgreSQL.

Every expected group, count and anomaly is worked out by hand from the story.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from lifecycle.application import LeadLifecycle, Outcome
from lifecycle.contracts import SalesAction, Touchpoint
from lifecycle.projections import EventRecord, ProjectionStore, build_runner
from lifecycle.projections.dimensions import MAX_NAME, dimensions
from lifecycle.projections.faults import Fault
from lifecycle.projections.tables import funnel
from lifecycle.reports import build_report, parse_dimension
from lifecycle.reports.html import write_html
from lifecycle.reports.render import render_terminal
from lifecycle.scoring import FitConfig, ScoringConfig
from lifecycle.settings import Settings
from lifecycle.templates import TemplateRegistry
from tests.support import FIT45, ICP, T0, action, hours, touchpoint

pytestmark = pytest.mark.integration

DAY = timedelta(days=1)
AT = T0 + 60 * DAY
ADA, BOB, CY, DEE = "ada@acme.com", "bob@acme.com", "cy@acme.com", "dee@acme.com"
LONG_VALUE = "x" * 60_000
UNICODE = "Ünïcödé 名前"
Item = Touchpoint | SalesAction


@dataclass
class Engine:
    app: LeadLifecycle
    store: ProjectionStore
    templates: TemplateRegistry

    def record(self, items: Sequence[Item]) -> None:
        results = self.app.record_batch(items)
        assert [r.outcome for r in results] == [Outcome.ACCEPTED] * len(items), results
        build_runner(self.app, self.store).run()

    def report(self, name: str, by: str | None = None, **kwargs: Any) -> dict[str, Any]:
        return build_report(name, self.store, self.templates, self.app.scoring, at=AT,
                            by=None if by is None else parse_dimension(by), **kwargs)

    def lead(self, email: str) -> str:
        return str(self.app.find_lead(email))


def _zero_unknown(scoring: ScoringConfig) -> ScoringConfig:
    """The scoring file with unknown kinds recorded at 0 points (not rejected)."""
    return scoring.model_copy(update={"behaviour": scoring.behaviour.model_copy(
        update={"unknown_kind": "zero"})})


@pytest.fixture
def engine(database_url: str, templates: TemplateRegistry,
           scoring: ScoringConfig) -> Iterator[Engine]:
    app = LeadLifecycle(Settings(database_url=database_url), templates=templates,
                        scoring=_zero_unknown(scoring))
    store = ProjectionStore(database_url)
    try:
        yield Engine(app, store, templates)
    finally:
        store.close()
        app.close()


def story() -> list[Item]:
    """Ada: plan pro, then free (first value wins: pro), accepted by sales:bob and won.
    Bob: plan free, lost. Cy: no plan, an unusual property set. Dee: plan 42 (a number),
    country given later (the latest value counts)."""
    return [
        touchpoint("a1", "form_submit", email=ADA, profile=ICP,
                   properties={"plan": "pro", "seats": 12, "tags": {"b": 1, "a": [1, 2]}}),
        touchpoint("a2", "demo_requested", email=ADA, at=T0 + hours(1),
                   properties={"plan": "free"}),
        action("a3", "accept", email=ADA, at=T0 + hours(2), actor="sales:bob",
               skip_reason="imported"),
        action("a4", "win", email=ADA, at=T0 + 3 * DAY, actor="sales:bob", amount=1000,
               currency="EUR", skip_reason="imported"),
        touchpoint("b1", "form_submit", email=BOB, channel="organic_search", profile=FIT45,
                   properties={"plan": "free", "code": "007"}),
        action("b2", "disqualify", email=BOB, at=T0 + 2 * DAY, reason="no_budget"),
        touchpoint("c1", "page_view", email=CY, channel="paid_search",
                   properties={UNICODE: "日本", "note": LONG_VALUE, "y" * (MAX_NAME + 1): 1}),
        touchpoint("d1", "page_view", email=DEE, channel="direct_traffic",
                   profile={"industry": "software", "country": "FR"}, properties={"plan": 42}),
        touchpoint("d2", "page_view", email=DEE, channel="social", at=T0 + DAY,
                   profile={"country": "DE"}),
    ]


def groups(data: dict[str, Any]) -> dict[str, int]:
    return {g["group"]: g["leads"] for g in data["groups"]}


def test_property_groups_count_each_lead_once_by_its_first_value(engine: Engine) -> None:
    engine.record(story())
    funnel_by = engine.report("funnel", "property:plan")
    assert funnel_by["by"] == "property:plan"
    assert groups(funnel_by) == {"pro": 1, "free": 1, "42": 1, "(none)": 1}
    pro = next(g for g in funnel_by["groups"] if g["group"] == "pro")
    (b2b,) = pro["templates"]
    assert (b2b["leads"], b2b["mql"], b2b["won"], b2b["mql_to_won"]) == (1, 1, 1, 1.0)
    stages = {s["stage"]: s["entered"] for s in b2b["stages"]}
    assert stages["won"] == stages["mql"] == stages["sql"] == 1

    by = engine.report("channels", "property:plan")
    rows = {g["group"]: g for g in by["groups"]}
    assert (rows["pro"]["won"], rows["free"]["won"], rows["free"]["share"]) == (1, 0, 0.25)

    losses = engine.report("losses", "property:plan")
    assert {g["group"]: g["count"] for g in losses["groups"]} == {
        "pro": 0, "free": 1, "42": 0, "(none)": 0}
    free = next(g for g in losses["groups"] if g["group"] == "free")
    assert free["top_reasons"] == [{"reason": "no_budget", "count": 1}]


def test_each_dimension_reads_its_own_source(engine: Engine) -> None:
    engine.record(story())
    assert groups(engine.report("channels", "owner")) == {"sales:bob": 1, "(none)": 3}
    assert groups(engine.report("channels", "country")) == {"US": 2, "DE": 1, "(none)": 1}
    assert groups(engine.report("channels", "industry")) == {"software": 3, "(none)": 1}
    assert groups(engine.report("channels", "template")) == {"generic_b2b": 4}
    assert groups(engine.report("channels")) == {
        "seo": 1, "organic_search": 1, "paid_search": 1, "direct_traffic": 1}
    grouped = engine.report("channels", "channel_group", channel_groups={
        "organic_search": "search", "paid_search": "search"})
    assert groups(grouped) == {"search": 2, "seo": 1, "direct_traffic": 1}
    # numbers as JSON keep their text; a number sent as a string stays a string
    assert groups(engine.report("channels", "property:code")) == {"007": 1, "(none)": 3}
    assert groups(engine.report("channels", "property:seats")) == {"12": 1, "(none)": 3}
    assert groups(engine.report("channels", "property:tags")) == {
        '{"a":[1,2],"b":1}': 1, "(none)": 3}
    # as of a past date: Dee's later country is not known yet
    early = build_report("channels", engine.store, engine.templates, engine.app.scoring,
                         at=AT, as_of=T0 + hours(12), by=parse_dimension("country"))
    assert groups(early) == {"US": 2, "FR": 1, "(none)": 1}


def test_hostile_property_names_and_values_do_not_break_a_report(
        engine: Engine, tmp_path: Path) -> None:
    engine.record(story())
    assert groups(engine.report("channels", f"property:{UNICODE}")) == {"日本": 1, "(none)": 3}
    note = engine.report("funnel", "property:note")
    assert groups(note) == {LONG_VALUE: 1, "(none)": 3}
    too_long = engine.store.query("SELECT COUNT(*) FROM lc_properties WHERE name = ?",
                                  ["y" * (MAX_NAME + 1)])
    assert too_long == [(0,)]
    reports = {name: engine.report(name, "property:note") if name in (
        "funnel", "channels", "losses") else engine.report(name)
        for name in ("funnel", "channels", "losses", "quality")}
    path = tmp_path / "report.html"
    write_html(reports, path)
    page = path.read_text(encoding="utf-8")
    assert "grouped by property:note" in page
    assert page.count("<section ") == 4


def test_groups_beyond_the_top_are_pooled_as_other(engine: Engine) -> None:
    items: list[Item] = [touchpoint(f"t{i}", email=f"p{i}@acme.com",
                                    properties={"cohort": f"c{i:02d}"}) for i in range(15)]
    items += [touchpoint("t-extra", email="q@acme.com", properties={"cohort": "c00"})]
    engine.record(items)
    data = engine.report("channels", "property:cohort")
    shown = groups(data)
    assert len(shown) == 13
    assert shown["c00"] == 2
    assert shown["(other)"] == 3
    assert (data["groups_shown"], data["groups_pooled"], data["top"]) == (13, 3, 12)
    assert sum(shown.values()) == 16
    assert data["largest"] == {"group": "c00", "share": 0.125}


def test_an_erased_lead_takes_its_properties_with_it(engine: Engine) -> None:
    engine.record(story())
    ada = engine.lead(ADA)
    count = "SELECT COUNT(*) FROM lc_properties WHERE lead_id = ?"
    assert engine.store.query(count, [ada]) == [(4,)]  # plan, seats, tags; plan again
    engine.app.erase(engine.app.find_lead(ADA), actor="dpo", cause="request")
    build_runner(engine.app, engine.store).run()
    assert engine.store.query(count, [ada]) == [(0,)]
    assert engine.store.query(count, [engine.lead(BOB)]) == [(2,)]
    assert groups(engine.report("channels", "property:plan")) == {
        "free": 1, "42": 1, "(none)": 2}
    # a rebuild replays the properties, then the erasure again
    build_runner(engine.app, engine.store).rebuild(["dimensions"])
    assert engine.store.query(count, [ada]) == [(0,)]


def _record(type_: str, lead: str, version: int, **data: Any) -> EventRecord:
    stamp = {"occurred_at": (T0 + version * DAY).isoformat(),
             "timestamp": (T0 + version * DAY).isoformat(), "actor": "sales:bob",
             "source": "sales"}
    return EventRecord(version, lead, version, type_, {**stamp, **data})


def test_properties_noted_and_reinstated_events_are_projected_by_name(
        database_url: str) -> None:
    """The domain's new events, as hand-made records, written as the runner writes."""
    store = ProjectionStore(database_url)
    try:
        store.ensure([funnel, dimensions])
        events = [
            _record("PropertiesNoted", "L1", 3, properties={"segment": "smb", "score": 1.5}),
            _record("PropertiesNoted", "L1", 4, properties={"segment": "enterprise"}),
            _record("Reinstated", "L1", 5, from_stage="disqualified", to_stage="nurturing",
                    rule="person_acted", text="enc:v1:sealed"),
        ]
        rows: dict[str, list[tuple[Any, ...]]] = {}
        for event in events:
            for p in (funnel, dimensions):
                for table, values in p.rows(event):
                    rows.setdefault(table, []).append(values)
        tables = {t.name: t for p in (funnel, dimensions) for t in p.tables}
        store.write(rows, tables, {})
        assert store.query("SELECT version, name, value, number FROM lc_properties "
                           "ORDER BY version, name") == [
            (3, "score", "1.5", 1.5), (3, "segment", "smb", None),
            (4, "segment", "enterprise", None)]
        assert store.query("SELECT from_stage, to_stage, kind, reason, actor "
                           "FROM lc_transitions") == [
            ("disqualified", "nurturing", "reinstated", "person_acted", "sales:bob")]
    finally:
        store.close()


def _stand_in(profile: dict[str, Any], fit: FitConfig) -> tuple[str, ...]:
    """``lifecycle.scoring.unmatched`` as its signature says: the fields whose value
    the fit configuration does not name."""
    return tuple(name for name, targets in (("industry", fit.industry.targets),
                                            ("country", fit.country.targets))
                 if name in profile and profile[name] not in targets)


def test_the_quality_report_counts_every_anomaly_of_a_crafted_history(
        engine: Engine) -> None:
    engine.record([
        touchpoint("a1", "form_submit", email=ADA, profile=ICP),
        touchpoint("a2", "page_view", email=ADA, at=T0 - 2 * DAY),  # before its capture
        action("a3", "accept", email=ADA, at=T0 + hours(2), skip_reason="imported"),
        action("a4", "win", email=ADA, at=T0 - 5 * DAY, amount=100, currency="EUR",
               skip_reason="imported"),  # won before the first contact
        touchpoint("b1", "sms_sent", email=BOB, profile={"industry": "basket weaving"}),
        touchpoint("b2", "sms_sent", email=BOB, at=T0 + hours(1)),
        touchpoint("c1", "chat", external_id="crm-1", email=None, profile={"country": "ZZ"}),
    ])
    data = engine.report("quality", unmatched=_stand_in)
    ada = engine.lead(ADA)
    assert data["leads"] == 3
    assert data["without_contact"] == {"count": 1, "share": 0.3333,
                                       "leads": [str(engine.app.find_lead("crm-1"))]}
    assert data["unknown_kinds"] == [{"kind": "sms_sent", "touches": 2, "leads": 1},
                                     {"kind": "chat", "touches": 1, "leads": 1}]
    assert data["unmatched_values"] == [
        {"field": "country", "leads": 1, "values": [{"value": "ZZ", "leads": 1}]},
        {"field": "industry", "leads": 1, "values": [{"value": "basket weaving", "leads": 1}]}]
    before = data["before_capture"]
    assert (before["count"], before["leads"]) == (2, 1)  # the touch and the win
    assert {e["event"] for e in before["examples"]} == {"page_view", "won"}
    wins = data["wins_before_first_contact"]
    assert (wins["count"], wins["examples"][0]["lead_id"]) == (1, ada)
    assert wins["examples"][0]["days_before"] == 3.0  # first contact: the touch at T0 - 2d
    negative = data["negative_durations"]
    assert (negative["count"], negative["examples"][0]["stage"]) == (1, "sql")
    assert negative["examples"][0]["days"] == pytest.approx(-5.08, abs=0.01)
    assert data["recorded_before_business_time"]["count"] == 0
    console = Console(record=True, width=200)
    render_terminal("quality", data, console)
    text = console.export_text()
    assert re.search(r"events dated before their lead's capture\s+2\s+1\s+33\.3%", text)
    assert re.search(r"wins dated before the lead's first contact\s+1\s+1\s+33\.3%", text)
    assert re.search(r"leads without contact \(no email, no phone\)\s+1\s+1\s+33\.3%", text)
    assert re.search(r"sms sent\s+2\s+1", text)
    assert re.search(r"basket weaving\s+1", text)
    assert ada in text  # the anomalies' leads are listed
    # shown in the funnel too: the negative stay is counted apart, not clipped to 0
    sql = next(s for t in engine.report("funnel")["templates"] for s in t["stages"]
               if s["stage"] == "sql")
    assert sql["dwell_days"]["negative"] == 1
    assert sql["dwell_days"]["n"] == 0


def test_business_times_after_their_recording_are_listed(
        database_url: str, templates: TemplateRegistry, scoring: ScoringConfig) -> None:
    recorded = datetime(2024, 3, 4, 12, tzinfo=UTC)
    app = LeadLifecycle(Settings(database_url=database_url), templates=templates,
                        scoring=scoring, clock=lambda: recorded)
    store = ProjectionStore(database_url)
    try:
        ahead = recorded + hours(6)  # within the allowed skew of a day
        assert app.record_batch([touchpoint("s1", at=ahead)])[0].outcome == Outcome.ACCEPTED
        build_runner(app, store).run()
        data = build_report("quality", store, templates, scoring, at=AT)
        skews = data["recorded_before_business_time"]
        assert skews["count"] >= 1
        assert {e["event"] for e in skews["examples"]} >= {"Captured", "TouchpointRecorded"}
        assert all(e["hours_ahead"] == 6.0 for e in skews["examples"])
        assert data["as_of"] is None
    finally:
        store.close()
        app.close()


def test_an_erasure_in_a_batch_the_database_refused_part_of_still_erases(
        database_url: str) -> None:
    """The runner's slow path (a batch with a refused value, written unit by unit)
    erases as the bulk path does."""
    store = ProjectionStore(database_url)
    try:
        store.ensure([dimensions])
        tables = {t.name: t for t in dimensions.tables}
        noted = _record("PropertiesNoted", "L1", 1, properties={"segment": "smb"})
        store.write({"lc_properties": [v for _, v in dimensions.rows(noted)]}, tables, {})
        erased = _record("Erased", "L1", 2)
        other = _record("PropertiesNoted", "L2", 1, properties={"segment": "mid"})
        units = [(Fault("dimensions", r.lead_id, r.version, r.position, r.type, ""),
                  list(dimensions.rows(r))) for r in (erased, other)]
        assert store.write_isolating(units, tables, {}) == []
        assert store.query("SELECT lead_id, value FROM lc_properties") == [("L2", "mid")]
        assert store.query("SELECT lead_id FROM lc_erasures") == [("L1",)]
    finally:
        store.close()
