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
from collections.abc import Callable, Iterable, Sequence
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
        memo: dict[tuple[bool, str], tuple[str, ...]] = {}

        def tokens_of(value: Any, country: bool = False) -> tuple[str, ...]:
            # A string's tokens once per call: token() normalises Unicode (~2 µs).
            if type(value) is not str:
                return _country_tokens(value) if country else _tokens(value)
            found = memo.get((country, value))
            if found is None:
                found = memo[country, value] = (
                    _country_tokens(value) if country else _tokens(value))
            return found

        for lead in facts:
            kinds.update({k for _, k, _ in lead.touches})
            channels.update(tokens_of(lead.channel))
            values["source"].update(tokens_of(lead.source))
            values["template"].update(tokens_of(lead.template))
            for name, value in lead.profile.items():
                if _profile_field(name, value):
                    field = f"profile:{name}"
                    tokens = tokens_of(value, name == "country")
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
                    if not math.isnan(_number(value)):
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


def matrix(spec: FeatureSpec, facts: Sequence[LeadFacts],
           at: Sequence[datetime]) -> np.ndarray:
    """One float64 row per lead (``facts[i]`` at ``at[i]``), columns ``spec.names``."""
    names, defaults = _layout(spec)
    n = len(facts)
    if n != len(at):
        raise ValueError(f"{n} leads but {len(at)} moments")
    out = np.tile(np.asarray(defaults, dtype=np.float64), (n, 1))
    if n == 0:
        return out
    # Column by column over all leads, not lead by lead: a comprehension per field and
    # numpy per column cost ~5 µs a lead where a loop of method calls per lead cost ~50.
    # Each row still depends on its own lead only (nothing is summed across leads, and
    # exp is math.exp per touch, never a vectorised one whose last bit may differ).
    index = {name: i for i, name in enumerate(names)}
    _activity(spec, index, facts, at, out)
    _who(spec, index, facts, out)
    _properties(spec, index, facts, out)
    if spec.sales:
        _sales(spec, index, facts, out)
    return out


def _activity(spec: FeatureSpec, index: dict[str, int], facts: Sequence[LeadFacts],
              at: Sequence[datetime], out: np.ndarray) -> None:
    """The activity columns, from the touches dated at or before ``at`` (live facts may
    hold later ones)."""
    n = len(facts)
    now = np.array([a.timestamp() for a in at], dtype=np.float64)
    since = (now - np.array([f.captured_at.timestamp() for f in facts])) / _DAY
    touches = [f.touches for f in facts]
    lead = np.repeat(np.arange(n), [len(ts) for ts in touches])
    stamps = np.array([t.timestamp() for ts in touches for t, _, _ in ts], dtype=np.float64)
    kind_ids: dict[str, int] = {}
    kinds = np.array([kind_ids.setdefault(k, len(kind_ids)) for ts in touches
                      for _, k, _ in ts], dtype=np.intp)
    channel_ids: dict[str, int] = {}
    channels = np.array([channel_ids.setdefault(c, len(channel_ids)) for ts in touches
                         for _, _, c in ts], dtype=np.intp)
    keep = stamps <= now[lead]
    if not keep.all():
        lead, stamps, kinds, channels = lead[keep], stamps[keep], kinds[keep], channels[keep]
    age = now[lead] - stamps
    count = np.bincount(lead, minlength=n).astype(np.float64)
    weights = (age * -(math.log(2) / (spec.half_life_days * _DAY))).tolist()
    decayed = np.bincount(lead, [math.exp(w) for w in weights], minlength=n)
    last = np.full(n, -np.inf)
    np.maximum.at(last, lead, stamps)
    columns = {
        "touches": count,
        "kinds": _distinct(lead, kinds, len(kind_ids), n),
        "channels": _distinct(lead, channels, len(channel_ids), n),
        "touches_7d": np.bincount(lead[age < 7 * _DAY], minlength=n),
        "touches_30d": np.bincount(lead[age < 30 * _DAY], minlength=n),
        "decayed_touches": decayed,
        "days_since_capture": since,
        "days_since_last_touch": np.where(count > 0, (now - last) / _DAY, np.nan),
        "touches_per_week": count * 7.0 / np.maximum(since, 1.0),
    }
    for name, values in columns.items():
        out[:, index[name]] = values
    other = index[f"count:{OTHER}"]
    column_of = np.array([index.get(f"count:{k}", other) for k in kind_ids], dtype=np.intp)
    if len(lead):
        np.add.at(out, (lead, column_of[kinds]), 1.0)


