"""What the policies decide from, read from the projections as of a business moment.

A lead's engagement at any moment ``T`` is ``sum(anchored) * 2 ** (-(T - B) / h)`` per
month ``B`` over its touches up to ``T`` (see :mod:`lifecycle.projections.tables`), so
nothing is rewritten on a timer. The grades, scoring inputs and touches read here are
the facts :mod:`~lifecycle.policies.cooling` and :mod:`~lifecycle.policies.alerts`
decide over; the reports read them through those decisions.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lifecycle.projections.store import ProjectionStore
from lifecycle.scoring import AlertConfig, BantAssessment

__all__ = [
    "DAY",
    "HOUR",
    "AlertFacts",
    "HeldGrade",
    "ScoringInputs",
    "alert_facts",
    "engagement",
    "latest_grades",
    "owners",
    "scoring_inputs",
]

DAY, HOUR = 86_400.0, 3_600.0


def _halvings(elapsed: float, half_life: float) -> float:
    """``2 ** (-elapsed / half_life)``; infinite where a float cannot hold it."""
    try:
        return float(2.0 ** (-elapsed / half_life))
    except OverflowError:
        return math.inf


def engagement(store: ProjectionStore, at: float, half_life_days: float,
               lead_ids: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """Per lead: decayed score at ``at``, last touch, touches by kind and channel."""
    half_life = half_life_days * DAY
    out: dict[str, dict[str, Any]] = {}
    for lead_id, anchor, total, last, n in store.query(
        "SELECT lead_id, anchor_at, SUM(anchored), MAX(occurred_at), COUNT(*) FROM lc_touches "
        "WHERE occurred_at <= ? GROUP BY lead_id, anchor_at", [at],
    ):
        if lead_ids is None or lead_id in lead_ids:
            score = float(total) * _halvings(at - float(anchor), half_life)
            entry = out.get(lead_id)
            if entry is None:
                out[lead_id] = {"score": score, "last_touch": float(last), "touches": int(n),
                                "by_kind": {}, "by_channel": {}}
            else:
                entry["score"] += score
                entry["last_touch"] = max(entry["last_touch"], float(last))
                entry["touches"] += int(n)
    if lead_ids is not None:
        for lead_id, kind, channel, n in store.query(
            "SELECT lead_id, kind, channel, COUNT(*) FROM lc_touches WHERE occurred_at <= ? "
            "GROUP BY lead_id, kind, channel", [at],
        ):
            if lead_id in out:
                entry = out[lead_id]
                entry["by_kind"][kind] = entry["by_kind"].get(kind, 0) + int(n)
                entry["by_channel"][channel] = entry["by_channel"].get(channel, 0) + int(n)
    return out


@dataclass(frozen=True, slots=True)
class HeldGrade:
    """A lead's latest ``Graded`` by a moment: the grade and the fit and BANT it was from."""

    grade: str
    fit: float
    bant: float | None


def latest_grades(store: ProjectionStore, at: float) -> dict[str, HeldGrade]:
    """Per lead, the grade it held at ``at`` (business time), from ``lc_grades``."""
    rows = store.query(
        "SELECT g.lead_id, g.grade, g.fit, g.bant FROM lc_grades g JOIN ("
        "SELECT lead_id, MAX(version) AS v FROM lc_grades WHERE occurred_at <= ? "
        "GROUP BY lead_id) m ON m.lead_id = g.lead_id AND m.v = g.version", [at],
    )
    # A NULL fit is a NaN that SQLite stored (it keeps no NaN): score it as none.
    return {r[0]: HeldGrade(r[1], float(r[2] or 0.0), None if r[3] is None else float(r[3]))
            for r in rows}


@dataclass(frozen=True, slots=True)
class ScoringInputs:
    """What the Lead aggregate grades from, as it held it at a moment."""

    fit: float | None
    behaviour: float | None
    behaviour_at: datetime | None
    bant: BantAssessment
    erased: bool


