"""The application on real databases: the same stories on SQLite and PostgreSQL.

Every test runs once per backend (the ``database_url`` fixture): a SQLite file in the
test's temporary directory, and a fresh database on a real PostgreSQL server.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import IntegrityError, Tracking

from lifecycle.aggregates.lead import Lead
from lifecycle.aggregates.values import lead_id_for
from lifecycle.application import LeadLifecycle, Outcome
from lifecycle.contracts import SalesAction, Touchpoint
from lifecycle.errors import LeadNotFound
from lifecycle.scoring import ScoringConfig
from lifecycle.settings import Settings
from lifecycle.templates import TemplateRegistry
from tests.support import EMAIL, FIT45, ICP, T0, action, hours, touchpoint

DAY = timedelta(days=1)
NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)

AppFactory = Callable[[], LeadLifecycle]


@pytest.fixture
def open_app(
    database_url: str, templates: TemplateRegistry, scoring: ScoringConfig
) -> Iterator[AppFactory]:
    """Opens application instances on the test's database; closes them afterwards."""
    opened: list[LeadLifecycle] = []

    def factory() -> LeadLifecycle:
        app = LeadLifecycle(Settings(database_url=database_url), templates=templates,
                            scoring=scoring, clock=lambda: NOW)
        opened.append(app)
        return app

    yield factory
    for app in opened:
        app.close()


def story() -> list[Touchpoint | SalesAction]:
    """Three leads on three templates, with the sales actions that move them on."""
    bo: dict[str, Any] = {"email": "bo@initech.io", "external_id": "crm-bo"}
    cy: dict[str, Any] = {"email": "cy@globex.de"}
    return [
        touchpoint("ada-1", profile=FIT45),
        touchpoint("ada-2", "demo_requested", at=T0 + hours(1)),
        action("ada-a", "accept", at=T0 + hours(2)),
        action("ada-b", "advance", at=T0 + hours(3), amount=9_000, currency="EUR"),
        action("ada-c", "lose", at=T0 + hours(4), reason="competitor_won", competitor="Initech"),
        touchpoint("bo-1", "trial_started", profile=ICP, template="saas", **bo),
        action("bo-a", "advance", at=T0 + hours(5), **bo),
        action("bo-b", "win", at=T0 + hours(6), skip_reason="signed early", amount=20_000,
               currency="USD", **bo),
        touchpoint("cy-1", "webinar_attended", template="industrial",
                   profile={"industry": "manufacturing", "employees": 800}, **cy),
        action("cy-a", "bant", at=T0 + hours(1), budget=True, need=True, **cy),
        action("nobody", "note", email="nobody@nowhere.org", text="who?"),
        action("ada-d", "win", at=T0 + hours(5)),  # lost: illegal
        touchpoint("ada-3", "email_open", at=T0 + hours(6)),
    ]


def snapshot(app: LeadLifecycle, lead_id: UUID) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    lead = app.get_lead(lead_id)
    return dict(lead.__dict__), [dict(vars(e)) for e in app.lead_events(lead_id)]


def test_a_restarted_application_rebuilds_the_same_leads(open_app: AppFactory) -> None:
    app = open_app()
    items = story()
    results = app.record_batch(items)
    assert [r.outcome for r in results] == [Outcome.ACCEPTED] * 10 + [
        Outcome.REJECTED, Outcome.REJECTED, Outcome.ACCEPTED]
    assert [r.code for r in results[10:12]] == ["unknown_lead", "illegal_transition"]
    lead_ids = {r.lead_id for r in results if r.lead_id is not None}
    assert len(lead_ids) == 3
    before = {lead_id: snapshot(app, lead_id) for lead_id in lead_ids}
    stages = {s["template"]: s["stage"] for s, _ in before.values()}
    assert stages == {"generic_b2b": "lost", "saas": "won", "industrial": "nurturing"}
    head = app.recorder.max_notification_id()
    app.close()

    restarted = open_app()
    assert restarted.recorder.max_notification_id() == head
    for lead_id, (state, events) in before.items():
        assert snapshot(restarted, lead_id) == (state, events)
    # the restarted application finds leads by their keys and carries on
    ada = restarted.find_lead(EMAIL)
    result = restarted.record(action("ada-e", "reopen", at=T0 + hours(7)))
    assert (result.outcome, result.lead_id) == (Outcome.ACCEPTED, ada)
    assert restarted.get_lead(ada).stage == "discovery"


