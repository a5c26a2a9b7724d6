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

``at`` is the moment the row describes (training: the outcome's business time; live:
the lead's newest input, or the moment a view asks for). Missing values are NaN.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from lifecycle.aggregates.values import ERASED
from lifecycle.scoring.learned.facts import LeadFacts
from lifecycle.vocabulary import country_code, token

__all__ = ["FeatureSpec", "group_of", "matrix"]

OTHER = "(other)"
"""The value every category not kept is pooled as."""
MAX_KINDS = 40
"""At most this many kinds (and first channels) get a column of their own."""
NUMERIC_SHARE = 0.9
"""A property is numeric when at least this share of the leads that have it give a
number (a boolean read as 0/1); otherwise categorical."""

ACTIVITY = ("touches", "kinds", "channels", "touches_7d", "touches_30d", "decayed_touches",
            "days_since_capture", "days_since_last_touch", "touches_per_week")
SALES = ("sales:actions", "sales:stage", "sales:bant")
PROFILE_ALWAYS = ("country", "industry", "title")
"""Profile fields that always get columns (the others only when seen often enough)."""
IDENTIFIERS = frozenset({"name", "company", "phone", "email", "first_name", "last_name",
                         "full_name", "website", "domain", "url", "linkedin", "id"})
"""Profile fields that name the person or firm: never a category (a value per lead)."""
SALES_PREFIX = "sales:property:"
"""``FeatureSpec.categorical`` and ``numeric`` hold properties noted by sales so."""

_DAY = 86_400.0


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
        return _layout(self)[0]

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
        for lead in facts:
            kinds.update({k for _, k, _ in lead.touches})
            channels.update(_tokens(lead.channel))
            values["source"].update(_tokens(lead.source))
            values["template"].update(_tokens(lead.template))
            for name, value in lead.profile.items():
                if _profile_field(name, value):
                    field = f"profile:{name}"
                    tokens = _profile_tokens(name, value)
                    if tokens:
                        having[field] += 1
                        values.setdefault(field, Counter()).update(tokens)
            sets: list[tuple[str, dict[str, Any]]] = [("property:", lead.properties)]
            if sales:
                sets.append((SALES_PREFIX, {k[9:]: v for k, v in lead.sales.items()
                                            if k.startswith("property:")}))
            for prefix, props in sets:
                for name, value in props.items():
                    if value is None:
                        continue
                    field = prefix + name
                    having[field] += 1
                    if _number(value) is not None:
                        numbers[field] += 1
                    values.setdefault(field, Counter()).update(_tokens(value))
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
    names, defaults = _layout(spec)
    if len(facts) != len(at):
        raise ValueError(f"{len(facts)} leads but {len(at)} moments")
    index = {n: i for i, n in enumerate(names)}
    out = np.tile(np.asarray(defaults, dtype=np.float64), (len(facts), 1))
    if not facts:
        return out
    # Rows are scattered in one vectorised assignment at the end: setting numpy items one
    # by one costs ~100 ns each, more than the rest of a lead's work.
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    fill = _Filler(spec, index, cols, vals)
    for i, (lead, when) in enumerate(zip(facts, at, strict=True)):
        before = len(cols)
        fill(lead, when)
        rows.extend([i] * (len(cols) - before))
    out[np.asarray(rows, dtype=np.intp), np.asarray(cols, dtype=np.intp)] = \
        np.asarray(vals, dtype=np.float64)
    return out


# -- the layout ----------------------------------------------------------------------------


def _layout(spec: FeatureSpec) -> tuple[tuple[str, ...], list[float]]:
    """Column names and each column's value when the lead says nothing (0 for counts and
    one-hot columns, NaN for an unknown quantity)."""
    nan = math.nan
    names: list[str] = list(ACTIVITY)
    defaults: list[float] = [0.0] * len(ACTIVITY)
    defaults[ACTIVITY.index("days_since_last_touch")] = nan

    def add(column: str, default: float = 0.0) -> None:
        names.append(column)
        defaults.append(default)

    for kind in (*spec.kinds, OTHER):
        add(f"count:{kind}")
    for channel in (*spec.channels, OTHER):
        add(f"first_channel={channel}")
    fields = sorted(spec.categorical)
    who = [f for f in fields if not f.startswith(("property:", SALES_PREFIX))]
    for field in who:
        for value in (*spec.categorical[field], OTHER):
            add(f"{field}={value}")
    add("employees", nan)
    add("contactable")
    add("has_company")
    for name in sorted(n for n in spec.numeric if not n.startswith(SALES_PREFIX)):
        add(f"property:{name}", nan)
        add(f"property:{name}:sum", nan)
    for field in fields:
        if field.startswith("property:"):
            for value in (*spec.categorical[field], OTHER):
                add(f"{field}={value}")
    if spec.sales:
        add("sales:actions")
        add("sales:stage")
        add("sales:bant", nan)
        for name in sorted(n for n in spec.numeric if n.startswith(SALES_PREFIX)):
            add(name, nan)
        for field in fields:
            if field.startswith(SALES_PREFIX):
                for value in (*spec.categorical[field], OTHER):
                    add(f"{field}={value}")
    return tuple(names), defaults


class _Filler:
    """Writes one lead's non-default cells as (column, value) pairs; the column indices
    and the token lookups are prepared once per :func:`matrix` call."""

    def __init__(self, spec: FeatureSpec, index: dict[str, int], cols: list[int],
                 vals: list[float]) -> None:
        self.cols, self.vals = cols, vals
        self.base = [index[n] for n in ACTIVITY]
        self.kind_col = {k: index[f"count:{k}"] for k in spec.kinds}
        self.kind_other = index[f"count:{OTHER}"]
        self.channel_col = _value_columns(index, "first_channel", spec.channels)
        self.who = [(f, _value_columns(index, f, spec.categorical[f]))
                    for f in sorted(spec.categorical)
                    if not f.startswith(("property:", SALES_PREFIX))]
        self.employees = index["employees"]
        self.contactable = index["contactable"]
        self.has_company = index["has_company"]
        self.numeric = [(n, index[f"property:{n}"], index[f"property:{n}:sum"])
                        for n in spec.numeric if not n.startswith(SALES_PREFIX)]
        self.props = [(f[9:], _value_columns(index, f, spec.categorical[f]))
                      for f in spec.categorical if f.startswith("property:")]
        self.sales = spec.sales
        if spec.sales:
            self.sales_base = [index[n] for n in SALES]
            self.sales_numeric = [(n[len(SALES_PREFIX) - 9:], index[n])
                                  for n in spec.numeric if n.startswith(SALES_PREFIX)]
            self.sales_props = [(f[len(SALES_PREFIX) - 9:],
                                 _value_columns(index, f, spec.categorical[f]))
                                for f in spec.categorical if f.startswith(SALES_PREFIX)]
        self.decay = math.log(2) / (spec.half_life_days * _DAY)
        self.tokens: dict[Any, tuple[str, ...]] = {}  # value → its tokens, this call

    def __call__(self, lead: LeadFacts, at: datetime) -> None:
        self._activity(lead, at)
        self._who(lead)
        self._properties(lead)
        if self.sales:
            self._sales(lead.sales)

    def _activity(self, lead: LeadFacts, at: datetime) -> None:
        """The touches dated at or before ``at`` (live facts may hold later ones)."""
        cols, vals = self.cols, self.vals
        now = at.timestamp()
        week, month = now - 7 * _DAY, now - 30 * _DAY
        decay = self.decay
        n = n7 = n30 = 0
        decayed = 0.0
        last = -math.inf
        kinds: dict[str, int] = {}
        channels: set[str] = set()
        for t, kind, channel in lead.touches:
            ts = t.timestamp()
            if ts > now:
                continue
            n += 1
            if ts > week:
                n7 += 1
            if ts > month:
                n30 += 1
            decayed += math.exp((ts - now) * decay)
            if ts > last:
                last = ts
            kinds[kind] = kinds.get(kind, 0) + 1
            channels.add(channel)
        since = (now - lead.captured_at.timestamp()) / _DAY
        b = self.base
        cols.extend(b)
        vals.extend((n, len(kinds), len(channels), n7, n30, decayed, since,
                     (now - last) / _DAY if n else math.nan, n * 7.0 / max(since, 1.0)))
        kind_col, other = self.kind_col, self.kind_other
        others = 0
        for kind, count in kinds.items():
            c = kind_col.get(kind)
            if c is None:
                others += count
            else:
                cols.append(c)
                vals.append(count)
        if others:
            cols.append(other)
            vals.append(others)

    def _who(self, lead: LeadFacts) -> None:
        put_col, put_val = self.cols.append, self.vals.append
        self._one_hot(self.channel_col, self._tokens(lead.channel))
        profile = lead.profile
        for field, columns in self.who:
            if field == "source":
                value: Any = lead.source
            elif field == "template":
                value = lead.template
            else:
                value = profile.get(field[8:])
                if value is None:
                    continue
                if field == "profile:country":
                    self._one_hot(columns, self._country(value))
                    continue
            self._one_hot(columns, self._tokens(value))
        employees = _number(profile.get("employees"))
        if employees is None and isinstance(profile.get("employees"), str):
            employees = _parse(profile["employees"])
        if employees is not None:
            put_col(self.employees)
            put_val(employees)
        phone = profile.get("phone")
        if lead.has_email or (phone and phone != ERASED):
            put_col(self.contactable)
            put_val(1.0)
        if profile.get("company"):
            put_col(self.has_company)
            put_val(1.0)

    def _properties(self, lead: LeadFacts) -> None:
        put_col, put_val = self.cols.append, self.vals.append
        props, sums = lead.properties, lead.sums
        for name, latest, total in self.numeric:
            x = _number(props.get(name))
            if x is not None:
                put_col(latest)
                put_val(x)
            s = sums.get(name)
            if s is not None:
                put_col(total)
                put_val(s)
        for name, columns in self.props:
            value = props.get(name)
            if value is not None:
                self._one_hot(columns, self._tokens(value))

    def _sales(self, sales: dict[str, Any]) -> None:
        actions, stage, bant = self.sales_base
        self.cols.extend((actions, stage))
        self.vals.extend((sales.get("actions", 0), sales.get("stage", 0)))
        if "bant" in sales:
            self.cols.append(bant)
            self.vals.append(sales["bant"])
        for key, column in self.sales_numeric:
            x = _number(sales.get(key))
            if x is not None:
                self.cols.append(column)
                self.vals.append(x)
        for key, columns in self.sales_props:
            value = sales.get(key)
            if value is not None:
                self._one_hot(columns, self._tokens(value))

    def _one_hot(self, columns: dict[str, int], tokens: Iterable[str]) -> None:
        other = columns[OTHER]
        for t in tokens:
            self.cols.append(columns.get(t, other))
            self.vals.append(1.0)

    def _tokens(self, value: Any) -> tuple[str, ...]:
        # The type too: True == 1 == 1.0 as keys, yet their tokens differ.
        key = (type(value), value if isinstance(value, str | int | float) else repr(value))
        found = self.tokens.get(key)
        if found is None:
            found = self.tokens[key] = _tokens(value)
        return found

    def _country(self, value: Any) -> tuple[str, ...]:
        key = ("country", value if isinstance(value, str) else repr(value))
        found = self.tokens.get(key)
        if found is None:
            found = self.tokens[key] = _profile_tokens("country", value)
        return found


def _value_columns(index: dict[str, int], field: str, kept: Iterable[str]) -> dict[str, int]:
    return {v: index[f"{field}={v}"] for v in (*kept, OTHER)}


# -- values --------------------------------------------------------------------------------


def _number(value: Any) -> float | None:
    """A number the value gives (a boolean as 0/1), else None. A non-finite one is none:
    NaN means "missing" in the matrix, and infinity breaks the models."""
    kind = type(value)
    if kind is int or kind is float or kind is bool:
        x = float(value)
        return x if math.isfinite(x) else None
    return None


def _parse(text: str) -> float | None:
    try:
        x = float(text.strip().replace(",", ""))
    except ValueError:
        return None
    return x if math.isfinite(x) else None


def _tokens(value: Any) -> tuple[str, ...]:
    """A categorical value's tokens: one for a scalar, each item's for a list (a set of
    tags); none for a mapping or an empty token. Sorted and unique: the row must not
    depend on the order a source listed tags in."""
    if isinstance(value, list | tuple | set | frozenset):
        found = {t for v in value for t in _tokens(v)}
        return tuple(sorted(found))
    if isinstance(value, dict) or value is None:
        return ()
    if isinstance(value, bool):
        return ("true",) if value else ("false",)
    t = token(value if isinstance(value, str) else str(value))
    return (t,) if t else ()


def _profile_field(name: str, value: Any) -> bool:
    """Whether a profile field is read as a category."""
    if name in PROFILE_ALWAYS:
        return True
    return isinstance(value, str) and name not in IDENTIFIERS and name != "employees"


def _profile_tokens(name: str, value: Any) -> tuple[str, ...]:
    if name == "country" and isinstance(value, str):
        code = country_code(value)
        if code is not None:
            return (code,)
    return _tokens(value)


def _top(counts: Counter[str], cap: int, min_count: int) -> tuple[str, ...]:
    """The values seen on at least ``min_count`` leads, most frequent first (ties by
    name), at most ``cap``."""
    ranked = sorted((v for v, c in counts.items() if c >= min_count and v != OTHER),
                    key=lambda v: (-counts[v], v))
    return tuple(ranked[:cap])


