"""Lead scoring and grading: pure, deterministic functions of their inputs.

- **fit** (0-100): the profile against the ideal customer profile (industry, company
  size, seniority, country);
- **screens**: invalid leads (education or free-mail domains under a B2B template, no
  way to contact them) are disqualified at capture;
- **behaviour**: points per touchpoint kind, each decaying by half every
  ``half_life_days`` from the business time it happened, so
  ``score(t) = sum(w_i * 2 ** (-(t - t_i) / half_life))``;
- **BANT**: budget, authority, need, timeline confirmed by sales (0-4 criteria);
- **grade**: Hot / Warm / Cold from the weighted total of the three.

Nothing here reads a clock: every function takes the moment it evaluates at.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from lifecycle.errors import ConfigError

__all__ = [
    "GRADES",
    "BantAssessment",
    "Contribution",
    "Evaluation",
    "GradeResult",
    "ScoringConfig",
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
]

Grade = Literal["cold", "warm", "hot"]
GRADES: tuple[Grade, ...] = ("cold", "warm", "hot")
SECONDS_PER_DAY = 86_400.0


class _Strict(BaseModel):
    # Finite numbers only: NaN passes every bound (each comparison is false) and an
    # infinite weight or half-life poisons every score computed from it.
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class IndustryFit(_Strict):
    weight: float = Field(ge=0)
    targets: tuple[str, ...] = ()
    adjacent: tuple[str, ...] = ()


class SizeBand(_Strict):
    min: int = Field(ge=0)
    max: int | None = None
    score: float = Field(ge=0, le=1)


class SizeFit(_Strict):
    weight: float = Field(ge=0)
    bands: tuple[SizeBand, ...]


class SeniorityLevel(_Strict):
    keywords: tuple[str, ...]
    score: float = Field(ge=0, le=1)


class SeniorityFit(_Strict):
    weight: float = Field(ge=0)
    levels: tuple[SeniorityLevel, ...]


class CountryFit(_Strict):
    weight: float = Field(ge=0)
    targets: tuple[str, ...] = ()
    secondary: tuple[str, ...] = ()


class FitConfig(_Strict):
    industry: IndustryFit
    company_size: SizeFit
    seniority: SeniorityFit
    country: CountryFit

    @model_validator(mode="after")
    def _weights_add_up(self) -> FitConfig:
        total = (self.industry.weight + self.company_size.weight
                 + self.seniority.weight + self.country.weight)
        if not math.isclose(total, 100.0, abs_tol=1e-6):
            raise ValueError(f"fit weights must add up to 100, they add up to {total:g}")
        return self


class ScreenConfig(_Strict):
    free_mail_domains: frozenset[str] = frozenset()
    education_suffixes: tuple[str, ...] = ()
    require_contact: bool = True


class BehaviourConfig(_Strict):
    # At most a century: beyond it nothing decays in any lead's lifetime, and a half-life
    # near 1e308 days overflowed (the activity projection's version, the decay factor).
    half_life_days: float = Field(gt=0, le=36_525)
    unknown_kind: Literal["reject", "zero"] = "reject"
    weights: dict[str, float]


class GradingConfig(_Strict):
    fit_weight: float = Field(ge=0)
    behaviour_weight: float = Field(ge=0)
    bant_weight: float = Field(ge=0)
    behaviour_cap: float = Field(gt=0)
    hot: float = Field(ge=0, le=100)
    warm: float = Field(ge=0, le=100)

    @model_validator(mode="after")
    def _ordered(self) -> GradingConfig:
        if self.warm > self.hot:
            raise ValueError(f"grading.warm ({self.warm}) must not exceed grading.hot ({self.hot})")
        if self.fit_weight + self.behaviour_weight <= 0:
            raise ValueError("fit_weight + behaviour_weight must be positive")
        return self

    def threshold(self, grade: Grade) -> float:
        return {"hot": self.hot, "warm": self.warm, "cold": 0.0}[grade]


class NurtureStep(_Strict):
    content: str
    after_days: float = Field(ge=0)


class NurtureConfig(_Strict):
    cold: tuple[NurtureStep, ...]
    warm: tuple[NurtureStep, ...]
    hot: tuple[NurtureStep, ...]

    def track(self, grade: Grade) -> tuple[NurtureStep, ...]:
        steps: tuple[NurtureStep, ...] = getattr(self, grade)
        return steps


class AlertConfig(_Strict):
    """Rules that raise alerts for a salesperson to step in."""

    hot_not_contacted_hours: float = Field(default=24, gt=0)
    contact_kinds: tuple[str, ...] = ("meeting_held", "reply_received")
    quote_kinds: tuple[str, ...] = ("quote_sent", "quote_revised")
    reply_kinds: tuple[str, ...] = ("reply_received", "meeting_held")
    quote_no_reply_days: float = Field(default=7, gt=0)
    revision_kind: str = "quote_revised"
    terms_revised_times: int = Field(default=3, ge=1)
    stuck_min_samples: int = Field(default=5, ge=1)
    cooling_no_touch_days: float = Field(default=21, gt=0)


class ScoringConfig(_Strict):
    """Everything that decides scores, grades, nurture steps and alerts."""

    version: int = 1
    fit: FitConfig
    screen: ScreenConfig
    behaviour: BehaviourConfig
    grading: GradingConfig
    nurture: NurtureConfig
    alerts: AlertConfig = AlertConfig()

    @property
    def half_life_seconds(self) -> float:
        return self.behaviour.half_life_days * SECONDS_PER_DAY


def load_scoring(path: Path | None = None) -> ScoringConfig:
    """Loads a scoring file, or the built-in default when ``path`` is None.

    Raises:
        ConfigError: the file is missing, not TOML, or not a valid configuration.
    """
    try:
        if path is None:
            text = resources.files("lifecycle.config").joinpath("scoring.toml").read_text("utf-8")
            origin = "built-in scoring.toml"
        else:
            text = path.read_text(encoding="utf-8")
            origin = str(path)
        return ScoringConfig.model_validate(tomllib.loads(text))
    except FileNotFoundError:
        raise ConfigError(f"scoring file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"scoring file {path} cannot be read: {e}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"scoring file {origin}: not valid TOML: {e}") from None
    except ValidationError as e:
        from lifecycle.contracts import format_validation_error

        raise ConfigError(f"scoring file {origin}: {format_validation_error(e)}") from None


# --- fit and screens ----------------------------------------------------------------


def fit_score(profile: dict[str, object], config: FitConfig) -> tuple[float, dict[str, float]]:
    """Scores a profile against the ideal customer profile.

    Returns:
        The fit score (0-100, rounded to 0.01) and its parts by dimension.
    """
    parts: dict[str, float] = {}
    industry = profile.get("industry")
    ind = 0.0
    if isinstance(industry, str):
        if industry in config.industry.targets:
            ind = 1.0
        elif industry in config.industry.adjacent:
            ind = 0.5
    parts["industry"] = round(ind * config.industry.weight, 2)

    employees = profile.get("employees")
    size = 0.0
    if isinstance(employees, int):
        for band in config.company_size.bands:
            if employees >= band.min and (band.max is None or employees <= band.max):
                size = band.score
                break
    parts["company_size"] = round(size * config.company_size.weight, 2)

    title = profile.get("title")
    seniority = 0.0
    if isinstance(title, str):
        words = title.lower()
        for level in config.seniority.levels:
            if any(_has_word(words, k) for k in level.keywords):
                seniority = level.score
                break
    parts["seniority"] = round(seniority * config.seniority.weight, 2)

    country = profile.get("country")
    ctry = 0.0
    if isinstance(country, str):
        if country in config.country.targets:
            ctry = 1.0
        elif country in config.country.secondary:
            ctry = 0.5
    parts["country"] = round(ctry * config.country.weight, 2)
    return round(sum(parts.values()), 2), parts


def _has_word(text: str, keyword: str) -> bool:
    start = text.find(keyword)
    while start >= 0:
        end = start + len(keyword)
        before_ok = start == 0 or not text[start - 1].isalnum()
        after_ok = end == len(text) or not text[end].isalnum()
        if before_ok and after_ok:
            return True
        start = text.find(keyword, start + 1)
    return False


def screen(
    email: str | None, phone: str | None, *, b2b: bool, config: ScreenConfig
) -> str | None:
    """Checks a newly captured lead against the invalid-lead screens.

    Returns:
        Why the lead is invalid, or None when it passes.
    """
    if config.require_contact and not email and not phone:
        return "no way to contact the lead: neither email nor phone was given"
    if email and b2b:
        domain = email.rpartition("@")[2]
        if domain in config.free_mail_domains:
            return f"free-mail address ({domain}) under a B2B template"
        for suffix in config.education_suffixes:
            if domain.endswith(suffix) or (suffix.endswith("-") and suffix[1:] in domain):
                return f"education domain ({domain}) under a B2B template"
    return None


# --- behaviour ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Contribution:
    """One touchpoint's points, decaying from the business time it happened."""

    occurred_at: datetime
    kind: str
    points: float

    def value_at(self, at: datetime, half_life_seconds: float) -> float:
        return self.points * decay_factor(self.occurred_at, at, half_life_seconds)


def decay_factor(since: datetime, at: datetime, half_life_seconds: float) -> float:
    """``2 ** (-(at - since) / half_life)``; 1.0 when ``at`` is not after ``since``."""
    dt = (at - since).total_seconds()
    if dt <= 0:
        return 1.0
    return float(2.0 ** (-dt / half_life_seconds))


def behaviour_at(
    contributions: tuple[Contribution, ...] | list[Contribution],
    at: datetime,
    half_life_seconds: float,
) -> float:
    """The behaviour score at ``at`` from every contribution that happened by then."""
    total = 0.0
    for c in contributions:
        if c.occurred_at <= at:
            total += c.value_at(at, half_life_seconds)
    return total


# --- BANT and grade -----------------------------------------------------------------


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