def test_duplicates_are_recognised_across_restarts(open_app: AppFactory) -> None:
    app = open_app()
    items = story()
    first = app.record_batch(items)
    head = app.recorder.max_notification_id()
    app.close()

    restarted = open_app()
    again = restarted.record_batch(items)
    for before, after in zip(first, again, strict=True):
        if before.outcome is Outcome.ACCEPTED:
            assert (after.outcome, after.lead_id, after.events) == (
                Outcome.DUPLICATE, before.lead_id, 0)
        else:  # a rejection is not remembered: it is judged again, and rejected again
            assert after.outcome is Outcome.REJECTED
    assert restarted.recorder.max_notification_id() == head
    # one at a time, in reverse order, also nothing new
    for item in reversed(items[:10]):
        assert restarted.record(item).outcome is Outcome.DUPLICATE
    assert restarted.recorder.max_notification_id() == head


def test_a_late_touchpoint_is_recorded_and_scored_at_its_own_business_time(
    open_app: AppFactory,
) -> None:
    app = open_app()
    app.record_batch([touchpoint("t-1", "form_submit", profile=FIT45),
                      touchpoint("t-2", "content_download", at=T0 + 14 * DAY)])
    lead_id = app.find_lead(EMAIL)
    assert app.get_lead(lead_id).behaviour == 13.0  # 10 halved + 8
    app.close()

    restarted = open_app()
    result = restarted.record(touchpoint("t-3", "email_click", at=T0 + 7 * DAY))  # late
    assert result.outcome is Outcome.ACCEPTED
    late = restarted.lead_events(lead_id)[-1]
    assert isinstance(late, Lead.TouchpointRecorded)
    assert (late.cause_id, late.occurred_at, late.points) == ("touchpoint:t-3", T0 + 7 * DAY, 3.0)
    assert late.timestamp == NOW  # recorded now, happened a week before the newest touch
    assert late.behaviour == 15.12132  # 13 + 3 decayed over the week since: 3 * 2^-0.5
    lead = restarted.get_lead(lead_id)
    assert (lead.behaviour, lead.behaviour_at, lead.last_touch_at) == (
        15.12132, T0 + 14 * DAY, T0 + 14 * DAY)
    assert sorted(c.occurred_at for c in lead.contributions) == [
        T0, T0 + 7 * DAY, T0 + 14 * DAY]


def test_an_action_that_overtakes_its_capture_is_accepted_when_redelivered(
    open_app: AppFactory,
) -> None:
    app = open_app()
    accept = action("acc-1", "accept", at=T0 + hours(2), skip_reason="asked for a quote")
    early = app.record(accept)
    assert (early.outcome, early.code) == (Outcome.REJECTED, "unknown_lead")
    assert app.recorder.max_notification_id() is None  # nothing written for it
    app.record_batch([touchpoint("tp-1", profile=FIT45), accept])  # capture, then redelivery
    lead = app.get_lead(app.find_lead(EMAIL))
    assert lead.stage == "sql"
    assert "action:acc-1" in lead.seen
    assert app.record(accept).outcome is Outcome.DUPLICATE


def test_one_person_known_by_several_keys_is_one_lead(open_app: AppFactory) -> None:
    app = open_app()
    both = app.record(touchpoint("k-1", external_id="crm-7", email="Ada@Acme.com"))
    by_email = app.record(touchpoint("k-2", at=T0 + hours(1), email=EMAIL))
    app.close()
    restarted = open_app()
    by_external = restarted.record(touchpoint("k-3", at=T0 + hours(2), external_id="crm-7",
                                              email=None))
    by_action = restarted.record(action("k-4", "note", email=EMAIL, text="hello"))
    lead_id = lead_id_for("external:crm-7")
    assert {r.lead_id for r in (both, by_email, by_external, by_action)} == {lead_id}
    assert all(r.outcome is Outcome.ACCEPTED for r in (both, by_email, by_external, by_action))
    for key in ("crm-7", "external:crm-7", EMAIL, "ADA@acme.com", "email:ada@acme.com",
                str(lead_id)):
        assert restarted.find_lead(key) == lead_id
    touches = [e.cause_id for e in restarted.lead_events(lead_id)
               if isinstance(e, Lead.TouchpointRecorded)]
    assert touches == ["touchpoint:k-1", "touchpoint:k-2", "touchpoint:k-3"]


def test_a_key_seen_later_is_linked_to_the_lead_found_by_the_other(open_app: AppFactory) -> None:
    app = open_app()
    first = app.record(touchpoint("k-1", email="bo@initech.io"))
    linked = app.record(touchpoint("k-2", external_id="crm-bo", email="bo@initech.io"))
    app.close()
    restarted = open_app()
    later = restarted.record(touchpoint("k-3", external_id="crm-bo", email=None))
    assert first.lead_id == linked.lead_id == later.lead_id == lead_id_for("email:bo@initech.io")
    assert first.lead_id is not None
    assert restarted.find_lead("crm-bo") == first.lead_id
    # a key nobody has used is not found, and a sales action for it is rejected
    with pytest.raises(LeadNotFound, match="no lead is known by 'crm-zz'"):
        restarted.find_lead("crm-zz")
    rejected = restarted.record(action("k-4", "note", external_id="crm-zz", email=None, text="x"))
    assert (rejected.outcome, rejected.code) == (Outcome.REJECTED, "unknown_lead")


