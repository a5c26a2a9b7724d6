"""Activity reports: decayed engagement, cooling leads, and alerts.

A lead's engagement at any moment ``T`` is ``sum(anchored) * 2 ** (-(T - B) / h)`` per month ``B``
over its touches up to ``T`` (see :mod:`lifecycle.projections.tables`), so nothing is
rewritten on a timer. Alerts are derived the same way: each rule says when an alert
opens (a deadline passed without the expected event) and when it resolves (that event
arrived, or the lead closed), so the open alerts at ``T`` follow the events as they
arrive and can be asked for any past moment.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from lifecycle.projections.queries import History
from lifecycle.projections.store import ProjectionStore
from lifecycle.reports.funnel import stage_p90_seconds
from lifecycle.scoring import ScoringConfig, grade_of, total_score
from lifecycle.templates import CLOSED_STAGES, TemplateRegistry

__all__ = ["alerts_report", "cooling_report", "engagement"]

DAY, HOUR = 86_400.0, 3_600.0


def _iso(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t, UTC).isoformat()


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
            score = float(total) * 2.0 ** (-(at - float(anchor)) / half_life)
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
    return {r[0]: (r[1], float(r[2]), None if r[3] is None else float(r[3])) for r in rows}


def cooling_report(store: ProjectionStore, history: History, config: ScoringConfig,
                   *, at: float) -> dict[str, Any]:
    """Hot and Warm leads whose decayed score fell below their grade's threshold, or
    with no touch for ``alerts.cooling_no_touch_days``."""
    grades = _latest_grades(store, at)
    activity = engagement(store, at, config.behaviour.half_life_days)
    no_touch = config.alerts.cooling_no_touch_days * DAY
    leads = []
    for lead_id, (grade, fit, bant) in grades.items():
        if grade not in ("hot", "warm") or history.current_stage(lead_id) in CLOSED_STAGES:
            continue
        if lead_id not in history.leads:
            continue
        act = activity.get(lead_id, {"score": 0.0, "last_touch": None})
        total = total_score(fit, act["score"], bant, config.grading)
        threshold = config.grading.threshold(grade)  # type: ignore[arg-type]
        reasons = []
        if total < threshold:
            reasons.append("score_below_threshold")
        idle = None if act["last_touch"] is None else at - act["last_touch"]
        if idle is None or idle >= no_touch:
            reasons.append("no_touch")
        if reasons:
            leads.append({
                "lead_id": lead_id, "grade": grade, "grade_now": grade_of(total, config.grading),
                "total_now": total, "threshold": threshold,
                "behaviour_now": round(act["score"], 4), "last_touch": _iso(act["last_touch"]),
                "idle_days": None if idle is None else round(idle / DAY, 1), "reasons": reasons,
                "stage": history.current_stage(lead_id),
                "template": history.leads[lead_id].template,
            })
    leads.sort(key=lambda r: (r["grade"] != "hot", r["total_now"], r["lead_id"]))
    return {"at": _iso(at), "count": len(leads), "leads": leads}


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
    alerts.sort(key=lambda a: (a["rule"], a["opened_at"], a["lead_id"]))
    return {"at": _iso(at), "count": len(alerts), "by_rule": dict(sorted(counts.items())),
            "alerts": alerts}
