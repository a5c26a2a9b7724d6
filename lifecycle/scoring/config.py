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
from lifecycle.scoring.matching import FitMatcher
from lifecycle.vocabulary import country_code, token

# Its public names are listed once, in the package's __all__ (lifecycle.scoring).

Grade = Literal["cold", "warm", "hot"]
GRADES: tuple[Grade, ...] = ("cold", "warm", "hot")
SECONDS_PER_DAY = 86_400.0


class _Strict(BaseModel):
    # Finite numbers only: NaN passes every bound (each comparison is false) and an
    # infinite weight or half-life poisons every score computed from it.
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


def _one_token(value: str) -> str:
    word = token(value)
    if not word:
        raise ValueError(f"{value!r} has no letter or digit to match by")
    return word


def _as_tokens(value: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(_one_token(v) for v in value)


def _token_aliases(value: dict[str, str]) -> dict[str, str]:
    return {_one_token(k): _one_token(v) for k, v in value.items()}


def _country(value: str) -> str:
    code = country_code(value)
    if code is None:
        raise ValueError(f"{value!r} names no country (give an ISO 3166 code or a name)")
    return code


class IndustryFit(_Strict):
    """Industries as tokens: targets score the full weight, adjacent ones half, others
    nothing; any other value is unmatched. An alias names the industry a word means."""

    weight: float = Field(ge=0)
    targets: tuple[str, ...] = ()
    adjacent: tuple[str, ...] = ()
    others: tuple[str, ...] = ()
    aliases: dict[str, str] = {}

    _tokens = field_validator("targets", "adjacent", "others")(_as_tokens)
    _alias_tokens = field_validator("aliases")(_token_aliases)

    @model_validator(mode="after")
    def _aliases_name_industries(self) -> IndustryFit:
        known = {*self.targets, *self.adjacent, *self.others}
        for alias, industry in self.aliases.items():
            if industry not in known:
                raise ValueError(f"alias {alias!r} names {industry!r}, which is in none of "
                                 "targets, adjacent or others")
        return self


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

    _tokens = field_validator("keywords")(_as_tokens)


class SeniorityFit(_Strict):
    """Seniority (or, for individual buyers, occupation) from keywords found as whole
    words in the title; an alias is another word for a level's keyword."""

    weight: float = Field(ge=0)
    levels: tuple[SeniorityLevel, ...]
    aliases: dict[str, str] = {}

    _alias_tokens = field_validator("aliases")(_token_aliases)

    @model_validator(mode="after")
    def _aliases_name_keywords(self) -> SeniorityFit:
        known = {k for level in self.levels for k in level.keywords}
        for alias, keyword in self.aliases.items():
            if keyword not in known:
                raise ValueError(f"alias {alias!r} names {keyword!r}, which is no level's "
                                 "keyword")
        return self


class CountryFit(_Strict):
    """Countries as ISO alpha-2 codes (given by code or name); an alias is another name
    for a country ("uk" = "GB")."""

    weight: float = Field(ge=0)
    targets: tuple[str, ...] = ()
    secondary: tuple[str, ...] = ()
    aliases: dict[str, str] = {}

    @field_validator("targets", "secondary")
    @classmethod
    def _codes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_country(v) for v in value)

    @field_validator("aliases")
    @classmethod
    def _alias_codes(cls, value: dict[str, str]) -> dict[str, str]:
        return {_one_token(k): _country(v) for k, v in value.items()}


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

    @cached_property
    def matcher(self) -> FitMatcher:
        """What industries, titles and countries are worth under this configuration."""
        ind = self.industry
        industries = {**dict.fromkeys(ind.others, 0.0), **dict.fromkeys(ind.adjacent, 0.5),
                      **dict.fromkeys(ind.targets, 1.0)}
        seniority = self.seniority
        levels = [(level.keywords + tuple(alias for alias, keyword in seniority.aliases.items()
                                          if keyword in level.keywords), level.score)
                  for level in seniority.levels]
        ctry = self.country
        countries = {**dict.fromkeys(ctry.secondary, 0.5), **dict.fromkeys(ctry.targets, 1.0)}
        return FitMatcher(industries=industries, industry_aliases=ind.aliases, levels=levels,
                          countries=countries, country_aliases=ctry.aliases)


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


class Signal(_Strict):
    """A numeric touchpoint property scored as behaviour: ``points_per_unit`` for each
    unit of its value, at most ``cap`` points per touch, on touches of ``kinds`` (empty:
    of every kind)."""

    property: str = Field(min_length=1)
    points_per_unit: float = Field(gt=0)
    cap: float = Field(gt=0)
    kinds: tuple[str, ...] = ()

    _tokens = field_validator("kinds")(_as_tokens)


