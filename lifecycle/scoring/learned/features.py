"""Features: a lead's facts at a moment as one row of numbers.

A :class:`FeatureSpec` names the columns. It is discovered from the training leads
(:meth:`FeatureSpec.discover`: the kinds, channels and categories seen, each capped to
the most frequent, the rest pooled as ``(other)``), stored in the model's artifact, and
applied unchanged when the model scores any lead, in any database.

Column names (``FeatureSpec.names``), each with the *group* it belongs to (what a
factor is reported by: ``property:tags`` for every ``property:tags=...`` column):

- activity: ``touches``, ``kinds``, ``channels``, ``touches_7d``, ``touches_30d``,
  ``decayed_touches`` (half-life ``half_life_days``), ``days_since_capture``,
  ``days_since_last_touch``, ``touches_per_week``; ``count:<kind>`` per kind;
- who: ``first_channel=<v>``, ``source=<v>``, ``template=<v>``, ``profile:<field>=<v>``
  (country, industry, title and the categorical profile fields seen), ``employees``,
  ``contactable``, ``has_company``;
- properties: ``property:<name>`` (latest numeric value), ``property:<name>:sum``,
  ``property:<name>=<v>`` (categorical, latest value);
- with ``sales`` only: ``sales:actions``, ``sales:stage``, ``sales:bant``,
  ``sales:property:<name>...``.

Every categorical field, kinds and first channels included, has an ``=(other)``
(``count:(other)``) column for the values not kept; its columns are all 0 when the lead
has no value. Values are tokens (:func:`~lifecycle.vocabulary.token`; a country its ISO
code; each item of a list of tags its own column). Sales properties are stored in the
spec as ``sales:property:<name>`` (in ``categorical`` or ``numeric``).

``at`` is the moment the row describes (training: the outcome's business time; live:
the lead's newest input, or the moment a view asks for): only touches dated at or
before it count, and times are in days before it. Missing values are NaN (a quantity
not given; a count is 0). The rows are computed by :mod:`._columns`.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from lifecycle.scoring.learned import _columns
from lifecycle.scoring.learned._columns import (
    OTHER,
    SALES_PREFIX,
    Plan,
    country_tokens,
    number,
    tokens,
)
from lifecycle.scoring.learned.facts import LeadFacts

__all__ = ["FeatureSpec", "group_of", "matrix"]

MAX_KINDS = 40
"""At most this many kinds (and first channels) get a column of their own."""
NUMERIC_SHARE = 0.9
"""A property is numeric when at least this share of the leads that have it give a
number (a boolean read as 0/1); otherwise categorical."""
PROFILE_ALWAYS = ("country", "industry", "title")
"""Profile fields that always get columns (the others only when seen often enough)."""
IDENTIFIERS = frozenset({"name", "company", "phone", "email", "first_name", "last_name",
                         "full_name", "website", "domain", "url", "linkedin", "id"})
"""Profile fields that name the person or firm: never a category (a value per lead)."""
BATCH = 32
"""From this many leads on, :func:`matrix` computes column by column (numpy's fixed cost
pays off); fewer, lead by lead. Both give the same bits."""

class FeatureSpec(BaseModel):
    """Which columns a model reads, in order (stored in its artifact)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kinds: tuple[str, ...]
    channels: tuple[str, ...]
    categorical: dict[str, tuple[str, ...]]
    """Field (``source``, ``template``, ``profile:<f>``, ``property:<name>``) → kept values."""
    numeric: tuple[str, ...]
    """Property names read as numbers."""
    sales: bool = False
    half_life_days: float = 14.0

    @property
    def names(self) -> tuple[str, ...]:
        """Every column's name, in matrix order."""
        return _plan(self).names

    @classmethod
    def discover(cls, facts: Sequence[LeadFacts], *, max_categories: int = 20,
                 min_count: int = 5, sales: bool = False) -> FeatureSpec:
        """The columns the given leads support: values seen on fewer than ``min_count``
        leads are pooled; at most ``max_categories`` kept per field."""
        kinds: Counter[str] = Counter()
        channels: Counter[str] = Counter()
        values: dict[str, Counter[str]] = {"source": Counter(), "template": Counter()}
        for f in PROFILE_ALWAYS:
            values[f"profile:{f}"] = Counter()
        having: Counter[str] = Counter()  # field → leads with a value
        numbers: Counter[str] = Counter()  # property field → leads giving a number
        memo: dict[tuple[bool, str], tuple[str, ...]] = {}

        def tokens_of(value: Any, country: bool = False) -> tuple[str, ...]:
            # A string's tokens once per call: token() normalises Unicode (~2 µs).
            if type(value) is not str:
                return country_tokens(value) if country else tokens(value)
            found = memo.get((country, value))
            if found is None:
                found = memo[country, value] = (
                    country_tokens(value) if country else tokens(value))
            return found

        for lead in facts:
            kinds.update({k for _, k, _ in lead.touches})
            channels.update(tokens_of(lead.channel))
            values["source"].update(tokens_of(lead.source))
            values["template"].update(tokens_of(lead.template))
            for name, value in lead.profile.items():
                if _profile_field(name, value):
                    field = f"profile:{name}"
                    seen = tokens_of(value, name == "country")
                    if seen:
                        having[field] += 1
                        values.setdefault(field, Counter()).update(seen)
            sets: list[tuple[str, dict[str, Any]]] = [("property:", lead.properties)]
            if sales:
                sets.append((SALES_PREFIX, {k[9:]: v for k, v in lead.sales.items()
                                            if k.startswith("property:")}))
            for prefix, props in sets:
                for name, value in props.items():
                    if value is None or "=" in name or name.endswith(":sum"):
                        continue  # no value; or a name that columns could not tell apart
                    field = prefix + name
                    having[field] += 1
                    if not math.isnan(number(value)):
                        numbers[field] += 1
                    values.setdefault(field, Counter()).update(tokens_of(value))
        categorical: dict[str, tuple[str, ...]] = {}
        numeric: list[str] = []
        for field in sorted(values):
            fixed = field in ("source", "template") or (
                field.startswith("profile:") and field[8:] in PROFILE_ALWAYS)
            if not fixed and having[field] < min_count:
                continue
            if field.startswith(("property:", SALES_PREFIX)) \
                    and numbers[field] >= NUMERIC_SHARE * having[field]:
                numeric.append(field[9:] if field.startswith("property:") else field)
                continue
            categorical[field] = _top(values[field], max_categories, min_count)
        return cls(kinds=_top(kinds, MAX_KINDS, min_count),
                   channels=_top(channels, MAX_KINDS, min_count),
                   categorical=categorical, numeric=tuple(sorted(numeric)), sales=sales)


