"""Dimensions reports group leads by (``--by DIM``), read from the projections.

| DIM | a lead's value |
| --- | --- |
| ``channel``, ``source``, ``template`` | as captured (``lc_leads``) |
| ``channel_group`` | its channel's group (:mod:`lifecycle.channels`; ungrouped: the channel) |
| ``owner`` | the salesperson who accepted it (its latest ``SalesAccepted``) |
| ``country``, ``industry`` | the latest value its profile was given |
| ``property:NAME`` | the first value of that touchpoint or sales-action property |

Every value is as of the report's cut (business time). ``NAME`` is the property's
top-level key exactly as sent (case and spaces matter); a value is its text (numbers as
JSON: ``42``, ``1.5``; objects and arrays as compact JSON). A lead without a value is in
the group ``(none)`` (as is a value sent as that very text, and likewise ``(other)``).
Only the :data:`TOP` largest groups (by leads) are shown on their own; the others are
pooled as ``(other)``, so a dimension with thousands of values (an id put in a
property) still gives a report a person can read.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from lifecycle.projections.queries import History
from lifecycle.projections.store import ProjectionStore

__all__ = ["DIMENSIONS", "NONE", "OTHER", "TOP", "Dimension", "Grouping", "group_leads",
           "parse_dimension"]

DIMENSIONS = ("channel", "channel_group", "source", "template", "owner", "country",
              "industry")
NONE = "(none)"
OTHER = "(other)"
TOP = 12
"""Groups shown on their own; the rest are pooled as :data:`OTHER`."""
_PROPERTY = "property:"


@dataclass(frozen=True, slots=True)
class Dimension:
    """A dimension to group by: one of :data:`DIMENSIONS`, or a property by name."""

    name: str
    property: str | None = None

    def __str__(self) -> str:
        return self.name if self.property is None else f"{_PROPERTY}{self.property}"


def parse_dimension(text: str) -> Dimension:
    """``channel``, ``owner``, … or ``property:NAME`` as a :class:`Dimension`.

    Raises:
        ValueError: not a dimension (the message lists them).
    """
    if text.startswith(_PROPERTY) and text[len(_PROPERTY):]:
        return Dimension("property", text[len(_PROPERTY):])
    if text in DIMENSIONS:
        return Dimension(text)
    raise ValueError(f"{text!r} is not a dimension; use one of {', '.join(DIMENSIONS)} "
                     "or property:NAME")


@dataclass(frozen=True)
class Grouping:
    """Leads grouped by a dimension's value: at most :data:`TOP` groups (largest first,
    then by name), the rest pooled as :data:`OTHER`.

    Attributes:
        by: the dimension, as text (``property:plan``).
        groups: group → its lead ids, in the order to show.
        pooled: how many values were pooled into :data:`OTHER`.
        of_lead: each lead's own value (before pooling).
    """

    by: str
    groups: dict[str, list[str]]
    pooled: int
    of_lead: dict[str, str]

    def group(self, lead_id: str) -> str:
        """The group a lead is shown in (:data:`OTHER` for a pooled value)."""
        value = self.of_lead.get(lead_id, NONE)
        return value if value in self.groups else OTHER

    def describe(self) -> dict[str, Any]:
        return {"by": self.by, "groups_shown": len(self.groups), "groups_pooled": self.pooled,
                "top": TOP}


def group_leads(store: ProjectionStore, history: History, dimension: Dimension, *,
                channel_groups: Mapping[str, str] | None = None,
                top: int = TOP) -> Grouping:
    """The leads of ``history`` grouped by ``dimension`` as of its cut."""
    values = lead_values(store, history, dimension, channel_groups=channel_groups)
    members: dict[str, list[str]] = defaultdict(list)
    for lead_id in history.leads:
        members[values.get(lead_id) or NONE].append(lead_id)
    ordered = sorted(members.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    shown = dict(ordered[:top]) if len(ordered) > top else dict(ordered)
    rest = ordered[top:] if len(ordered) > top else []
    if rest:
        shown.setdefault(OTHER, [])
        for _, ids in rest:
            shown[OTHER].extend(ids)
    return Grouping(str(dimension), shown, len(rest),
                    {lid: values.get(lid) or NONE for lid in history.leads})


def lead_values(store: ProjectionStore, history: History, dimension: Dimension, *,
                channel_groups: Mapping[str, str] | None = None) -> dict[str, str]:
    """Each lead's value of ``dimension`` (leads without one are left out)."""
    leads = history.leads
    name = dimension.name
    if name in ("channel", "source", "template"):
        return {lid: str(getattr(lead, name)) for lid, lead in leads.items()
                if getattr(lead, name)}
    if name == "channel_group":
        groups = channel_groups or {}
        return {lid: groups.get(lead.channel, lead.channel) for lid, lead in leads.items()}
    cut, params = _cut(history.as_of)
    if name == "owner":
        rows: Iterable[tuple[Any, ...]] = store.query(
            "SELECT lead_id, actor FROM lc_transitions WHERE kind = 'sql_accepted'"
            f"{cut} ORDER BY lead_id, version", params)
        return _last(rows, leads)
    if name in ("country", "industry"):
        rows = store.query(f"SELECT lead_id, {name} FROM lc_profile WHERE {name} IS NOT NULL"
                           f"{cut} ORDER BY lead_id, version", params)
        return _last(rows, leads)
    rows = store.query("SELECT lead_id, value FROM lc_properties WHERE name = ?"
                       f"{cut} ORDER BY lead_id, version DESC", [dimension.property, *params])
    return _last(rows, leads)  # read in descending versions: the last is the first value


def _cut(as_of: float | None) -> tuple[str, list[Any]]:
    return ("", []) if as_of is None else (" AND occurred_at <= ?", [as_of])


def _last(rows: Iterable[tuple[Any, ...]], leads: Mapping[str, Any]) -> dict[str, str]:
    """The last value per lead of ``(lead_id, value)`` rows, for the leads given."""
    out: dict[str, str] = {}
    for lead_id, value in rows:
        if lead_id in leads and value is not None and str(value):
            out[lead_id] = str(value)
    return out
