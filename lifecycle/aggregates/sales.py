"""The Lead's sales commands: the decisions a person (or a CRM or an import on their
behalf) makes about a lead.

A part of :class:`~lifecycle.aggregates.lead.Lead`, which inherits it (kept apart for
size). Each command guards, then emits: it raises LeadErased for an erased lead and
IllegalTransition saying why not, having emitted nothing. A lead a screen disqualified
is judged in the stage it was disqualified from, and reinstated there
(``Reinstated(rule="person_acted")``) once the guard passed: a person's action
overrules a screen's judgement. A note reinstates nothing (it changes no decision);
``reopen`` is its own way back.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from lifecycle.aggregates import events, rules
from lifecycle.aggregates.values import REASON_TAXONOMY_VERSION, LossReason
from lifecycle.errors import IllegalTransition, LeadErased
from lifecycle.scoring import BantAssessment, ScoringConfig
from lifecycle.templates import CLOSED_STAGES, FunnelTemplate

__all__ = ["SalesCommands"]

_NOTHING: dict[str, Any] = {}
"""No optional fields (read only: unpacked into an event's keywords)."""


class SalesCommands:
    """The sales commands of :class:`~lifecycle.aggregates.lead.Lead`."""

    if TYPE_CHECKING:  # the Lead's
        stage: str
        lost_from: str | None
        disqualified_from: str | None
        disqualified_by: str | None
        bant: BantAssessment
        fit: float
        behaviour: float
        newest_at: datetime
        erased: bool
        StageAdvanced: type[events.StageAdvanced]
        MarketingQualified: type[events.MarketingQualified]
        SalesAccepted: type[events.SalesAccepted]
        BantAssessed: type[events.BantAssessed]
        Recycled: type[events.Recycled]
        Disqualified: type[events.Disqualified]
        Won: type[events.Won]
        Lost: type[events.Lost]
        Reopened: type[events.Reopened]
        NoteAdded: type[events.NoteAdded]
        Reinstated: type[events.Reinstated]
        PropertiesNoted: type[events.PropertiesNoted]

        @property
        def id(self) -> Any: ...
        def trigger_event(self, event_class: type[Any], **kwargs: Any) -> None: ...
        def _evaluate(
            self, at: datetime, *, template: FunnelTemplate, config: ScoringConfig,
            trigger: str, recorded_at: datetime, cause: str, source: str,
            kind: str | None = None,
        ) -> None: ...

    def accept(
        self, *, skip_reason: str | None = None, at: datetime, actor: str, cause: str,
        recorded_at: datetime,
    ) -> None:
        """Accepts the MQL for sales (SQL); with ``skip_reason``, a lead that is not
        marketing-qualified yet too (sales override)."""
        common = self._sales(at, actor, cause, recorded_at)
        with self._judged() as stage:
            if stage in rules.POOL_OPEN:
                if not skip_reason:
                    raise IllegalTransition(
                        action="accept", stage=stage,
                        why="the lead is not marketing-qualified yet; give skip_reason to "
                        "accept it anyway",
                    )
            elif stage != "mql":
                raise IllegalTransition(
                    action="accept", stage=stage,
                    why="only a marketing-qualified lead (mql) can be accepted")
        self._reinstate(common)
        if self.stage in rules.POOL_OPEN:
            self._advance_pool(common)
            self.trigger_event(self.MarketingQualified, **common, from_stage="nurturing",
                               rule=f"sales override: {skip_reason}",
                               fit=self.fit, behaviour=self.behaviour)
        self.trigger_event(self.SalesAccepted, **common, from_stage="mql")

    def qualify(
        self, *, rule: str | None = None, text: str | None = None, template: FunnelTemplate,
        config: ScoringConfig, at: datetime, actor: str, cause: str, recorded_at: datetime,
    ) -> None:
        """Marks a lead in the pool marketing-qualified (MQL) by a person's (or an
        import's) decision, ``rule`` naming the rule or list that qualified it
        (default ``manual``) and ``text`` why; then re-evaluates."""
        common = self._sales(at, actor, cause, recorded_at)
        with self._judged() as stage:
            if stage not in rules.POOL_OPEN:
                raise IllegalTransition(
                    action="qualify", stage=stage,
                    why="the lead is closed; reopen it first" if stage in CLOSED_STAGES
                    else "it is marketing-qualified already")
        self._reinstate(common)
        self._advance_pool(common)
        self.trigger_event(self.MarketingQualified, **common, from_stage="nurturing",
                           rule=f"qualify:{rule or 'manual'}", fit=self.fit,
                           behaviour=self.behaviour, **({"text": text} if text else _NOTHING))
        self._after_sales("qualify", common, template, config)

    def advance(
        self, *, stage: str | None = None, skip_reason: str | None = None,
        amount: float | None = None, currency: str | None = None, template: FunnelTemplate,
        at: datetime, actor: str, cause: str, recorded_at: datetime,
    ) -> None:
        """Moves an SQL or opportunity to ``stage`` (default: the next one); skipping
        stages needs ``skip_reason``."""
        common = self._sales(at, actor, cause, recorded_at)
        with self._judged() as now:
            target, skipped = rules.advance_target(now, template, stage, skip_reason)
        self._reinstate(common)
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
        with self._judged() as stage:
            skipped = rules.win_skips(stage, template, skip_reason)
        self._reinstate(common)
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
        with self._judged() as stage:
            rules.deal_position(stage, template, "lose",
                                "only a sales-qualified lead or an open opportunity can be "
                                "lost; disqualify or recycle a lead earlier in the funnel")
        self._reinstate(common)
        self.trigger_event(self.Lost, **common, from_stage=self.stage, reason=str(reason),
                           competitor=competitor, text=text, amount=amount,
                           currency=currency, taxonomy_version=REASON_TAXONOMY_VERSION)

    def disqualify(
        self, reason: LossReason, *, competitor: str | None = None, text: str | None = None,
        at: datetime, actor: str, cause: str, recorded_at: datetime,
    ) -> None:
        """Closes an open lead as not a prospect. A person disqualifying a lead a screen
        disqualified makes the judgement theirs (no screen reinstates it then)."""
        common = self._sales(at, actor, cause, recorded_at)
        with self._judged() as stage:
            rules.check_open(stage, "disqualify", "the lead is already closed")
        self._reinstate(common)
        self.trigger_event(self.Disqualified, **common, from_stage=self.stage,
                           reason=str(reason), competitor=competitor, text=text,
                           taxonomy_version=REASON_TAXONOMY_VERSION)

    def recycle(
        self, reason: LossReason, *, text: str | None = None, template: FunnelTemplate,
        config: ScoringConfig, at: datetime, actor: str, cause: str, recorded_at: datetime,
    ) -> None:
        """Sends an MQL, SQL or open opportunity back to nurturing, and re-evaluates."""
        common = self._sales(at, actor, cause, recorded_at)
        with self._judged() as stage:
            if stage != "mql":
                rules.deal_position(stage, template, "recycle", "only an MQL, SQL or open "
                                    "opportunity can be recycled to nurturing")
        self._reinstate(common)
        self.trigger_event(self.Recycled, **common, from_stage=self.stage, reason=str(reason),
                           text=text, taxonomy_version=REASON_TAXONOMY_VERSION)
        self._after_sales("recycle", common, template, config)

    def reopen(
        self, *, text: str | None = None, template: FunnelTemplate, config: ScoringConfig,
        at: datetime, actor: str, cause: str, recorded_at: datetime,
    ) -> None:
        """Reopens a lost lead in the stage it was lost from, or a disqualified one (with
        ``text``, why) in the stage it was disqualified from, and re-evaluates."""
        common = self._sales(at, actor, cause, recorded_at)
        if self.stage == "lost" and self.lost_from is not None:
            to_stage = self.lost_from
        elif self.stage == "disqualified" and self.disqualified_from is not None:
            if not text:
                raise IllegalTransition(action="reopen", stage=self.stage,
                                        why="give text: why the disqualified lead is reopened")
            to_stage = self.disqualified_from
        else:
            raise IllegalTransition(action="reopen", stage=self.stage,
                                    why="only a lost or disqualified lead can be reopened")
        self.trigger_event(self.Reopened, **common, to_stage=to_stage, text=text)
        self._after_sales("reopen", common, template, config)

    def assess_bant(
        self, assessment: BantAssessment, *, template: FunnelTemplate, config: ScoringConfig,
        at: datetime, actor: str, cause: str, recorded_at: datetime,
    ) -> None:
        """Records what is known of budget, authority, need and timeline (None: no
        news, the earlier answer stands), and re-evaluates."""
        common = self._sales(at, actor, cause, recorded_at)
        with self._judged() as stage:
            rules.check_open(stage, "assess BANT of", "the lead is closed; reopen it first")
        self._reinstate(common)
        merged = self.bant.merged(assessment)
        self.trigger_event(self.BantAssessed, **common, budget=merged.budget,
                           authority=merged.authority, need=merged.need, timeline=merged.timeline)
        self._after_sales("bant", common, template, config)

    def add_note(
        self, text: str, *, at: datetime, actor: str, cause: str, recorded_at: datetime
    ) -> None:
        """Records a salesperson's note (in any stage; it reinstates nothing)."""
        common = self._sales(at, actor, cause, recorded_at)
        self.trigger_event(self.NoteAdded, **common, text=text)

    def note_properties(
        self, properties: Mapping[str, Any], *, at: datetime, actor: str, cause: str,
        recorded_at: datetime,
    ) -> None:
        """Records the source's own fields a sales action carried (in any stage); the
        lead keeps the first value given for each name."""
        common = self._sales(at, actor, cause, recorded_at)
        self.trigger_event(self.PropertiesNoted, **common, properties=dict(properties))

    def _sales(self, at: datetime, actor: str, cause: str, recorded_at: datetime,
               ) -> dict[str, Any]:
        """The fields every event of a sales command carries (its guard against an
        erased lead first)."""
        self._check_not_erased()
        return {"timestamp": recorded_at, "occurred_at": at, "source": "sales",
                "actor": actor, "cause_id": cause}

    def _screened_out(self) -> bool:
        return self.stage == "disqualified" and self.disqualified_by == rules.SCREEN_ACTOR

    @contextmanager
    def _judged(self) -> Iterator[str]:
        """The stage a person's action is judged in: the lead's, or for a lead a screen
        disqualified, the one it was disqualified from (the action reinstates it there);
        a refusal then names both."""
        if not self._screened_out() or self.disqualified_from is None:
            yield self.stage
            return
        was = self.disqualified_from
        try:
            yield was
        except IllegalTransition as e:
            raise IllegalTransition(
                action=e.action, stage=self.stage,
                why=f"{e.why} (a screen disqualified it in stage {was!r}, where a person's "
                "action reinstates it)") from None

    def _reinstate(self, common: dict[str, Any]) -> None:
        """A person acts on a lead a screen disqualified: the screen's judgement yields."""
        if self._screened_out() and self.disqualified_from is not None:
            self.trigger_event(self.Reinstated, **common, from_stage="disqualified",
                               to_stage=self.disqualified_from, rule="person_acted", text=None)

    def _after_sales(self, trigger: str, common: dict[str, Any], template: FunnelTemplate,
                     config: ScoringConfig) -> None:
        self._evaluate(max(self.newest_at, common["occurred_at"]), template=template,
                       config=config, trigger=trigger, recorded_at=common["timestamp"],
                       cause=common["cause_id"], source="sales")

    def _check_not_erased(self) -> None:
        if self.erased:
            raise LeadErased(f"lead {self.id} was erased; it takes no more input")

    def _advance_pool(self, common: dict[str, Any]) -> None:
        if self.stage == "captured":
            self.trigger_event(self.StageAdvanced, **common, from_stage="captured",
                               to_stage="nurturing", skipped=(), skip_reason=None,
                               amount=None, currency=None)
