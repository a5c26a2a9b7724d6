"""The Lead aggregate: one person's way through the funnel, as a sequence of facts.

Stages: ``captured`` → ``nurturing`` → ``mql`` → ``sql`` → the template's opportunity
stages → ``won``; or ``lost`` (from ``sql`` or an opportunity stage) or ``disqualified``
(from any open stage), both reopenable. ``recycle`` sends an MQL, SQL or opportunity
back to ``nurturing``.

Screens are judgements, not tombstones: they run at capture and again whenever what
they look at changes (a new email, name or company), and disqualify only on positive
evidence (:func:`~lifecycle.scoring.screen`), and only a lead in the pool (captured,
nurturing) no person has acted on. A screen's disqualification is reversed
(``Reinstated``) when new evidence clears it, or when a person acts on the lead (the
action then applies as usual); a person's disqualification only by ``reopen``.

Public methods are commands, one per business decision, taking domain values: they
check the rules (:mod:`~lifecycle.aggregates.rules`), compute every value (scores,
grades, times), and only then trigger events (:mod:`~lifecycle.aggregates.events`,
whose ``apply`` methods only assign). A command that raises has emitted nothing.
Sales commands take who decided (``actor``), when (``at``, business time), why
(``cause``, the input's id) and when it was recorded (``recorded_at``).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from lifecycle.aggregates import events, rules
from lifecycle.aggregates.model_grading import ModelGradingCommands
from lifecycle.aggregates.sales import _NOTHING, SalesCommands
from lifecycle.aggregates.values import (
    REASON_TAXONOMY_VERSION,
    LossReason,
    Touch,
)
from lifecycle.scoring import (
    BantAssessment,
    Contribution,
    Grade,
    ScoringConfig,
    bant_part,
    evaluate,
    fit_score,
    grade,
    screen,
)
from lifecycle.templates import CLOSED_STAGES, FunnelTemplate

if TYPE_CHECKING:
    from lifecycle.scoring.learned.facts import LeadFacts

__all__ = ["Lead"]


class Lead(SalesCommands, ModelGradingCommands, Aggregate):
    """An event-sourced lead. Create it with :meth:`capture`."""

    if TYPE_CHECKING:  # state, assigned only by event apply methods
        template: str
        keys: tuple[str, ...]
        email: str | None
        external_id: str | None
        profile: dict[str, Any]
        first_channel: str
        first_source: str
        captured_at: datetime
        stage: str
        stage_entered_at: datetime
        lost_from: str | None
        grade: Grade | None
        total_score: float
        fit: float
        fit_parts: dict[str, float]
        bant: BantAssessment
        behaviour: float
        behaviour_at: datetime
        contributions: list[Contribution]
        newest_at: datetime
        last_touch_at: datetime
        nurture_track: Grade | None
        nurture_started_at: datetime | None
        nurture_next_step: int
        amount: float | None
        currency: str | None
        seen: set[str]
        erased: bool
        emails: tuple[str, ...]
        """Every email the lead was given, in order (the first is ``email``)."""
        properties: dict[str, Any]
        """The source's own fields: the first value given for each name."""
        acted_on: bool
        """A person decided about the lead (BANT, recycle, reopen, a reinstating action):
        screens no longer disqualify it. A note is no decision."""
        disqualified_from: str | None
        disqualified_by: str | None
        facts: LeadFacts
        """The inputs as learned scoring reads them (:mod:`~lifecycle.scoring.learned.facts`),
        folded by the same code as training's ``facts_as_of``."""

    class Event(events.LeadEvent):
        """Every lead event: business time, and who or what caused it."""

    # The events (events.py), declared here as Lead.<Name>: their stored topics are
    # lifecycle.aggregates.lead:Lead.<Name>, as when they were written here.
    class Captured(events.Captured, Event): ...
    class TouchpointRecorded(events.TouchpointRecorded, Event): ...
    class Graded(events.Graded, Event): ...
    class NurtureStepSent(events.NurtureStepSent, Event): ...
    class StageAdvanced(events.StageAdvanced, Event): ...
    class MarketingQualified(events.MarketingQualified, Event): ...
    class SalesAccepted(events.SalesAccepted, Event): ...
    class SalesQualified(events.SalesQualified, Event): ...
    class BantAssessed(events.BantAssessed, Event): ...
    class Recycled(events.Recycled, Event): ...
    class Disqualified(events.Disqualified, Event): ...
    class Won(events.Won, Event): ...
    class Lost(events.Lost, Event): ...
    class Reopened(events.Reopened, Event): ...
    class NoteAdded(events.NoteAdded, Event): ...
    class Erased(events.Erased, Event): ...
    class Reinstated(events.Reinstated, Event): ...
    class PropertiesNoted(events.PropertiesNoted, Event): ...

    @property
    def contactable(self) -> bool:
        """Whether an email or a phone of the person is known (and not erased)."""
        return not self.erased and bool(self.emails or self.profile.get("phone"))

    def trigger_event(self, event_class: type[Any], **kwargs: Any) -> None:
        """Builds the next event and applies it, like eventsourcing's, minus the checks.

        Every caller passes every field, ``timestamp`` included (computed before the
        event, never read from a clock here); skipping the dataclass ``__init__`` and
        its validation halves the cost of an event on the ingest hot path. The order
        of the keyword arguments is the order of the stored fields.
        """
        # The attributes behind eventsourcing's id/version/modified_on/pending_events
        # properties, read and set directly: this runs for every event.
        version = self._version + 1
        kwargs["originator_id"] = self._id
        kwargs["originator_version"] = version
        event = object.__new__(event_class)
        object.__setattr__(event, "__dict__", kwargs)
        event.apply(self)
        self._version = version
        self._modified_on = kwargs["timestamp"]
        self._pending_events.append(event)

    # -- touchpoints and policies --------------------------------------------------------

    @classmethod
    def capture(
        cls, lead_id: UUID, touch: Touch, *, keys: tuple[str, ...], email: str | None,
        external_id: str | None, template: FunnelTemplate, config: ScoringConfig,
        recorded_at: datetime,
    ) -> Lead:
        """Creates a lead from its first touch, screens it, and records the touch."""
        profile = touch.profile or {}
        fit, parts = fit_score(profile, config.fit)
        cause = f"touchpoint:{touch.touchpoint_id}"
        lead = cls._create(
            cls.Captured,
            id=lead_id, timestamp=recorded_at, occurred_at=touch.occurred_at,
            source=touch.source, actor=touch.source, cause_id=cause, template=template.name,
            keys=keys, email=email, external_id=external_id, profile=profile,
            channel=touch.channel, fit=fit, fit_parts=parts,
        )
        why = screen(lead.emails, profile, b2b=template.b2b, config=config.screen)
        if why is not None:
            lead.trigger_event(
                cls.Disqualified, timestamp=recorded_at, occurred_at=touch.occurred_at,
                source="engine", actor=rules.SCREEN_ACTOR, cause_id=cause,
                from_stage="captured", reason=LossReason.INVALID_LEAD.value, competitor=None,
                text=why, taxonomy_version=REASON_TAXONOMY_VERSION,
            )
        lead.record_touchpoint(touch, template=template, config=config, recorded_at=recorded_at)
        return lead

    def record_touchpoint(
        self, touch: Touch, *, template: FunnelTemplate, config: ScoringConfig,
        recorded_at: datetime,
    ) -> None:
        """Records a touch, scores it at its own business time, screens the lead again
        when the touch changed what the screens look at, and re-evaluates.

        Raises:
            LeadErased: the lead was erased.
            InvalidInput: an unknown kind, which the configuration rejects.
        """
        self._check_not_erased()
        touchpoint_id, t, source, channel, kind, profile, properties, email = touch
        points = rules.touch_points(config, kind, properties)
        beh, beh_at = rules.behaviour_after(self.behaviour, self.behaviour_at, points, t,
                                            config.half_life_seconds)
        changes: dict[str, Any] | None = None
        fit: float | None = None
        parts: dict[str, float] | None = None
        if profile is not None:
            held = self.profile
            changes = {k: v for k, v in profile.items() if held.get(k) != v}
            if changes:
                fit, parts = fit_score({**held, **changes}, config.fit)
        # An email the lead did not know: recorded with the touch (and only then).
        new_email = email if email and email not in self.emails else None
        cause = f"touchpoint:{touchpoint_id}"
        self.trigger_event(
            self.TouchpointRecorded, timestamp=recorded_at, occurred_at=t,
            source=source, actor=source, cause_id=cause,
            channel=channel, kind=kind, points=points, behaviour=round(beh, 6),
            behaviour_at=beh_at, profile=changes or None, fit=fit, fit_parts=parts,
            properties=dict(properties) if properties else None,
            **({"email": new_email} if new_email else _NOTHING),
        )
        if new_email:
            self._screen_again(f"a new email ({new_email.rpartition('@')[2]})", t,
                               template=template, config=config, recorded_at=recorded_at,
                               cause=cause)
        elif changes and ("name" in changes or "company" in changes):
            self._screen_again("a changed name or company", t, template=template,
                               config=config, recorded_at=recorded_at, cause=cause)
        self._evaluate(
            max(self.newest_at, t), template=template, config=config, trigger="touchpoint",
            recorded_at=recorded_at, cause=cause, source=source, kind=kind,
        )

    def regrade(
        self, at: datetime, *, template: FunnelTemplate, config: ScoringConfig,
        recorded_at: datetime, cause: str,
    ) -> bool:
        """Policy command: re-evaluates the grade with behaviour decayed to ``at``.

        Returns:
            Whether the grade changed (other rules, such as a due nurture step, may
            also emit events).
        """
        if self.erased or self.stage in CLOSED_STAGES or at < self.newest_at:
            return False
        before = self.grade
        self._evaluate(at, template=template, config=config, trigger="decay",
                       recorded_at=recorded_at, cause=cause, source="engine")
        return self.grade != before

    def send_due_nurture(
        self, at: datetime, *, config: ScoringConfig, recorded_at: datetime, cause: str
    ) -> bool:
        """Policy command: sends the next nurture step if it is due at ``at``."""
        if self.erased or self.stage != "nurturing" or at < self.newest_at:
            return False
        before = len(self.pending_events)
        common = {"timestamp": recorded_at, "occurred_at": at, "source": "engine",
                  "actor": "policy:nurture", "cause_id": cause}
        self._nurture(at, config, common)
        return len(self.pending_events) > before

    def erase(self, *, at: datetime, recorded_at: datetime, actor: str, cause: str) -> None:
        """Records that the person's personal data is erased (the application then
        deletes their key). An erased lead takes no more input.

        Raises:
            LeadErased: it was erased already.
        """
        self._check_not_erased()
        self.trigger_event(self.Erased, timestamp=recorded_at, occurred_at=at,
                           source="privacy", actor=actor, cause_id=cause)

    # -- rules applied after every change ----------------------------------------------

    def _screen_again(
        self, what: str, t: datetime, *, template: FunnelTemplate, config: ScoringConfig,
        recorded_at: datetime, cause: str,
    ) -> None:
        """Screens the lead again after ``what`` changed: reinstates a lead the screens
        disqualified that now passes; disqualifies a failing lead in the pool that no
        person has acted on (a lead sales or marketing work on is theirs to judge)."""
        why = screen(self.emails, self.profile, b2b=template.b2b, config=config.screen)
        screened_out = self._screened_out()
        if why is None and not screened_out:
            return
        if why is not None and (screened_out or self.acted_on
                                or self.stage not in rules.POOL_OPEN):
            return
        common = {"timestamp": recorded_at, "occurred_at": max(self.newest_at, t),
                  "source": "engine", "actor": rules.SCREEN_ACTOR, "cause_id": cause}
        if why is None:
            self.trigger_event(self.Reinstated, **common, from_stage="disqualified",
                               to_stage=self.disqualified_from, rule="screen_cleared",
                               text=f"{what} passes the screens")
        else:
            self.trigger_event(self.Disqualified, **common, from_stage=self.stage,
                               reason=LossReason.INVALID_LEAD.value, competitor=None, text=why,
                               taxonomy_version=REASON_TAXONOMY_VERSION)

    def _evaluate(
        self, at: datetime, *, template: FunnelTemplate, config: ScoringConfig, trigger: str,
        recorded_at: datetime, cause: str, source: str, kind: str | None = None,
    ) -> None:
        if self.stage in CLOSED_STAGES:
            return
        common = {"timestamp": recorded_at, "occurred_at": at, "source": source,
                  "actor": f"policy:{trigger}" if trigger != "touchpoint" else source,
                  "cause_id": cause}
        # The grade alone first, by the function reports and policies use too: the full
        # result only when it changed, which most touchpoints do not do.
        now = evaluate(self.fit, self.behaviour, self.behaviour_at, bant_part(self.bant), at,
                       config)
        behaviour = now.behaviour
        # A lead a model grades keeps the model's grade: the model grades it again after
        # the batch (lifecycle.policies.model_grading), from the same inputs.
        if now.grade != self.grade and (self.graded_by_model is None
                                        or config.grading.by != "model"):
            result = grade(self.fit, behaviour, self.bant, config.grading)
            self.trigger_event(self.Graded, **common, grade=result.grade, previous=self.grade,
                               total=result.total, fit=result.fit, behaviour=result.behaviour,
                               bant=result.bant, fit_parts=self.fit_parts, trigger=trigger)
        self._consequences(at, template=template, config=config, common=common,
                           behaviour=behaviour, kind=kind)

    def _consequences(
        self, at: datetime, *, template: FunnelTemplate, config: ScoringConfig,
        common: dict[str, Any], behaviour: float, kind: str | None,
    ) -> None:
        """What follows a (re-)evaluation: into the pool, the MQL rule or the grade's
        nurture track, the template's automatic SQL rule."""
        if self.stage == "captured":
            self._advance_pool(common)
        if self.stage == "nurturing":
            mql_rule = rules.mql_rule(template, self.fit, behaviour, kind)
            if mql_rule:
                self.trigger_event(self.MarketingQualified, **common, from_stage="nurturing",
                                   rule=mql_rule, fit=self.fit, behaviour=round(behaviour, 6))
            else:
                self._nurture(at, config, common)
        if self.stage == "mql" and template.sql.auto:
            sql_rule = rules.auto_sql_rule(template, self.grade, self.bant, kind)
            if sql_rule:
                self.trigger_event(self.SalesQualified, **common, from_stage="mql", rule=sql_rule)

    def _nurture(self, at: datetime, config: ScoringConfig, common: dict[str, Any]) -> None:
        if self.grade is None:  # graded before nurture by _evaluate
            raise RuntimeError(f"lead {self.id} has no grade to nurture by")
        due = rules.due_nurture_step(config, self.grade, at, track=self.nurture_track,
                                     started_at=self.nurture_started_at,
                                     next_step=self.nurture_next_step)
        if due is not None:
            self.trigger_event(self.NurtureStepSent, **common, track=self.grade, step=due.step,
                               content=due.content, track_started_at=due.track_started_at)
