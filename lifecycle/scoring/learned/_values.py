"""The values a feature column reads: numbers (NaN for none), tokens of categories,
countries as ISO codes, whether a personal field holds something. Shared by both ways
:mod:`._columns` fills a row, so both read a value alike."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from lifecycle.aggregates.values import ERASED
from lifecycle.vocabulary import country_code, token

__all__ = ["country_tokens", "employees", "given", "number", "numbers", "tokens"]


def number(value: Any) -> float:
    """The number a value gives (a boolean as 0/1), else NaN. A non-finite one is none:
    NaN means "missing" in the matrix, and infinity breaks the models."""
    kind = type(value)
    if kind is int or kind is float or kind is bool:
        try:
            x = float(value)
        except OverflowError:  # an integer beyond 1e308
            return math.nan
        return x if math.isfinite(x) else math.nan
    return math.nan


def numbers(values: list[Any]) -> np.ndarray:
    """:func:`number` of each value; numpy converts a list of numbers and Nones at once
    (~20 ns each, a call per value ~150 ns), the rest (a string, a list) the slow way."""
    nan = math.nan
    # Only numbers through (numpy would read the string "3.5" as a number).
    try:
        x = np.array([v if (t := type(v)) is float or t is int or t is bool else nan
                      for v in values], dtype=np.float64)
    except OverflowError:  # an integer beyond 1e308
        return np.array([number(v) for v in values], dtype=np.float64)
    x[~np.isfinite(x)] = nan
    return x


def employees(value: Any) -> float:
    if type(value) is str:
        try:
            return number(float(value.strip().replace(",", "")))
        except ValueError:
            return math.nan
    return number(value)


def given(value: Any) -> bool:
    """Whether a personal field holds something (not erased)."""
    return bool(value) and value != ERASED


def tokens(value: Any) -> tuple[str, ...]:
    """A categorical value's tokens: one for a scalar, each item's for a list (a set of
    tags); none for a mapping or an empty token. Sorted and unique: the row must not
    depend on the order a source listed tags in."""
    if isinstance(value, list | tuple | set | frozenset):
        return tuple(sorted({t for v in value for t in tokens(v)}))
    if isinstance(value, dict) or value is None:
        return ()
    if isinstance(value, bool):
        return ("true",) if value else ("false",)
    t = token(value if isinstance(value, str) else str(value))
    return (t,) if t else ()


def country_tokens(value: Any) -> tuple[str, ...]:
    """A country as its ISO code when it names one (``Germany``, ``deu`` → ``DE``)."""
    if isinstance(value, str):
        code = country_code(value)
        if code is not None:
            return (code,)
    return tokens(value)
