"""What auditors ask of a lead: its history, its state at a past moment, and proof that
the stored history was not altered.

- :func:`history`: every event in order with business and recorded time, its cause
  (source system, actor, touchpoint / action / policy id) and what it changed (stage,
  grade, scores before → after).
- :func:`as_of`: the lead's exact state at a moment, both as of *business* time (the
  events that had happened by then, applied in recorded order) and as of *recorded*
  time (what the engine knew then: the prefix of its history recorded by then).
- :func:`verify`: recomputes the hash chains (:mod:`lifecycle.chain`) straight from the
  raw rows of the events table (the storage adapter's), in one consistent read; checks the
  heads, the notification order and the key index against the leads; and, given an
  anchor (:mod:`lifecycle.anchor`), holds every history to it.
- :func:`take_anchor`: the checkpoint :func:`verify` holds the store to.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID
from weakref import WeakKeyDictionary

from eventsourcing.persistence import StoredEvent

from lifecycle.aggregates.lead import Lead
from lifecycle.anchor import Anchor
from lifecycle.application import LeadLifecycle
from lifecycle.chain import KEY_KIND, Anchored, Break
from lifecycle.errors import LeadNotFound
from lifecycle.integrity import Source, Tally, cross_check, scan, scan_parallel
from lifecycle.scoring import behaviour_at
from lifecycle.views import DETAIL_FIELDS

__all__ = [
    "PARALLEL_FROM",
    "VerifyReport",
    "as_of",
    "fold",
    "history",
    "state_view",
    "take_anchor",
    "verify",
]

PARALLEL_FROM = 300_000
"""Stores with at least this many events are verified by parallel processes."""


# -- history ----------------------------------------------------------------------------


_decoded: WeakKeyDictionary[LeadLifecycle, tuple[UUID, bool, list[bytes], list[Lead.Event]]]
_decoded = WeakKeyDictionary()


def _events(app: LeadLifecycle, lead_id: UUID) -> list[Lead.Event]:
    """The lead's events, read from the store every time; decoding is reused while the
    stored bytes (and whether the lead has a key) are the same as last time."""
    stored = _stored(app, lead_id)
    states = [s.state for s in stored]
    keyed = app.subject_keys.cipher(lead_id) is not None
    last = _decoded.get(app)
    if last is not None and last[0] == lead_id and last[1] == keyed and last[2] == states:
        return last[3]
    decode = app.fast_mapper.to_domain_event
    events = [e for e in map(decode, stored) if isinstance(e, Lead.Event)]
    if not events:
        raise LeadNotFound(str(lead_id))
    _decoded[app] = (lead_id, keyed, states, events)
    return events


def _stored(app: LeadLifecycle, lead_id: UUID) -> list[StoredEvent]:
    """The lead's stored events (the adapter's reader: plain tuples, where eventsourcing's
    ``select_events`` builds a dict and a UUID per row, which costs as much as decoding)."""
    return app.event_recorder.events_of([lead_id])


def _scores(lead: Lead | None) -> tuple[Any, ...]:
    if lead is None:
        return (None, None, None, None, None)
    return (lead.stage, lead.grade, round(lead.total_score, 4), round(lead.fit, 4),
            round(lead.behaviour, 4))


def _cause(event: Lead.Event) -> dict[str, str]:
    kind, _, ident = event.cause_id.partition(":")
    return {"source": event.source, "actor": event.actor, "type": kind, "id": ident}


def history(app: LeadLifecycle, lead_id: UUID) -> dict[str, Any]:
    """Every event of a lead, oldest first, with its cause and the change it made.

    Raises:
        LeadNotFound: the lead has no events.
    """
    events = _events(app, lead_id)
    rows = []
    lead: Any = None
    after = _scores(None)
    for event in events:
        before = after
        lead = event.mutate(lead)
        after = _scores(lead)
        change: dict[str, Any] = {}
        for i, name in enumerate(("stage", "grade", "total", "fit", "behaviour")):
            if before[i] != after[i]:
                change[name] = [before[i], after[i]]
        attrs = vars(event)
        rows.append({
            "version": event.originator_version, "event": type(event).__name__,
            "occurred_at": event.occurred_at.isoformat(),
            "recorded_at": event.timestamp.isoformat(), "cause": _cause(event),
            "change": change,
            "detail": {k: v for k in DETAIL_FIELDS if (v := attrs.get(k)) is not None},
        })
    assert isinstance(lead, Lead)
    return {"lead_id": str(lead_id), "events": len(rows), "erased": lead.erased,
            "stage": lead.stage, "grade": lead.grade, "history": rows}


# -- state at a moment ---------------------------------------------------------------------


def fold(events: Sequence[Lead.Event]) -> Lead | None:
    """Applies events in the order given without checking their versions (a business-
    time cut leaves gaps). None when the lead's creation is not among them."""
    lead: Lead | None = None
    for event in events:
        if lead is None:
            if isinstance(event, Lead.Captured):
                lead = event.mutate(None)
            continue
        event.apply(lead)
        lead.version = event.originator_version
        lead.modified_on = event.timestamp
    return lead


