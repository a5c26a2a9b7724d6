"""The scoring configuration: what decides fits, screens, behaviour points, grades,
nurture tracks and alerts (the built-in ``lifecycle/config/scoring.toml`` or a user's
file), validated strictly and loaded with :func:`load_scoring`."""

from __future__ import annotations

import math
import re
import tomllib
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from lifecycle.config import read_toml
from lifecycle.errors import ConfigError

# Its public names are listed once, in the package's __all__ (lifecycle.scoring).

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
    """What makes a lead invalid (:func:`~lifecycle.scoring.screen`).

    ``require_contact`` is gone: a lead without email or phone is captured and scored,
    only flagged as not contactable. A file that still names it loads (it is ignored).
    """

    free_mail_domains: frozenset[str] = frozenset()
    education_suffixes: tuple[str, ...] = ()
    test_patterns: tuple[str, ...] = ()
    """Regular expressions (case-insensitive, found anywhere) that mark a test or spam
    lead when one matches its email, name or company."""

    @model_validator(mode="before")
    @classmethod
    def _retired(cls, data: Any) -> Any:
        if isinstance(data, dict) and "require_contact" in data:
            data = {k: v for k, v in data.items() if k != "require_contact"}
        return data

    @field_validator("test_patterns")
    @classmethod
    def _regexes(cls, patterns: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as e:
                raise ValueError(f"test pattern {pattern!r} is not a regular expression: "
                                 f"{e}") from None
        return patterns

    @cached_property
    def _compiled(self) -> tuple[tuple[str, re.Pattern[str]], ...]:
        return tuple((p, re.compile(p, re.IGNORECASE)) for p in self.test_patterns)

    def test_pattern(self, value: str) -> str | None:
        """The first test pattern found in ``value``, or None."""
        for pattern, regex in self._compiled:
            if regex.search(value):
                return pattern
        return None


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
    if path is None:
        text = resources.files("lifecycle.config").joinpath("scoring.toml").read_text("utf-8")
        origin, data = "built-in scoring.toml", tomllib.loads(text)
    else:
        origin, data = str(path), read_toml(path, "scoring file")
    try:
        return ScoringConfig.model_validate(data)
    except ValidationError as e:
        from lifecycle.contracts import format_validation_error

        raise ConfigError(f"scoring file {origin}: {format_validation_error(e)}") from None
