"""Activity reports: decayed engagement, cooling leads, and alerts.

A lead's engagement at any moment ``T`` is ``sum(anchored) * 2 ** (-(T - B) / h)`` per month ``B``
over its touches up to ``T`` (see :mod:`lifecycle.projections.tables`), so nothing is
rewritten on a timer. Alerts are derived the same way: each rule says when an alert
opens (a deadline passed without the expected event) and when it resolves (that event
arrived, or the lead closed), so the open alerts at ``T`` follow the events as they
arrive and can be asked for any past moment.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lifecycle.projections.queries import History
from lifecycle.projections.store import ProjectionStore
from lifecycle.reports.funnel import stage_p90_seconds
from lifecycle.scoring import (
    BantAssessment,
    ScoringConfig,
    bant_part,
    evaluate,
    grade_rank,
)
from lifecycle.templates import CLOSED_STAGES, TemplateRegistry

__all__ = ["ScoringInputs", "alerts_report", "cooling_report", "engagement", "scoring_inputs"]

DAY, HOUR = 86_400.0, 3_600.0


def _iso(t: float | None) -> str | None:
    """An epoch second as ISO 8601; None for none, or for one beyond any calendar (a
    projection row no event could have written: the report still prints)."""
    try:
        return None if t is None else datetime.fromtimestamp(t, UTC).isoformat()
    except (OverflowError, ValueError, OSError):
        return None


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


def _latest_grades(store: ProjectionStore, at: float) -> dict[str, tuple[str, float, float | None]]:
    rows = store.query(
        "SELECT g.lead_id, g.grade, g.fit, g.bant FROM lc_grades g JOIN ("
        "SELECT lead_id, MAX(version) AS v FROM lc_grades WHERE occurred_at <= ? "
        "GROUP BY lead_id) m ON m.lead_id = g.lead_id AND m.v = g.version", [at],
    )
    # A NULL fit is a NaN that SQLite stored (it keeps no NaN): score it as none.
    return {r[0]: (r[1], float(r[2] or 0.0), None if r[3] is None else float(r[3]))
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


def cooling_report(store: ProjectionStore, history: History, config: ScoringConfig,
                   *, at: datetime) -> dict[str, Any]:
    """Hot and Warm leads whose grade falls if they are regraded at ``at``.

    The grade is evaluated by :func:`lifecycle.scoring.evaluate` from the very inputs
    the Lead aggregate holds (fit, behaviour and the moment it is as of, BANT), so this
    list is exactly the set of leads the decay policy's regrading changes at ``at``; a
    lead the policy would leave alone is never listed, however long ago its last touch.
    Leads kept Hot or Warm by fit or BANT with no touch for
    ``alerts.cooling_no_touch_days`` are listed apart, as ``idle``.
    """
    moment = at.timestamp()
    grades = _latest_grades(store, moment)
    inputs = scoring_inputs(store, moment)
    activity = engagement(store, moment, config.behaviour.half_life_days)
    no_touch = config.alerts.cooling_no_touch_days * DAY
    leads: list[dict[str, Any]] = []
    idle: list[dict[str, Any]] = []
    for lead_id, (grade, graded_fit, graded_bant) in grades.items():
        if grade not in ("hot", "warm") or history.current_stage(lead_id) in CLOSED_STAGES:
            continue
        if lead_id not in history.leads:
            continue
        held = inputs.get(lead_id)
        if held is not None and held.erased:
            continue  # an erased lead takes no more commands, regrading included
        act = activity.get(lead_id, {"score": 0.0, "last_touch": None})
        fit, bant = graded_fit, graded_bant
        behaviour, behaviour_at = float(act["score"]), at
        if held is not None and held.fit is not None:
            fit, bant = held.fit, bant_part(held.bant)
            if held.behaviour is not None and held.behaviour_at is not None \
                    and held.behaviour_at <= at:
                behaviour, behaviour_at = held.behaviour, held.behaviour_at
        # Otherwise (a touch recorded late, after one beyond ``at``; or a projection
        # built before lc_scoring existed) behaviour is the sum of every touch's
        # decayed points by ``at``: the same number, summed in another order.
        now = evaluate(fit, behaviour, behaviour_at, bant, at, config)
        threshold = config.grading.threshold(grade)  # type: ignore[arg-type]
        idle_s = None if act["last_touch"] is None else moment - act["last_touch"]
        row = {
            "lead_id": lead_id, "grade": grade, "grade_now": now.grade,
            "total_now": now.total, "threshold": threshold,
            "behaviour_now": round(now.behaviour, 4), "last_touch": _iso(act["last_touch"]),
            "idle_days": None if idle_s is None else round(idle_s / DAY, 1),
            "stage": history.current_stage(lead_id),
            "template": history.leads[lead_id].template,
        }
        quiet = idle_s is None or idle_s >= no_touch
        if grade_rank(now.grade) < grade_rank(grade):
            leads.append({**row, "reasons": ["score_below_threshold",
                                             *(["no_touch"] if quiet else [])]})
        elif quiet:
            idle.append(row)
    leads.sort(key=lambda r: (r["grade"] != "hot", r["total_now"], r["lead_id"]))
    idle.sort(key=lambda r: (r["grade"] != "hot", -float(r["idle_days"] or 0.0), r["lead_id"]))
    return {"at": _iso(moment), "count": len(leads), "leads": leads, "idle": idle}


def alerts_report(store: ProjectionStore, history: History, templates: TemplateRegistry,
                  config: ScoringConfig, *, at: float) -> dict[str, Any]:
    """Open alerts at ``at`` (rules in the scoring file's ``[alerts]`` section)."""
    rules = config.alerts
    kinds = set(rules.contact_kinds) | set(rules.quote_kinds) | set(rules.reply_kinds)
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
    hot_since: dict[str, float] = {}
    for lead_id, t, grade in store.query(
        "SELECT lead_id, occurred_at, grade FROM lc_grades WHERE occurred_at <= ? "
        "ORDER BY lead_id, version", [at],
    ):
        if grade == "hot":
            hot_since.setdefault(lead_id, float(t))
        else:
            hot_since.pop(lead_id, None)
    p90 = stage_p90_seconds(history, templates, min_samples=rules.stuck_min_samples)

    alerts: list[dict[str, Any]] = []

    def add(lead_id: str, rule: str, opened: float, detail: str) -> None:
        lead = history.leads[lead_id]
        alerts.append({"lead_id": lead_id, "rule": rule, "opened_at": _iso(opened),
                       "open_hours": round((at - opened) / HOUR, 1), "detail": detail,
                       "stage": history.current_stage(lead_id), "template": lead.template,
                       "channel": lead.channel})

    for lead_id in history.leads:
        stage = history.current_stage(lead_id)
        if stage is None or stage in CLOSED_STAGES:
            continue
        lead_touches = touches.get(lead_id, [])
        since = hot_since.get(lead_id)
        if since is not None:
            deadline = since + rules.hot_not_contacted_hours * HOUR
            contacted = any(since < t <= at for t, k in lead_touches if k in rules.contact_kinds)
            contacted = contacted or any(since < t <= at for t in sales.get(lead_id, ()))
            if deadline <= at and not contacted:
                add(lead_id, "hot_not_contacted", deadline,
                    f"Hot since {_iso(since)}, no contact within "
                    f"{rules.hot_not_contacted_hours:g} h")
        quotes = [t for t, k in lead_touches if k in rules.quote_kinds]
        if quotes:
            last_quote = quotes[-1]
            replied = any(last_quote < t <= at for t, k in lead_touches if k in rules.reply_kinds)
            deadline = last_quote + rules.quote_no_reply_days * DAY
            if deadline <= at and not replied:
                add(lead_id, "quote_no_reply", deadline,
                    f"no reply since the quote of {_iso(last_quote)}")
        revisions = [t for t, k in lead_touches if k == rules.revision_kind]
        if len(revisions) >= rules.terms_revised_times:
            add(lead_id, "terms_revised", revisions[rules.terms_revised_times - 1],
                f"terms revised {len(revisions)} times")
        visit = history.visits[lead_id][-1]
        limit = p90.get((history.leads[lead_id].template, stage))
        if limit is not None and stage not in ("captured", "nurturing"):
            deadline = visit.entered_at + limit
            if deadline <= at:
                add(lead_id, "stuck_in_stage", deadline,
                    f"in {stage} for {(at - visit.entered_at) / DAY:.1f} d "
                    f"(p90 {limit / DAY:.1f} d)")
    counts: dict[str, int] = defaultdict(int)
    for a in alerts:
        counts[a["rule"]] += 1
    alerts.sort(key=lambda a: (a["rule"], a["opened_at"] or "", a["lead_id"]))
    return {"at": _iso(at), "count": len(alerts), "by_rule": dict(sorted(counts.items())),
            "alerts": alerts}