def group_of(name: str) -> str:
    """The group a column belongs to (``property:tags=ringing`` → ``property:tags``)."""
    field, _, _ = name.partition("=")
    if field.endswith(":sum") and field.startswith("property:"):
        return field[:-4]
    return field


def matrix(spec: FeatureSpec, facts: Sequence[LeadFacts],
           at: Sequence[datetime]) -> np.ndarray:
    """One float64 row per lead (``facts[i]`` at ``at[i]``), columns ``spec.names``."""
    plan = _plan(spec)
    n = len(facts)
    if n != len(at):
        raise ValueError(f"{n} leads but {len(at)} moments")
    if n < BATCH:
        rows = [_columns.row(plan, lead, when) for lead, when in zip(facts, at, strict=True)]
        return np.array(rows, dtype=np.float64).reshape(n, len(plan.names))
    out = np.tile(np.asarray(plan.defaults, dtype=np.float64), (n, 1))
    _columns.batch(plan, facts, at, out)
    return out


_PLANS: dict[int, tuple[FeatureSpec, Plan]] = {}
"""The plans of the specs used lately, by id (the spec held, so its id is not reused)."""


def _plan(spec: FeatureSpec) -> Plan:
    """The spec's plan, made once (a model scores one lead at a time: ~20 µs saved)."""
    held = _PLANS.get(id(spec))
    if held is not None and held[0] is spec:
        return held[1]
    plan = Plan(spec)
    if len(_PLANS) >= 16:
        _PLANS.clear()
    _PLANS[id(spec)] = (spec, plan)
    return plan


def _profile_field(name: str, value: Any) -> bool:
    """Whether a profile field is read as a category."""
    if name in PROFILE_ALWAYS:
        return True
    return isinstance(value, str) and name not in IDENTIFIERS and name != "employees"


def _top(counts: Counter[str], cap: int, min_count: int) -> tuple[str, ...]:
    """The values seen on at least ``min_count`` leads, most frequent first (ties by
    name), at most ``cap``."""
    ranked = sorted((v for v, c in counts.items() if c >= min_count and v != OTHER),
                    key=lambda v: (-counts[v], v))
    return tuple(ranked[:cap])


