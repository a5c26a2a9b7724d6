"""Plain-value views of a lead for people and machines (``lifecycle lead show``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from lifecycle.aggregates.lead import Lead
from lifecycle.scoring import ScoringConfig, bant_part, behaviour_at, evaluate, grade

if TYPE_CHECKING:
    from lifecycle.application import LeadLifecycle

__all__ = ["DETAIL_FIELDS", "describe_event", "lead_summary", "predicted"]

DETAIL_FIELDS = ("kind", "channel", "grade", "previous", "total", "from_stage", "to_stage",
                 "reason", "competitor", "rule", "content", "track", "amount", "currency",
                 "text", "skip_reason", "email", "properties")
"""Event attributes a line of history shows, in this order (``email``: one a touchpoint
made known; ``properties``: a touchpoint's or a sales action's own fields)."""


def lead_summary(
    lead: Lead, events: list[Lead.Event], config: ScoringConfig, *, at: datetime,
    history: int = 10,
) -> dict[str, Any]:
    """The lead's state, its scores explained at ``at``, and its latest events."""
    config = config.for_template(lead.template)
    half_life = config.half_life_seconds
    if at >= lead.behaviour_at:  # what regrading at ``at`` would compute, exactly
        now = evaluate(lead.fit, lead.behaviour, lead.behaviour_at, bant_part(lead.bant), at,
                       config)
        beh_now, total_now, grade_now = now.behaviour, now.total, now.grade
    else:  # an earlier moment: the touches recorded by then, each decayed to it
        beh_now = behaviour_at(lead.contributions, at, half_life)
        graded = grade(lead.fit, beh_now, lead.bant, config.grading)
        total_now, grade_now = graded.total, graded.grade
    valued = sorted(((round(c.value_at(at, half_life), 4), c) for c in lead.contributions
                     if c.occurred_at <= at), key=lambda vc: -vc[0])
    contributions = [{"occurred_at": c.occurred_at.isoformat(), "kind": c.kind,
                      "points": c.points, "value": v} for v, c in valued]
    return {
        "lead_id": str(lead.id),
        "keys": list(lead.keys),
        "emails": list(lead.emails),
        "template": lead.template,
        "stage": lead.stage,
        "stage_entered_at": lead.stage_entered_at.isoformat(),
        "grade": lead.grade,
        "captured_at": lead.captured_at.isoformat(),
        "first_channel": lead.first_channel,
        "last_touch_at": lead.last_touch_at.isoformat(),
        "contactable": lead.contactable,
        "profile": dict(lead.profile),
        "properties": dict(lead.properties),
        "deal": {"amount": lead.amount, "currency": lead.currency},
        "scores": {
            "evaluated_at": at.isoformat(),
            "fit": {"score": lead.fit, "parts": dict(lead.fit_parts)},
            "behaviour": {
                "score": round(beh_now, 4),
                "at_last_grading": round(lead.behaviour, 4),
                "half_life_days": config.behaviour.half_life_days,
                "contributions": contributions[:20],
                "contributions_total": len(contributions),
            },
            "bant": {
                "budget": lead.bant.budget, "authority": lead.bant.authority,
                "need": lead.bant.need, "timeline": lead.bant.timeline,
                "met": lead.bant.met,
            },
            "total": total_now,
            "grade_now": grade_now,
        },
        "events": len(events),
        "history": [describe_event(e) for e in events[-history:]],
    }


def predicted(app: LeadLifecycle, leads: Sequence[Lead], at: datetime,
              events: Sequence[Sequence[Lead.Event]] | None = None,
              ) -> list[dict[str, Any] | None]:
    """Per lead, the active model's ``predicted`` object at ``at`` (``model_id``,
    ``probability``, ``at``, ``factors``: the top ``grading.model.top_factors``); None
    for each without an active model.

    Features come from the facts of the lead's inputs (``lead.facts``); for a moment
    before its newest input, from those dated up to ``at`` (given its ``events``), as the
    view's behaviour counts only the touches up to then (None: not captured by then).
    The leads are scored together (one prediction call for all); numpy and LightGBM load
    only when a model is active.
    """
    model = app.active_model
    if model is None:
        return [None] * len(leads)
    from lifecycle.scoring.learned.facts import LeadFacts, facts_as_of
    from lifecycle.scoring.learned.predicted import predictions

    facts: list[LeadFacts | None] = []
    for i, lead in enumerate(leads):
        if events is None or at >= lead.facts.newest_at:
            facts.append(lead.facts)
        else:  # inputs dated at ``at`` count, as the view's behaviour counts them
            facts.append(facts_as_of(events[i], at + timedelta(microseconds=1)))
    known = [f for f in facts if f is not None]
    scored = iter(predictions(model, known, [at] * len(known),
                              top=app.scoring.grading.model.top_factors))
    return [None if f is None else next(scored) for f in facts]


def describe_event(event: Lead.Event) -> dict[str, Any]:
    """One event as a line of history: what, when (business and recorded), why."""
    name = type(event).__name__
    detail: dict[str, Any] = {}
    for field in DETAIL_FIELDS:
        value = getattr(event, field, None)
        if value is not None:
            detail[field] = value
    return {
        "version": event.originator_version,
        "event": name,
        "occurred_at": event.occurred_at.isoformat(),
        "recorded_at": event.timestamp.isoformat(),
        "source": event.source,
        "actor": event.actor,
        "cause": event.cause_id,
        "detail": detail,
    }