def test_a_conflicting_writer_leaves_nothing_of_the_batch_saved(
    open_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two instances capture the same new person; the later one's batch fails whole."""
    writer, racer = open_app(), open_app()
    batch: list[Touchpoint | SalesAction] = [
        touchpoint("bo-1", email="bo@initech.io"),  # a lead only this batch knows
        touchpoint("ada-2", "demo_requested", at=T0 + hours(1), profile=FIT45),
    ]
    insert = racer.recorder.insert_events

    def the_other_writer_commits_first(*args: Any, **kwargs: Any) -> Any:
        # between racer's reads (no lead for ada) and its write, writer captures ada
        monkeypatch.setattr(racer.recorder, "insert_events", insert)
        writer.record(touchpoint("ada-1", profile=FIT45))
        return insert(*args, **kwargs)

    monkeypatch.setattr(racer.recorder, "insert_events", the_other_writer_commits_first)
    with pytest.raises(IntegrityError):
        racer.record_batch(batch, tracking=Tracking("upstream", 7))

    reader = open_app()
    assert reader.process_recorder.max_tracking_id("upstream") is None
    with pytest.raises(LeadNotFound):
        reader.find_lead("bo@initech.io")
    ada = reader.find_lead(EMAIL)
    assert {e.cause_id for e in reader.lead_events(ada)} == {"touchpoint:ada-1"}

    # the failed batch left no stale state behind: the same batch again just works
    results = racer.record_batch(batch, tracking=Tracking("upstream", 7))
    assert [r.outcome for r in results] == [Outcome.ACCEPTED, Outcome.ACCEPTED]
    assert results[1].lead_id == ada
    assert reader.process_recorder.max_tracking_id("upstream") == 7
    reader.evict()
    assert reader.get_lead(reader.find_lead("bo@initech.io")).stage == "nurturing"
    lead = reader.get_lead(ada)
    assert lead.stage == "mql"
    assert lead.version == len(reader.lead_events(ada))


def test_a_stale_cache_conflicts_instead_of_writing_twice(open_app: AppFactory) -> None:
    one, two = open_app(), open_app()
    one.record(touchpoint("t-1", profile=FIT45))
    two.record(touchpoint("t-2", at=T0 + hours(1)))  # one's cached copy is stale now
    # redelivered to the stale instance, t-2 is found in the stored input index, not
    # in the stale lead: a duplicate, nothing written
    head = one.recorder.max_notification_id()
    assert one.record(touchpoint("t-2", at=T0 + hours(1))).outcome is Outcome.DUPLICATE
    assert one.recorder.max_notification_id() == head
    # a new input on the stale copy conflicts with the stored version instead of
    # writing over it
    with pytest.raises(IntegrityError):
        one.record(touchpoint("t-3", at=T0 + hours(2)))
    # the failure dropped the stale copy: the retry reads the stored lead
    assert one.record(touchpoint("t-3", at=T0 + hours(2))).outcome is Outcome.ACCEPTED
    with pytest.raises(IntegrityError):  # now two is behind
        two.record(touchpoint("t-4", at=T0 + hours(3)))
    assert two.record(touchpoint("t-4", at=T0 + hours(3))).outcome is Outcome.ACCEPTED
    lead_id = one.find_lead(EMAIL)
    events = one.lead_events(lead_id)
    assert [e.originator_version for e in events] == list(range(1, len(events) + 1))
    touches = [e.cause_id for e in events if isinstance(e, Lead.TouchpointRecorded)]
    assert touches == [f"touchpoint:t-{n}" for n in (1, 2, 3, 4)]


def test_tracking_is_saved_with_the_events_of_its_batch(open_app: AppFactory) -> None:
    app = open_app()
    app.record_batch([touchpoint("t-1")], tracking=Tracking("upstream", 41))
    app.record_batch([touchpoint("t-1")], tracking=Tracking("upstream", 42))  # only a duplicate
    assert app.process_recorder.max_tracking_id("upstream") == 42
    assert app.process_recorder.has_tracking_id("upstream", 41)
    with pytest.raises(IntegrityError):  # a position is taken once
        app.record_batch([touchpoint("t-2", at=T0 + hours(1))], tracking=Tracking("upstream", 42))
    lead_id = app.find_lead(EMAIL)
    assert [e.cause_id for e in app.lead_events(lead_id)
            if isinstance(e, Lead.TouchpointRecorded)] == ["touchpoint:t-1"]
