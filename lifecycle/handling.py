"""From an input to the Lead's named commands: the application's handling of one input.

:func:`apply_input` is the mapping from the contract (a :class:`Touchpoint` or
:class:`SalesAction`) onto one command of :class:`~lifecycle.aggregates.lead.Lead`;
everything else here is what the application does around it for each input of a batch
— the business-time window, idempotency by input id, finding or creating the lead —
and the outcome it reports (:class:`Result`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate

from lifecycle.aggregates.lead import Lead
from lifecycle.aggregates.values import Key, LossReason, Touch, lead_id_for
from lifecycle.business_time import check_business_time
from lifecycle.contracts import SalesAction, Touchpoint
from lifecycle.errors import (
    IdConflict,
    InputRejected,
    InvalidInput,
    LeadNotFound,
    UnknownTemplate,
)
from lifecycle.inputs import Recorded, cause_of, content, differing, id_field_of, open_content
from lifecycle.scoring import BantAssessment, ScoringConfig
from lifecycle.templates import FunnelTemplate

if TYPE_CHECKING:
    from lifecycle.application import LeadLifecycle

__all__ = [
    "INTERNAL_ERROR",
    "UNSTORABLE",
    "Batch",
    "Outcome",
    "Result",
    "apply_input",
    "handle",
    "keys_of",
    "touch_of",
]

Inbound = Touchpoint | SalesAction

INTERNAL_ERROR = "internal_error"
"""Code of an input the engine failed on unexpectedly (a bug, reported, never a stop)."""
UNSTORABLE = "unstorable"
"""Code of an input whose events the database refused (found by storing apart)."""


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class Result:
    """What happened to one input.

    ``flags`` (an accepted input's) name what it did to its lead: ``created`` (it
    captured the lead), ``disqualified`` (a screen or a person disqualified it),
    ``reinstated`` (a screen's disqualification was reversed), and
    ``not_contactable`` (after it, the lead has neither email nor phone).
    """

    input_id: str
    outcome: Outcome
    lead_id: UUID | None = None
    events: int = 0
    code: str | None = None
    reason: str | None = None
    flags: tuple[str, ...] = ()


def keys_of(item: Touchpoint | SalesAction) -> tuple[str, ...]:
    """The input's lead keys, external id first: a system's own id beats an email."""
    fields = item.__dict__
    return Key.of(fields["external_id"], fields["email"])


# -- the contract → the Lead's commands --------------------------------------------------


def touch_of(tp: Touchpoint) -> Touch:
    """The domain's view of a touchpoint (its facts, without its identity)."""
    # Fields read from __dict__: pydantic's attribute access costs more; and the tuple
    # made by tuple.__new__: the named tuple's own __new__ costs more (per touchpoint).
    fields = tp.__dict__
    profile = fields["profile"]
    return _new_tuple(Touch, (
        fields["touchpoint_id"], fields["occurred_at"], fields["source"], fields["channel"],
        fields["kind"],
        None if profile is None else {k: v for k, v in profile.__dict__.items() if v is not None},
        fields["properties"], fields["email"]))


_new_tuple = tuple.__new__


def apply_input(
    lead: Lead | None,
    item: Touchpoint | SalesAction,
    *,
    template: FunnelTemplate,
    config: ScoringConfig,
    recorded_at: datetime,
    keys: tuple[str, ...] | None = None,
) -> Lead:
    """Applies one input to its lead by the matching named command.

    Args:
        lead: the input's lead; None: a touchpoint captures a new one.
        item: a validated input.
        template: the lead's funnel template (a new lead's: the touchpoint's, or the
            default).
        config: the scoring configuration.
        recorded_at: when the engine records it (the events' timestamp).
        keys: the input's keys (default: :func:`keys_of`), for a new lead.

    Returns:
        The lead, with the new events pending.

    Raises:
        LeadNotFound: a sales action and no lead.
        InputRejected: what the command rejects (IllegalTransition, LeadErased, ...);
            the lead then has no new events.
    """
    if isinstance(item, Touchpoint):
        if lead is not None:
            lead.record_touchpoint(touch_of(item), template=template, config=config,
                                   recorded_at=recorded_at)
            return lead
        keys = keys or keys_of(item)
        return Lead.capture(lead_id_for(keys[0]), touch_of(item), keys=keys, email=item.email,
                            external_id=item.external_id, template=template, config=config,
                            recorded_at=recorded_at)
    if lead is None:
        raise LeadNotFound((keys or keys_of(item))[0])
    _act(lead, item, template, config, recorded_at)
    return lead


def _act(lead: Lead, a: SalesAction, template: FunnelTemplate, config: ScoringConfig,
         recorded_at: datetime) -> None:
    by: dict[str, Any] = {"at": a.occurred_at, "actor": a.actor,
                          "cause": f"action:{a.action_id}", "recorded_at": recorded_at}
    match a.action:
        case "accept":
            lead.accept(skip_reason=a.skip_reason, **by)
        case "qualify":
            lead.qualify(rule=a.rule, text=a.text, template=template, config=config, **by)
        case "advance":
            lead.advance(stage=a.stage, skip_reason=a.skip_reason, amount=a.amount,
                         currency=a.currency, template=template, **by)
        case "win":
            lead.win(amount=a.amount, currency=a.currency, skip_reason=a.skip_reason,
                     template=template, **by)
        case "lose":
            lead.lose(_reason(a), competitor=a.competitor, text=a.text, amount=a.amount,
                      currency=a.currency, template=template, **by)
        case "disqualify":
            lead.disqualify(_reason(a), competitor=a.competitor, text=a.text, **by)
        case "recycle":
            lead.recycle(_reason(a), text=a.text, template=template, config=config, **by)
        case "reopen":
            lead.reopen(text=a.text, template=template, config=config, **by)
        case "bant":
            lead.assess_bant(BantAssessment(a.budget, a.authority, a.need, a.timeline),
                             template=template, config=config, **by)
        case "note":
            lead.add_note(a.text or "", **by)
        case other:
            raise InvalidInput(f"action: unknown sales action {other!r}")
    if a.properties:
        lead.note_properties(a.properties, **by)


def _reason(a: SalesAction) -> LossReason:
    if a.reason is None:  # the contract requires one; a model built around it may not
        raise InvalidInput(f"reason: action {a.action!r} needs a reason")
    return a.reason


# -- one input of a batch ------------------------------------------------------------


class Batch:
    """Aggregates touched by the inputs of one transaction."""

    def __init__(self) -> None:
        self.aggregates: dict[UUID, Aggregate] = {}
        self.new_keys: list[str] = []
        # Lead keys as this batch knows them: registered by it, or read for it (None:
        # not registered when it started). Unlike the LRU, this cannot lose a key
        # registered earlier in the batch and not yet saved.
        self.keys: dict[str, UUID | None] = {}
        # Leads read for this batch (see _prefetch) that no input has used yet.
        self.loaded: dict[UUID, Aggregate] = {}
        # Input ids (causes) recorded before the batch (read by _prefetch) or accepted in
        # it; the accepted ones go to the input index with the events.
        self.recorded: dict[str, Recorded] = {}
        self.inputs: list[tuple[str, UUID, bytes]] = []  # cause, lead, content


def handle(
    app: LeadLifecycle, item: Inbound, batch: Batch, recorded_at: datetime,
    store_errors: tuple[type[BaseException], ...],
) -> Result:
    """Applies one input of a batch; whatever goes wrong rejects this input alone,
    except the store's own errors (``store_errors``), which stop the batch."""
    try:
        check_business_time(app.settings, item, recorded_at)
        return _apply(app, item, batch, recorded_at)
    except InputRejected as e:
        return Result(item.input_id, Outcome.REJECTED, code=e.code, reason=str(e))
    except store_errors:
        raise
    except Exception as e:
        # No input may stop ingestion: a bug met by one input rejects that input.
        return Result(item.input_id, Outcome.REJECTED, code=INTERNAL_ERROR,
                      reason=f"the engine failed on this input ({type(e).__name__}: {e}); "
                      "nothing of it was recorded; please report it with the input")


def _apply(app: LeadLifecycle, item: Inbound, batch: Batch, recorded_at: datetime) -> Result:
    cause = cause_of(item)
    known = batch.recorded.get(cause)
    if known is not None:
        return _redelivery(app, item, cause, known, batch)
    keys = keys_of(item)
    identity = app.identity
    lead_id = identity.resolve(keys, batch)
    if isinstance(item, Touchpoint):
        template_name = item.template or app.templates.default
        if template_name not in app.templates:
            raise UnknownTemplate(template_name, known=app.templates.names())
        if lead_id is None:
            created = apply_input(None, item, template=app.templates[template_name],
                                  config=app.scoring.for_template(template_name),
                                  recorded_at=recorded_at, keys=keys)
            new_id = created.id
            batch.aggregates[new_id] = created
            app._leads.put(new_id, created)
            identity.register(keys, new_id, batch, recorded_at)
            _accepted(item, cause, new_id, batch)
            return Result(item.input_id, Outcome.ACCEPTED, new_id, len(created.pending_events),
                          flags=_flags(created, 0, created=True))
    elif lead_id is None:
        raise LeadNotFound(keys[0])
    lead = load_lead(app, lead_id, batch)
    if lead is None:
        raise LeadNotFound(keys[0])
    if cause in lead.seen:  # recorded before the input index existed: no digest
        return Result(item.input_id, Outcome.DUPLICATE, lead_id)
    before = len(lead.pending_events)
    try:
        apply_input(lead, item, template=template_of(app, lead.template),
                    config=app.scoring.for_template(lead.template), recorded_at=recorded_at)
    except InputRejected:
        if len(lead.pending_events) != before:  # a command must guard before it emits
            raise RuntimeError(f"command on lead {lead_id} emitted before rejecting") from None
        raise
    for key in keys:
        if key not in lead.keys:  # known by a key it was not captured with
            unregistered = [k for k in keys
                            if k not in lead.keys and identity.lookup(k, batch) is None]
            identity.register(tuple(unregistered), lead_id, batch, recorded_at)
            break
    _accepted(item, cause, lead_id, batch)
    return Result(item.input_id, Outcome.ACCEPTED, lead_id, len(lead.pending_events) - before,
                  flags=_flags(lead, before))


def _flags(lead: Lead, before: int, *, created: bool = False) -> tuple[str, ...]:
    """What the events of one input (from the ``before``-th pending one) did to its lead."""
    flags = ["created"] if created else []
    names = {type(e).__name__ for e in lead.pending_events[before:]}
    if "Disqualified" in names:
        flags.append("disqualified")
    if "Reinstated" in names:
        flags.append("reinstated")
    if not lead.contactable:
        flags.append("not_contactable")
    return tuple(flags)


def _accepted(item: Inbound, cause: str, lead_id: UUID, batch: Batch) -> None:
    plain = content(item)
    batch.recorded[cause] = Recorded(lead_id, plain=plain)
    batch.inputs.append((cause, lead_id, plain))


def _redelivery(
    app: LeadLifecycle, item: Inbound, cause: str, known: Recorded, batch: Batch
) -> Result:
    """An input whose id is recorded: ``duplicate`` when its content is the same.

    Raises:
        IdConflict: other content, or keys that point to another lead.
    """
    plain = known.plain
    if plain is None:  # stored
        if known.sealed is None:
            raise RuntimeError(f"input {cause} is recorded without content")
        cipher = app.subject_keys.cipher(known.lead_id)
        if cipher is None:
            # Erased: what it said cannot be read any more. The same keys mean a
            # redelivery (nothing written, and no reject copies the person's data).
            lead_id = app.identity.resolve(keys_of(item), batch, strict=False)
            if lead_id == known.lead_id:
                return Result(item.input_id, Outcome.DUPLICATE, known.lead_id)
            raise IdConflict(id_field=id_field_of(item), input_id=item.input_id,
                             recorded_lead=known.lead_id, lead_id=lead_id, differs=())
        plain = open_content(cipher, known.lead_id, cause, known.sealed)
    new = content(item)
    if new == plain:
        return Result(item.input_id, Outcome.DUPLICATE, known.lead_id)
    differs = ("(the recorded content does not decrypt: altered?)",) if plain is None else (
        differing(plain, new))
    raise IdConflict(id_field=id_field_of(item), input_id=item.input_id,
                     recorded_lead=known.lead_id,
                     lead_id=app.identity.resolve(keys_of(item), batch, strict=False),
                     differs=differs)


def template_of(app: LeadLifecycle, name: str) -> FunnelTemplate:
    """The lead's template.

    Raises:
        UnknownTemplate: the engine no longer has it.
    """
    if name not in app.templates:
        raise UnknownTemplate(name, known=app.templates.names())
    return app.templates[name]


def load_lead(app: LeadLifecycle, lead_id: UUID, batch: Batch) -> Lead | None:
    """The lead for this batch: from the batch, its prefetch, the cache or the store."""
    lead = batch.aggregates.get(lead_id)
    if lead is None and batch.loaded:
        lead = batch.loaded.pop(lead_id, None)
        if lead is not None:
            app._leads.put(lead_id, lead)
    if lead is None:
        lead = app._leads.get_recent(lead_id)
    if lead is None:
        try:
            lead = app.repository.get(lead_id)
        except AggregateNotFoundError:
            return None
        app._leads.put(lead_id, lead)
    if not isinstance(lead, Lead):
        raise RuntimeError(f"aggregate {lead_id} is not a lead")
    batch.aggregates[lead_id] = lead
    return lead


def run_policy(
    app: LeadLifecycle, lead_ids: Iterable[UUID], command: Callable[[Lead, datetime], bool]
) -> int:
    """Runs a policy command on each lead, saves all events in one transaction.

    Returns:
        On how many leads the command reported a change.
    """
    batch = Batch()
    now = app.clock()
    changed = 0
    try:
        for lead_id in lead_ids:
            lead = load_lead(app, lead_id, batch)
            if lead is not None and command(lead, now):
                changed += 1
        events = [e for a in batch.aggregates.values() for e in a.collect_events()]
        if events:
            app.save(*events)
    except BaseException:
        app._forget(batch)
        raise
    return changed
