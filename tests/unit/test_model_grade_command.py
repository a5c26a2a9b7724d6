"""``Lead.grade_by_model``: the command a learned model's grade goes through.

What it records (the model's fields, the rules' figures at the same moment), when it
records nothing, what follows a model grade (the nurture track), how the rules step
aside for a model-graded lead, and that a rules ``Graded`` event keeps its stored form.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import NAMESPACE_URL, uuid5

import pytest
from eventsourcing.application import project_aggregate

from lifecycle.aggregates.lead import Lead
from lifecycle.aggregates.values import Key, Touch
from lifecycle.scoring import ScoringConfig, bant_part, evaluate, grade
from lifecycle.templates import FunnelTemplate, TemplateRegistry
from lifecycle.whatif import graded_by_model
from tests.support import EMAIL, FIT45, T0, hours

RECORDED_AT = datetime(2024, 6, 1, tzinfo=UTC)
LEAD_ID = uuid5(NAMESPACE_URL, "test:model-grade")
FACTORS = [{"feature": "count:demo_requested", "value": 1, "contribution": 0.8},
           {"feature": "source=website", "value": "website", "contribution": -0.1}]


@pytest.fixture
def template(templates: TemplateRegistry) -> FunnelTemplate:
    return templates["generic_b2b"]


@pytest.fixture
def by_model(scoring: ScoringConfig) -> ScoringConfig:
    return graded_by_model(scoring)


def captured(template: FunnelTemplate, config: ScoringConfig) -> tuple[Lead, list[Any]]:
    touch = Touch("tp-1", T0, "website", "seo", "page_view", dict(FIT45))
    lead = Lead.capture(LEAD_ID, touch, keys=(Key.email(EMAIL),), email=EMAIL,
                        external_id=None, template=template, config=config,
                        recorded_at=RECORDED_AT)
    return lead, list(lead.collect_events())


def model_grade(lead: Lead, template: FunnelTemplate, config: ScoringConfig, grade_: str,
                *, model_id: str = "m1", probability: float = 0.91, n: int = 0) -> bool:
    return lead.grade_by_model(
        lead.newest_at, model_id=model_id, probability=probability,
        grade=grade_,  # type: ignore[arg-type]
        factors=FACTORS, template=template, config=config,
        recorded_at=RECORDED_AT, cause=f"touchpoint:tp-{n}")


def test_a_model_grade_records_the_model_and_the_rules_figures(
    template: FunnelTemplate, by_model: ScoringConfig
) -> None:
    lead, _ = captured(template, by_model)
    assert (lead.grade, lead.graded_by_model) == ("cold", None)
    assert model_grade(lead, template, by_model, "hot")
    events = lead.collect_events()
    graded = events[0]
    assert isinstance(graded, Lead.Graded)
    rules = evaluate(lead.fit, lead.behaviour, lead.behaviour_at, bant_part(lead.bant),
                     lead.newest_at, by_model)
    expected = grade(lead.fit, rules.behaviour, lead.bant, by_model.grading)
    assert (graded.grade, graded.previous, graded.trigger) == ("hot", "cold", "model")
    assert (graded.model_id, graded.probability, graded.factors) == ("m1", 0.91, FACTORS)
    assert (graded.total, graded.fit, graded.behaviour, graded.bant) == (
        expected.total, expected.fit, expected.behaviour, expected.bant)
    assert (graded.actor, graded.source, graded.cause_id) == (
        "policy:model", "engine", "touchpoint:tp-0")
    assert graded.occurred_at == lead.newest_at
    assert (lead.grade, lead.graded_by_model, lead.total_score) == ("hot", "m1",
                                                                    expected.total)
    # The nurture track follows the grade: the hot track starts now.
    sent = [e for e in events if isinstance(e, Lead.NurtureStepSent)]
    assert [(e.track, e.step) for e in sent] == [("hot", 0)]


def test_no_event_when_the_same_model_keeps_the_grade(
    template: FunnelTemplate, by_model: ScoringConfig
) -> None:
    lead, _ = captured(template, by_model)
    assert model_grade(lead, template, by_model, "warm")
    lead.collect_events()
    version = lead.version
    assert not model_grade(lead, template, by_model, "warm", probability=0.5, n=1)
    assert (lead.version, lead.pending_events) == (version, [])
    # Another model's same grade is recorded (the grade is now that model's).
    assert model_grade(lead, template, by_model, "warm", model_id="m2", n=2)
    (graded,) = [e for e in lead.collect_events() if isinstance(e, Lead.Graded)]
    assert (graded.previous, graded.grade, graded.model_id) == ("warm", "warm", "m2")


def test_the_first_model_grade_is_recorded_even_when_it_equals_the_rules_grade(
    template: FunnelTemplate, by_model: ScoringConfig
) -> None:
    lead, _ = captured(template, by_model)
    assert model_grade(lead, template, by_model, "cold")
    graded = lead.collect_events()[0]
    assert isinstance(graded, Lead.Graded)
    assert (graded.previous, graded.grade, graded.model_id) == ("cold", "cold", "m1")


def test_a_closed_lead_is_left_alone(template: FunnelTemplate, by_model: ScoringConfig) -> None:
    lead, _ = captured(template, by_model)
    lead.disqualify("invalid_lead", at=T0 + hours(1), actor="sales:bob",  # type: ignore[arg-type]
                    cause="action:a-1", recorded_at=RECORDED_AT)
    lead.collect_events()
    assert not model_grade(lead, template, by_model, "hot")
    assert lead.pending_events == []


def test_rules_step_aside_for_a_model_graded_lead_only_while_grading_by_model(
    template: FunnelTemplate, scoring: ScoringConfig, by_model: ScoringConfig
) -> None:
    lead, _ = captured(template, by_model)
    model_grade(lead, template, by_model, "hot")
    lead.collect_events()
    # A touch the rules would grade (cold) leaves the model's grade as it is...
    touch = Touch("tp-2", T0 + hours(2), "website", "seo", "page_view", None)
    lead.record_touchpoint(touch, template=template, config=by_model, recorded_at=RECORDED_AT)
    assert not [e for e in lead.collect_events() if isinstance(e, Lead.Graded)]
    assert (lead.grade, lead.graded_by_model) == ("hot", "m1")
    # ... and so does the decay policy ...
    assert not lead.regrade(T0 + hours(24 * 60), template=template, config=by_model,
                            recorded_at=RECORDED_AT, cause="policy:decay@x")
    assert lead.grade == "hot"
    # ... until the configuration grades by rules again.
    touch = Touch("tp-3", T0 + hours(3), "website", "seo", "page_view", None)
    lead.record_touchpoint(touch, template=template, config=scoring, recorded_at=RECORDED_AT)
    (graded,) = [e for e in lead.collect_events() if isinstance(e, Lead.Graded)]
    assert (graded.previous, graded.grade, graded.trigger) == ("hot", "cold", "touchpoint")
    assert (lead.grade, lead.graded_by_model) == ("cold", None)


def test_rules_grades_keep_their_stored_form(
    template: FunnelTemplate, by_model: ScoringConfig
) -> None:
    _, events = captured(template, by_model)
    (rules,) = [e for e in events if isinstance(e, Lead.Graded)]
    # Only the fields a rules grade always had, in their order (the model's are not
    # stored: the class defaults stand in for them).
    assert list(rules.__dict__) == [
        "timestamp", "occurred_at", "source", "actor", "cause_id", "grade", "previous",
        "total", "fit", "behaviour", "bant", "fit_parts", "trigger", "originator_id",
        "originator_version"]
    assert (rules.model_id, rules.probability, rules.factors) == (None, None, None)


def test_the_model_grade_is_state_rebuilt_from_the_events(
    template: FunnelTemplate, by_model: ScoringConfig
) -> None:
    lead, history = captured(template, by_model)
    model_grade(lead, template, by_model, "hot")
    history += lead.collect_events()
    rebuilt = project_aggregate(None, history)
    assert isinstance(rebuilt, Lead)
    assert (rebuilt.grade, rebuilt.graded_by_model) == ("hot", "m1")
    first_model = next(i for i, e in enumerate(history) if getattr(e, "model_id", None))
    before_model = project_aggregate(None, history[:first_model])
    assert isinstance(before_model, Lead)
    assert before_model.graded_by_model is None


def test_without_a_model_the_rules_take_a_model_graded_lead_back(
    template: FunnelTemplate, by_model: ScoringConfig
) -> None:
    lead, _ = captured(template, by_model)
    assert not lead.grade_by_rules(lead.newest_at, template=template, config=by_model,
                                   recorded_at=RECORDED_AT, cause="touchpoint:tp-1")
    model_grade(lead, template, by_model, "hot")
    lead.collect_events()
    assert lead.grade_by_rules(lead.newest_at, template=template, config=by_model,
                               recorded_at=RECORDED_AT, cause="touchpoint:tp-2")
    graded = lead.collect_events()[0]
    assert isinstance(graded, Lead.Graded)
    assert (graded.previous, graded.grade, graded.trigger) == ("hot", "cold", "no_model")
    assert "model_id" not in graded.__dict__  # stored as a rules grade
    assert (lead.grade, lead.graded_by_model) == ("cold", None)
    # The rules grade it again from now on.
    touch = Touch("tp-3", T0 + hours(3), "website", "seo", "demo_requested", None)
    lead.record_touchpoint(touch, template=template, config=by_model, recorded_at=RECORDED_AT)
    assert [e.trigger for e in lead.collect_events() if isinstance(e, Lead.Graded)] == [
        "touchpoint"]

