"""The ingest benchmark's naive baseline: eventsourcing as its tutorial uses it, with
the engine's Lead (one get and one save per touchpoint)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application

from lifecycle.aggregates.lead import Lead
from lifecycle.aggregates.values import lead_id_for
from lifecycle.application import Outcome
from lifecycle.contracts import Touchpoint
from lifecycle.handling import apply_input, keys_of
from lifecycle.scoring import load_scoring
from lifecycle.settings import persistence_env
from lifecycle.templates import load_templates

__all__ = ["NaiveLifecycle"]


class NaiveLifecycle(Application[UUID]):
    """The baseline: eventsourcing as the tutorial uses it, with the engine's Lead.

    One ``repository.get`` (a whole history replay: no aggregate cache) and one
    ``save`` (one transaction) per touchpoint; default mapper, JSON transcoder and
    recorder; no key index (a lead is found by the uuid5 of one of its keys).
    """

    name = "naive"

    def __init__(self, url: str) -> None:
        self.templates = load_templates()
        self.scoring = load_scoring()
        super().__init__(env=persistence_env(url))

    def record(self, tp: Touchpoint, recorded_at: datetime) -> tuple[Outcome, int]:
        keys = keys_of(tp)
        lead: Lead | None = None
        for key in keys:
            try:
                lead = self.repository.get(lead_id_for(key))
            except AggregateNotFoundError:
                continue
            break
        template = self.templates[tp.template or self.templates.default]
        if lead is None:
            lead = apply_input(None, tp, template=template, config=self.scoring,
                               recorded_at=recorded_at, keys=keys)
        else:
            if f"touchpoint:{tp.touchpoint_id}" in lead.seen:
                return Outcome.DUPLICATE, 0
            apply_input(lead, tp, template=self.templates[lead.template],
                        config=self.scoring, recorded_at=recorded_at)
        events = len(lead.pending_events)
        self.save(lead)
        return Outcome.ACCEPTED, events