def _distinct(lead: np.ndarray, codes: np.ndarray, size: int, n: int) -> np.ndarray:
    """How many distinct codes each lead has."""
    # Sorted, then the first of each run: np.unique (hashing, numpy 2.4) was 30x slower.
    key = np.sort(lead * size + codes)
    first = np.ones(len(key), dtype=bool)
    first[1:] = key[1:] != key[:-1]
    return np.bincount(key[first] // size, minlength=n)


def _who(spec: FeatureSpec, index: dict[str, int], facts: Sequence[LeadFacts],
         out: np.ndarray) -> None:
    _one_hot(out, [f.channel for f in facts], _value_columns(index, "first_channel",
                                                             spec.channels), _tokens)
    profiles = [f.profile for f in facts]
    for field in sorted(spec.categorical):
        if field == "source":
            values: list[Any] = [f.source for f in facts]
        elif field == "template":
            values = [f.template for f in facts]
        elif field.startswith("profile:"):
            name = field[8:]
            values = [p.get(name) for p in profiles]
        else:
            continue
        tokens_of = _country_tokens if field == "profile:country" else _tokens
        _one_hot(out, values, _value_columns(index, field, spec.categorical[field]), tokens_of)
    out[:, index["employees"]] = [_employees(p.get("employees")) for p in profiles]
    out[:, index["contactable"]] = [
        f.has_email or _given(f.profile.get("phone")) for f in facts]
    out[:, index["has_company"]] = [bool(p.get("company")) for p in profiles]


def _properties(spec: FeatureSpec, index: dict[str, int], facts: Sequence[LeadFacts],
                out: np.ndarray) -> None:
    held = [f.properties for f in facts]
    sums = [f.sums for f in facts]
    for name in spec.numeric:
        if name.startswith(SALES_PREFIX):
            continue
        out[:, index[f"property:{name}"]] = _numbers([p.get(name) for p in held])
        out[:, index[f"property:{name}:sum"]] = _numbers([s.get(name) for s in sums])
    for field, kept in spec.categorical.items():
        if field.startswith("property:"):
            name = field[9:]
            _one_hot(out, [p.get(name) for p in held], _value_columns(index, field, kept),
                     _tokens)


def _sales(spec: FeatureSpec, index: dict[str, int], facts: Sequence[LeadFacts],
           out: np.ndarray) -> None:
    sales = [f.sales for f in facts]
    out[:, index["sales:actions"]] = [s.get("actions", 0) for s in sales]
    out[:, index["sales:stage"]] = [s.get("stage", 0) for s in sales]
    out[:, index["sales:bant"]] = [s.get("bant", math.nan) for s in sales]
    skip = len(SALES_PREFIX) - len("property:")  # "sales:property:x" → "property:x"
    for name in spec.numeric:
        if name.startswith(SALES_PREFIX):
            out[:, index[name]] = _numbers([s.get(name[skip:]) for s in sales])
    for field, kept in spec.categorical.items():
        if field.startswith(SALES_PREFIX):
            key = field[skip:]
            _one_hot(out, [s.get(key) for s in sales], _value_columns(index, field, kept),
                     _tokens)


def _one_hot(out: np.ndarray, values: list[Any], columns: dict[str, int],
             tokens_of: Callable[[Any], tuple[str, ...]]) -> None:
    """Sets a 1 in the column of each lead's value (each of its tokens, for a list); an
    absent value leaves the field's columns 0."""
    other = columns[OTHER]
    # Strings (nearly every value) by comprehensions over the distinct ones: a loop with
    # a branch per lead cost three times as much.
    column_of: dict[Any, int] = {}
    for value in {v for v in values if type(v) is str}:
        tokens = tokens_of(value)
        if tokens:
            column_of[value] = columns.get(tokens[0], other)
    get = column_of.get
    try:
        found = [get(v, -1) for v in values]
    except TypeError:  # a list of tags is no key
        found = [get(v, -1) if type(v) is str else -1 for v in values]
    idx = np.array(found, dtype=np.intp)
    rows = np.flatnonzero(idx >= 0)
    out[rows, idx[rows]] = 1.0
    rest = [i for i, v in enumerate(values) if v is not None and type(v) is not str]
    if not rest:
        return
    # A number, a boolean, a list of tags: by (type, value) or the list's items as key.
    cache: dict[Any, list[int]] = {}
    rows_: list[int] = []
    cols_: list[int] = []
    for i in rest:
        value = values[i]
        hit: list[int] | None
        try:
            key: Any = (type(value), tuple((type(x), x) for x in value)
                        if type(value) is list else value)
            hit = cache.get(key)
        except TypeError:  # unhashable items (a list in a list)
            key, hit = None, None
        if hit is None:
            hit = sorted({columns.get(t, other) for t in tokens_of(value)})
            if key is not None:
                cache[key] = hit
        rows_.extend([i] * len(hit))
        cols_.extend(hit)
    out[rows_, cols_] = 1.0


def _value_columns(index: dict[str, int], field: str, kept: Iterable[str]) -> dict[str, int]:
    return {v: index[f"{field}={v}"] for v in (*kept, OTHER)}


# -- values --------------------------------------------------------------------------------


def _number(value: Any) -> float:
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


def _numbers(values: list[Any]) -> np.ndarray:
    """:func:`_number` of each value; numpy converts a list of numbers and Nones at once
    (~20 ns each, a call per value ~150 ns), the rest (a string, a list) by the slow way."""
    nan = math.nan
    try:
        x = np.array([nan if v is None else v for v in values], dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        return np.array([_number(v) for v in values], dtype=np.float64)
    x[~np.isfinite(x)] = nan
    return x


def _employees(value: Any) -> float:
    if type(value) is str:
        try:
            return _number(float(value.strip().replace(",", "")))
        except ValueError:
            return math.nan
    return _number(value)


def _given(value: Any) -> bool:
    return bool(value) and value != ERASED


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


def _country_tokens(value: Any) -> tuple[str, ...]:
    """A country as its ISO code when it names one (``Germany``, ``deu`` → ``DE``)."""
    if isinstance(value, str):
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


