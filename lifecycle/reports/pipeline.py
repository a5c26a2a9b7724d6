"""Forecast and loss-reason reports.

The forecast weights every open opportunity (SQL or an opportunity stage) by two win
probabilities: the template's default for its stage, and the rate measured from
history (of the leads that were in that stage and have closed since, the share that
was won). Opportunities without an amount are valued at the template's average won
deal, and are flagged as estimated.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from lifecycle.projections.queries import History
from lifecycle.projections.store import ProjectionStore
from lifecycle.templates import TemplateRegistry

__all__ = ["forecast_report", "losses_report"]

CLOSED = ("won", "lost", "disqualified")


def forecast_report(history: History, templates: TemplateRegistry,
                    *, target: float | None = None) -> dict[str, Any]:
    """Open pipeline weighted by stage probability, expected revenue, gap to target."""
    rows = []
    totals = {"pipeline": 0.0, "expected_default": 0.0, "expected_measured": 0.0}
    for name in templates.names():
        template = templates[name]
        ids = [lid for lid, lead in history.leads.items() if lead.template == name]
        if not ids:
            continue
        won_amounts = [a[0] for lid in ids if history.current_stage(lid) == "won"
                       and (a := history.amounts.get(lid)) is not None]
        avg_won = sum(won_amounts) / len(won_amounts) if won_amounts else 0.0
        stages = ("sql", *template.opportunity_stages)
        measured: dict[str, float | None] = {}
        for stage in stages:
            passed = [lid for lid in ids if history.reached(lid, stage)
                      and history.current_stage(lid) in CLOSED]
            won = sum(1 for lid in passed if history.current_stage(lid) == "won")
            measured[stage] = round(won / len(passed), 4) if passed else None
        for stage in stages:
            open_ids = [lid for lid in ids if history.current_stage(lid) == stage]
            amount, estimated = 0.0, 0
            for lid in open_ids:
                deal = history.amounts.get(lid)
                if deal is not None:
                    amount += deal[0]
                else:
                    amount += avg_won
                    estimated += 1
            p_default = template.probability(stage)
            m = measured[stage]
            p_measured = m if m is not None else p_default
            row: dict[str, Any] = {
                "template": name, "stage": stage, "open": len(open_ids),
                "amount": round(amount, 2), "estimated_amounts": estimated,
                "probability_default": p_default, "probability_measured": measured[stage],
                "expected_default": round(amount * p_default, 2),
                "expected_measured": round(amount * p_measured, 2),
            }
            rows.append(row)
            totals["pipeline"] += amount
            totals["expected_default"] += amount * p_default
            totals["expected_measured"] += amount * p_measured
    result: dict[str, Any] = {
        "as_of": history.as_of,
        "stages": rows,
        "pipeline": round(totals["pipeline"], 2),
        "expected_revenue_default": round(totals["expected_default"], 2),
        "expected_revenue_measured": round(totals["expected_measured"], 2),
        "target": target,
    }
    if target is not None:
        result["gap_default"] = round(target - totals["expected_default"], 2)
        result["gap_measured"] = round(target - totals["expected_measured"], 2)
    return result


def losses_report(store: ProjectionStore, *, as_of: float | None = None,
                  top: int = 3) -> dict[str, Any]:
    """Losses and disqualifications by reason × stage × channel × template × competitor
    × month, with amounts, and the top reasons per stage."""
    clause, params = ("", []) if as_of is None else (" WHERE l.occurred_at <= ?", [as_of])
    rows = store.query(
        "SELECT l.kind, l.reason, l.stage, d.channel, d.template, l.competitor, l.month, "
        "COUNT(*), SUM(COALESCE(l.amount, 0)), l.currency "
        "FROM lc_losses l JOIN lc_leads d ON d.lead_id = l.lead_id"
        f"{clause} GROUP BY l.kind, l.reason, l.stage, d.channel, d.template, l.competitor, "
        "l.month, l.currency", params,
    )
    # Ties in COUNT(*) come back in whatever order the backend likes: break them here
    # (not in SQL, whose collation and NULL order differ), so the same losses give the
    # same report, and the same order of equally frequent reasons, on every backend.
    rows.sort(key=lambda r: (-int(r[7]), *("" if v is None else str(v) for v in r[:7]),
                             r[9] or ""))
    cells = []
    by_stage: dict[str, Counter[str]] = defaultdict(Counter)
    by_reason: Counter[str] = Counter()
    by_competitor: Counter[str] = Counter()
    amount_by_reason: dict[str, float] = defaultdict(float)
    for kind, reason, stage, channel, template, competitor, month, n, amount, currency in rows:
        cells.append({
            "kind": kind, "reason": reason, "stage": stage, "channel": channel,
            "template": template, "competitor": competitor, "month": month, "count": int(n),
            "amount": round(float(amount or 0), 2), "currency": currency,
        })
        by_stage[stage][reason] += int(n)
        by_reason[reason] += int(n)
        amount_by_reason[reason] += float(amount or 0)
        if competitor:
            by_competitor[competitor] += int(n)
    return {
        "as_of": as_of,
        "total": sum(by_reason.values()),
        "by_reason": [{"reason": r, "count": n, "amount": round(amount_by_reason[r], 2)}
                      for r, n in by_reason.most_common()],
        "by_competitor": [{"competitor": c, "count": n} for c, n in by_competitor.most_common()],
        "top_reasons_by_stage": {
            stage: [{"reason": r, "count": n} for r, n in counter.most_common(top)]
            for stage, counter in sorted(by_stage.items())
        },
        "cells": cells,
    }
