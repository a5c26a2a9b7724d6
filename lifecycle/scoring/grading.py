"""BANT (budget, authority, need, timeline confirmed by sales) and the grade: Hot, Warm
or Cold from the weighted total of fit, behaviour and BANT; :func:`evaluate` is the one
scoring truth the aggregate, the decay policy and the reports share."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from lifecycle.scoring.behaviour import decay_factor
from lifecycle.scoring.config import Grade, GradingConfig, ScoringConfig

# Its public names are listed once, in the package's __all__ (lifecycle.scoring).


@dataclass(frozen=True, slots=True)
class BantAssessment:
    """Budget, authority, need and timeline as confirmed by sales (None: not asked)."""

    budget: bool | None = None
    authority: bool | None = None
    need: bool | None = None
    timeline: bool | None = None

    def merged(self, other: BantAssessment) -> BantAssessment:
        """This assessment updated with the criteria ``other`` answers."""
        return BantAssessment(
            budget=other.budget if other.budget is not None else self.budget,
            authority=other.authority if other.authority is not None else self.authority,
            need=other.need if other.need is not None else self.need,
            timeline=other.timeline if other.timeline is not None else self.timeline,
        )

    @property
    def met(self) -> int:
        return sum(1 for v in (self.budget, self.authority, self.need, self.timeline) if v)

    @property
    def assessed(self) -> bool:
        # Read on every grading: plain comparisons, not a generator.
        return (self.budget is not None or self.authority is not None
                or self.need is not None or self.timeline is not None)


def bant_score(bant: BantAssessment) -> float:
    """25 points per confirmed criterion."""
    return 25.0 * bant.met


def bant_part(bant: BantAssessment) -> float | None:
    """BANT's part of the total: its score, or None while nothing was assessed."""
    return bant_score(bant) if bant.assessed else None


@dataclass(frozen=True, slots=True)
class GradeResult:
    grade: Grade
    total: float
    fit: float
    behaviour: float
    bant: float | None


def grade(
    fit: float, behaviour: float, bant: BantAssessment | None, config: GradingConfig
) -> GradeResult:
    """Grades a lead from its three scores.

    Behaviour is capped at ``behaviour_cap`` and rescaled to 0-100. Without a BANT
    assessment the BANT weight is shared out over fit and behaviour in proportion.
    """
    bant_part = bant_score(bant) if bant is not None and bant.assessed else None
    total = total_score(fit, behaviour, bant_part, config)
    return GradeResult(grade_of(total, config), total, round(fit, 2), round(behaviour, 2),
                       bant_part)


def total_score(fit: float, behaviour: float, bant: float | None, config: GradingConfig) -> float:
    """The weighted total (0-100) of fit, capped behaviour and BANT (None: not assessed)."""
    beh = min(max(behaviour, 0.0), config.behaviour_cap) * 100.0 / config.behaviour_cap
    if bant is not None:
        weights = config.fit_weight + config.behaviour_weight + config.bant_weight
        total = (config.fit_weight * fit + config.behaviour_weight * beh
                 + config.bant_weight * bant) / weights
    else:
        weights = config.fit_weight + config.behaviour_weight
        total = (config.fit_weight * fit + config.behaviour_weight * beh) / weights
    return round(total, 2)


def grade_of(total: float, config: GradingConfig) -> Grade:
    """Hot, Warm or Cold for a total score."""
    return "hot" if total >= config.hot else "warm" if total >= config.warm else "cold"


def grade_rank(value: str | None) -> int:
    """Cold 0, Warm 1, Hot 2; -1 for no grade (or an unknown one)."""
    return {"cold": 0, "warm": 1, "hot": 2}.get(value or "", -1)


@dataclass(frozen=True, slots=True)
class Evaluation:
    """A lead's scores at a moment: behaviour decayed to it, total and grade."""

    behaviour: float
    total: float
    grade: Grade


def evaluate(
    fit: float,
    behaviour: float,
    behaviour_at: datetime,
    bant: float | None,
    at: datetime,
    config: ScoringConfig,
) -> Evaluation:
    """The one scoring truth: what a lead's grade is at ``at``.

    The Lead aggregate grades with it after every change and on regrading; the cooling
    report and the decay policy ask it the same question with the same inputs (kept by
    the activity projection), so a lead is listed as cooling exactly when regrading it
    would lower its grade.

    Args:
        fit: the lead's fit score.
        behaviour: its behaviour score as of ``behaviour_at`` (decays from there).
        behaviour_at: when ``behaviour`` was last brought up to date.
        bant: BANT's part (:func:`bant_part`), None while nothing was assessed.
        at: the moment to evaluate at.
        config: the scoring configuration.
    """
    decayed = behaviour * decay_factor(behaviour_at, at, config.half_life_seconds)
    total = total_score(fit, decayed, bant, config.grading)
    return Evaluation(decayed, total, grade_of(total, config.grading))
