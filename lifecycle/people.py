"""Who a listed lead is: its name and company, read from the Lead aggregates in batches.

Name and company are personal data: the projections do not hold them, and must not (a
projection row would outlive an erasure in plain text). Lists a person acts on (alerts,
cooling leads, an export) read them from the event store for the leads they list only,
500 leads per query (:meth:`~lifecycle.adapters.protocol.EventRecorder.events_of`), the
personal fields decrypted on read; an erased lead's read as :data:`ERASED`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from uuid import UUID

from lifecycle.aggregates.lead import Lead
from lifecycle.aggregates.values import ERASED

if TYPE_CHECKING:
    from lifecycle.application import LeadLifecycle

__all__ = ["BATCH", "People", "Person", "leads_with_events", "people_reader", "person_of",
           "uuids"]

BATCH = 500
"""Leads read per query: the adapters' own chunk of ids."""


@dataclass(frozen=True, slots=True)
class Person:
    """Who a lead is, for a list a person acts on; :data:`ERASED` when erased."""

    name: str | None
    company: str | None


People = Callable[[Sequence[str]], Mapping[str, Person]]
"""Reads the persons behind lead ids (a lead that is not found is left out)."""


def person_of(lead: Lead) -> Person:
    """The name and company the lead's profile holds now (both :data:`ERASED` for an
    erased lead: a company can name a one-person business)."""
    if lead.erased:
        return Person(ERASED, ERASED)
    profile = lead.profile
    name, company = profile.get("name"), profile.get("company")
    return Person(None if name is None else str(name),
                  None if company is None else str(company))


def leads_with_events(app: LeadLifecycle, lead_ids: Iterable[UUID], *, batch: int = BATCH,
                      ) -> Iterator[tuple[Lead, list[Lead.Event]]]:
    """Each lead with its events (decrypted), ``batch`` leads per read of the store, in
    the order of ``lead_ids``; ids with no lead are skipped. Only one batch is held."""
    source = iter(lead_ids)
    while True:
        chunk = [lead_id for _, lead_id in zip(range(batch), source, strict=False)]
        if not chunk:
            return
        app.subject_keys.prefetch(chunk)
        stored = app.event_recorder.events_of(chunk)
        by_lead: dict[UUID, list[Lead.Event]] = {}
        for record in stored:
            event = app.mapper.to_domain_event(record)
            if isinstance(event, Lead.Event):
                by_lead.setdefault(event.originator_id, []).append(event)
        for lead_id in chunk:
            events = by_lead.get(lead_id)
            if events:
                # Each event's own mutate, as eventsourcing's project_aggregate calls it
                # minus its runtime protocol check per event: that check took 40 % of
                # the time of an export.
                lead: Lead | None = None
                for event in events:
                    lead = event.mutate(lead)
                if lead is not None:
                    yield lead, events


def people_reader(app: LeadLifecycle) -> People:
    """A :data:`People` reading from ``app``'s event store."""

    def read(lead_ids: Sequence[str]) -> Mapping[str, Person]:
        found = leads_with_events(app, uuids(lead_ids))
        return {str(lead.id): person_of(lead) for lead, _ in found}

    return read


def uuids(texts: Iterable[str]) -> Iterator[UUID]:
    """The texts that are lead ids, as UUIDs (a projection row no event could have
    written names no lead: it is passed over, as a lead that is not found is)."""
    for text in texts:
        try:
            yield UUID(str(text))
        except ValueError:
            continue
