"""Cooling: which Hot and Warm leads lose their grade if they are regraded at a moment.

The grade is evaluated by :func:`lifecycle.scoring.evaluate` from the very inputs the
Lead aggregate holds (fit, behaviour and the moment it is as of, BANT), so the cooling
leads are exactly the set the decay policy's regrading changes at that moment; a lead
the policy would leave alone is never cooling, however long ago its last touch. Leads
kept Hot or Warm by fit or BANT with no touch for ``alerts.cooling_no_touch_days`` are
decided apart, as idle.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from lifecycle.policies.facts import (
    DAY,
    HeldGrade,
    ScoringInputs,
    engagement,
    latest_grades,
    scoring_inputs,
)
from lifecycle.projections.queries import History
from lifecycle.projections.store import ProjectionStore
from lifecycle.scoring import Grade, ScoringConfig, bant_part, evaluate, grade_rank
from lifecycle.templates import CLOSED_STAGES

__all__ = ["Cooling", "CoolingDecision", "CoolingReason", "cooling_at", "decide_cooling"]

CoolingReason = Literal["score_below_threshold", "no_touch"]


@dataclass(frozen=True, slots=True)
class Cooling:
    """A Hot or Warm lead at a moment: the grade it holds and the one it would have if
    it were regraded then."""

    lead_id: str
    grade_was: Grade
    grade_now: Grade
    total_now: float
    threshold: float
    """The total the held grade needs."""
    behaviour_now: float
    last_touch: float | None
    """Epoch seconds of its latest touch by the moment; None for none."""
    idle_seconds: float | None
    stage: str | None
    template: str
    reasons: tuple[CoolingReason, ...]
    """Why it is cooling (empty for an idle lead that is not)."""


@dataclass(frozen=True, slots=True)
class CoolingDecision:
    """The cooling and idle leads at ``at``, in the order they are acted on and listed."""

    at: datetime
    cooling: tuple[Cooling, ...]
    """Regrading lowers their grade: Hot first, lowest total first."""
    idle: tuple[Cooling, ...]
    """Not cooling, but untouched for a while: Hot first, longest idle first."""


def cooling_at(store: ProjectionStore, history: History, config: ScoringConfig,
               *, at: datetime) -> CoolingDecision:
    """Reads the grades, scoring inputs and touches held at ``at`` and decides."""
    moment = at.timestamp()
    return decide_cooling(latest_grades(store, moment), scoring_inputs(store, moment),
                          engagement(store, moment, config.behaviour.half_life_days),
                          history, config, at=at)


def decide_cooling(grades: Mapping[str, HeldGrade], inputs: Mapping[str, ScoringInputs],
                   activity: Mapping[str, Mapping[str, Any]], history: History,
                   config: ScoringConfig, *, at: datetime) -> CoolingDecision:
    """The cooling and idle leads at ``at`` (pure: no reads, no clock).

    Args:
        grades: each lead's latest grade by ``at``.
        inputs: what each lead's aggregate grades from, as of ``at``.
        activity: each lead's decayed engagement at ``at`` (:func:`engagement`).
        history: the leads and their stages as of ``at``.
        config: the scoring configuration.
        at: the moment to decide at.
    """
    moment = at.timestamp()
    no_touch = config.alerts.cooling_no_touch_days * DAY
    cooling: list[Cooling] = []
    idle: list[Cooling] = []
    for lead_id, held_grade in grades.items():
        if held_grade.grade not in ("hot", "warm") \
                or history.current_stage(lead_id) in CLOSED_STAGES:
            continue
        if lead_id not in history.leads:
            continue
        held = inputs.get(lead_id)
        if held is not None and held.erased:
            continue  # an erased lead takes no more commands, regrading included
        was: Grade = "hot" if held_grade.grade == "hot" else "warm"
        act = activity.get(lead_id, {"score": 0.0, "last_touch": None})
        fit, bant = held_grade.fit, held_grade.bant
        behaviour, behaviour_at = float(act["score"]), at
        if held is not None and held.fit is not None:
            fit, bant = held.fit, bant_part(held.bant)
            if held.behaviour is not None and held.behaviour_at is not None \
                    and held.behaviour_at <= at:
                behaviour, behaviour_at = held.behaviour, held.behaviour_at
        # Otherwise (a touch recorded late, after one beyond ``at``; or a projection
        # built before lc_scoring existed) behaviour is the sum of every touch's
        # decayed points by ``at``: the same number, summed in another order.
        template = history.leads[lead_id].template
        scored_by = config.for_template(template)  # as the aggregate grades it
        now = evaluate(fit, behaviour, behaviour_at, bant, at, scored_by)
        last_touch = act["last_touch"]
        idle_s = None if last_touch is None else moment - last_touch
        quiet = idle_s is None or idle_s >= no_touch
        lowered = grade_rank(now.grade) < grade_rank(was)
        if not lowered and not quiet:
            continue
        reasons: tuple[CoolingReason, ...] = ()
        if lowered:
            reasons = ("score_below_threshold", *(("no_touch",) if quiet else ()))
        lead = Cooling(
            lead_id=lead_id, grade_was=was, grade_now=now.grade, total_now=now.total,
            threshold=scored_by.grading.threshold(was), behaviour_now=now.behaviour,
            last_touch=last_touch, idle_seconds=idle_s, stage=history.current_stage(lead_id),
            template=template, reasons=reasons)
        (cooling if lowered else idle).append(lead)
    cooling.sort(key=lambda c: (c.grade_was != "hot", c.total_now, c.lead_id))
    idle.sort(key=lambda c: (c.grade_was != "hot", -_idle_days(c), c.lead_id))
    return CoolingDecision(at, tuple(cooling), tuple(idle))


def _idle_days(lead: Cooling) -> float:
    # To a tenth of a day, as the cooling report prints it: leads idle equally long by
    # that reckoning are listed by id.
    return 0.0 if lead.idle_seconds is None else round(lead.idle_seconds / DAY, 1)