def state_view(lead: Lead | None, *, at: datetime, basis: str, events: int,
               half_life_seconds: float) -> dict[str, Any]:
    """The lead's state as plain values, behaviour decayed to ``at``."""
    view: dict[str, Any] = {"basis": basis, "at": at.isoformat(), "exists": lead is not None,
                            "events": events}
    if lead is None:
        return view
    bant = lead.bant
    view.update({
        "version": lead.version,
        "template": lead.template,
        "stage": lead.stage,
        "stage_entered_at": lead.stage_entered_at.isoformat(),
        "grade": lead.grade,
        "total_score": round(lead.total_score, 4),
        "fit": round(lead.fit, 4),
        "behaviour": round(behaviour_at(lead.contributions, at, half_life_seconds), 4),
        "bant": {"budget": bant.budget, "authority": bant.authority, "need": bant.need,
                 "timeline": bant.timeline, "met": bant.met},
        "keys": list(lead.keys),
        "email": lead.email,
        "contactable": lead.contactable,
        "profile": dict(lead.profile),
        "properties": dict(lead.properties),
        "deal": {"amount": lead.amount, "currency": lead.currency},
        "erased": lead.erased,
        "last_recorded_at": lead.modified_on.isoformat(),
    })
    return view


def as_of(app: LeadLifecycle, lead_id: UUID, at: datetime) -> dict[str, Any]:
    """The lead at ``at``, as of business time and as of recorded time.

    - business: the events that *happened* by ``at`` (``occurred_at <= at``), applied in
      the order they were recorded — what was true then, late arrivals included;
    - recorded: the longest prefix of the history recorded by ``at`` (``timestamp <=
      at``) — what the engine knew then; the same as the event store's
      ``get(lead_id, version=n)``.

    Raises:
        LeadNotFound: the lead has no events.
    """
    events = _events(app, lead_id)
    half_life = app.scoring.half_life_seconds
    happened = [e for e in events if e.occurred_at <= at]
    business = fold(happened)
    recorded_n = 0
    for event in events:
        if event.timestamp > at:
            break
        recorded_n += 1
    recorded: Any = None
    for event in events[:recorded_n]:
        recorded = event.mutate(recorded)
    business_view = state_view(business, at=at, basis="business", events=len(happened),
                               half_life_seconds=half_life)
    captured = events[0]
    if business is None and happened:
        business_view["note"] = (f"captured at {captured.occurred_at.isoformat()}; "
                                 f"{len(happened)} of its events are dated earlier")
    return {
        "lead_id": str(lead_id),
        "at": at.isoformat(),
        "business": business_view,
        "recorded": state_view(recorded, at=at, basis="recorded", events=recorded_n,
                               half_life_seconds=half_life),
    }


# -- integrity -------------------------------------------------------------------------


@dataclass
class VerifyReport:
    """What :func:`verify` found."""

    aggregates: int = 0
    events: int = 0
    seconds: float = 0.0
    breaks: list[Break] = field(default_factory=list)
    scope: str = "all"
    checks: tuple[str, ...] = ()
    anchor: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return not self.breaks

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok, "scope": self.scope, "aggregates": self.aggregates,
            "events": self.events, "seconds": round(self.seconds, 3),
            "events_per_second": round(self.events_per_second),
            "checks": list(self.checks), "anchor": self.anchor,
            "broken": [{"aggregate_id": _dashed(b.originator_id), "version": b.version,
                        "problem": b.problem, "detail": b.detail} for b in self.breaks],
        }


def _dashed(oid: str) -> str:
    try:
        return str(UUID(oid))
    except ValueError:
        return oid


def _source(app: LeadLifecycle) -> Source:
    recorder: Any = app.recorder
    return Source(app.settings.database_url, recorder.events_table_name)


