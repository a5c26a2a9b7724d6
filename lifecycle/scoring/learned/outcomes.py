"""The closed leads of a store as training examples.

An example is a lead whose outcome is known: won is positive; lost, or disqualified by a
person (not by a screen), negative; open leads are not used. The outcome is the lead's
last closing event (a lead reopened and still open is open). Its features are its facts
as of just before the outcome (:func:`~.facts.facts_as_of` with ``before`` = the
outcome's business time, ``at`` = the same moment); a lead whose capture is not before
its outcome is skipped and counted. ``as_of``: only what was recorded by then (events
recorded later, and outcomes after it, do not exist for the training).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from eventsourcing.utils import get_topic

from lifecycle.aggregates.lead import Lead
from lifecycle.aggregates.rules import SCREEN_ACTOR
from lifecycle.audit import fold
from lifecycle.scoring import bant_part
from lifecycle.scoring import evaluate as evaluate_rules
from lifecycle.scoring.learned.facts import LeadFacts, facts_as_of

if TYPE_CHECKING:
    from lifecycle.application import LeadLifecycle

__all__ = ["BATCH", "Example", "Examples", "examples"]


@dataclass(frozen=True, slots=True)
class Example:
    lead_id: UUID
    facts: LeadFacts
    at: datetime
    """The outcome's business time: features are as of just before it."""
    label: int
    """1: won; 0: lost or disqualified by a person."""
    rules_total: float
    """The configured rule-based total score as of ``at`` (for ``rules_auc``)."""
    recorded_at: datetime
    """When the outcome was recorded (``model evaluate``: closed after training)."""


@dataclass
class Examples:
    items: list[Example] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    """Leads not used, by why: ``open``, ``screened`` (disqualified by a screen),
    ``outcome_before_capture``."""


def examples(app: LeadLifecycle, *, as_of: datetime | None = None,
             closed_after: datetime | None = None, sales: bool = False) -> Examples:
    """Every closed lead of the store as an example (read in batches, one pass).

    ``closed_after``: only outcomes recorded after it (``model evaluate``).

    The leads are named by their ``Captured`` notifications, :data:`BATCH` at a time,
    and each batch's events read together (one query per 500 leads): memory holds one
    batch of histories and the examples' facts, not the store's events. ``sales`` is the
    features' business (:meth:`~.features.FeatureSpec.discover`): the facts always keep
    sales actions apart.
    """
    del sales  # the facts carry sales actions apart; the spec decides whether to read them
    out = Examples()
    for history in _histories(app):
        events = history if as_of is None else [e for e in history if e.timestamp <= as_of]
        if not events or not isinstance(events[0], Lead.Captured):
            continue  # not captured yet as of then
        outcome = _outcome(events)
        if outcome is None:
            _count(out, "open")
        elif isinstance(outcome, Lead.Disqualified) and outcome.actor == SCREEN_ACTOR:
            _count(out, "screened")
        elif closed_after is None or outcome.timestamp > closed_after:
            example = _example(app, events, outcome)
            if example is None:
                _count(out, "outcome_before_capture")
            else:
                out.items.append(example)
    return out


def _count(out: Examples, why: str) -> None:
    out.skipped[why] = out.skipped.get(why, 0) + 1


BATCH = 1000
"""Leads read per batch: their keys, then their events, in a few queries each."""


def _histories(app: LeadLifecycle, batch_size: int = BATCH) -> Iterator[list[Lead.Event]]:
    """Each lead's events (recorded order), leads in the order they were captured."""
    topics = (get_topic(Lead.Captured),)
    decode = app.mapper.to_domain_event
    start = 1
    while True:
        notifications = app.recorder.select_notifications(start, batch_size, topics=topics)
        if not notifications:
            return
        ids = [UUID(str(n.originator_id)) for n in notifications]
        app.subject_keys.prefetch(ids)
        stored = app.event_recorder.events_of(ids)
        first = 0
        for end in range(1, len(stored) + 1):
            if end == len(stored) or stored[end].originator_id != stored[first].originator_id:
                yield [e for e in map(decode, stored[first:end]) if isinstance(e, Lead.Event)]
                first = end
        start = notifications[-1].id + 1


_CLOSING = (Lead.Won, Lead.Lost, Lead.Disqualified)
_REOPENING = (Lead.Reopened, Lead.Reinstated, Lead.Recycled, Lead.StageAdvanced,
              Lead.MarketingQualified, Lead.SalesAccepted, Lead.SalesQualified)


def _outcome(events: Sequence[Lead.Event]) -> Lead.Event | None:
    """The lead's last closing event when it is closed now (else None): any event that
    moves it to an open stage afterwards (a reopening, a reinstatement) makes it open."""
    outcome: Lead.Event | None = None
    for event in events:
        if isinstance(event, _CLOSING):
            outcome = event
        elif isinstance(event, _REOPENING):
            outcome = None
    return outcome


def _example(app: LeadLifecycle, events: list[Lead.Event], outcome: Lead.Event) -> Example | None:
    at = outcome.occurred_at
    facts = facts_as_of(events, at)
    if facts is None:
        return None
    lead = fold([e for e in events if e.occurred_at < at])
    if lead is None:
        return None
    config = app.scoring.for_template(lead.template)
    total = evaluate_rules(lead.fit, lead.behaviour, lead.behaviour_at, bant_part(lead.bant),
                           at, config).total
    return Example(lead_id=outcome.originator_id, facts=facts, at=at,
                   label=1 if isinstance(outcome, Lead.Won) else 0, rules_total=float(total),
                   recorded_at=outcome.timestamp)
