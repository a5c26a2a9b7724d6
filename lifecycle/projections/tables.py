"""The engine's projections: funnel, activity and losses.

- **funnel**: one row per lead (template, first channel, capture cohort) and one row
  per stage transition. Visits, conversions and dwell times are windows over the
  transitions, so the funnel as it stood on any date is the same query cut at that date.
- **activity**: one row per touchpoint with its points anchored at the start ``B`` of its
  UTC month (``points * 2 ** ((t - B) / half_life)``), so a lead's decayed engagement
  score at any moment ``T`` is ``sum over months of sum(anchored) * 2 ** (-(T - B) /
  half_life)``: one grouped ``SUM``. (A per-month anchor keeps the exponent small for any
  half-life; one fixed epoch would overflow a float within years for short ones.) Also
  grades, nurture steps, sales touches, and the inputs of a lead's grade as the
  aggregate holds them (``lc_scoring``: fit, behaviour with the moment it is as of,
  BANT answers, erasure), so the cooling report asks the aggregate's own scoring
  function the aggregate's own question.
- **losses**: one row per loss or disqualification with reason, stage, competitor and
  amount, for the loss-reason database.
- **dimensions** (:mod:`lifecycle.projections.dimensions`): properties, profile changes,
  time skews and erasures, for reports ``--by`` a dimension and the quality report.

A screen's disqualification reversed (``Reinstated``) is a transition of kind
``reinstated`` whose ``reason`` is the event's rule; the owner of a lead, for reports,
is the ``actor`` of its latest ``sql_accepted`` transition.

Handlers only copy fields from the event; no decision is made here.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import cast

from lifecycle.projections.base import (
    EventRecord,
    Handler,
    Projection,
    Row,
    TableSpec,
    epoch,
    month_of,
)
from lifecycle.projections.dimensions import dimensions

__all__ = ["SCORING", "activity_projection", "all_projections", "anchor_of", "anchored",
           "funnel", "losses"]

REAL, TEXT, INT = "DOUBLE PRECISION", "TEXT", "BIGINT"

LEADS = TableSpec(
    "lc_leads",
    (("lead_id", TEXT), ("template", TEXT), ("channel", TEXT), ("source", TEXT),
     ("captured_at", REAL), ("cohort", TEXT), ("industry", TEXT), ("country", TEXT),
     ("employees", INT)),
    ("lead_id",),
)
TRANSITIONS = TableSpec(
    "lc_transitions",
    (("lead_id", TEXT), ("version", INT), ("occurred_at", REAL), ("recorded_at", REAL),
     ("from_stage", TEXT), ("to_stage", TEXT), ("kind", TEXT), ("reason", TEXT),
     ("competitor", TEXT), ("amount", REAL), ("currency", TEXT), ("actor", TEXT)),
    ("lead_id", "version"),
    indexes=(("to_stage",), ("occurred_at",)),
)
GRADES = TableSpec(
    "lc_grades",
    (("lead_id", TEXT), ("version", INT), ("occurred_at", REAL), ("grade", TEXT),
     ("previous", TEXT), ("total", REAL), ("fit", REAL), ("behaviour", REAL), ("bant", REAL),
     ("trigger_name", TEXT)),
    ("lead_id", "version"),
)
TOUCHES = TableSpec(
    "lc_touches",
    (("lead_id", TEXT), ("version", INT), ("occurred_at", REAL), ("kind", TEXT),
     ("channel", TEXT), ("source", TEXT), ("points", REAL), ("anchor_at", REAL),
     ("anchored", REAL)),
    ("lead_id", "version"),
    indexes=(("kind",), ("occurred_at",)),
)
SCORING = TableSpec(
    "lc_scoring",
    (("lead_id", TEXT), ("version", INT), ("occurred_at", REAL), ("event", TEXT),
     ("fit", REAL), ("behaviour", REAL), ("behaviour_at", TEXT), ("budget", INT),
     ("authority", INT), ("need", INT), ("timeline", INT)),
    ("lead_id", "version"),
)
"""What a lead's grade is computed from, one row per event that changes it: ``event``
is ``captured`` (fit), ``touch`` (behaviour as of ``behaviour_at``, fit when the
profile changed), ``bant`` (the answers so far, 1/0/NULL) or ``erased``. Times of
``behaviour_at`` stay ISO 8601 text, exactly as the aggregate decays from them."""
SALES_TOUCHES = TableSpec(
    "lc_sales_touches",
    (("lead_id", TEXT), ("version", INT), ("occurred_at", REAL), ("event", TEXT),
     ("actor", TEXT)),
    ("lead_id", "version"),
)
NURTURE = TableSpec(
    "lc_nurture",
    (("lead_id", TEXT), ("version", INT), ("occurred_at", REAL), ("track", TEXT),
     ("step", INT), ("content", TEXT)),
    ("lead_id", "version"),
)
LOSSES = TableSpec(
    "lc_losses",
    (("lead_id", TEXT), ("version", INT), ("occurred_at", REAL), ("month", TEXT),
     ("kind", TEXT), ("stage", TEXT), ("reason", TEXT), ("competitor", TEXT),
     ("amount", REAL), ("currency", TEXT), ("taxonomy_version", INT)),
    ("lead_id", "version"),
)

# Stage-changing events: what kind of move each one is.
MOVES = {
    "StageAdvanced": "advance",
    "MarketingQualified": "mql",
    "SalesAccepted": "sql_accepted",
    "SalesQualified": "sql_auto",
    "Won": "won",
    "Lost": "lost",
    "Disqualified": "disqualified",
    "Recycled": "recycled",
    "Reopened": "reopened",
    "Reinstated": "reinstated",
}
TARGET = {"MarketingQualified": "mql", "SalesAccepted": "sql", "SalesQualified": "sql",
          "Won": "won", "Lost": "lost", "Disqualified": "disqualified",
          "Recycled": "nurturing"}


def _captured(e: EventRecord) -> Iterable[Row]:
    d = e.data
    profile = d.get("profile") or {}
    t = d["occurred_at"]
    yield LEADS.name, (e.lead_id, d["template"], d["channel"], d["source"], epoch(t),
                       month_of(t), profile.get("industry"), profile.get("country"),
                       profile.get("employees"))
    yield TRANSITIONS.name, (e.lead_id, e.version, epoch(t), epoch(d["timestamp"]), None,
                             "captured", "capture", None, None, None, None, d["actor"])


def _moved(e: EventRecord) -> Iterable[Row]:
    d = e.data
    to_stage = d.get("to_stage") or TARGET[e.type]
    yield TRANSITIONS.name, (
        e.lead_id, e.version, epoch(d["occurred_at"]), epoch(d["timestamp"]),
        d.get("from_stage"), to_stage, MOVES[e.type], d.get("reason"), d.get("competitor"),
        d.get("amount"), d.get("currency"), d["actor"],
    )


def _reinstated(e: EventRecord) -> Iterable[Row]:
    """A screen's disqualification reversed: a move back into the funnel, its rule
    (``screen_cleared``, ``person_acted``) kept as the reason."""
    d = e.data
    yield TRANSITIONS.name, (
        e.lead_id, e.version, epoch(d["occurred_at"]), epoch(d["timestamp"]),
        d.get("from_stage") or "disqualified", d["to_stage"], "reinstated", d.get("rule"),
        None, None, None, d["actor"],
    )


def _graded(e: EventRecord) -> Iterable[Row]:
    d = e.data
    yield GRADES.name, (e.lead_id, e.version, epoch(d["occurred_at"]), d["grade"],
                        d.get("previous"), d["total"], d["fit"], d["behaviour"], d.get("bant"),
                        d["trigger"])


def anchor_of(t: float) -> float:
    """The start of the UTC month of ``t`` (epoch seconds)."""
    moment = datetime.fromtimestamp(t, UTC)
    return datetime(moment.year, moment.month, 1, tzinfo=UTC).timestamp()


def anchored(points: float, t: float, half_life_seconds: float) -> float:
    """``points * 2 ** ((t - B) / half_life)`` with ``B`` the start of ``t``'s month."""
    return float(points * 2.0 ** ((t - anchor_of(t)) / half_life_seconds))


