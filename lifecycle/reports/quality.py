"""The data-quality report: what in the recorded history a person should look at before
trusting the other reports.

Each finding is a count and, for anomalies, the first :data:`EXAMPLES` leads it concerns;
nothing is clipped or left out silently:

- leads without contact: no email and no phone known (``lc_profile``);
- screen outcomes: disqualifications by the screen policy (``policy:screen``) by reason,
  the reinstatements by rule, and how many leads the screen holds disqualified now (the
  screen's own text is free text, stored encrypted as personal data: it is counted by
  reason, not quoted);
- unknown kinds: touches whose kind has no weight in the scoring file (scored 0);
- unmatched values: profile industry, title and country values that match nothing the
  fit configuration names (after normalisation and aliases);
- events dated before their lead's capture; events whose business time is after the
  time they were recorded; wins dated before the lead's first contact (its capture or
  first touch, whichever is earlier); stays in a stage of negative length (a move dated
  before the one it follows).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from lifecycle.projections.queries import History
from lifecycle.projections.store import ProjectionStore
from lifecycle.scoring import FitConfig, ScoringConfig

__all__ = ["EXAMPLES", "Unmatched", "quality_report"]

EXAMPLES = 20
"""Leads listed per anomaly (all are counted)."""
DAY = 86_400.0
SCREEN = "policy:screen"

Unmatched = Callable[[dict[str, Any], FitConfig], tuple[str, ...]]
"""``lifecycle.scoring.unmatched``: the profile fields whose value matches nothing."""


def quality_report(store: ProjectionStore, history: History, config: ScoringConfig, *,
                   unmatched: Unmatched | None = None) -> dict[str, Any]:
    """The findings on the leads of ``history`` (cut at its ``as_of``).

    Args:
        store: the projections.
        history: the leads and their stage visits.
        config: the scoring configuration (its behaviour weights and fit).
        unmatched: what tells unmatched profile values (``lifecycle.scoring.unmatched``);
            None leaves ``unmatched_values`` out (null).
    """
    cut, params = ("", []) if history.as_of is None else (" AND x.occurred_at <= ?",
                                                           [history.as_of])
    leads = history.leads
    profiles = _profiles(store, leads, cut, params)
    without = sorted(lid for lid in leads if not profiles.get(lid, {}).get("contact"))
    return {
        "as_of": history.as_of,
        "leads": len(leads),
        "without_contact": {"count": len(without), "share": _share(len(without), len(leads)),
                            "leads": without[:EXAMPLES]},
        "screens": _screens(store, history, cut, params),
        "unknown_kinds": _unknown_kinds(store, leads, config, cut, params),
        "unmatched_values": None if unmatched is None else _unmatched(profiles, leads, config,
                                                                      unmatched),
        "before_capture": _before_capture(store, history, cut, params),
        "recorded_before_business_time": _skews(store, leads, cut, params),
        "wins_before_first_contact": _early_wins(store, history, cut, params),
        "negative_durations": _negative_durations(history),
    }


def _share(n: int, total: int) -> float | None:
    return None if total == 0 else round(n / total, 4)


def _iso(t: float) -> str | None:
    try:
        return datetime.fromtimestamp(t, UTC).isoformat()
    except (OverflowError, ValueError, OSError):
        return None


def _finding(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """A count (of rows, and of distinct leads) and the first rows as examples."""
    return {"count": len(rows), "leads": len({r["lead_id"] for r in rows}),
            "examples": rows[:EXAMPLES]}


def _profiles(store: ProjectionStore, leads: dict[str, Any], cut: str,
              params: list[Any]) -> dict[str, dict[str, Any]]:
    """Each lead's latest industry, title and country, and whether it can be contacted."""
    out: dict[str, dict[str, Any]] = defaultdict(dict)
    for lead_id, industry, title, country, contact in store.query(
            "SELECT x.lead_id, x.industry, x.title, x.country, x.contact FROM lc_profile x "
            f"WHERE 1 = 1{cut} ORDER BY x.lead_id, x.version", params):
        if lead_id not in leads:
            continue
        profile = out[lead_id]
        for name, value in (("industry", industry), ("title", title), ("country", country)):
            if value is not None:
                profile[name] = value
        if contact:
            profile["contact"] = True
    return out


def _screens(store: ProjectionStore, history: History, cut: str,
             params: list[Any]) -> dict[str, Any]:
    by_reason: Counter[str] = Counter()
    screened: set[str] = set()
    for lead_id, reason in store.query(
            "SELECT x.lead_id, x.reason FROM lc_transitions x WHERE x.kind = 'disqualified' "
            f"AND x.actor = ?{cut}", [SCREEN, *params]):
        if lead_id in history.leads:
            by_reason[str(reason)] += 1
            screened.add(lead_id)
    by_rule: Counter[str] = Counter()
    for lead_id, rule in store.query(
            "SELECT x.lead_id, x.reason FROM lc_transitions x WHERE x.kind = 'reinstated'"
            f"{cut}", params):
        if lead_id in history.leads:
            by_rule[str(rule)] += 1
    held = sum(1 for lid in screened if history.current_stage(lid) == "disqualified")
    return {
        "disqualified": sum(by_reason.values()),
        "by_reason": [{"reason": r, "count": n} for r, n in sorted(
            by_reason.items(), key=lambda kv: (-kv[1], kv[0]))],
        "reinstated": [{"rule": r, "count": n} for r, n in sorted(
            by_rule.items(), key=lambda kv: (-kv[1], kv[0]))],
        "disqualified_now": held,
    }


