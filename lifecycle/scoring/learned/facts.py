"""What a lead's inputs said before a moment: the raw material of every feature.

Pure Python (no numpy), folded from events. A fact comes only from an *input*: the
capture and every touchpoint (kind, channel, business time, profile changes, properties,
a new email), and, kept apart for the ``sales`` features only, sales actions (stages
reached, BANT, properties noted by sales). Nothing cumulative that an event carries
(``behaviour``, ``fit``, ``points``) is read: those were computed when the event was
recorded and may include inputs dated later, so reading them could leak the future.

:func:`facts_as_of` folds a lead's events, in recorded order, skipping every event whose
business time is at or after ``before``; the Lead aggregate folds all of its events into
``lead.facts`` with the same :meth:`LeadFacts.add`.

Touchpoints dated while sales owns the lead (from its acceptance, ``sql``, through the
opportunity stages, until a recycle or a reopening hands it back) are sales facts too:
quotes, replies, meetings and their amounts are the salesperson's work, and on the
demo's history they ranked winners almost by themselves (a quote's amount and the
count of quotes were the model's two largest factors). They move ``newest_at`` (they
are inputs) but only a ``sales`` model reads what they said.

What the engine decided by itself (grades, nurture steps, a rule's qualification, a
screen's judgement, the move from ``captured`` to ``nurturing``) is no input: it was
computed from scores. An erasure empties what may be personal, as the lead's state does.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["LeadFacts", "facts_as_of"]


@dataclass(slots=True)
class LeadFacts:
    """One lead's inputs, as folded so far."""

    template: str
    captured_at: datetime
    channel: str
    """The first touch's channel."""
    source: str
    """The first touch's source system."""
    profile: dict[str, Any]
    """Profile fields as the inputs gave them (later values replace earlier ones)."""
    has_email: bool
    newest_at: datetime
    """The latest business time of an input folded in: the capture's and the touchpoints'
    (sales actions are kept apart, so that a model without ``sales`` features reads
    nothing a salesperson did, not even when)."""
    touches: list[tuple[datetime, str, str]] = field(default_factory=list)
    """(business time, kind, channel) of every touchpoint before sales owned the lead,
    in recorded order."""
    properties: dict[str, Any] = field(default_factory=dict)
    """Touchpoint properties: the latest value given for each name."""
    sums: dict[str, float] = field(default_factory=dict)
    """Touchpoint properties with numeric values: the sum over touches, by name."""
    sales: dict[str, Any] = field(default_factory=dict)
    """Sales facts (only the ``sales`` features read them): ``actions`` (count),
    ``stage`` (the furthest stage reached: ``mql`` 1, ``sql`` 2, each opportunity stage
    one more, a skipped one counted), ``bant`` (criteria confirmed by the latest
    assessment), and ``property:<name>`` for properties noted by sales (the latest
    value), ``touches`` (touchpoints while sales owned the lead); ``_level`` is the
    stage the lead is at now, by which ``stage`` advances.
    Only a person's (or an import's) actions count: the engine's own qualification by a
    rule, its screens and its pool moves are no input."""

    def add(self, event: Any) -> None:
        """Folds one event in (events that are no input are ignored)."""
        # One dict lookup by class name: this runs for every event the ingest applies.
        fold = _FOLDS.get(type(event).__name__)
        if fold is not None:
            fold(self, event)

    @classmethod
    def start(cls, captured: Any) -> LeadFacts:
        """The facts of a lead's ``Captured`` event (its first input)."""
        t = captured.occurred_at
        return cls(template=captured.template, captured_at=t, channel=captured.channel,
                   source=captured.source, profile=dict(captured.profile),
                   has_email=bool(captured.email), newest_at=t)

    # -- the inputs --------------------------------------------------------------------

    def _touch(self, e: Any) -> None:
        t = e.occurred_at
        if t > self.newest_at:
            self.newest_at = t
        since = self.sales.get(_SINCE)
        if since is not None and t >= since:
            self._sales_touch(e)
            return
        self.touches.append((t, e.kind, e.channel))
        changes = e.profile
        if changes:
            self.profile.update(changes)
        if e.email:
            self.has_email = True
        given = e.properties
        if given:
            held = self.properties
            sums = self.sums
            for name, value in given.items():
                held[name] = value
                # type(), not isinstance: True is an int, and no quantity.
                if type(value) is int or type(value) is float:
                    try:
                        sums[name] = sums.get(name, 0.0) + value
                    except OverflowError:  # an integer beyond 1e308: no float sums it
                        sums[name] = math.inf

    def _sales_touch(self, e: Any) -> None:
        """A touchpoint while sales owns the lead: an action, its properties sales'."""
        sales = self.sales
        sales["actions"] = sales.get("actions", 0) + 1
        sales["touches"] = sales.get("touches", 0) + 1
        if e.profile:
            self.profile.update(e.profile)
        if e.email:
            self.has_email = True
        if e.properties:
            for name, value in e.properties.items():
                sales[f"property:{name}"] = value

    # -- sales actions (a person's, or an import's on their behalf) --------------------

    def _act(self, level: int | None = None, *, action: bool = True,
             at: datetime | None = None) -> None:
        sales = self.sales
        if action:
            sales["actions"] = sales.get("actions", 0) + 1
        if level is not None:
            sales[_LEVEL] = level
            if level > sales.get("stage", 0):
                sales["stage"] = level
            if level < _SALES_OWNS:
                sales.pop(_SINCE, None)
            elif _SINCE not in sales:
                sales[_SINCE] = at

    def _qualified(self, e: Any) -> None:
        # The engine's own MQL (a rule over the scores) is no input; a person's
        # (``qualify:<rule>``) or an accept's override (``sales override: ...``) is.
        # The override comes with the accept's SalesAccepted: one action, counted there.
        rule: str = e.rule
        if rule.startswith("qualify:"):
            self._act(1)
        elif rule.startswith("sales override:"):
            self._act(1, action=False)

    def _accepted(self, e: Any) -> None:
        self._act(2, at=e.occurred_at)

    def _advanced(self, e: Any) -> None:
        if e.from_stage in _POOL:  # captured → nurturing: the engine's, on any input
            return
        level = max(self.sales.get(_LEVEL, 0), 2) + 1 + len(e.skipped)
        self._act(level, at=e.occurred_at)

    def _assessed(self, e: Any) -> None:
        self._act()
        self.sales["bant"] = sum(1 for c in (e.budget, e.authority, e.need, e.timeline)
                                 if c is True)

    def _recycled(self, e: Any) -> None:
        self._act(0)

    def _reopened(self, e: Any) -> None:
        to = e.to_stage
        # an opportunity stage: the level it was left at
        self._act(_POOL_LEVELS.get(to), at=e.occurred_at)

    def _disqualified(self, e: Any) -> None:
        if e.actor != _SCREEN_ACTOR:  # a screen's judgement is the engine's
            self._act()

    def _closed(self, e: Any) -> None:
        self._act()

    def _noted(self, e: Any) -> None:
        # Not an action of its own: the properties an action carried, recorded after it.
        sales = self.sales
        for name, value in e.properties.items():
            sales[f"property:{name}"] = value

    def _erased(self, e: Any) -> None:
        # Imported here: the aggregates import this module (a cycle at import time).
        from lifecycle.aggregates.values import ERASED, PERSONAL_PROFILE_FIELDS

        # As the lead's state does: once the key is deleted the events read so, and a
        # lead's facts must not depend on whether it was folded before or after. Which
        # properties are personal is the storage's configuration: none is kept.
        self.profile = {k: ERASED if k in PERSONAL_PROFILE_FIELDS else v
                        for k, v in self.profile.items()}
        self.properties = {}
        self.sums = {}
        self.sales = {k: v for k, v in self.sales.items() if not k.startswith("property:")}


