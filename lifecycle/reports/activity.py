"""Activity reports: cooling leads and open alerts, formatted for people and machines.

The decisions are the policies' (:mod:`lifecycle.policies.cooling`,
:mod:`lifecycle.policies.alerts`): the cooling report lists exactly the leads the decay
policy regrades, and the alerts at ``T`` follow the events as they arrive. This module
only turns those typed decisions into the report's rows: times as ISO 8601, days and
hours rounded, each alert's detail in words.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from lifecycle.policies.alerts import Alert, alerts_at
from lifecycle.policies.cooling import Cooling, cooling_at
from lifecycle.policies.facts import DAY, HOUR
from lifecycle.projections.queries import History
from lifecycle.projections.store import ProjectionStore
from lifecycle.scoring import AlertConfig, ScoringConfig

__all__ = ["alerts_report", "cooling_report"]


def _iso(t: float | None) -> str | None:
    """An epoch second as ISO 8601; None for none, or for one beyond any calendar (a
    projection row no event could have written: the report still prints)."""
    try:
        return None if t is None else datetime.fromtimestamp(t, UTC).isoformat()
    except (OverflowError, ValueError, OSError):
        return None


def cooling_report(store: ProjectionStore, history: History, config: ScoringConfig,
                   *, at: datetime) -> dict[str, Any]:
    """Hot and Warm leads whose grade falls if they are regraded at ``at`` (the decay
    policy's own decision, :func:`lifecycle.policies.cooling.cooling_at`), and apart,
    as ``idle``, those kept Hot or Warm by fit or BANT with no touch for a while."""
    decision = cooling_at(store, history, config, at=at)
    leads = [{**_cooling_row(c), "reasons": list(c.reasons)} for c in decision.cooling]
    idle = [_cooling_row(c) for c in decision.idle]
    return {"at": _iso(at.timestamp()), "count": len(leads), "leads": leads, "idle": idle}


def _cooling_row(lead: Cooling) -> dict[str, Any]:
    idle_s = lead.idle_seconds
    return {
        "lead_id": lead.lead_id, "grade": lead.grade_was, "grade_now": lead.grade_now,
        "total_now": lead.total_now, "threshold": lead.threshold,
        "behaviour_now": round(lead.behaviour_now, 4), "last_touch": _iso(lead.last_touch),
        "idle_days": None if idle_s is None else round(idle_s / DAY, 1),
        "stage": lead.stage, "template": lead.template,
    }


def alerts_report(store: ProjectionStore, history: History, config: ScoringConfig, *,
                  at: float) -> dict[str, Any]:
    """Open alerts at ``at`` (rules in the scoring file's ``[alerts]`` section)."""
    rules = config.alerts
    alerts: list[dict[str, Any]] = [
        {"lead_id": a.lead_id, "rule": a.kind, "opened_at": _iso(a.opened_at),
         "open_hours": round((at - a.opened_at) / HOUR, 1), "detail": _detail(a, rules, at),
         "stage": a.stage, "template": a.template, "channel": a.channel}
        for a in alerts_at(store, history, rules, at=at)]
    counts: dict[str, int] = defaultdict(int)
    for a in alerts:
        counts[a["rule"]] += 1
    alerts.sort(key=lambda a: (a["rule"], a["opened_at"] or "", a["lead_id"]))
    return {"at": _iso(at), "count": len(alerts), "by_rule": dict(sorted(counts.items())),
            "alerts": alerts}


def _detail(alert: Alert, rules: AlertConfig, at: float) -> str:
    """What the alert is about, in words."""
    if alert.kind == "hot_not_contacted":
        return (f"Hot since {_iso(alert.since)}, no contact within "
                f"{rules.hot_not_contacted_hours:g} h")
    if alert.kind == "quote_no_reply":
        return f"no reply since the quote of {_iso(alert.since)}"
    if alert.kind == "terms_revised":
        return f"terms revised {alert.revisions} times"
    limit = alert.p90_seconds or 0.0
    return (f"in {alert.stage} for {(at - alert.since) / DAY:.1f} d "
            f"(p90 {limit / DAY:.1f} d)")