def activity_projection(half_life_days: float) -> Projection:
    """The activity projection for a behaviour half-life (part of its identity)."""
    half_life = half_life_days * 86_400.0

    def touch(e: EventRecord) -> Iterable[Row]:
        d = e.data
        t = epoch(d["occurred_at"])
        yield TOUCHES.name, (e.lead_id, e.version, t, d["kind"], d["channel"], d["source"],
                             d["points"], anchor_of(t), anchored(d["points"], t, half_life))
        yield SCORING.name, (e.lead_id, e.version, t, "touch", d.get("fit"), d["behaviour"],
                             d["behaviour_at"], None, None, None, None)

    def captured(e: EventRecord) -> Iterable[Row]:
        d = e.data
        yield SCORING.name, (e.lead_id, e.version, epoch(d["occurred_at"]), "captured",
                             d["fit"], None, None, None, None, None, None)

    def bant(e: EventRecord) -> Iterable[Row]:
        d = e.data
        yield from sales(e)
        yield SCORING.name, (e.lead_id, e.version, epoch(d["occurred_at"]), "bant", None, None,
                             None, *(_flag(d.get(k)) for k in ("budget", "authority", "need",
                                                               "timeline")))

    def erased(e: EventRecord) -> Iterable[Row]:
        yield SCORING.name, (e.lead_id, e.version, epoch(e.data["occurred_at"]), "erased",
                             None, None, None, None, None, None, None)

    def sales(e: EventRecord) -> Iterable[Row]:
        d = e.data
        if d.get("source") == "sales":
            yield SALES_TOUCHES.name, (e.lead_id, e.version, epoch(d["occurred_at"]), e.type,
                                       d["actor"])

    def nurture(e: EventRecord) -> Iterable[Row]:
        d = e.data
        yield NURTURE.name, (e.lead_id, e.version, epoch(d["occurred_at"]), d["track"],
                             d["step"], d["content"])

    handlers: dict[str, Handler] = dict.fromkeys((*MOVES, "NoteAdded"), sales)
    handlers |= {"TouchpointRecorded": touch, "NurtureStepSent": nurture, "Graded": _graded,
                 "Captured": captured, "BantAssessed": bant, "Erased": erased}
    return Projection(
        name="activity",
        # 3: lc_scoring (the grade's inputs) added.
        version=int(half_life_days * 1000) * 10 + 3,
        tables=(TOUCHES, SALES_TOUCHES, NURTURE, GRADES, SCORING),
        handlers=handlers,
        description=f"touches with decay (half-life {half_life_days:g} d), grades, nurture, "
        "scoring inputs",
    )