_LEVEL = "_level"
"""The sales level the lead is at now (``stage`` is the furthest reached)."""
_SALES_OWNS = 2
"""The level from which sales owns the lead (``sql``: accepted)."""
_SINCE = "_since"
"""The business time sales took the lead at (while it owns it): a touchpoint dated from
then on is a sales fact, one dated before (if recorded late) the lead's own."""
_POOL = ("captured", "nurturing")
_POOL_LEVELS = {"captured": 0, "nurturing": 0, "mql": 1, "sql": 2}
_SCREEN_ACTOR = "policy:screen"  # rules.SCREEN_ACTOR (not imported: an import cycle)

_FOLDS: dict[str, Callable[[LeadFacts, Any], None]] = {
    "TouchpointRecorded": LeadFacts._touch,
    "MarketingQualified": LeadFacts._qualified,
    "SalesAccepted": LeadFacts._accepted,
    "StageAdvanced": LeadFacts._advanced,
    "BantAssessed": LeadFacts._assessed,
    "Recycled": LeadFacts._recycled,
    "Reopened": LeadFacts._reopened,
    "Disqualified": LeadFacts._disqualified,
    "Won": LeadFacts._closed,
    "Lost": LeadFacts._closed,
    "NoteAdded": LeadFacts._closed,
    "PropertiesNoted": LeadFacts._noted,
    "Erased": LeadFacts._erased,
}
"""What each event folds in, by class name (the stored ``Lead.<Name>`` classes and the
ones of :mod:`lifecycle.aggregates.events` alike). ``Captured`` starts the facts;
``Graded``, ``NurtureStepSent``, ``SalesQualified`` (a rule's) and ``Reinstated`` (a
screen's, or part of a person's action counted by the action) fold nothing."""


def facts_as_of(events: Iterable[Any], before: datetime | None) -> LeadFacts | None:
    """The lead's facts from its events (recorded order) dated strictly before ``before``
    (``None``: all); ``None`` when the lead's capture is not among them."""
    facts: LeadFacts | None = None
    for event in events:
        if before is not None and event.occurred_at >= before:
            continue
        if facts is None:
            if type(event).__name__ == "Captured":
                facts = LeadFacts.start(event)
            continue
        facts.add(event)
    return facts