class BehaviourConfig(_Strict):
    # At most a century: beyond it nothing decays in any lead's lifetime, and a half-life
    # near 1e308 days overflowed (the activity projection's version, the decay factor).
    half_life_days: float = Field(gt=0, le=36_525)
    unknown_kind: Literal["reject", "zero"] = "zero"
    weights: dict[str, float]
    signals: tuple[Signal, ...] = ()


class ModelGrading(_Strict):
    """How a learned model's probability becomes a grade (``[grading.model]``): by
    probability thresholds (``hot``, ``warm``, both or neither), else by the model's
    training distribution (``hot_decile`` 9: the top 10 % are hot; ``warm_decile`` 7:
    the next 20 % warm)."""

    hot: float | None = Field(default=None, gt=0, le=1)
    warm: float | None = Field(default=None, gt=0, le=1)
    hot_decile: int = Field(default=9, ge=1, le=9)
    warm_decile: int = Field(default=7, ge=1, le=9)
    top_factors: int = Field(default=3, ge=1, le=20)

    @model_validator(mode="after")
    def _ordered(self) -> ModelGrading:
        if (self.hot is None) != (self.warm is None):
            raise ValueError("grading.model: give both hot and warm probabilities, or neither "
                             "(then the deciles decide)")
        if self.hot is not None and self.warm is not None and self.warm > self.hot:
            raise ValueError(f"grading.model.warm ({self.warm}) must not exceed hot ({self.hot})")
        if self.warm_decile > self.hot_decile:
            raise ValueError(f"grading.model.warm_decile ({self.warm_decile}) must not exceed "
                             f"hot_decile ({self.hot_decile})")
        return self


class GradingConfig(_Strict):
    by: Literal["rules", "model"] = "rules"
    """``model``: with a model active (``lifecycle model activate``), grades follow its
    predicted probability (:class:`ModelGrading`); without one, the rules grade."""
    model: ModelGrading = ModelGrading()
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


OVERRIDABLE = ("behaviour", "fit", "grading", "nurture")
"""The sections a template's ``[templates.NAME]`` table may override."""


class ScoringConfig(_Strict):
    """Everything that decides scores, grades, nurture steps and alerts.

    ``templates`` holds, by template name, the configuration that template's leads are
    scored by: the file's own sections with the template's overrides merged in (a table
    key by key, any other value replaced), validated like the file itself.
    """

    version: int = 1
    fit: FitConfig
    screen: ScreenConfig
    behaviour: BehaviourConfig
    grading: GradingConfig
    nurture: NurtureConfig
    alerts: AlertConfig = AlertConfig()
    templates: dict[str, ScoringConfig] = {}

    @model_validator(mode="before")
    @classmethod
    def _merge_overrides(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not isinstance(data.get("templates"), dict):
            return data
        base = {k: v for k, v in data.items() if k != "templates"}
        merged: dict[str, Any] = {}
        for name, override in data["templates"].items():
            merged[name] = override  # not a table: its validation says so
            if isinstance(override, dict):
                others = sorted(set(override) - set(OVERRIDABLE))
                if others:
                    raise ValueError(f"templates.{name}: a template can override "
                                     f"{', '.join(OVERRIDABLE)}, not {', '.join(others)}")
                merged[name] = _merged(base, override)
        return {**base, "templates": merged}

    @model_validator(mode="after")
    def _one_half_life(self) -> ScoringConfig:
        for name, config in self.templates.items():
            if not _TEMPLATE_NAME.fullmatch(name):
                raise ValueError(f"templates.{name}: not a template name (lower case letters, "
                                 "digits and _, starting with a letter)")
            if config.behaviour.half_life_days != self.behaviour.half_life_days:
                # The activity projection and the reports decay every lead's points alike.
                raise ValueError(f"templates.{name}.behaviour.half_life_days: every template "
                                 "decays with the file's one half-life")
        return self

    @property
    def half_life_seconds(self) -> float:
        return self.behaviour.half_life_days * SECONDS_PER_DAY

    def for_template(self, name: str) -> ScoringConfig:
        """The configuration the template's leads are scored by (this one when the file
        overrides nothing for it)."""
        return self.templates.get(name, self)


_TEMPLATE_NAME = re.compile(r"[a-z][a-z0-9_]*")


def _merged(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``override`` merged in: tables key by key, other values replaced."""
    out = dict(base)
    for key, value in override.items():
        below = out.get(key)
        out[key] = (_merged(below, value) if isinstance(below, dict) and isinstance(value, dict)
                    else value)
    return out


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