def _flag(value: object) -> int | None:
    """A BANT answer as a column value: 1, 0, or NULL when not asked (no booleans: the
    binary COPY into a BIGINT column takes integers only)."""
    return None if value is None else int(bool(value))


def _loss(e: EventRecord) -> Iterable[Row]:
    d = e.data
    t = d["occurred_at"]
    yield LOSSES.name, (e.lead_id, e.version, epoch(t), month_of(t), MOVES[e.type],
                        d["from_stage"], d["reason"], d.get("competitor"), d.get("amount"),
                        d.get("currency"), d.get("taxonomy_version"))


funnel = Projection(
    name="funnel",
    # 2: Reinstated moves (kind "reinstated").
    version=2,
    tables=(LEADS, TRANSITIONS),
    handlers={"Captured": _captured, **dict.fromkeys(MOVES, cast(Handler, _moved)),
              "Reinstated": _reinstated},
    description="leads and stage transitions (visits, conversion, dwell, as-of)",
)

losses = Projection(
    name="losses",
    version=1,
    tables=(LOSSES,),
    handlers={"Lost": _loss, "Disqualified": _loss},
    description="loss-reason database: losses and disqualifications",
)


def all_projections(half_life_days: float) -> tuple[Projection, ...]:
    """Every projection the engine keeps."""
    return (funnel, activity_projection(half_life_days), losses, dimensions)
