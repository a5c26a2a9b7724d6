"""Reversible screens, qualify and action properties through the application, on real
SQLite and PostgreSQL: the inputs' flags, the new events stored and read back by a
second application, their personal fields encrypted, erasure, the funnel projection, and
a what-if replay that reproduces the funnel.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest

from lifecycle.aggregates.lead import Lead
from lifecycle.aggregates.values import ERASED
from lifecycle.application import LeadLifecycle, Outcome
from lifecycle.audit import history
from lifecycle.contracts import SalesAction, Touchpoint
from lifecycle.projections import ProjectionStore, build_runner
from lifecycle.reports.pipeline import losses_report
from lifecycle.whatif import what_if
from tests.integration.audit_story import ICP, T0, RawEvents, open_app

pytestmark = pytest.mark.integration

CRM = "crm-zoe-1"
PRIVATE = "zoe.quux.private@gmail.com"
WORK = "zoe.quux@quux-industries.example.com"
NAME = "Zoe Quuxington"
REASON = "Zoe asked for a call about the Quux rollout"
REFERRER = "ref.person@referrals.example.org"
OTHER = "yan.other@gmail.com"
SECRETS = (PRIVATE, WORK, NAME, REASON, REFERRER, OTHER)


def touch(tid: str, hours: int, **fields: Any) -> Touchpoint:
    return Touchpoint.model_validate({
        "touchpoint_id": tid, "source": "website", "channel": "Organic Search",
        "kind": "page_view", "occurred_at": (T0 + timedelta(hours=hours)).isoformat(),
        **fields})


def act(aid: str, kind: str, hours: int, **fields: Any) -> SalesAction:
    return SalesAction.model_validate({
        "action_id": aid, "actor": "marketing:mia", "action": kind,
        "occurred_at": (T0 + timedelta(hours=hours)).isoformat(), **fields})


INPUTS: list[Touchpoint | SalesAction] = [
    # known by a CRM id only: captured and scored, not contactable
    touch("t1", 0, external_id=CRM, profile={**ICP, "name": NAME}),
    # a private address: a B2B screen disqualifies the nurturing lead
    touch("t2", 1, external_id=CRM, email=PRIVATE),
    # the work address clears it
    touch("t3", 2, external_id=CRM, email=WORK, properties={"segment": "smb"}),
    act("a1", "qualify", 3, external_id=CRM, rule="fair list", text=REASON,
        properties={"segment": "enterprise", "referrer_email": REFERRER}),
    # another lead, screened at capture; a person's action reinstates it
    touch("t4", 4, email=OTHER, profile=ICP),
    act("a2", "bant", 5, email=OTHER, need=True),
]
FLAGS = [("created", "not_contactable"), ("disqualified",), ("reinstated",), (),
         ("created", "disqualified"), ("reinstated",)]


@pytest.fixture
def app(database_url: str) -> Iterator[LeadLifecycle]:
    app = open_app(database_url)
    yield app
    app.close()


@pytest.fixture
def leads(app: LeadLifecycle) -> tuple[UUID, UUID]:
    """The inputs recorded in two batches: (Zoe's lead, Yan's lead)."""
    results = app.record_batch(INPUTS[:2]) + app.record_batch(INPUTS[2:])
    assert [r.outcome for r in results] == [Outcome.ACCEPTED] * len(INPUTS)
    assert [r.flags for r in results] == FLAGS
    zoe, yan = results[0].lead_id, results[4].lead_id
    assert zoe is not None
    assert yan is not None
    return zoe, yan


def test_the_events_are_stored_and_read_back(
    app: LeadLifecycle, leads: tuple[UUID, UUID],
) -> None:
    zoe, yan = leads
    names = [type(e).__name__ for e in app.lead_events(zoe)]
    assert names[names.index("Disqualified"):] == [
        "Disqualified", "TouchpointRecorded", "Reinstated", "MarketingQualified",
        "PropertiesNoted"]  # back in nurturing with its grade and nurture step
    assert "Reinstated" in [type(e).__name__ for e in app.lead_events(yan)]
    live = {lid: dict(app.get_lead(lid).__dict__) for lid in leads}
    reader = open_app(app.settings.database_url)
    try:
        lead = reader.get_lead(zoe)
        assert dict(lead.__dict__) == live[zoe]
        assert dict(reader.get_lead(yan).__dict__) == live[yan]
        assert (lead.stage, lead.emails, lead.contactable) == ("mql", (PRIVATE, WORK), True)
        assert lead.properties == {"segment": "smb", "referrer_email": REFERRER}
        mql = next(e for e in reader.lead_events(zoe) if isinstance(e, Lead.MarketingQualified))
        assert (mql.rule, mql.text, mql.actor) == ("qualify:fair_list", REASON, "marketing:mia")
        details = [row["detail"] for row in history(reader, zoe)["history"]]
        assert {"segment": "enterprise", "referrer_email": REFERRER} in [
            d.get("properties") for d in details]
        assert WORK in [d.get("email") for d in details]
    finally:
        reader.close()


def test_personal_fields_are_encrypted_and_the_funnel_records_reinstatements(
    app: LeadLifecycle, leads: tuple[UUID, UUID],
) -> None:
    runner = build_runner(app)
    runner.run()
    runner.store.close()
    raw = RawEvents(app).all_text()
    for secret in SECRETS:
        assert secret not in raw
    assert "enterprise" in raw  # a segment is business data
    store = ProjectionStore(app.settings.database_url)
    try:
        moves = store.query("SELECT from_stage, to_stage, kind, actor FROM lc_transitions "
                            "WHERE kind = 'reinstated'")
        disqualified = store.query("SELECT COUNT(*) FROM lc_losses")
        losses = losses_report(store)
    finally:
        store.close()
    # Both leads were disqualified by a screen and reinstated: no loss in the report.
    assert disqualified == [(2,)]
    assert losses["total"] == 0, losses
    assert sorted(tuple(m) for m in moves) == sorted([
        ("disqualified", "nurturing", "reinstated", "policy:screen"),
        ("disqualified", "captured", "reinstated", "marketing:mia")])


def test_erasure_shreds_the_new_fields(app: LeadLifecycle, leads: tuple[UUID, UUID]) -> None:
    zoe, yan = leads
    assert app.erase(zoe, actor="dpo", cause="erasure:zoe")
    fresh = open_app(app.settings.database_url)
    try:
        erased = fresh.get_lead(zoe)
        assert (erased.emails, erased.properties, erased.contactable) == (
            (ERASED, ERASED), {}, False)
        events = fresh.lead_events(zoe)
        mql = next(e for e in events if isinstance(e, Lead.MarketingQualified))
        assert mql.text == ERASED
        noted = next(e for e in events if isinstance(e, Lead.PropertiesNoted))
        assert noted.properties == {"segment": "enterprise", "referrer_email": ERASED}
        learned = [e.email for e in events
                   if isinstance(e, Lead.TouchpointRecorded) and e.email is not None]
        assert learned == [ERASED, ERASED]
        assert fresh.get_lead(yan).emails == (OTHER,)  # the other lead reads as before
    finally:
        fresh.close()


def test_what_if_replays_reinstatements_qualify_and_properties(
    app: LeadLifecycle, leads: tuple[UUID, UUID],
) -> None:
    result = what_if(app)
    assert result["replay"]["rejected"] == 0, result["replay"]
    assert result["replay"]["sales_actions"] == 2
    assert result["what_if"] == result["current"]
    assert result["current"]["mql"] == 1  # the qualify action (Yan is back in nurturing)
