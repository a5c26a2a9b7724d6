"""The Lead's grade by a learned model: the command the model-grading policy sends.

A part of :class:`~lifecycle.aggregates.lead.Lead`, which inherits it (kept apart for
size). The model's probability, grade and top factors are computed outside the
aggregate, for a whole batch of leads at once (:mod:`lifecycle.policies.model_grading`),
and handed in as values: the command only decides whether they change anything, records
them, and lets the grade's consequences follow (the nurture track, the template's
automatic SQL rule), as a rules grade does.

A model-made ``Graded`` event also carries the rules' evaluation at the same moment
(total, fit, behaviour, BANT), so reports that read the score keep working and a
switch back to ``by = "rules"`` starts from known figures. The lead's state remembers
which model graded it last (``graded_by_model``); while that is set and the template
grades by model, the rules no longer re-grade the lead after an input (see
``Lead._evaluate``): the model does, after the batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from lifecycle.aggregates import events
from lifecycle.scoring import (
    BantAssessment,
    Evaluation,
    Grade,
    GradeResult,
    ScoringConfig,
    bant_part,
    evaluate,
)
from lifecycle.scoring import grade as rules_grade
from lifecycle.templates import CLOSED_STAGES, FunnelTemplate

__all__ = ["MODEL_ACTOR", "ModelGradingCommands"]

MODEL_ACTOR = "policy:model"
"""The actor of every event a model's grade causes."""


class ModelGradingCommands:
    """The model-grading command of :class:`~lifecycle.aggregates.lead.Lead`."""

    graded_by_model: str | None = None
    """The id of the model that made the lead's grade (None: the rules made it, or no
    grade yet). Assigned by ``Graded`` only; this class default holds until then."""

    if TYPE_CHECKING:  # the Lead's
        stage: str
        erased: bool
        grade: Grade | None
        fit: float
        fit_parts: dict[str, float]
        bant: BantAssessment
        behaviour: float
        behaviour_at: datetime
        Graded: type[events.Graded]

        def trigger_event(self, event_class: type[Any], **kwargs: Any) -> None: ...
        def _consequences(
            self, at: datetime, *, template: FunnelTemplate, config: ScoringConfig,
            common: dict[str, Any], behaviour: float, kind: str | None,
        ) -> None: ...

    def grade_by_model(
        self, at: datetime, *, model_id: str, probability: float, grade: Grade,
        factors: Sequence[dict[str, Any]], template: FunnelTemplate, config: ScoringConfig,
        recorded_at: datetime, cause: str,
    ) -> bool:
        """Policy command: grades the lead by a model's predicted probability.

        Args:
            at: the moment the model's row describes (business time); the event's
                ``occurred_at``, so a replay computes the same row.
            model_id: the model that predicted.
            probability: its calibrated probability of winning.
            grade: the grade the probability maps to (``[grading.model]``).
            factors: the top factors (``Factor.as_dict()``), largest first.
            cause: the input that led to the prediction (or the policy run).

        Returns:
            Whether a ``Graded`` event was recorded: only when the grade changes, or
            the lead's grade was not this model's (a rules grade, or another model's).
            A closed or erased lead is left alone.
        """
        if self.erased or self.stage in CLOSED_STAGES:
            return False
        if grade == self.grade and self.graded_by_model == model_id:
            return False
        now, rules, common = self._rules_at(at, config, recorded_at=recorded_at, cause=cause)
        self.trigger_event(
            self.Graded, **common, grade=grade, previous=self.grade, total=rules.total,
            fit=rules.fit, behaviour=rules.behaviour, bant=rules.bant,
            fit_parts=self.fit_parts, trigger="model", model_id=model_id,
            probability=probability, factors=[dict(f) for f in factors],
        )
        self._consequences(at, template=template, config=config, common=common,
                           behaviour=now.behaviour, kind=None)
        return True

    def grade_by_rules(
        self, at: datetime, *, template: FunnelTemplate, config: ScoringConfig,
        recorded_at: datetime, cause: str,
    ) -> bool:
        """Policy command: hands a lead a model graded back to the rules (the template
        grades by model but no model is active, so the rules grade, as ``[grading]``
        says): records the rules' grade at ``at`` (trigger ``no_model``) even when it is
        the same grade, so the rules grade the lead again from now on.

        Returns:
            Whether the lead was handed back (False: no model graded it, or it is
            closed or erased).
        """
        if self.graded_by_model is None or self.erased or self.stage in CLOSED_STAGES:
            return False
        now, result, common = self._rules_at(at, config, recorded_at=recorded_at, cause=cause)
        self.trigger_event(self.Graded, **common, grade=result.grade, previous=self.grade,
                           total=result.total, fit=result.fit, behaviour=result.behaviour,
                           bant=result.bant, fit_parts=self.fit_parts, trigger="no_model")
        self._consequences(at, template=template, config=config, common=common,
                           behaviour=now.behaviour, kind=None)
        return True

    def _rules_at(self, at: datetime, config: ScoringConfig, *, recorded_at: datetime,
                  cause: str) -> tuple[Evaluation, GradeResult, dict[str, Any]]:
        """The rules' evaluation and grade at ``at`` (what a model's Graded event also
        records), and the fields common to the policy's events."""
        now = evaluate(self.fit, self.behaviour, self.behaviour_at, bant_part(self.bant), at,
                       config)
        result = rules_grade(self.fit, now.behaviour, self.bant, config.grading)
        common = {"timestamp": recorded_at, "occurred_at": at, "source": "engine",
                  "actor": MODEL_ACTOR, "cause_id": cause}
        return now, result, common
