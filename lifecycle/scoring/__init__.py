"""Lead scoring and grading: pure, deterministic functions of their inputs.

- **fit** (0-100): the profile against the ideal customer profile (industry, company
  size, seniority, country), words compared as tokens through the file's aliases
  (:func:`unmatched` names the values that matched nothing);
- **screens**: invalid leads, on positive evidence (education or free-mail domains
  under a B2B template, test or spam patterns), judged at capture and again on news;
- **behaviour**: points per touchpoint kind (unknown kinds score 0, or are rejected)
  plus capped points from numeric properties (signals), each decaying by half every
  ``half_life_days`` from the business time it happened, so
  ``score(t) = sum(w_i * 2 ** (-(t - t_i) / half_life))``;
- **BANT**: budget, authority, need, timeline confirmed by sales (0-4 criteria);
- **grade**: Hot / Warm / Cold from the weighted total of the three.

Nothing here reads a clock: every function takes the moment it evaluates at.

A scoring file may override its fit, grading, behaviour and nurture for one template's
leads (``[templates.NAME]``): :meth:`ScoringConfig.for_template` gives the configuration
a template's leads are scored by.

Modules: :mod:`~lifecycle.scoring.config` (the configuration and its loader; its fit and
screens in :mod:`~lifecycle.scoring.profile_config`),
:mod:`~lifecycle.scoring.matching` (industries, titles and countries as tokens),
:mod:`~lifecycle.scoring.fit` (fit and screens), :mod:`~lifecycle.scoring.behaviour`
(points and decay), :mod:`~lifecycle.scoring.grading` (BANT, total, grade, evaluate).
Every name is importable from ``lifecycle.scoring`` itself.
"""

from __future__ import annotations

from lifecycle.scoring.behaviour import Contribution, behaviour_at, decay_factor
from lifecycle.scoring.config import (
    GRADES,
    SECONDS_PER_DAY,
    AlertConfig,
    BehaviourConfig,
    Grade,
    GradingConfig,
    ModelGrading,
    NurtureConfig,
    NurtureStep,
    ScoringConfig,
    Signal,
    load_scoring,
)
from lifecycle.scoring.fit import fit_score, screen, unmatched
from lifecycle.scoring.grading import (
    BantAssessment,
    Evaluation,
    GradeResult,
    bant_part,
    bant_score,
    evaluate,
    grade,
    grade_of,
    grade_rank,
    total_score,
)
from lifecycle.scoring.matching import FitMatcher
from lifecycle.scoring.profile_config import (
    CountryFit,
    FitConfig,
    IndustryFit,
    ScreenConfig,
    SeniorityFit,
    SeniorityLevel,
    SizeBand,
    SizeFit,
)

__all__ = [
    "GRADES",
    "SECONDS_PER_DAY",
    "AlertConfig",
    "BantAssessment",
    "BehaviourConfig",
    "Contribution",
    "CountryFit",
    "Evaluation",
    "FitConfig",
    "FitMatcher",
    "Grade",
    "GradeResult",
    "GradingConfig",
    "IndustryFit",
    "ModelGrading",
    "NurtureConfig",
    "NurtureStep",
    "ScoringConfig",
    "ScreenConfig",
    "SeniorityFit",
    "SeniorityLevel",
    "Signal",
    "SizeBand",
    "SizeFit",
    "bant_part",
    "bant_score",
    "behaviour_at",
    "decay_factor",
    "evaluate",
    "fit_score",
    "grade",
    "grade_of",
    "grade_rank",
    "load_scoring",
    "screen",
    "total_score",
    "unmatched",
]
