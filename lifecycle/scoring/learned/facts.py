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
"""

from __future__ import annotations

from collections.abc import Iterable
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
    """The latest business time of an input folded in."""
    touches: list[tuple[datetime, str, str]] = field(default_factory=list)
    """(business time, kind, channel) of every touchpoint, in recorded order."""
    properties: dict[str, Any] = field(default_factory=dict)
    """Touchpoint properties: the latest value given for each name."""
    sums: dict[str, float] = field(default_factory=dict)
    """Touchpoint properties with numeric values: the sum over touches, by name."""
    sales: dict[str, Any] = field(default_factory=dict)
    """Sales facts (only the ``sales`` features read them): ``actions`` (count),
    ``stage`` (the furthest stage reached), ``bant`` (criteria confirmed), and
    ``property:<name>`` for properties noted by sales."""

    def add(self, event: Any) -> None:
        """Folds one event in (events that are no input are ignored)."""
        raise NotImplementedError  # contract: filled in by the features branch

    @classmethod
    def start(cls, captured: Any) -> LeadFacts:
        """The facts of a lead's ``Captured`` event (its first input)."""
        raise NotImplementedError  # contract: filled in by the features branch


def facts_as_of(events: Iterable[Any], before: datetime | None) -> LeadFacts | None:
    """The lead's facts from its events (recorded order) dated strictly before ``before``
    (``None``: all); ``None`` when the lead's capture is not among them."""
    raise NotImplementedError  # contract: filled in by the features branch
