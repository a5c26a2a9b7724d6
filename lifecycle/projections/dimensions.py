"""The dimensions projection: what reports group leads by, beyond the funnel's own
columns, and the facts the data-quality report counts.

- ``lc_properties``: one row per top-level property of a touchpoint
  (``TouchpointRecorded.properties``) or a sales action (``PropertiesNoted.properties``).
  A value is kept as text (strings as given, numbers and booleans as JSON, objects and
  arrays as compact JSON) and, when it is a JSON number, as a number too. Reports read
  **the first value** of a property per lead: the row of the lowest version, so a later
  touch never moves a lead to another group (a lead is counted where it started).
- ``lc_profile``: the profile as it arrives — at capture and with each touch that brings
  profile fields: industry, title, country (NULL when that change did not name one) and
  whether it brings a way to contact the person (an email or a phone: a flag, never the
  address). Reports read **the latest value** of industry and country, the one the
  lead's fit is scored on now, and a lead is contactable once any row says so.
- ``lc_time_skews``: events whose business time is after the time they were recorded
  (allowed up to ``LIFECYCLE_MAX_FUTURE_SKEW``; the quality report shows them).
- ``lc_erasures``: one row per erased lead. Writing it deletes the lead's
  ``lc_properties`` rows (:attr:`~lifecycle.projections.base.TableSpec.erases`): a
  property may hold personal data the configuration did not name.

Personal property values reach projections sealed (``enc:…``, see
:mod:`lifecycle.privacy`): a ciphertext is no dimension, so such properties are left
out, as are names longer than :data:`MAX_NAME` characters (no report groups by them,
and a database index cannot hold any length).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from lifecycle.projections.base import EventRecord, Handler, Projection, Row, TableSpec, epoch

__all__ = ["ERASURES", "MAX_NAME", "PROFILE", "PROPERTIES", "TIME_SKEWS", "dimensions",
           "property_rows"]

REAL, TEXT, INT = "DOUBLE PRECISION", "TEXT", "BIGINT"

MAX_NAME = 200
"""The longest property name kept (characters)."""
_SEALED = "enc:"

PROPERTIES = TableSpec(
    "lc_properties",
    (("lead_id", TEXT), ("version", INT), ("name", TEXT), ("occurred_at", REAL),
     ("value", TEXT), ("number", REAL)),
    ("lead_id", "version", "name"),
    indexes=(("name",),),
)
PROFILE = TableSpec(
    "lc_profile",
    (("lead_id", TEXT), ("version", INT), ("occurred_at", REAL), ("industry", TEXT),
     ("title", TEXT), ("country", TEXT), ("contact", INT)),
    ("lead_id", "version"),
)
TIME_SKEWS = TableSpec(
    "lc_time_skews",
    (("lead_id", TEXT), ("version", INT), ("event", TEXT), ("occurred_at", REAL),
     ("recorded_at", REAL)),
    ("lead_id", "version"),
)
ERASURES = TableSpec(
    "lc_erasures",
    (("lead_id", TEXT), ("version", INT), ("occurred_at", REAL)),
    ("lead_id", "version"),
    erases=(PROPERTIES.name,),
)


def property_rows(lead_id: str, version: int, occurred_at: float,
                  properties: dict[str, Any] | None) -> Iterable[Row]:
    """The rows of one event's properties (top-level keys, sealed ones left out)."""
    for name, value in (properties or {}).items():
        if value is None or len(name) > MAX_NAME or name.startswith(_SEALED):
            continue
        if isinstance(value, str):
            if value.startswith(_SEALED):
                continue
            text, number = value, None
        elif isinstance(value, bool):
            text, number = "true" if value else "false", None
        elif isinstance(value, int | float):
            text, number = orjson.dumps(value).decode(), float(value)
        else:
            text, number = orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode(), None
        yield PROPERTIES.name, (lead_id, version, name, occurred_at, text, number)


def _skew(e: EventRecord) -> Iterable[Row]:
    """A row when the event's business time is after its recorded time."""
    d = e.data
    occurred, recorded = epoch(d["occurred_at"]), epoch(d["timestamp"])
    if occurred > recorded:
        yield TIME_SKEWS.name, (e.lead_id, e.version, e.type, occurred, recorded)


def _captured(e: EventRecord) -> Iterable[Row]:
    d = e.data
    profile = d.get("profile") or {}
    contact = bool(d.get("email")) or bool(profile.get("phone"))
    yield PROFILE.name, (e.lead_id, e.version, epoch(d["occurred_at"]), profile.get("industry"),
                         profile.get("title"), profile.get("country"), int(contact))
    yield from _skew(e)


def _touch(e: EventRecord) -> Iterable[Row]:
    d = e.data
    t = epoch(d["occurred_at"])
    yield from property_rows(e.lead_id, e.version, t, d.get("properties"))
    profile = d.get("profile") or {}
    if any(profile.get(k) for k in ("industry", "title", "country", "phone")):
        yield PROFILE.name, (e.lead_id, e.version, t, profile.get("industry"),
                             profile.get("title"), profile.get("country"),
                             1 if profile.get("phone") else None)
    yield from _skew(e)


def _noted(e: EventRecord) -> Iterable[Row]:
    d = e.data
    yield from property_rows(e.lead_id, e.version, epoch(d["occurred_at"]), d.get("properties"))
    yield from _skew(e)


def _erased(e: EventRecord) -> Iterable[Row]:
    yield ERASURES.name, (e.lead_id, e.version, epoch(e.data["occurred_at"]))


_SKEWED = ("StageAdvanced", "MarketingQualified", "SalesAccepted", "SalesQualified", "Won",
           "Lost", "Disqualified", "Recycled", "Reopened", "Reinstated", "NoteAdded",
           "BantAssessed")

_handlers: dict[str, Handler] = dict.fromkeys(_SKEWED, _skew)
_handlers |= {"Captured": _captured, "TouchpointRecorded": _touch, "PropertiesNoted": _noted,
              "Erased": _erased}

dimensions = Projection(
    name="dimensions",
    version=1,
    tables=(PROPERTIES, PROFILE, TIME_SKEWS, ERASURES),
    handlers=_handlers,
    description="properties (first value wins), profile changes, time skews, erasures",
)
"""Properties, profile changes and time skews, for ``--by`` and the quality report."""