def scoring_inputs(store: ProjectionStore, at: float) -> dict[str, ScoringInputs]:
    """Per lead, its latest fit, behaviour, BANT answers and erasure recorded by ``at``
    (business time), from ``lc_scoring``: the values the aggregate itself holds."""
    rows = store.query(
        "WITH m AS (SELECT lead_id, "
        "MAX(CASE WHEN fit IS NOT NULL THEN version END) AS fv, "
        "MAX(CASE WHEN behaviour IS NOT NULL THEN version END) AS hv, "
        "MAX(CASE WHEN event = 'bant' THEN version END) AS bv, "
        "MAX(CASE WHEN event = 'erased' THEN version END) AS ev "
        "FROM lc_scoring WHERE occurred_at <= ? GROUP BY lead_id) "
        "SELECT m.lead_id, f.fit, h.behaviour, h.behaviour_at, b.budget, b.authority, b.need, "
        "b.timeline, m.ev FROM m "
        "LEFT JOIN lc_scoring f ON f.lead_id = m.lead_id AND f.version = m.fv "
        "LEFT JOIN lc_scoring h ON h.lead_id = m.lead_id AND h.version = m.hv "
        "LEFT JOIN lc_scoring b ON b.lead_id = m.lead_id AND b.version = m.bv", [at],
    )

    def answer(value: Any) -> bool | None:
        return None if value is None else bool(value)

    out = {}
    for lead_id, fit, behaviour, behaviour_at, budget, authority, need, timeline, ev in rows:
        out[lead_id] = ScoringInputs(
            fit=None if fit is None else float(fit),
            behaviour=None if behaviour is None else float(behaviour),
            behaviour_at=_moment(behaviour_at),
            bant=BantAssessment(answer(budget), answer(authority), answer(need),
                                answer(timeline)),
            erased=ev is not None,
        )
    return out


def _moment(text: Any) -> datetime | None:
    """An ISO 8601 time of ``lc_scoring`` (the aggregate's own); None if it is none."""
    try:
        moment = datetime.fromisoformat(text) if isinstance(text, str) else None
    except ValueError:
        return None
    return moment if moment is not None and moment.tzinfo is not None else None


@dataclass(frozen=True, slots=True)
class AlertFacts:
    """The touches, sales contacts and Hot spells the alert rules look at, by lead."""

    touches: Mapping[str, list[tuple[float, str]]]
    """(time, kind) of the touches of the kinds the rules name, oldest first."""
    sales: Mapping[str, list[float]]
    """Times sales touched the lead."""
    hot_since: Mapping[str, float]
    """When a lead that is Hot at the moment became Hot (this spell)."""


def alert_facts(store: ProjectionStore, rules: AlertConfig, at: float) -> AlertFacts:
    """What the alert rules of ``rules`` need, as recorded by ``at`` (business time)."""
    kinds: set[str] = set(rules.contact_kinds) | set(rules.quote_kinds) | set(rules.reply_kinds)
    kinds.add(rules.revision_kind)
    marks = ", ".join("?" * len(kinds))
    touches: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for lead_id, t, kind in store.query(
        f"SELECT lead_id, occurred_at, kind FROM lc_touches WHERE occurred_at <= ? "
        f"AND kind IN ({marks}) ORDER BY lead_id, occurred_at", [at, *sorted(kinds)],
    ):
        touches[lead_id].append((float(t), kind))
    sales: dict[str, list[float]] = defaultdict(list)
    for lead_id, t in store.query(
        "SELECT lead_id, occurred_at FROM lc_sales_touches WHERE occurred_at <= ?", [at]
    ):
        sales[lead_id].append(float(t))
    return AlertFacts(touches, sales, _hot_since(store.query(
        "SELECT lead_id, occurred_at, grade FROM lc_grades WHERE occurred_at <= ? "
        "ORDER BY lead_id, version", [at],
    )))


def owners(store: ProjectionStore, at: float) -> dict[str, str]:
    """Per lead, who owns it at ``at``: the actor of its latest ``SalesAccepted`` (an
    ``sql_accepted`` move of ``lc_transitions``) by then. A lead qualified for sales by a
    rule alone (``sql_auto``), or never accepted, has no owner."""
    owner: dict[str, str] = {}
    for lead_id, actor in store.query(
        "SELECT lead_id, actor FROM lc_transitions WHERE kind = 'sql_accepted' "
        "AND occurred_at <= ? ORDER BY lead_id, version", [at],
    ):
        owner[lead_id] = actor
    return owner


def _hot_since(grades: Iterable[Any]) -> dict[str, float]:
    hot_since: dict[str, float] = {}
    for lead_id, t, grade in grades:
        if grade == "hot":
            hot_since.setdefault(lead_id, float(t))
        else:
            hot_since.pop(lead_id, None)
    return hot_since
