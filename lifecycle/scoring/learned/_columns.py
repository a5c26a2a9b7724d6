"""How :func:`~.features.matrix` computes its rows: a plan of the columns, made once per
feature spec, and two ways to fill them that give bitwise-equal rows: all leads at
once, column by column with numpy (a training set, a batch), and one lead at a time in
plain Python (live scoring, a replay: numpy's fixed cost of ~30 calls is ~0.5 ms a
call, a lead's row in Python ~30 µs).

Every value is computed by the same operations in the same order both ways (IEEE
additions, products and quotients are exact to the bit whoever does them; the only
transcendental, the decay, is ``math.exp`` per touch in both), and the tests compare
the two.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from lifecycle.scoring.learned._values import (
    country_tokens,
    employees,
    given,
    number,
    numbers,
    tokens,
)
from lifecycle.scoring.learned.facts import LeadFacts

if TYPE_CHECKING:
    from lifecycle.scoring.learned.features import FeatureSpec

OTHER = "(other)"
"""The value every category not kept is pooled as."""
SALES_PREFIX = "sales:property:"
"""``FeatureSpec.categorical`` and ``numeric`` hold properties noted by sales so."""
ACTIVITY = ("touches", "kinds", "channels", "touches_7d", "touches_30d", "decayed_touches",
            "days_since_capture", "days_since_last_touch", "touches_per_week")
DAY = 86_400.0
_WEEK, _MONTH = 7 * DAY, 30 * DAY
_MEMO_MAX = 10_000
"""Strings whose column a field remembers (then it forgets them all: free-text fields
such as titles must not grow a long-lived process's memory)."""

Tokens = Callable[[Any], tuple[str, ...]]


class Field:
    """A categorical field: its columns by value, and each string's column remembered."""

    __slots__ = ("columns", "lists", "memo", "other", "tokens_of")

    def __init__(self, index: dict[str, int], name: str, kept: Sequence[str],
                 tokens_of: Tokens) -> None:
        self.columns = {v: index[f"{name}={v}"] for v in (*kept, OTHER)}
        self.other = self.columns[OTHER]
        self.tokens_of = tokens_of
        self.memo: dict[str, int] = {}
        self.lists: dict[Any, list[int]] = {}

    def column(self, value: str) -> int:
        """A string's column (-1: it gives no token)."""
        found = self.memo.get(value)
        if found is None:
            tokens = self.tokens_of(value)
            found = self.columns.get(tokens[0], self.other) if tokens else -1
            if len(self.memo) >= _MEMO_MAX:
                self.memo.clear()
            self.memo[value] = found
        return found

    def cells(self, value: Any) -> list[int]:
        """The columns a value sets (a list of tags: one per distinct token)."""
        if type(value) is str:
            c = self.column(value)
            return [c] if c >= 0 else []
        # A list of tags, a number, a boolean: remembered by its items' types and values
        # (True == 1 as a key, yet their tokens differ).
        try:
            key: Any = (type(value), tuple([(type(x), x) for x in value])
                        if type(value) is list else value)
            found = self.lists.get(key)
        except TypeError:  # unhashable items (a list in a list)
            key, found = None, None
        if found is None:
            found = sorted({self.columns.get(t, self.other) for t in self.tokens_of(value)})
            if key is not None:
                if len(self.lists) >= _MEMO_MAX:
                    self.lists.clear()
                self.lists[key] = found
        return found


class Plan:
    """The columns of a spec, their defaults, and where each fact goes."""

    def __init__(self, spec: FeatureSpec) -> None:
        names: list[str] = list(ACTIVITY)
        defaults: list[float] = [0.0] * len(ACTIVITY)
        defaults[ACTIVITY.index("days_since_last_touch")] = math.nan

        def add(column: str, default: float = 0.0) -> None:
            names.append(column)
            defaults.append(default)

        def one_hot(field: str) -> None:
            for value in (*spec.categorical[field], OTHER):
                add(f"{field}={value}")

        for kind in (*spec.kinds, OTHER):
            add(f"count:{kind}")
        for channel in (*spec.channels, OTHER):
            add(f"first_channel={channel}")
        fields = sorted(spec.categorical)
        who = [f for f in fields if not f.startswith(("property:", SALES_PREFIX))]
        for field in who:
            one_hot(field)
        for column in ("employees", "contactable", "has_company"):
            add(column, math.nan if column == "employees" else 0.0)
        numeric = sorted(n for n in spec.numeric if not n.startswith(SALES_PREFIX))
        for name in numeric:
            add(f"property:{name}", math.nan)
            add(f"property:{name}:sum", math.nan)
        props = [f for f in fields if f.startswith("property:")]
        for field in props:
            one_hot(field)
        sales_numeric = sorted(n for n in spec.numeric if n.startswith(SALES_PREFIX))
        sales_props = [f for f in fields if f.startswith(SALES_PREFIX)]
        if spec.sales:
            add("sales:actions")
            add("sales:stage")
            add("sales:bant", math.nan)
            for name in sales_numeric:
                add(name, math.nan)
            for field in sales_props:
                one_hot(field)
        self.names = tuple(names)
        self.defaults = defaults
        index = self.index = {n: i for i, n in enumerate(names)}
        if len(index) != len(names):
            raise ValueError("the spec names a column twice")
        self.decay = -(math.log(2) / (spec.half_life_days * DAY))
        self.kind_col = {k: index[f"count:{k}"] for k in spec.kinds}
        self.kind_other = index[f"count:{OTHER}"]
        self.channel = Field(index, "first_channel", spec.channels, tokens)
        self.who = [(f, Field(index, f, spec.categorical[f],
                              country_tokens if f == "profile:country" else tokens))
                    for f in who]
        self.employees, self.contactable, self.has_company = (
            index["employees"], index["contactable"], index["has_company"])
        self.numeric = [(n, index[f"property:{n}"], index[f"property:{n}:sum"])
                        for n in numeric]
        self.props = [(f[9:], Field(index, f, spec.categorical[f], tokens)) for f in props]
        self.sales = spec.sales
        skip = len(SALES_PREFIX) - len("property:")  # "sales:property:x" → "property:x"
        if spec.sales:
            self.sales_numeric = [(n[skip:], index[n]) for n in sales_numeric]
            self.sales_props = [(f[skip:], Field(index, f, spec.categorical[f], tokens))
                                for f in sales_props]


def who_value(lead: LeadFacts, field: str) -> Any:
    if field == "source":
        return lead.source
    if field == "template":
        return lead.template
    return lead.profile.get(field[8:])


# -- one lead at a time --------------------------------------------------------------------


def row(plan: Plan, lead: LeadFacts, at: datetime) -> list[float]:
    """One lead's row, in plain Python."""
    r = list(plan.defaults)
    _row_activity(plan, lead, at, r)
    for c in plan.channel.cells(lead.channel):
        r[c] = 1.0
    for field, f in plan.who:
        value = who_value(lead, field)
        if value is not None:
            for c in f.cells(value):
                r[c] = 1.0
    profile = lead.profile
    r[plan.employees] = employees(profile.get("employees"))
    r[plan.contactable] = float(lead.has_email or given(profile.get("phone")))
    r[plan.has_company] = float(bool(profile.get("company")))
    held, sums = lead.properties, lead.sums
    for name, latest, total in plan.numeric:
        r[latest] = number(held.get(name))
        r[total] = number(sums.get(name))
    _mark(r, plan.props, held)
    if plan.sales:
        index = plan.index
        sales = lead.sales
        r[index["sales:actions"]] = float(sales.get("actions", 0))
        r[index["sales:stage"]] = float(sales.get("stage", 0))
        r[index["sales:bant"]] = float(sales.get("bant", math.nan))
        for key, c in plan.sales_numeric:
            r[c] = number(sales.get(key))
        _mark(r, plan.sales_props, sales)
    return r


def _mark(r: list[float], fields: Sequence[tuple[str, Field]], held: dict[str, Any]) -> None:
    """Sets the one-hot cells of each categorical field's value held under its key."""
    for key, f in fields:
        value = held.get(key)
        if value is not None:
            for c in f.cells(value):
                r[c] = 1.0


def _row_activity(plan: Plan, lead: LeadFacts, at: datetime, r: list[float]) -> None:
    """The activity cells: the touches dated at or before ``at`` (live facts may hold
    later ones). ACTIVITY's columns are the row's first."""
    now = at.timestamp()
    decay = plan.decay
    n = n7 = n30 = 0
    decayed = 0.0
    last = -math.inf
    kinds: dict[str, int] = {}
    channels: set[str] = set()
    for t, kind, channel in lead.touches:
        ts = t.timestamp()
        if ts > now:
            continue
        age = now - ts
        n += 1
        if age < _WEEK:
            n7 += 1
        if age < _MONTH:
            n30 += 1
        decayed += math.exp(age * decay)
        if ts > last:
            last = ts
        kinds[kind] = kinds.get(kind, 0) + 1
        channels.add(channel)
    since = (now - lead.captured_at.timestamp()) / DAY
    count = float(n)
    r[0:9] = (count, float(len(kinds)), float(len(channels)), float(n7), float(n30),
              decayed, since, (now - last) / DAY if n else math.nan,
              count * 7.0 / max(since, 1.0))
    kind_col, other = plan.kind_col, plan.kind_other
    for kind, c in kinds.items():
        r[kind_col.get(kind, other)] += c


# -- all leads at once ---------------------------------------------------------------------


def batch(plan: Plan, facts: Sequence[LeadFacts], at: Sequence[datetime],
          out: np.ndarray) -> None:
    """Every lead's row, column by column: a comprehension per field and numpy per
    column (~10 µs a lead where a loop per lead cost ~30)."""
    _activity(plan, facts, at, out)
    index = plan.index
    _one_hot(out, [f.channel for f in facts], plan.channel)
    profiles = [f.profile for f in facts]
    for field, f in plan.who:
        if field == "source":
            values: list[Any] = [lead.source for lead in facts]
        elif field == "template":
            values = [lead.template for lead in facts]
        else:  # who_value's, without a call per lead
            name = field[8:]
            values = [p.get(name) for p in profiles]
        _one_hot(out, values, f)
    out[:, plan.employees] = [employees(p.get("employees")) for p in profiles]
    out[:, plan.contactable] = [f.has_email or given(f.profile.get("phone")) for f in facts]
    out[:, plan.has_company] = [bool(p.get("company")) for p in profiles]
    held = [f.properties for f in facts]
    sums = [f.sums for f in facts]
    for name, latest, total in plan.numeric:
        out[:, latest] = numbers([p.get(name) for p in held])
        out[:, total] = numbers([s.get(name) for s in sums])
    for name, f in plan.props:
        _one_hot(out, [p.get(name) for p in held], f)
    if plan.sales:
        sales = [f.sales for f in facts]
        out[:, index["sales:actions"]] = [s.get("actions", 0) for s in sales]
        out[:, index["sales:stage"]] = [s.get("stage", 0) for s in sales]
        out[:, index["sales:bant"]] = [s.get("bant", math.nan) for s in sales]
        for key, c in plan.sales_numeric:
            out[:, c] = numbers([s.get(key) for s in sales])
        for key, f in plan.sales_props:
            _one_hot(out, [s.get(key) for s in sales], f)


def _activity(plan: Plan, facts: Sequence[LeadFacts], at: Sequence[datetime],
              out: np.ndarray) -> None:
    n = len(facts)
    index = plan.index
    now = np.array([a.timestamp() for a in at], dtype=np.float64)
    since = (now - np.array([f.captured_at.timestamp() for f in facts])) / DAY
    touches = [f.touches for f in facts]
    lead = np.repeat(np.arange(n), [len(ts) for ts in touches])
    stamps = np.array([t.timestamp() for ts in touches for t, _, _ in ts], dtype=np.float64)
    # Codes by a dict of the distinct values (a subscript each: setdefault and len cost
    # twice as much).
    flat_kinds = [k for ts in touches for _, k, _ in ts]
    kind_ids = {k: i for i, k in enumerate(dict.fromkeys(flat_kinds))}
    kinds = np.array([kind_ids[k] for k in flat_kinds], dtype=np.intp)
    flat_channels = [c for ts in touches for _, _, c in ts]
    channel_ids = {c: i for i, c in enumerate(dict.fromkeys(flat_channels))}
    channels = np.array([channel_ids[c] for c in flat_channels], dtype=np.intp)
    keep = stamps <= now[lead]
    if not keep.all():
        lead, stamps, kinds, channels = lead[keep], stamps[keep], kinds[keep], channels[keep]
    age = now[lead] - stamps
    count = np.bincount(lead, minlength=n).astype(np.float64)
    # bincount adds each lead's weights in order from 0.0, as row() does
    decayed = np.bincount(lead, [math.exp(w) for w in (age * plan.decay).tolist()],
                          minlength=n)
    last = np.full(n, -np.inf)
    np.maximum.at(last, lead, stamps)
    with np.errstate(invalid="ignore"):  # -inf for a lead with no touch: NaN anyway
        days_since_last = np.where(count > 0, (now - last) / DAY, np.nan)
    columns = {
        "touches": count,
        "kinds": _distinct(lead, kinds, len(kind_ids), n),
        "channels": _distinct(lead, channels, len(channel_ids), n),
        "touches_7d": np.bincount(lead[age < _WEEK], minlength=n),
        "touches_30d": np.bincount(lead[age < _MONTH], minlength=n),
        "decayed_touches": decayed,
        "days_since_capture": since,
        "days_since_last_touch": days_since_last,
        "touches_per_week": count * 7.0 / np.maximum(since, 1.0),
    }
    for name, values in columns.items():
        out[:, index[name]] = values
    column_of = np.array([plan.kind_col.get(k, plan.kind_other) for k in kind_ids],
                         dtype=np.intp)
    if len(lead):
        np.add.at(out, (lead, column_of[kinds]), 1.0)


def _distinct(lead: np.ndarray, codes: np.ndarray, size: int, n: int) -> np.ndarray:
    """How many distinct codes each lead has."""
    # Sorted, then the first of each run: np.unique (hashing, numpy 2.4) was 30x slower.
    key = np.sort(lead * size + codes)
    first = np.ones(len(key), dtype=bool)
    first[1:] = key[1:] != key[:-1]
    return np.bincount(key[first] // max(size, 1), minlength=n)


def _one_hot(out: np.ndarray, values: list[Any], field: Field) -> None:
    """Sets a 1 in the column of each lead's value (each of its tokens, for a list); an
    absent value leaves the field's columns 0."""
    # Strings (nearly every value) by a comprehension over the distinct ones: a branch
    # per lead cost three times as much.
    column_of = {v: field.column(v) for v in {v for v in values if type(v) is str}}
    get = column_of.get
    try:
        found = [get(v, -1) for v in values]
    except TypeError:  # a list of tags is no key
        found = [get(v, -1) if type(v) is str else -1 for v in values]
    idx = np.array(found, dtype=np.intp)
    rows = np.flatnonzero(idx >= 0)
    out[rows, idx[rows]] = 1.0
    rest = [i for i, v in enumerate(values) if v is not None and type(v) is not str]
    if rest:  # a number, a boolean, a list of tags: rarer
        cells = [(i, c) for i in rest for c in field.cells(values[i])]
        if cells:
            out[tuple(np.array(cells, dtype=np.intp).T)] = 1.0
