"""Matching a profile's words against the scoring file's: industries, titles (by
seniority keywords) and countries, compared as tokens (:func:`lifecycle.vocabulary.token`)
through the file's aliases.

A :class:`FitMatcher` is built once per fit configuration (the values in it are already
tokens: the configuration normalises them when it loads) and remembers its answer for
each value it was asked about, so scoring a profile costs a few dictionary look-ups:
fit is computed on every profile change, on the ingest hot path.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from lifecycle.vocabulary import country_code, token

# Its public names are listed once, in the package's __all__ (lifecycle.scoring).

MEMO_LIMIT = 4096
"""Answers remembered per dimension; past that the memo starts again (titles are free
text, and a hostile source could send a new one with every touchpoint)."""


class FitMatcher:
    """Answers, for one fit configuration, what a given industry, title or country is
    worth: a tier (0.0-1.0 of the dimension's weight), or None when it matched nothing
    the configuration knows (an "unmatched" value)."""

    __slots__ = ("_countries", "_country_aliases", "_industries", "_industry_aliases",
                 "_levels", "_memo")

    def __init__(
        self, *, industries: Mapping[str, float], industry_aliases: Mapping[str, str],
        levels: Sequence[tuple[tuple[str, ...], float]], countries: Mapping[str, float],
        country_aliases: Mapping[str, str],
    ) -> None:
        """
        Args:
            industries: industry token → tier (targets 1, adjacent 0.5, others 0).
            industry_aliases: token → the industry token it stands for.
            levels: seniority levels in order, each its keyword tokens (aliases
                included) and its score; the first level with a keyword in the title wins.
            countries: alpha-2 code → tier (targets 1, secondary 0.5).
            country_aliases: token → the alpha-2 code it stands for.
        """
        self._industries = dict(industries)
        self._industry_aliases = dict(industry_aliases)
        # Keywords padded with "_": a keyword is found in a padded title token only as
        # whole words ("head" in "head_of_sales", not in "headhunter").
        self._levels = tuple((tuple(f"_{k}_" for k in keywords), score)
                             for keywords, score in levels)
        self._countries = dict(countries)
        self._country_aliases = dict(country_aliases)
        self._memo: tuple[dict[str, float | None], ...] = ({}, {}, {})

    def industry(self, value: str) -> float | None:
        """The industry's tier; None when it is no target, adjacent or other industry."""
        return self._remembered(0, value, self._industry)

    def seniority(self, title: str) -> float | None:
        """The score of the first seniority level with a keyword in the title; None when
        no level has one."""
        return self._remembered(1, title, self._seniority)

    def country(self, value: str) -> float | None:
        """The country's tier (0 for a country that is no target); None when the value
        names no country and no alias."""
        return self._remembered(2, value, self._country)

    def _remembered(self, dimension: int, value: str,
                    compute: Callable[[str], float | None]) -> float | None:
        memo = self._memo[dimension]
        try:
            return memo[value]
        except KeyError:
            pass
        if len(memo) >= MEMO_LIMIT:
            memo.clear()
        answer = memo[value] = compute(value)
        return answer

    def _industry(self, value: str) -> float | None:
        key = token(value)
        return self._industries.get(self._industry_aliases.get(key, key))

    def _seniority(self, title: str) -> float | None:
        padded = f"_{token(title)}_"
        for keywords, score in self._levels:
            for keyword in keywords:
                if keyword in padded:
                    return score
        return None

    def _country(self, value: str) -> float | None:
        code = self._country_aliases.get(token(value)) or country_code(value)
        if code is None:
            return None
        return self._countries.get(code, 0.0)
