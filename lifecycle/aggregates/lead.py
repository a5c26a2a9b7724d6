"""The Lead aggregate: one person's way through the funnel, as a sequence of facts.

Stages: ``captured`` → ``nurturing`` → ``mql`` → ``sql`` → the template's opportunity
stages → ``won``; or ``lost`` (from ``sql`` or an opportunity stage, reopenable) or
``disqualified`` (from any open stage). ``recycle`` sends an MQL, SQL or opportunity
back to ``nurturing``.

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
from lifecycle.aggregates.values import (
    REASON_TAXONOMY_VERSION,
    LossReason,
    Touch,
)
from lifecycle.errors import IllegalTransition, LeadErased
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

__all__ = ["Lead"]


class Lead(Aggregate):
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
        why = screen(email, profile.get("phone"), b2b=template.b2b, config=config.screen)
        if why is not None:
            lead.trigger_event(
                cls.Disqualified, timestamp=recorded_at, occurred_at=touch.occurred_at,
                source="engine", actor="policy:screen", cause_id=cause,
                from_stage="captured", reason=LossReason.INVALID_LEAD.value, competitor=None,
                text=why, taxonomy_version=REASON_TAXONOMY_VERSION,
            )
        lead.record_touchpoint(touch, template=template, config=config, recorded_at=recorded_at)
        return lead

    def record_touchpoint(
        self, touch: Touch, *, template: FunnelTemplate, config: ScoringConfig,
        recorded_at: datetime,
    ) -> None:
        """Records a touch, scores it at its own business time, and re-evaluates.

        Raises:
            LeadErased: the lead was erased.
            InvalidInput: an unknown kind, which the configuration rejects.
        """
        self._check_not_erased()
        touchpoint_id, t, source, channel, kind, profile, properties = touch
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
        cause = f"touchpoint:{touchpoint_id}"
        self.trigger_event(
            self.TouchpointRecorded, timestamp=recorded_at, occurred_at=t,
            source=source, actor=source, cause_id=cause,
            channel=channel, kind=kind, points=points, behaviour=round(beh, 6),
            behaviour_at=beh_at, profile=changes or None, fit=fit, fit_parts=parts,
            properties=dict(properties) if properties else None,
        )
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

    # -- sales commands (guard, then emit) -------------------------------------------
    # Each raises LeadErased for an erased lead and IllegalTransition saying why not.

    def accept(
        self, *, skip_reason: str | None = None, at: datetime, actor: str, cause: str,
        recorded_at: datetime,
    ) -> None:
        """Accepts the MQL for sales (SQL); with ``skip_reason``, a lead that is not
        marketing-qualified yet too (sales override)."""
        common = self._sales(at, actor, cause, recorded_at)
        if self.stage in rules.POOL_OPEN:
            if not skip_reason:
                raise IllegalTransition(
                    action="accept", stage=self.stage,
                    why="the lead is not marketing-qualified yet; give skip_reason to "
                    "accept it anyway",
                )
            self._advance_pool(common)
            self.trigger_event(self.MarketingQualified, **common, from_stage="nurturing",
                               rule=f"sales override: {skip_reason}",
                               fit=self.fit, behaviour=self.behaviour)
        elif self.stage != "mql":
            raise IllegalTransition(action="accept", stage=self.stage,
                                    why="only a marketing-qualified lead (mql) can be accepted")
        self.trigger_event(self.SalesAccepted, **common, from_stage="mql")

    def advance(
        self, *, stage: str | None = None, skip_reason: str | None = None,
        amount: float | None = None, currency: str | None = None, template: FunnelTemplate,
        at: datetime, actor: str, cause: str, recorded_at: datetime,
    ) -> None:
        """Moves an SQL or opportunity to ``stage`` (default: the next one); skipping
        stages needs ``skip_reason``."""
        common = self._sales(at, actor, cause, recorded_at)
        target, skipped = rules.advance_target(self.stage, template, stage, skip_reason)
        self.trigger_event(self.StageAdvanced, **common, from_stage=self.stage, to_stage=target,
                           skipped=skipped, skip_reason=skip_reason if skipped else None,
                           amount=amount, currency=currency)

    def win(
        self, *, amount: float | None = None, currency: str | None = None,
        skip_reason: str | None = None, template: FunnelTemplate, at: datetime, actor: str,
        cause: str, recorded_at: datetime,
    ) -> None:
        """Wins the deal; before the last stage, with ``skip_reason`` only."""
        common = self._sales(at, actor, cause, recorded_at)
        skipped = rules.win_skips(self.stage, template, skip_reason)
        self.trigger_event(self.Won, **common, from_stage=self.stage, amount=amount,
                           currency=currency, skipped=skipped,
                           skip_reason=skip_reason if skipped else None)

    def lose(
        self, reason: LossReason, *, competitor: str | None = None, text: str | None = None,
        amount: float | None = None, currency: str | None = None, template: FunnelTemplate,
        at: datetime, actor: str, cause: str, recorded_at: datetime,
    ) -> None:
        """Loses an SQL or open opportunity (it can be reopened)."""
        common = self._sales(at, actor, cause, recorded_at)
        rules.deal_position(self.stage, template, "lose",
                            "only a sales-qualified lead or an open opportunity can be lost; "
                            "disqualify or recycle a lead earlier in the funnel")
        self.trigger_event(self.Lost, **common, from_stage=self.stage, reason=str(reason),
                           competitor=competitor, text=text, amount=amount,
                           currency=currency, taxonomy_version=REASON_TAXONOMY_VERSION)

    def disqualify(
        self, reason: LossReason, *, competitor: str | None = None, text: str | None = None,
        at: datetime, actor: str, cause: str, recorded_at: datetime,
    ) -> None:
        """Closes an open lead as not a prospect."""
        common = self._sales(at, actor, cause, recorded_at)
        rules.check_open(self.stage, "disqualify", "the lead is already closed")
        self.trigger_event(self.Disqualified, **common, from_stage=self.stage,
                           reason=str(reason), competitor=competitor, text=text,
                           taxonomy_version=REASON_TAXONOMY_VERSION)

    def recycle(
        self, reason: LossReason, *, text: str | None = None, template: FunnelTemplate,
        config: ScoringConfig, at: datetime, actor: str, cause: str, recorded_at: datetime,
    ) -> None:
        """Sends an MQL, SQL or open opportunity back to nurturing, and re-evaluates."""
        common = self._sales(at, actor, cause, recorded_at)
        if self.stage != "mql":
            rules.deal_position(self.stage, template, "recycle", "only an MQL, SQL or open "
                                "opportunity can be recycled to nurturing")
        self.trigger_event(self.Recycled, **common, from_stage=self.stage, reason=str(reason),
                           text=text, taxonomy_version=REASON_TAXONOMY_VERSION)
        self._after_sales("recycle", common, template, config)

    def reopen(
        self, *, text: str | None = None, template: FunnelTemplate, config: ScoringConfig,
        at: datetime, actor: str, cause: str, recorded_at: datetime,
    ) -> None:
        """Reopens a lost lead in the stage it was lost from, and re-evaluates."""
        common = self._sales(at, actor, cause, recorded_at)
        if self.stage != "lost" or self.lost_from is None:
            raise IllegalTransition(action="reopen", stage=self.stage,
                                    why="only a lost lead can be reopened")
        self.trigger_event(self.Reopened, **common, to_stage=self.lost_from, text=text)
        self._after_sales("reopen", common, template, config)

    def assess_bant(
        self, assessment: BantAssessment, *, template: FunnelTemplate, config: ScoringConfig,
        at: datetime, actor: str, cause: str, recorded_at: datetime,
    ) -> None:
        """Records what is known of budget, authority, need and timeline (None: no
        news, the earlier answer stands), and re-evaluates."""
        common = self._sales(at, actor, cause, recorded_at)
        rules.check_open(self.stage, "assess BANT of", "the lead is closed; reopen it first")
        merged = self.bant.merged(assessment)
        self.trigger_event(self.BantAssessed, **common, budget=merged.budget,
                           authority=merged.authority, need=merged.need, timeline=merged.timeline)
        self._after_sales("bant", common, template, config)

    def add_note(
        self, text: str, *, at: datetime, actor: str, cause: str, recorded_at: datetime
    ) -> None:
        """Records a salesperson's note (in any stage)."""
        common = self._sales(at, actor, cause, recorded_at)
        self.trigger_event(self.NoteAdded, **common, text=text)

    def _sales(self, at: datetime, actor: str, cause: str, recorded_at: datetime,
               ) -> dict[str, Any]:
        """The fields every event of a sales command carries (its guard against an
        erased lead first)."""
        self._check_not_erased()
        return {"timestamp": recorded_at, "occurred_at": at, "source": "sales",
                "actor": actor, "cause_id": cause}

    def _after_sales(self, trigger: str, common: dict[str, Any], template: FunnelTemplate,
                     config: ScoringConfig) -> None:
        self._evaluate(max(self.newest_at, common["occurred_at"]), template=template,
                       config=config, trigger=trigger, recorded_at=common["timestamp"],
                       cause=common["cause_id"], source="sales")

    def _check_not_erased(self) -> None:
        if self.erased:
            raise LeadErased(f"lead {self.id} was erased; it takes no more input")

    # -- rules applied after every change ----------------------------------------------

    def _advance_pool(self, common: dict[str, Any]) -> None:
        if self.stage == "captured":
            self.trigger_event(self.StageAdvanced, **common, from_stage="captured",
                               to_stage="nurturing", skipped=(), skip_reason=None,
                               amount=None, currency=None)

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
        if now.grade != self.grade:
            result = grade(self.fit, behaviour, self.bant, config.grading)
            self.trigger_event(self.Graded, **common, grade=result.grade, previous=self.grade,
                               total=result.total, fit=result.fit, behaviour=result.behaviour,
                               bant=result.bant, fit_parts=self.fit_parts, trigger=trigger)
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
