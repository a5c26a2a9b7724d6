"""The Lead aggregate: one person's way through the funnel, as a sequence of facts.

Stages: ``captured`` → ``nurturing`` → ``mql`` → ``sql`` → the template's opportunity
stages → ``won``; or ``lost`` (from ``sql`` or an opportunity stage, reopenable) or
``disqualified`` (from any open stage). ``recycle`` sends an MQL, SQL or opportunity
back to ``nurturing``.

Public methods are commands: they check the rules, compute every value (scores,
grades, times), and only then trigger events. The ``apply`` methods of the nested
events only assign, so replaying stored events rebuilds the same state exactly.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from lifecycle.contracts import REASON_TAXONOMY_VERSION, SalesAction, Touchpoint
from lifecycle.errors import IllegalTransition, InvalidInput, LeadErased
from lifecycle.scoring import (
    BantAssessment,
    Contribution,
    Grade,
    ScoringConfig,
    bant_part,
    decay_factor,
    evaluate,
    fit_score,
    grade,
    screen,
)
from lifecycle.templates import CLOSED_STAGES, FunnelTemplate

__all__ = ["ERASED", "PERSONAL_PROFILE_FIELDS", "Lead"]

POOL_OPEN = ("captured", "nurturing")

ERASED = "(erased)"
"""What a personal field reads as once its lead was erased (not "[erased]": terminal
renderers would take that for markup)."""

PERSONAL_PROFILE_FIELDS = ("name", "phone")
"""Profile fields that identify the person (encrypted, erasable)."""


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

    class Event(Aggregate.Event):
        """Every lead event: business time, and who or what caused it."""

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

        def _apply(self, lead: Lead) -> None:
            """Assigns this event's facts to the lead."""

    class Captured(Event, Aggregate.Created):
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

    class TouchpointRecorded(Event):
        channel: str
        kind: str
        points: float
        behaviour: float
        behaviour_at: datetime
        profile: dict[str, Any] | None
        fit: float | None
        fit_parts: dict[str, float] | None
        properties: dict[str, Any] | None

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

    class Graded(Event):
        grade: str
        previous: str | None
        total: float
        fit: float
        behaviour: float
        bant: float | None
        fit_parts: dict[str, float]
        trigger: str

        def _apply(self, lead: Lead) -> None:
            lead.grade = self.grade  # type: ignore[assignment]
            lead.total_score = self.total

    class NurtureStepSent(Event):
        track: str
        step: int
        content: str
        track_started_at: datetime

        def _apply(self, lead: Lead) -> None:
            lead.nurture_track = self.track  # type: ignore[assignment]
            lead.nurture_started_at = self.track_started_at
            lead.nurture_next_step = self.step + 1

    class StageAdvanced(Event):
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

    class MarketingQualified(Event):
        from_stage: str
        rule: str
        fit: float
        behaviour: float

        def _apply(self, lead: Lead) -> None:
            _enter(lead, "mql", self.occurred_at)

    class SalesAccepted(Event):
        """A salesperson accepted the MQL: the lead is sales-qualified (SQL)."""

        from_stage: str

        def _apply(self, lead: Lead) -> None:
            _enter(lead, "sql", self.occurred_at)

    class SalesQualified(Event):
        """The template's rule made the MQL sales-qualified without a hand-off."""

        from_stage: str
        rule: str

        def _apply(self, lead: Lead) -> None:
            _enter(lead, "sql", self.occurred_at)

    class BantAssessed(Event):
        budget: bool | None
        authority: bool | None
        need: bool | None
        timeline: bool | None

        def _apply(self, lead: Lead) -> None:
            lead.bant = BantAssessment(self.budget, self.authority, self.need, self.timeline)

    class Recycled(Event):
        from_stage: str
        reason: str
        text: str | None
        taxonomy_version: int

        def _apply(self, lead: Lead) -> None:
            _enter(lead, "nurturing", self.occurred_at)
            lead.nurture_track = None
            lead.nurture_started_at = None
            lead.nurture_next_step = 0

    class Disqualified(Event):
        from_stage: str
        reason: str
        competitor: str | None
        text: str | None
        taxonomy_version: int

        def _apply(self, lead: Lead) -> None:
            _enter(lead, "disqualified", self.occurred_at)

    class Won(Event):
        from_stage: str
        amount: float | None
        currency: str | None
        skipped: tuple[str, ...]
        skip_reason: str | None

        def _apply(self, lead: Lead) -> None:
            _enter(lead, "won", self.occurred_at)
            if self.amount is not None:
                lead.amount, lead.currency = self.amount, self.currency

    class Lost(Event):
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

    class Reopened(Event):
        to_stage: str
        text: str | None

        def _apply(self, lead: Lead) -> None:
            lead.lost_from = None
            _enter(lead, self.to_stage, self.occurred_at)

    class NoteAdded(Event):
        text: str

    class Erased(Event):
        """The person's personal data was erased (crypto-shredded: their key deleted).

        What the events hold about them reads as ``ERASED`` from now on; the state here
        says so too, so it is the same before and after the key is gone.
        """

        def _apply(self, lead: Lead) -> None:
            lead.erased = True
            lead.email = None if lead.email is None else ERASED
            lead.external_id = None if lead.external_id is None else ERASED
            lead.keys = tuple(f"{k.partition(':')[0]}:{ERASED}" for k in lead.keys)
            lead.profile = {k: ERASED if k in PERSONAL_PROFILE_FIELDS else v
                            for k, v in lead.profile.items()}

    # -- commands -----------------------------------------------------------------------

    def trigger_event(self, event_class: type[Any], **kwargs: Any) -> None:
        """Builds the next event and applies it, like eventsourcing's, minus the checks.

        Every caller passes every field, ``timestamp`` included (computed before the
        event, never read from a clock here); skipping the dataclass ``__init__`` and
        its validation halves the cost of an event on the ingest hot path.
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

    @classmethod
    def capture(
        cls,
        lead_id: UUID,
        tp: Touchpoint,
        *,
        keys: tuple[str, ...],
        template: FunnelTemplate,
        config: ScoringConfig,
        recorded_at: datetime,
    ) -> Lead:
        """Creates a lead from its first touchpoint, screens it, and records the touch."""
        profile = _profile_dict(tp)
        fit, parts = fit_score(profile, config.fit)
        lead = cls._create(
            cls.Captured,
            id=lead_id,
            timestamp=recorded_at,
            occurred_at=tp.occurred_at,
            source=tp.source,
            actor=tp.source,
            cause_id=f"touchpoint:{tp.touchpoint_id}",
            template=template.name,
            keys=keys,
            email=tp.email,
            external_id=tp.external_id,
            profile=profile,
            channel=tp.channel,
            fit=fit,
            fit_parts=parts,
        )
        why = screen(tp.email, profile.get("phone"), b2b=template.b2b, config=config.screen)
        if why is not None:
            lead.trigger_event(
                cls.Disqualified, timestamp=recorded_at, occurred_at=tp.occurred_at,
                source="engine", actor="policy:screen", cause_id=f"touchpoint:{tp.touchpoint_id}",
                from_stage="captured", reason="invalid_lead", competitor=None, text=why,
                taxonomy_version=REASON_TAXONOMY_VERSION,
            )
        lead.record_touchpoint(tp, template=template, config=config, recorded_at=recorded_at)
        return lead

    def record_touchpoint(
        self,
        tp: Touchpoint,
        *,
        template: FunnelTemplate,
        config: ScoringConfig,
        recorded_at: datetime,
    ) -> None:
        """Records a touchpoint, scores it at its own business time, and re-evaluates."""
        self._check_not_erased()
        # Attributes of pydantic models read once: each read goes through their
        # __getattr__ hook, which costs more than a plain attribute.
        kind, source = tp.kind, tp.source
        points = config.behaviour.weights.get(kind)
        if points is None:
            if config.behaviour.unknown_kind == "reject":
                known = ", ".join(sorted(config.behaviour.weights))
                raise InvalidInput(f"kind: unknown touchpoint kind {kind!r} (known: {known})")
            points = 0.0
        half_life = config.half_life_seconds
        t = tp.occurred_at
        if t >= self.behaviour_at:
            beh = self.behaviour * decay_factor(self.behaviour_at, t, half_life) + points
            beh_at = t
        else:  # late: its points have decayed from its own time to the lead's newest time
            beh = self.behaviour + points * decay_factor(t, self.behaviour_at, half_life)
            beh_at = self.behaviour_at
        changes: dict[str, Any] | None = None
        fit: float | None = None
        parts: dict[str, float] | None = None
        if tp.profile is not None:
            held = self.profile
            changes = {k: v for k, v in _profile_dict(tp).items() if held.get(k) != v}
            if changes:
                fit, parts = fit_score({**held, **changes}, config.fit)
        cause = f"touchpoint:{tp.touchpoint_id}"
        properties = tp.properties
        self.trigger_event(
            self.TouchpointRecorded, timestamp=recorded_at, occurred_at=t,
            source=source, actor=source, cause_id=cause,
            channel=tp.channel, kind=kind, points=points, behaviour=round(beh, 6),
            behaviour_at=beh_at, profile=changes or None, fit=fit, fit_parts=parts,
            properties=dict(properties) if properties else None,
        )
        self._evaluate(
            max(self.newest_at, t), template=template, config=config, trigger="touchpoint",
            recorded_at=recorded_at, cause=cause, source=source, kind=kind,
        )

    def regrade(
        self,
        at: datetime,
        *,
        template: FunnelTemplate,
        config: ScoringConfig,
        recorded_at: datetime,
        cause: str,
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

    def act(
        self,
        action: SalesAction,
        *,
        template: FunnelTemplate,
        config: ScoringConfig,
        recorded_at: datetime,
    ) -> None:
        """Applies a sales action, or raises IllegalTransition saying why not."""
        self._check_not_erased()
        handler = getattr(self, f"_do_{action.action}")
        cause = f"action:{action.action_id}"
        common: dict[str, Any] = {
            "timestamp": recorded_at, "occurred_at": action.occurred_at, "source": "sales",
            "actor": action.actor, "cause_id": cause,
        }
        handler(action, template, common)
        if action.action in ("bant", "recycle", "reopen"):
            self._evaluate(
                max(self.newest_at, action.occurred_at), template=template, config=config,
                trigger=action.action, recorded_at=recorded_at, cause=cause,
                source="sales",
            )

    # -- sales action handlers (guard, then emit) ----------------------------------

    def _do_accept(self, a: SalesAction, t: FunnelTemplate, common: dict[str, Any]) -> None:
        if self.stage in POOL_OPEN:
            if not a.skip_reason:
                raise IllegalTransition(
                    action="accept", stage=self.stage,
                    why="the lead is not marketing-qualified yet; give skip_reason to "
                    "accept it anyway",
                )
            self._advance_pool(common)
            self.trigger_event(self.MarketingQualified, **common, from_stage="nurturing",
                               rule=f"sales override: {a.skip_reason}",
                               fit=self.fit, behaviour=self.behaviour)
        elif self.stage != "mql":
            raise IllegalTransition(action="accept", stage=self.stage,
                                    why="only a marketing-qualified lead (mql) can be accepted")
        self.trigger_event(self.SalesAccepted, **common, from_stage="mql")

    def _do_advance(self, a: SalesAction, t: FunnelTemplate, common: dict[str, Any]) -> None:
        opp = t.opportunity_stages
        if self.stage != "sql" and self.stage not in opp:
            raise IllegalTransition(
                action="advance", stage=self.stage,
                why="only a sales-qualified lead (sql) or an opportunity can advance; "
                f"accept it first (template {t.name!r} stages: {', '.join(opp)})",
            )
        pos = -1 if self.stage == "sql" else opp.index(self.stage)
        target = a.stage or (opp[pos + 1] if pos + 1 < len(opp) else None)
        if target is None:
            raise IllegalTransition(action="advance", stage=self.stage,
                                    why="it is the template's last stage; win or lose it")
        if target not in opp:
            raise IllegalTransition(
                action=f"advance to {target!r}", stage=self.stage,
                why=f"template {t.name!r} has no such stage ({', '.join(opp)})",
            )
        to = opp.index(target)
        if to <= pos:
            raise IllegalTransition(
                action=f"advance to {target!r}", stage=self.stage,
                why="that stage is not ahead of the current one; recycle the lead instead",
            )
        skipped = opp[pos + 1 : to]
        if skipped and not a.skip_reason:
            raise IllegalTransition(
                action=f"advance to {target!r}", stage=self.stage,
                why=f"it skips {', '.join(skipped)}; give skip_reason to skip stages",
            )
        self.trigger_event(self.StageAdvanced, **common, from_stage=self.stage, to_stage=target,
                           skipped=skipped, skip_reason=a.skip_reason if skipped else None,
                           amount=a.amount, currency=a.currency)

    def _do_win(self, a: SalesAction, t: FunnelTemplate, common: dict[str, Any]) -> None:
        opp = t.opportunity_stages
        if self.stage != "sql" and self.stage not in opp:
            raise IllegalTransition(
                action="win", stage=self.stage,
                why="only a sales-qualified lead or an open opportunity can be won",
            )
        pos = -1 if self.stage == "sql" else opp.index(self.stage)
        skipped = opp[pos + 1 :]
        if skipped and not a.skip_reason:
            raise IllegalTransition(
                action="win", stage=self.stage,
                why=f"it skips {', '.join(skipped)}; give skip_reason to close early",
            )
        self.trigger_event(self.Won, **common, from_stage=self.stage, amount=a.amount,
                           currency=a.currency, skipped=skipped,
                           skip_reason=a.skip_reason if skipped else None)

    def _do_lose(self, a: SalesAction, t: FunnelTemplate, common: dict[str, Any]) -> None:
        if self.stage != "sql" and self.stage not in t.opportunity_stages:
            raise IllegalTransition(
                action="lose", stage=self.stage,
                why="only a sales-qualified lead or an open opportunity can be lost; "
                "disqualify or recycle a lead earlier in the funnel",
            )
        self.trigger_event(self.Lost, **common, from_stage=self.stage, reason=str(a.reason),
                           competitor=a.competitor, text=a.text, amount=a.amount,
                           currency=a.currency, taxonomy_version=REASON_TAXONOMY_VERSION)

    def _do_disqualify(self, a: SalesAction, t: FunnelTemplate, common: dict[str, Any]) -> None:
        if self.stage in CLOSED_STAGES:
            raise IllegalTransition(action="disqualify", stage=self.stage,
                                    why="the lead is already closed")
        self.trigger_event(self.Disqualified, **common, from_stage=self.stage,
                           reason=str(a.reason), competitor=a.competitor, text=a.text,
                           taxonomy_version=REASON_TAXONOMY_VERSION)

    def _do_recycle(self, a: SalesAction, t: FunnelTemplate, common: dict[str, Any]) -> None:
        if self.stage not in ("mql", "sql", *t.opportunity_stages):
            raise IllegalTransition(
                action="recycle", stage=self.stage,
                why="only an MQL, SQL or open opportunity can be recycled to nurturing",
            )
        self.trigger_event(self.Recycled, **common, from_stage=self.stage, reason=str(a.reason),
                           text=a.text, taxonomy_version=REASON_TAXONOMY_VERSION)

    def _do_reopen(self, a: SalesAction, t: FunnelTemplate, common: dict[str, Any]) -> None:
        if self.stage != "lost" or self.lost_from is None:
            raise IllegalTransition(action="reopen", stage=self.stage,
                                    why="only a lost lead can be reopened")
        self.trigger_event(self.Reopened, **common, to_stage=self.lost_from, text=a.text)

    def _do_bant(self, a: SalesAction, t: FunnelTemplate, common: dict[str, Any]) -> None:
        if self.stage in CLOSED_STAGES:
            raise IllegalTransition(action="assess BANT of", stage=self.stage,
                                    why="the lead is closed; reopen it first")
        merged = self.bant.merged(BantAssessment(a.budget, a.authority, a.need, a.timeline))
        self.trigger_event(self.BantAssessed, **common, budget=merged.budget,
                           authority=merged.authority, need=merged.need, timeline=merged.timeline)

    def _do_note(self, a: SalesAction, t: FunnelTemplate, common: dict[str, Any]) -> None:
        self.trigger_event(self.NoteAdded, **common, text=a.text or "")

    # -- rules applied after every change ----------------------------------------------

    def _advance_pool(self, common: dict[str, Any]) -> None:
        if self.stage == "captured":
            self.trigger_event(self.StageAdvanced, **common, from_stage="captured",
                               to_stage="nurturing", skipped=(), skip_reason=None,
                               amount=None, currency=None)

    def _evaluate(
        self,
        at: datetime,
        *,
        template: FunnelTemplate,
        config: ScoringConfig,
        trigger: str,
        recorded_at: datetime,
        cause: str,
        source: str,
        kind: str | None = None,
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
            rule = template.mql
            if (self.fit >= rule.min_fit and behaviour >= rule.min_behaviour):
                mql_rule = "thresholds"
            elif kind in rule.instant_kinds and self.fit >= rule.instant_min_fit:
                mql_rule = f"instant:{kind}"
            else:
                mql_rule = ""
            if mql_rule:
                self.trigger_event(self.MarketingQualified, **common, from_stage="nurturing",
                                   rule=mql_rule, fit=self.fit, behaviour=round(behaviour, 6))
            else:
                self._nurture(at, config, common)
        if self.stage == "mql" and template.sql.auto:
            sql_rule = _auto_sql(self, template, kind)
            if sql_rule:
                self.trigger_event(self.SalesQualified, **common, from_stage="mql", rule=sql_rule)

    def _nurture(self, at: datetime, config: ScoringConfig, common: dict[str, Any]) -> None:
        assert self.grade is not None  # graded before nurture by _evaluate
        track = config.nurture.track(self.grade)
        if self.nurture_track != self.grade or self.nurture_started_at is None:
            started, step = at, 0
        else:
            started, step = self.nurture_started_at, self.nurture_next_step
        if step >= len(track):
            return
        due = (at - started).total_seconds() >= track[step].after_days * 86_400.0
        if due:
            self.trigger_event(self.NurtureStepSent, **common, track=self.grade, step=step,
                               content=track[step].content, track_started_at=started)

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

    def _check_not_erased(self) -> None:
        if self.erased:
            raise LeadErased(f"lead {self.id} was erased; it takes no more input")


def _enter(lead: Lead, stage: str, at: datetime) -> None:
    lead.stage = stage
    lead.stage_entered_at = at
    lead.newest_at = max(lead.newest_at, at)


def _auto_sql(lead: Lead, template: FunnelTemplate, kind: str | None) -> str:
    rule = template.sql
    order = {"cold": 0, "warm": 1, "hot": 2}
    grade_ok = rule.min_grade is None or (
        lead.grade is not None and order[lead.grade] >= order[rule.min_grade]
    )
    if rule.on_kinds and kind in rule.on_kinds and grade_ok:
        return f"on_kind:{kind}"
    if rule.min_bant is not None and lead.bant.met >= rule.min_bant and grade_ok:
        return f"bant>={rule.min_bant}"
    return ""


def _profile_dict(tp: Touchpoint) -> dict[str, Any]:
    if tp.profile is None:
        return {}
    return {k: v for k, v in tp.profile.__dict__.items() if v is not None}
