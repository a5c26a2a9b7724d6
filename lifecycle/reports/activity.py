"""Activity reports: cooling leads and open alerts, formatted for people and machines.

The decisions are the policies' (:mod:`lifecycle.policies.cooling`,
:mod:`lifecycle.policies.alerts`): the cooling report lists exactly the leads the decay
policy regrades, and the alerts at ``T`` follow the events as they arrive. This module
only turns those typed decisions into the report's rows: times as ISO 8601, days and
hours rounded, each alert's detail in words.

Every row says who the lead is and where it stands, so a salesperson can act on it:
``name`` and ``company`` (read from the lead itself through ``people``, for the listed
leads only: personal data is not in the projections; ``(erased)`` for an erased lead),
``owner`` (who accepted it for sales), ``stage``, ``grade`` and ``in_stage_days``; a
cooling lead also its ``idle_days`` since the last touch. Rows come most urgent first.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from lifecycle.policies.alerts import URGENCY, Alert, alerts_at, by_urgency
from lifecycle.policies.cooling import Cooling, cooling_at
from lifecycle.policies.facts import DAY, HOUR, latest_grades, owners
from lifecycle.projections.queries import History
from lifecycle.projections.store import ProjectionStore
from lifecycle.scoring import AlertConfig, ScoringConfig

if TYPE_CHECKING:
    from lifecycle.people import People, Person

__all__ = ["ALERTS_ORDER", "COOLING_ORDER", "IDLE_ORDER", "alerts_report", "cooling_report"]

COOLING_ORDER = "Hot first, then lowest score first"
IDLE_ORDER = "Hot first, then longest idle first"
ALERTS_ORDER = ("most urgent rule first (Hot not contacted, quote without reply, terms "
                "revised, stuck in stage), then longest open first")


def _iso(t: float | None) -> str | None:
    """An epoch second as ISO 8601; None for none, or for one beyond any calendar (a
    projection row no event could have written: the report still prints)."""
    try:
        return None if t is None else datetime.fromtimestamp(t, UTC).isoformat()
    except (OverflowError, ValueError, OSError):
        return None


def cooling_report(store: ProjectionStore, history: History, config: ScoringConfig,
                   *, at: datetime, people: People | None = None) -> dict[str, Any]:
    """Hot and Warm leads whose grade falls if they are regraded at ``at`` (the decay
    policy's own decision, :func:`lifecycle.policies.cooling.cooling_at`), and apart,
    as ``idle``, those kept Hot or Warm by fit or BANT with no touch for a while.

    Cooling leads come Hot first, lowest total first (furthest from keeping their
    grade); idle ones Hot first, longest idle first. ``people`` names the listed leads
    (without it, ``name`` and ``company`` are None)."""
    moment = at.timestamp()
    decision = cooling_at(store, history, config, at=at)
    who = _who(people, [c.lead_id for c in (*decision.cooling, *decision.idle)])
    owner = owners(store, moment)

    def row(c: Cooling) -> dict[str, Any]:
        return {**_identity(c.lead_id, who, owner, history, moment), **_cooling_row(c)}

    leads = [{**row(c), "reasons": list(c.reasons)} for c in decision.cooling]
    idle = [row(c) for c in decision.idle]
    return {"at": _iso(moment), "count": len(leads), "order": COOLING_ORDER,
            "leads": leads, "idle_order": IDLE_ORDER, "idle": idle}


def _who(people: People | None, lead_ids: list[str]) -> Mapping[str, Person]:
    return {} if people is None or not lead_ids else people(lead_ids)


def _identity(lead_id: str, who: Mapping[str, Person], owner: Mapping[str, str],
              history: History, moment: float) -> dict[str, Any]:
    """Who the lead is, who owns it, and how long it has been in its stage."""
    person = who.get(lead_id)
    visits = history.visits.get(lead_id)
    in_stage = None if not visits else max(moment - visits[-1].entered_at, 0.0) / DAY
    return {"lead_id": lead_id, "name": None if person is None else person.name,
            "company": None if person is None else person.company,
            "owner": owner.get(lead_id),
            "in_stage_days": None if in_stage is None else round(in_stage, 1)}


def _cooling_row(lead: Cooling) -> dict[str, Any]:
    idle_s = lead.idle_seconds
    return {
        "grade": lead.grade_was, "grade_now": lead.grade_now,
        "total_now": lead.total_now, "threshold": lead.threshold,
        "behaviour_now": round(lead.behaviour_now, 4), "last_touch": _iso(lead.last_touch),
        "idle_days": None if idle_s is None else round(idle_s / DAY, 1),
        "stage": lead.stage, "template": lead.template,
    }


def alerts_report(store: ProjectionStore, history: History, config: ScoringConfig, *,
                  at: float, people: People | None = None) -> dict[str, Any]:
    """Open alerts at ``at`` (rules in the scoring file's ``[alerts]`` section), most
    urgent first (:func:`lifecycle.policies.alerts.by_urgency`). ``people`` names the
    listed leads (without it, ``name`` and ``company`` are None)."""
    rules = config.alerts
    found = by_urgency(alerts_at(store, history, rules, at=at))
    who = _who(people, list(dict.fromkeys(a.lead_id for a in found)))
    owner = owners(store, at)
    grades = latest_grades(store, at) if found else {}
    alerts: list[dict[str, Any]] = []
    for a in found:
        held = grades.get(a.lead_id)
        alerts.append({
            **_identity(a.lead_id, who, owner, history, at), "rule": a.kind,
            "grade": None if held is None else held.grade, "opened_at": _iso(a.opened_at),
            "open_hours": round((at - a.opened_at) / HOUR, 1), "detail": _detail(a, rules, at),
            "stage": a.stage, "template": a.template, "channel": a.channel})
    counts: dict[str, int] = defaultdict(int)
    for row in alerts:
        counts[row["rule"]] += 1
    by_rule = {kind: counts[kind] for kind in URGENCY if kind in counts}
    return {"at": _iso(at), "count": len(alerts), "by_rule": by_rule,
            "order": ALERTS_ORDER, "stuck_min_samples": rules.stuck_min_samples,
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
