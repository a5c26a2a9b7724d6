"""The Lead's named commands, called with domain values (no input contract), and the
value objects they take: each command's guard raises without emitting anything, and
what it emits is what the application's mapping of a contract emits.

The full table of stages × actions is in ``test_lead_transitions.py``; here each
command is called by name.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any
from uuid import NAMESPACE_URL, uuid5

import pytest
from eventsourcing.utils import get_topic

from lifecycle.aggregates import events as event_module
from lifecycle.aggregates.lead import Lead
from lifecycle.aggregates.lead_key import LeadKey
from lifecycle.aggregates.values import (
    ERASED,
    REASON_TAXONOMY_VERSION,
    Key,
    LossReason,
    Touch,
    key_index_id,
    lead_id_for,
)
from lifecycle.errors import IllegalTransition, InvalidInput, LeadErased, LeadNotFound
from lifecycle.handling import apply_input, keys_of, touch_of
from lifecycle.identity import lookup_candidates
from lifecycle.privacy import KEY, KEYS, OVERRIDE, PROFILE, PROPERTIES, TEXT, PersonalData
from lifecycle.scoring import BantAssessment, ScoringConfig
from lifecycle.templates import FunnelTemplate, TemplateRegistry
from tests.support import EMAIL, FIT45, T0, action, event_names, hours, touchpoint

RECORDED_AT = datetime(2024, 6, 1, tzinfo=UTC)
LEAD_ID = uuid5(NAMESPACE_URL, "test:commands")
AT = T0 + hours(24)


def by(n: int = 0) -> dict[str, Any]:
    """Who, when and why of a sales command."""
    return {"at": AT + hours(n), "actor": "sales:bob", "cause": f"action:a-{n}",
            "recorded_at": RECORDED_AT}


@pytest.fixture
def template(templates: TemplateRegistry) -> FunnelTemplate:
    return templates["generic_b2b"]


def captured(template: FunnelTemplate, scoring: ScoringConfig, kind: str = "page_view") -> Lead:
    touch = Touch("tp-1", T0, "website", "seo", kind, dict(FIT45))
    lead = Lead.capture(LEAD_ID, touch, keys=(Key.email(EMAIL),), email=EMAIL,
                        external_id=None, template=template, config=scoring,
                        recorded_at=RECORDED_AT)
    lead.collect_events()
    return lead


def in_sql(template: FunnelTemplate, scoring: ScoringConfig) -> Lead:
    lead = captured(template, scoring, "demo_requested")  # fit 45: instant MQL
    assert lead.stage == "mql"
    lead.accept(**by())
    lead.collect_events()
    return lead


def emits_nothing(lead: Lead, command: Any, error: type[Exception], match: str) -> None:
    version, pending = lead.version, len(lead.pending_events)
    with pytest.raises(error, match=match):
        command()
    assert (lead.version, len(lead.pending_events)) == (version, pending)


# -- each command's guard --------------------------------------------------------------


def test_accept_needs_a_skip_reason_in_the_pool_and_an_mql_otherwise(
    template: FunnelTemplate, scoring: ScoringConfig
) -> None:
    pool = captured(template, scoring)
    assert pool.stage == "nurturing"
    emits_nothing(pool, lambda: pool.accept(**by()), IllegalTransition, "give skip_reason")
    sql = in_sql(template, scoring)
    emits_nothing(sql, lambda: sql.accept(skip_reason="again", **by(1)), IllegalTransition,
                  "only a marketing-qualified lead")
    pool.accept(skip_reason="met at a fair", **by())
    assert event_names(pool.collect_events()) == [
        "MarketingQualified", "SalesAccepted"]
    assert pool.stage == "sql"


def test_advance_guards_its_target(template: FunnelTemplate, scoring: ScoringConfig) -> None:
    pool = captured(template, scoring)
    emits_nothing(pool, lambda: pool.advance(template=template, **by()), IllegalTransition,
                  "accept it first")
    lead = in_sql(template, scoring)
    emits_nothing(lead, lambda: lead.advance(stage="nowhere", template=template, **by()),
                  IllegalTransition, "has no such stage")
    emits_nothing(lead, lambda: lead.advance(stage="proposal", template=template, **by()),
                  IllegalTransition, "give skip_reason to skip stages")
    lead.advance(stage="proposal", skip_reason="asked for an offer", amount=10.0,
                 currency="EUR", template=template, **by(1))
    (event,) = lead.collect_events()
    assert isinstance(event, Lead.StageAdvanced)
    assert (event.to_stage, event.skipped, event.amount) == ("proposal", ("discovery",), 10.0)
    emits_nothing(lead, lambda: lead.advance(stage="discovery", template=template, **by(2)),
                  IllegalTransition, "not ahead of the current one")
    for n, _ in enumerate(("negotiation", "closing"), start=3):
        lead.advance(template=template, **by(n))
    emits_nothing(lead, lambda: lead.advance(template=template, **by(9)), IllegalTransition,
                  "last stage; win or lose it")


def test_win_needs_a_deal_and_a_reason_to_close_early(
    template: FunnelTemplate, scoring: ScoringConfig
) -> None:
    pool = captured(template, scoring)
    emits_nothing(pool, lambda: pool.win(template=template, **by()), IllegalTransition,
                  "can be won")
    lead = in_sql(template, scoring)
    emits_nothing(lead, lambda: lead.win(template=template, **by()), IllegalTransition,
                  "give skip_reason to close early")
    lead.win(amount=5.0, currency="USD", skip_reason="signed at once", template=template, **by())
    (won,) = lead.collect_events()
    assert isinstance(won, Lead.Won)
    assert (won.skipped, won.amount, lead.stage) == (template.opportunity_stages, 5.0, "won")


def test_lose_needs_a_deal_and_records_the_reason_with_its_taxonomy(
    template: FunnelTemplate, scoring: ScoringConfig
) -> None:
    pool = captured(template, scoring)
    emits_nothing(pool, lambda: pool.lose(LossReason.NO_BUDGET, template=template, **by()),
                  IllegalTransition, "disqualify or recycle")
    lead = in_sql(template, scoring)
    lead.lose(LossReason.COMPETITOR_WON, competitor="Initech", text="cheaper",
              template=template, **by())
    (lost,) = lead.collect_events()
    assert isinstance(lost, Lead.Lost)
    assert (lost.reason, lost.competitor, lost.taxonomy_version, lost.from_stage) == (
        "competitor_won", "Initech", REASON_TAXONOMY_VERSION, "sql")


def test_disqualify_only_an_open_lead(template: FunnelTemplate, scoring: ScoringConfig) -> None:
    lead = captured(template, scoring)
    lead.disqualify(LossReason.INVALID_LEAD, text="a student", **by())
    assert event_names(lead.collect_events()) == ["Disqualified"]
    emits_nothing(lead, lambda: lead.disqualify(LossReason.OTHER, **by(1)), IllegalTransition,
                  "already closed")


def test_recycle_only_a_qualified_lead(template: FunnelTemplate, scoring: ScoringConfig) -> None:
    pool = captured(template, scoring)
    emits_nothing(pool, lambda: pool.recycle(LossReason.NO_RESPONSE, template=template,
                                             config=scoring, **by()),
                  IllegalTransition, "can be recycled to nurturing")
    lead = in_sql(template, scoring)
    lead.recycle(LossReason.DECISION_POSTPONED, text="next quarter", template=template,
                 config=scoring, **by())
    assert event_names(lead.collect_events())[0] == "Recycled"
    assert lead.stage == "nurturing"


def test_reopen_only_a_lost_or_disqualified_lead(
    template: FunnelTemplate, scoring: ScoringConfig
) -> None:
    lead = in_sql(template, scoring)
    emits_nothing(lead, lambda: lead.reopen(template=template, config=scoring, **by()),
                  IllegalTransition, "only a lost or disqualified lead")
    lead.lose(LossReason.NO_BUDGET, template=template, **by(1))
    lead.reopen(template=template, config=scoring, **by(2))  # a lost one needs no reason
    assert "Reopened" in event_names(lead.collect_events())
    assert lead.stage == "sql"
    lead.disqualify(LossReason.NEED_MISMATCH, **by(3))
    lead.collect_events()
    emits_nothing(lead, lambda: lead.reopen(template=template, config=scoring, **by(4)),
                  IllegalTransition, "give text: why the disqualified lead is reopened")
    lead.reopen(text="the need came back", template=template, config=scoring, **by(5))
    reopened = lead.collect_events()[0]
    assert isinstance(reopened, Lead.Reopened)
    assert (reopened.to_stage, reopened.text, lead.stage) == ("sql", "the need came back",
                                                              "sql")
    assert (lead.disqualified_from, lead.disqualified_by) == (None, None)


def test_qualify_marks_a_pool_lead_mql_with_its_rule_and_reason(
    template: FunnelTemplate, scoring: ScoringConfig
) -> None:
    lead = captured(template, scoring)
    lead.qualify(rule="webinar_list", text="asked for pricing", template=template,
                 config=scoring, **by())
    (mql,) = lead.collect_events()
    assert isinstance(mql, Lead.MarketingQualified)
    assert (mql.rule, mql.text, mql.actor, mql.from_stage, lead.stage) == (
        "qualify:webinar_list", "asked for pricing", "sales:bob", "nurturing", "mql")
    other = captured(template, scoring)
    other.qualify(template=template, config=scoring, **by())
    (plain,) = other.collect_events()
    assert isinstance(plain, Lead.MarketingQualified)
    assert (plain.rule, plain.text) == ("qualify:manual", None)
    assert "text" not in plain.__dict__  # not given: not stored (older events' shape)
    emits_nothing(lead, lambda: lead.qualify(template=template, config=scoring, **by(1)),
                  IllegalTransition, "it is marketing-qualified already")


def test_assess_bant_merges_and_is_refused_on_a_closed_lead(
    template: FunnelTemplate, scoring: ScoringConfig
) -> None:
    lead = in_sql(template, scoring)
    lead.assess_bant(BantAssessment(budget=True), template=template, config=scoring, **by())
    lead.assess_bant(BantAssessment(need=True), template=template, config=scoring, **by(1))
    assert (lead.bant.budget, lead.bant.need, lead.bant.timeline) == (True, True, None)
    lead.win(skip_reason="signed", template=template, **by(2))
    lead.collect_events()
    emits_nothing(lead, lambda: lead.assess_bant(BantAssessment(budget=False), template=template,
                                                 config=scoring, **by(3)),
                  IllegalTransition, "reopen it first")


def test_an_erased_lead_takes_no_command(template: FunnelTemplate, scoring: ScoringConfig) -> None:
    lead = in_sql(template, scoring)
    lead.erase(at=AT, recorded_at=RECORDED_AT, actor="dpo", cause="erase:1")
    assert lead.collect_events()[0].__class__ is Lead.Erased
    assert (lead.email, lead.keys) == (ERASED, (f"email:{ERASED}",))
    touch = Touch("tp-9", AT, "website", "seo", "page_view")
    commands = [
        lambda: lead.record_touchpoint(touch, template=template, config=scoring,
                                       recorded_at=RECORDED_AT),
        lambda: lead.add_note("hello", **by()),
        lambda: lead.accept(**by()),
        lambda: lead.advance(template=template, **by()),
        lambda: lead.win(template=template, **by()),
        lambda: lead.lose(LossReason.OTHER, template=template, **by()),
        lambda: lead.disqualify(LossReason.OTHER, **by()),
        lambda: lead.recycle(LossReason.OTHER, template=template, config=scoring, **by()),
        lambda: lead.reopen(template=template, config=scoring, **by()),
        lambda: lead.assess_bant(BantAssessment(budget=True), template=template,
                                 config=scoring, **by()),
        lambda: lead.erase(at=AT, recorded_at=RECORDED_AT, actor="dpo", cause="erase:2"),
    ]
    for command in commands:
        emits_nothing(lead, command, LeadErased, "takes no more input")
    assert not lead.regrade(AT + hours(100), template=template, config=scoring,
                            recorded_at=RECORDED_AT, cause="policy:decay")
    assert not lead.send_due_nurture(AT + hours(100), config=scoring, recorded_at=RECORDED_AT,
                                     cause="policy:nurture")


def test_record_touchpoint_refuses_an_unknown_kind_before_emitting(
    template: FunnelTemplate, scoring: ScoringConfig
) -> None:
    rejecting = scoring.model_copy(update={
        "behaviour": scoring.behaviour.model_copy(update={"unknown_kind": "reject"})})
    lead = captured(template, rejecting)
    touch = Touch("tp-2", AT, "website", "seo", "teleported")
    emits_nothing(lead, lambda: lead.record_touchpoint(touch, template=template,
                                                       config=rejecting, recorded_at=RECORDED_AT),
                  InvalidInput, "unknown touchpoint kind 'teleported'")


def test_policy_commands_do_nothing_before_the_newest_fact(
    template: FunnelTemplate, scoring: ScoringConfig
) -> None:
    lead = captured(template, scoring)
    assert not lead.regrade(T0 - hours(1), template=template, config=scoring,
                            recorded_at=RECORDED_AT, cause="policy:decay")
    assert not lead.send_due_nurture(T0 - hours(1), config=scoring, recorded_at=RECORDED_AT,
                                     cause="policy:nurture")
    assert lead.collect_events() == []


def test_add_note_is_recorded_in_any_stage(
    template: FunnelTemplate, scoring: ScoringConfig
) -> None:
    lead = captured(template, scoring)
    lead.disqualify(LossReason.NEED_MISMATCH, **by())
    lead.add_note("called anyway", **by(1))
    note = lead.collect_events()[-1]
    assert isinstance(note, Lead.NoteAdded)
    assert (note.text, note.actor, note.cause_id, lead.stage) == (
        "called anyway", "sales:bob", "action:a-1", "disqualified")


# -- the application's mapping: contract → command -----------------------------------


@pytest.mark.parametrize(("kind", "fields", "event"), [
    ("advance", {"stage": "proposal", "skip_reason": "asked"}, "StageAdvanced"),
    ("win", {"skip_reason": "signed", "amount": 3, "currency": "EUR"}, "Won"),
    ("lose", {"reason": "no_budget", "text": "no money"}, "Lost"),
    ("disqualify", {"reason": "invalid_lead"}, "Disqualified"),
    ("recycle", {"reason": "no_response"}, "Recycled"),
    ("bant", {"budget": True}, "BantAssessed"),
    ("note", {"text": "hello"}, "NoteAdded"),
    ("reopen", {}, "IllegalTransition"),
])
def test_apply_input_maps_each_action_onto_its_command(
    template: FunnelTemplate, scoring: ScoringConfig, kind: str, fields: dict[str, Any],
    event: str,
) -> None:
    via_contract = in_sql(template, scoring)
    item = action("a-1", kind, at=AT, **fields)
    if event == "IllegalTransition":
        with pytest.raises(IllegalTransition, match=f"cannot {kind} a lead"):
            apply_input(via_contract, item, template=template, config=scoring,
                        recorded_at=RECORDED_AT)
        return
    assert apply_input(via_contract, item, template=template, config=scoring,
                       recorded_at=RECORDED_AT) is via_contract
    emitted = via_contract.collect_events()
    assert event_names(emitted)[0] == event
    first = emitted[0]
    assert isinstance(first, Lead.Event)
    assert (first.actor, first.cause_id) == (item.actor, "action:a-1")


def test_apply_input_captures_a_new_lead_under_its_first_key(
    template: FunnelTemplate, scoring: ScoringConfig
) -> None:
    tp = touchpoint("tp-1", "demo_requested", external_id="crm-1", profile=FIT45)
    lead = apply_input(None, tp, template=template, config=scoring, recorded_at=RECORDED_AT)
    assert lead.id == lead_id_for("external:crm-1")
    assert lead.keys == ("external:crm-1", f"email:{EMAIL}")
    assert (lead.email, lead.external_id, lead.stage) == (EMAIL, "crm-1", "mql")
    with pytest.raises(LeadNotFound, match="no lead is known by 'email:"):
        apply_input(None, action("a-1", "note", text="x"), template=template, config=scoring,
                    recorded_at=RECORDED_AT)


def test_touch_of_keeps_the_given_profile_fields_only() -> None:
    tp = touchpoint("tp-1", profile={"industry": "software"}, properties={"utm": "x"})
    touch = touch_of(tp)
    assert touch == Touch("tp-1", tp.occurred_at, "website", "seo", "page_view",
                          {"industry": "software"}, {"utm": "x"}, EMAIL)
    assert touch_of(touchpoint("tp-2")).profile is None
    assert touch_of(touchpoint("tp-3", email=None, external_id="crm-1")).email is None


# -- values ------------------------------------------------------------------------------


def test_a_key_is_the_string_events_and_the_key_index_store() -> None:
    keys = tuple(map(Key, Key.of("crm-1", EMAIL)))
    assert keys == ("external:crm-1", f"email:{EMAIL}") == (Key.external("crm-1"), Key.email(EMAIL))
    assert [k.kind for k in keys] == ["external", "email"]
    assert [k.field for k in keys] == ["external_id", "email"]
    assert keys[1].value == EMAIL
    assert keys[0].index_id == key_index_id("external:crm-1")
    assert keys[0].lead_id == lead_id_for("external:crm-1")
    assert Key.of(None, EMAIL) == (Key.email(EMAIL),)
    assert Key.of(None, None) == ()
    assert Key.parse("email:x@y.z") == "email:x@y.z"
    assert Key.parse("phone:123") is None
    assert Key.parse("plain") is None
    assert keys_of(touchpoint("tp-1", external_id="crm-1")) == keys
    assert touchpoint("tp-1", external_id="crm-1").lead_key == "external:crm-1"


def test_lookup_candidates_normalize_what_a_user_types() -> None:
    assert lookup_candidates("email:ADA@ACME.COM") == [f"email:{EMAIL}"]
    assert lookup_candidates("crm-1") == ["external:crm-1"]
    assert lookup_candidates("ada@acme.com") == [f"email:{EMAIL}", "external:ada@acme.com"]
    assert lookup_candidates("external:cafe\u0301") == ["external:caf\u00e9"]


def test_contracts_take_loss_reasons_from_the_domain() -> None:
    from lifecycle import contracts

    assert contracts.LossReason is LossReason
    assert contracts.REASON_TAXONOMY_VERSION == REASON_TAXONOMY_VERSION


# -- events: stored names and personal fields --------------------------------------------

EVENT_NAMES = ("Captured", "TouchpointRecorded", "Graded", "NurtureStepSent", "StageAdvanced",
               "MarketingQualified", "SalesAccepted", "SalesQualified", "BantAssessed",
               "Recycled", "Disqualified", "Won", "Lost", "Reopened", "NoteAdded", "Erased",
               "Reinstated", "PropertiesNoted")


@pytest.mark.parametrize("name", EVENT_NAMES)
def test_events_keep_their_stored_topic_and_fields(name: str) -> None:
    cls = getattr(Lead, name)
    assert get_topic(cls) == f"lifecycle.aggregates.lead:Lead.{name}"
    assert issubclass(cls, Lead.Event)
    fields = [f.name for f in dataclasses.fields(cls)]
    base = ["originator_id", "originator_version", "timestamp"]
    if name == "Captured":
        base.append("originator_topic")
    common = ["occurred_at", "source", "actor", "cause_id"]
    # The stored order: eventsourcing's fields, every lead event's, then its own.
    assert fields == [*base, *common, *getattr(event_module, name).__annotations__]


def test_privacy_reads_the_personal_fields_the_events_declare() -> None:
    spec = PersonalData.spec
    assert spec(Lead.Captured) == (None, (("email", TEXT), ("external_id", TEXT),
                                          ("keys", KEYS), ("profile", PROFILE)))
    assert spec(Lead.TouchpointRecorded) == (None, (("profile", PROFILE),
                                                    ("properties", PROPERTIES),
                                                    ("email", TEXT)))
    assert spec(Lead.MarketingQualified) == (None, (("rule", OVERRIDE), ("text", TEXT)))
    assert spec(Lead.PropertiesNoted) == (None, (("properties", PROPERTIES),))
    for name in ("NoteAdded", "Lost", "Disqualified", "Recycled", "Reopened", "Reinstated"):
        assert spec(getattr(Lead, name)) == (None, (("text", TEXT),))
    for name in ("StageAdvanced", "Won"):
        assert spec(getattr(Lead, name)) == (None, (("skip_reason", TEXT),))
    for name in ("Graded", "NurtureStepSent", "SalesAccepted", "SalesQualified",
                 "BantAssessed", "Erased"):
        assert spec(getattr(Lead, name)) is None
    assert spec(LeadKey.Registered) == ("lead_id", (("key", KEY),))