def _scan(app: LeadLifecycle, *, lead_id: UUID | None, batch_size: int, workers: int | None,
          anchored: Anchored | None, ends: bool) -> tuple[list[Break], Tally]:
    source = _source(app)
    if workers is None:
        size = app.recorder.max_notification_id() or 0
        workers = min(os.cpu_count() or 1, 4) if size >= PARALLEL_FROM else 1
    if lead_id is None and workers > 1:
        return scan_parallel(source, workers, batch_size=batch_size, anchored=anchored,
                             ends=ends)
    return scan(source, lead_id=lead_id, batch_size=batch_size, anchored=anchored, ends=ends)


def verify(app: LeadLifecycle, *, lead_id: UUID | None = None, anchor: Anchor | None = None,
           batch_size: int = 20_000, workers: int | None = None) -> VerifyReport:
    """Checks the stored events from their raw rows, every aggregate or one lead.

    - every chain recomputed: an edited, removed, moved or renamed event breaks it;
    - every chain's end against its head, and every head against a chain;
    - each aggregate's events in the notification log in the order of their versions;
    - whole store only: the key index against the leads (:func:`cross_check`);
    - with ``anchor``: every aggregate it holds still has its anchored history (any
      event it covers edited, deleted or truncated, or the whole history gone, is
      found even when chains and heads were recomputed to match); events added since
      are checked by their chains, and none may sit in the part of the log it covers.

    Args:
        anchor: a loaded anchor (:func:`lifecycle.anchor.load` checked its root).
        workers: processes to split a whole-store check over (default: one per CPU, up
            to 4, for stores of more than ``PARALLEL_FROM`` events; else one).
    """
    started = time.perf_counter()
    report = VerifyReport(scope="all" if lead_id is None else str(lead_id))
    anchored = None
    if anchor is not None:
        anchored = Anchored(anchor.heads(None if lead_id is None else lead_id.hex),
                            anchor.max_notification_id, anchor.created_at)
        report.anchor = anchor.summary()
    whole = lead_id is None
    breaks, tally = _scan(app, lead_id=lead_id, batch_size=batch_size, workers=workers,
                          anchored=anchored, ends=whole)
    if whole and tally.ends is not None:
        breaks = sorted(breaks, key=lambda b: b.originator_id)
        breaks += cross_check(tally.ends, breaks)
    if anchor is not None:
        breaks = _name_lead(breaks, anchor)
    report.checks = (("chains", "heads", "notification_order")
                     + (("key_index",) if whole else ()) + (("anchor",) if anchor else ()))
    report.breaks = breaks
    report.aggregates, report.events = tally.aggregates, tally.events
    report.seconds = time.perf_counter() - started
    return report


def _name_lead(breaks: list[Break], anchor: Anchor) -> list[Break]:
    """Breaks of key index entries also name the lead the anchor says they belonged to."""
    gone = {b.originator_id for b in breaks
            if b.problem in ("vanished", "anchor_truncated", "anchor_mismatch")}
    if not gone:
        return breaks
    leads = {oid: lead for oid, kind, _, _, lead in anchor.lines
             if oid in gone and kind == KEY_KIND and lead}
    return [Break(b.originator_id, b.version, b.problem,
                  f"{b.detail} (the key index entry of lead {_dashed(leads[b.originator_id])})")
            if b.problem in ("vanished", "anchor_truncated", "anchor_mismatch")
            and b.originator_id in leads else b for b in breaks]


def take_anchor(app: LeadLifecycle, *, batch_size: int = 20_000, workers: int | None = None,
                created_at: datetime | None = None) -> tuple[Anchor | None, VerifyReport]:
    """A checkpoint of the whole store (unsealed: :func:`lifecycle.anchor.write` seals
    it), taken while verifying it.

    Returns:
        The anchor, or None when the store does not verify (an anchor must not vouch for
        a broken store), and the verification report.
    """
    started = time.perf_counter()
    when = (created_at or datetime.now(UTC)).isoformat()
    breaks, tally = _scan(app, lead_id=None, batch_size=batch_size, workers=workers,
                          anchored=None, ends=True)
    assert tally.ends is not None
    breaks = sorted(breaks, key=lambda b: b.originator_id)
    breaks += cross_check(tally.ends, breaks)
    report = VerifyReport(aggregates=tally.aggregates, events=tally.events, breaks=breaks,
                          seconds=time.perf_counter() - started,
                          checks=("chains", "heads", "notification_order", "key_index"))
    if breaks:
        return None, report
    lines = [(oid, kind, version, digest.decode("ascii"), ref if isinstance(ref, str) else None)
             for oid, version, digest, kind, ref, _ in tally.ends]
    return Anchor(created_at=when, backend=app.event_storage.name,
                  max_notification_id=tally.max_notification_id, events=tally.events,
                  lines=tuple(lines)), report