def _unknown_kinds(store: ProjectionStore, leads: dict[str, Any], config: ScoringConfig,
                   cut: str, params: list[Any]) -> list[dict[str, Any]]:
    # Each lead's kinds are known or not by its template's configuration.
    known = {lead_id: config.for_template(lead.template).behaviour.weights
             for lead_id, lead in leads.items()}
    touches: Counter[str] = Counter()
    who: dict[str, set[str]] = defaultdict(set)
    for lead_id, kind in store.query(
            f"SELECT x.lead_id, x.kind FROM lc_touches x WHERE 1 = 1{cut}", params):
        if lead_id in known and kind not in known[lead_id]:
            touches[str(kind)] += 1
            who[str(kind)].add(lead_id)
    return [{"kind": k, "touches": n, "leads": len(who[k])}
            for k, n in sorted(touches.items(), key=lambda kv: (-kv[1], kv[0]))]


def _unmatched(profiles: dict[str, dict[str, Any]], leads: dict[str, Any],
               config: ScoringConfig, unmatched: Unmatched) -> list[dict[str, Any]]:
    values: dict[str, Counter[str]] = defaultdict(Counter)
    for lead_id, profile in profiles.items():
        lead = leads.get(lead_id)
        fit = (config if lead is None else config.for_template(lead.template)).fit
        given = {k: v for k, v in profile.items() if k in ("industry", "title", "country")}
        for name in unmatched(given, fit):
            values[name][str(given.get(name))] += 1
    return [{"field": name, "leads": sum(counter.values()),
             "values": [{"value": v, "leads": n} for v, n in sorted(
                 counter.items(), key=lambda kv: (-kv[1], kv[0]))[:EXAMPLES]]}
            for name, counter in sorted(values.items())]


def _before_capture(store: ProjectionStore, history: History, cut: str,
                    params: list[Any]) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    for table, what in (("lc_touches", "x.kind"), ("lc_transitions", "x.kind")):
        for lead_id, version, at, kind in store.query(
                f"SELECT x.lead_id, x.version, x.occurred_at, {what} FROM {table} x "
                f"WHERE 1 = 1{cut} ORDER BY x.lead_id, x.version", params):
            lead = history.leads.get(lead_id)
            if lead is not None and float(at) < lead.captured_at:
                rows.append({"lead_id": lead_id, "version": int(version), "event": kind,
                             "at": _iso(float(at)), "captured_at": _iso(lead.captured_at),
                             "days_before": round((lead.captured_at - float(at)) / DAY, 2)})
    rows.sort(key=lambda r: (-r["days_before"], r["lead_id"], r["version"]))
    return _finding(rows)


def _skews(store: ProjectionStore, leads: dict[str, Any], cut: str,
           params: list[Any]) -> dict[str, Any]:
    rows = [{"lead_id": lead_id, "version": int(version), "event": event,
             "at": _iso(float(at)), "recorded_at": _iso(float(recorded)),
             "hours_ahead": round((float(at) - float(recorded)) / 3600, 2)}
            for lead_id, version, event, at, recorded in store.query(
                "SELECT x.lead_id, x.version, x.event, x.occurred_at, x.recorded_at "
                f"FROM lc_time_skews x WHERE 1 = 1{cut} ORDER BY x.lead_id, x.version", params)
            if lead_id in leads]
    rows.sort(key=lambda r: (-r["hours_ahead"], r["lead_id"], r["version"]))
    return _finding(rows)


def _early_wins(store: ProjectionStore, history: History, cut: str,
                params: list[Any]) -> dict[str, Any]:
    first: dict[str, float] = {lid: lead.captured_at for lid, lead in history.leads.items()}
    for lead_id, at in store.query(
            f"SELECT x.lead_id, MIN(x.occurred_at) FROM lc_touches x WHERE 1 = 1{cut} "
            "GROUP BY x.lead_id", params):
        if lead_id in first and at is not None:
            first[lead_id] = min(first[lead_id], float(at))
    rows: list[dict[str, Any]] = []
    for lead_id, visits in history.visits.items():
        for v in visits:
            if v.stage == "won" and v.entered_at < first.get(lead_id, v.entered_at):
                rows.append({"lead_id": lead_id, "won_at": _iso(v.entered_at),
                             "first_contact_at": _iso(first[lead_id]),
                             "days_before": round((first[lead_id] - v.entered_at) / DAY, 2)})
    rows.sort(key=lambda r: (-r["days_before"], r["lead_id"]))
    return _finding(rows)


def _negative_durations(history: History) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    for lead_id, visits in history.visits.items():
        for v in visits:
            span = v.span
            if span is not None and span < 0:
                rows.append({"lead_id": lead_id, "stage": v.stage, "entered_at":
                             _iso(v.entered_at), "left_at": _iso(v.left_at or 0.0),
                             "next_stage": v.exit_to, "days": round(span / DAY, 2)})
    rows.sort(key=lambda r: (r["days"], r["lead_id"]))
    return _finding(rows)
