"""The facts a lead's history is made of: its 18 events and how each changes the state.

Each ``apply`` only assigns: every value was computed by the command that emitted the
event, so replaying stored events rebuilds the same state exactly.

:class:`~lifecycle.aggregates.lead.Lead` declares a subclass of each in its body
(``Lead.Captured`` …): those are the classes events are made of, stored under the topics
``lifecycle.aggregates.lead:Lead.<Name>`` as before these moved here. Field order is
part of the stored bytes: do not reorder fields. A field added to an event stored before
has a class-level default and is only passed when it holds something (``trigger_event``
stores the keywords it is given), so events that do not need it keep their stored bytes
and older stored events load with the default.

Each event declares its personal fields (``personal_fields``: name and kind, one of
``text``, ``keys``, ``key``, ``profile``, ``properties``, ``override``) and, when the
person is not the event's originator, the attribute that names them
(``personal_subject``): the storage encrypts those without knowing the aggregate.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from eventsourcing.domain import Aggregate

from lifecycle.aggregates.values import ERASED, PERSONAL_PROFILE_FIELDS
from lifecycle.scoring import BantAssessment, Contribution
from lifecycle.scoring.learned.facts import LeadFacts

if TYPE_CHECKING:
    from lifecycle.aggregates.lead import Lead

__all__ = ["BantAssessed", "Captured", "Disqualified", "Erased", "Graded", "LeadEvent",
           "Lost", "MarketingQualified", "NoteAdded", "NurtureStepSent", "PropertiesNoted",
           "Recycled", "Reinstated", "Reopened", "SalesAccepted", "SalesQualified",
           "StageAdvanced", "TouchpointRecorded", "Won"]

PersonalFields = tuple[tuple[str, str], ...]


class LeadEvent(Aggregate.Event):
    """Every lead event: business time, and who or what caused it."""

    personal_fields: ClassVar[PersonalFields] = ()
    """The fields that hold personal data, with their kind."""
    personal_subject: ClassVar[str | None] = None
    """The attribute naming the person (None: the event's originator, the lead)."""

    occurred_at: datetime
    source: str
    actor: str
    cause_id: str

    @property
    def recorded_at(self) -> datetime:
        return self.timestamp

    def apply(self, aggregate: Any) -> None:
        aggregate.seen.add(self.cause_id)
        self._apply(aggregate)
        aggregate.facts.add(self)  # the inputs, as learned scoring reads them

    def _apply(self, lead: Lead) -> None:
        """Assigns this event's facts to the lead."""


class Captured(LeadEvent, Aggregate.Created):
    personal_fields = (("email", "text"), ("external_id", "text"), ("keys", "keys"),
                       ("profile", "profile"))

    template: str
    keys: tuple[str, ...]
    email: str | None
    external_id: str | None
    profile: dict[str, Any]
    channel: str
    fit: float
    fit_parts: dict[str, float]

    def apply(self, aggregate: Any) -> None:
        lead: Lead = aggregate
        lead.template = self.template
        lead.keys = tuple(self.keys)
        lead.email = self.email
        lead.emails = (self.email,) if self.email else ()
        lead.external_id = self.external_id
        lead.profile = dict(self.profile)
        lead.first_channel = self.channel
        lead.first_source = self.source
        lead.captured_at = self.occurred_at
        lead.stage = "captured"
        lead.stage_entered_at = self.occurred_at
        lead.lost_from = None
        lead.grade = None
        lead.total_score = 0.0
        lead.fit = self.fit
        lead.fit_parts = dict(self.fit_parts)
        lead.bant = BantAssessment()
        lead.behaviour = 0.0
        lead.behaviour_at = self.occurred_at
        lead.contributions = []
        lead.newest_at = self.occurred_at
        lead.last_touch_at = self.occurred_at
        lead.nurture_track = None
        lead.nurture_started_at = None
        lead.nurture_next_step = 0
        lead.amount = None
        lead.currency = None
        lead.seen = {self.cause_id}
        lead.erased = False
        lead.properties = {}
        lead.acted_on = False
        lead.disqualified_from = None
        lead.disqualified_by = None
        lead.facts = LeadFacts.start(self)


class TouchpointRecorded(LeadEvent):
    personal_fields = (("profile", "profile"), ("properties", "properties"),
                       ("email", "text"))

    channel: str
    kind: str
    points: float
    behaviour: float
    behaviour_at: datetime
    profile: dict[str, Any] | None
    fit: float | None
    fit_parts: dict[str, float] | None
    properties: dict[str, Any] | None
    email: str | None = None
    """An email the lead did not know, that this touchpoint came with (only then stored)."""

    def _apply(self, lead: Lead) -> None:
        t = self.occurred_at
        lead.contributions.append(Contribution(t, self.kind, self.points))
        lead.behaviour = self.behaviour
        lead.behaviour_at = self.behaviour_at
        if t > lead.newest_at:
            lead.newest_at = t
        if t > lead.last_touch_at:
            lead.last_touch_at = t
        if self.profile:
            lead.profile = {**lead.profile, **self.profile}
        if self.fit is not None and self.fit_parts is not None:
            lead.fit = self.fit
            lead.fit_parts = dict(self.fit_parts)
        if self.properties:
            _note_properties(lead, self.properties)
        email = self.email
        if email:
            lead.emails = (*lead.emails, email)
            if lead.email is None:
                lead.email = email


class Graded(LeadEvent):
    grade: str
    previous: str | None
    total: float
    fit: float
    behaviour: float
    bant: float | None
    fit_parts: dict[str, float]
    trigger: str
    # A grade a learned model made (trigger "model"): which model, its probability and
    # the top factors. Stored only on those events (class defaults for the others, so a
    # rules grade is stored as before).
    model_id: str | None = None
    probability: float | None = None
    factors: list[dict[str, Any]] | None = None

    def _apply(self, lead: Lead) -> None:
        lead.grade = self.grade  # type: ignore[assignment]
        lead.total_score = self.total
        lead.graded_by_model = self.model_id


class NurtureStepSent(LeadEvent):
    track: str
    step: int
    content: str
    track_started_at: datetime

    def _apply(self, lead: Lead) -> None:
        lead.nurture_track = self.track  # type: ignore[assignment]
        lead.nurture_started_at = self.track_started_at
        lead.nurture_next_step = self.step + 1


class StageAdvanced(LeadEvent):
    personal_fields = (("skip_reason", "text"),)

    from_stage: str
    to_stage: str
    skipped: tuple[str, ...]
    skip_reason: str | None
    amount: float | None
    currency: str | None

    def _apply(self, lead: Lead) -> None:
        _enter(lead, self.to_stage, self.occurred_at)
        if self.amount is not None:
            lead.amount, lead.currency = self.amount, self.currency


class MarketingQualified(LeadEvent):
    # A rule a salesperson forced ("sales override: <reason>") holds free text.
    personal_fields = (("rule", "override"), ("text", "text"))

    from_stage: str
    rule: str
    fit: float
    behaviour: float
    text: str | None = None
    """Why a person qualified the lead (action ``qualify``); stored only when given."""

    def _apply(self, lead: Lead) -> None:
        _enter(lead, "mql", self.occurred_at)


class SalesAccepted(LeadEvent):
    """A salesperson accepted the MQL: the lead is sales-qualified (SQL)."""

    from_stage: str

    def _apply(self, lead: Lead) -> None:
        _enter(lead, "sql", self.occurred_at)


class SalesQualified(LeadEvent):
    """The template's rule made the MQL sales-qualified without a hand-off."""

    from_stage: str
    rule: str

    def _apply(self, lead: Lead) -> None:
        _enter(lead, "sql", self.occurred_at)


class BantAssessed(LeadEvent):
    budget: bool | None
    authority: bool | None
    need: bool | None
    timeline: bool | None

    def _apply(self, lead: Lead) -> None:
        lead.bant = BantAssessment(self.budget, self.authority, self.need, self.timeline)
        lead.acted_on = True


class Recycled(LeadEvent):
    personal_fields = (("text", "text"),)

    from_stage: str
    reason: str
    text: str | None
    taxonomy_version: int

    def _apply(self, lead: Lead) -> None:
        _enter(lead, "nurturing", self.occurred_at)
        lead.acted_on = True
        lead.nurture_track = None
        lead.nurture_started_at = None
        lead.nurture_next_step = 0


class Disqualified(LeadEvent):
    personal_fields = (("text", "text"),)

    from_stage: str
    reason: str
    competitor: str | None
    text: str | None
    taxonomy_version: int

    def _apply(self, lead: Lead) -> None:
        lead.disqualified_from = self.from_stage
        lead.disqualified_by = self.actor
        _enter(lead, "disqualified", self.occurred_at)


class Won(LeadEvent):
    personal_fields = (("skip_reason", "text"),)

    from_stage: str
    amount: float | None
    currency: str | None
    skipped: tuple[str, ...]
    skip_reason: str | None

    def _apply(self, lead: Lead) -> None:
        _enter(lead, "won", self.occurred_at)
        if self.amount is not None:
            lead.amount, lead.currency = self.amount, self.currency


class Lost(LeadEvent):
    personal_fields = (("text", "text"),)

    from_stage: str
    reason: str
    competitor: str | None
    text: str | None
    amount: float | None
    currency: str | None
    taxonomy_version: int

    def _apply(self, lead: Lead) -> None:
        lead.lost_from = self.from_stage
        _enter(lead, "lost", self.occurred_at)
        if self.amount is not None:
            lead.amount, lead.currency = self.amount, self.currency


class Reopened(LeadEvent):
    personal_fields = (("text", "text"),)

    to_stage: str
    text: str | None

    def _apply(self, lead: Lead) -> None:
        lead.lost_from = None
        lead.disqualified_from = lead.disqualified_by = None
        lead.acted_on = True
        _enter(lead, self.to_stage, self.occurred_at)


class Reinstated(LeadEvent):
    """A screen's disqualification reversed: new evidence cleared the screen
    (``rule="screen_cleared"``) or a person acted on the lead (``"person_acted"``).

    The lead goes back to the stage the screen disqualified it from.
    """

    personal_fields = (("text", "text"),)

    from_stage: str
    to_stage: str
    rule: str
    text: str | None

    def _apply(self, lead: Lead) -> None:
        lead.disqualified_from = lead.disqualified_by = None
        if self.rule == "person_acted":
            lead.acted_on = True
        _enter(lead, self.to_stage, self.occurred_at)


class PropertiesNoted(LeadEvent):
    """The source's own fields a sales action carried (segment, owner team, ...)."""

    personal_fields = (("properties", "properties"),)

    properties: dict[str, Any]

    def _apply(self, lead: Lead) -> None:
        _note_properties(lead, self.properties)


class NoteAdded(LeadEvent):
    personal_fields = (("text", "text"),)

    text: str


class Erased(LeadEvent):
    """The person's personal data was erased (crypto-shredded: their key deleted).

    What the events hold about them reads as ``ERASED`` from now on; the state here
    says so too, so it is the same before and after the key is gone.
    """

    def _apply(self, lead: Lead) -> None:
        lead.erased = True
        lead.email = None if lead.email is None else ERASED
        lead.emails = tuple(ERASED for _ in lead.emails)
        # Which properties are personal is the storage's configuration, not the lead's:
        # none is kept, so the state is the same whether their key is gone or not.
        lead.properties = {}
        lead.external_id = None if lead.external_id is None else ERASED
        lead.keys = tuple(f"{k.partition(':')[0]}:{ERASED}" for k in lead.keys)
        lead.profile = {k: ERASED if k in PERSONAL_PROFILE_FIELDS else v
                        for k, v in lead.profile.items()}


def _note_properties(lead: Lead, properties: dict[str, Any]) -> None:
    """The first value given for a property wins: later ones are history, not state."""
    held = lead.properties
    for name, value in properties.items():
        held.setdefault(name, value)


def _enter(lead: Lead, stage: str, at: datetime) -> None:
    lead.stage = stage
    lead.stage_entered_at = at
    lead.newest_at = max(lead.newest_at, at)
