"""The profile's half of the scoring configuration: the fit (industry, company size,
seniority, country, each matched as tokens through aliases) and the screens (free-mail
and education domains, test patterns), and the strict base every section of the file
is validated by (:mod:`lifecycle.scoring.config` holds the rest and the loader)."""

from __future__ import annotations

import math
import re
from functools import cached_property
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from lifecycle.scoring.matching import FitMatcher
from lifecycle.vocabulary import country_code, token

__all__ = [
    "CountryFit",
    "FitConfig",
    "IndustryFit",
    "ScreenConfig",
    "SeniorityFit",
    "SeniorityLevel",
    "SizeBand",
    "SizeFit",
    "Strict",
    "as_tokens",
]


class Strict(BaseModel):
    # Finite numbers only: NaN passes every bound (each comparison is false) and an
    # infinite weight or half-life poisons every score computed from it.
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


def _one_token(value: str) -> str:
    word = token(value)
    if not word:
        raise ValueError(f"{value!r} has no letter or digit to match by")
    return word


def as_tokens(value: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(_one_token(v) for v in value)


def _token_aliases(value: dict[str, str]) -> dict[str, str]:
    return {_one_token(k): _one_token(v) for k, v in value.items()}


def _country(value: str) -> str:
    code = country_code(value)
    if code is None:
        raise ValueError(f"{value!r} names no country (give an ISO 3166 code or a name)")
    return code


class IndustryFit(Strict):
    """Industries as tokens: targets score the full weight, adjacent ones half, others
    nothing; any other value is unmatched. An alias names the industry a word means."""

    weight: float = Field(ge=0)
    targets: tuple[str, ...] = ()
    adjacent: tuple[str, ...] = ()
    others: tuple[str, ...] = ()
    aliases: dict[str, str] = {}

    _tokens = field_validator("targets", "adjacent", "others")(as_tokens)
    _alias_tokens = field_validator("aliases")(_token_aliases)

    @model_validator(mode="after")
    def _aliases_name_industries(self) -> IndustryFit:
        known = {*self.targets, *self.adjacent, *self.others}
        for alias, industry in self.aliases.items():
            if industry not in known:
                raise ValueError(f"alias {alias!r} names {industry!r}, which is in none of "
                                 "targets, adjacent or others")
        return self


class SizeBand(Strict):
    min: int = Field(ge=0)
    max: int | None = None
    score: float = Field(ge=0, le=1)


class SizeFit(Strict):
    weight: float = Field(ge=0)
    bands: tuple[SizeBand, ...]


class SeniorityLevel(Strict):
    keywords: tuple[str, ...]
    score: float = Field(ge=0, le=1)

    _tokens = field_validator("keywords")(as_tokens)


class SeniorityFit(Strict):
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


class CountryFit(Strict):
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


class FitConfig(Strict):
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


class ScreenConfig(Strict):
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
