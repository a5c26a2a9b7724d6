"""Forecast and loss-reason reports.

The forecast weights every open opportunity (SQL or an opportunity stage) by two win
probabilities: the template's default for its stage, and the rate measured from
history (of the leads that were in that stage and have closed since, the share that
was won). Opportunities without an amount are valued at the template's average won
deal in the currency it wins most in, and are flagged as estimated. Amounts are
totalled per currency; a rates table (:mod:`lifecycle.reports.money`) converts the
totals into one reporting currency, and only then is a target compared with them.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from lifecycle.projections.queries import History
from lifecycle.projections.store import ProjectionStore
from lifecycle.reports.dimensions import Grouping
from lifecycle.reports.money import Rates, add, converted, rounded
from lifecycle.templates import FunnelTemplate, TemplateRegistry

__all__ = ["forecast_report", "losses_report"]

CLOSED = ("won", "lost", "disqualified")


@dataclass
class _Open:
    """The open deals of one stage in one currency."""

    amount: float = 0.0
    open: int = 0
    estimated: int = 0


def _main_currency(won: dict[str, list[float]]) -> str | None:
    """The currency most won deals were in (the first by name on a tie)."""
    return min(won, key=lambda c: (-len(won[c]), c)) if won else None


def forecast_report(history: History, templates: TemplateRegistry,
                    *, target: float | None = None, rates: Rates | None = None) -> dict[str, Any]:
    """Open pipeline weighted by stage probability, per currency; with ``rates``, also
    converted into the reporting currency; and the gap to ``target``."""
    rows: list[dict[str, Any]] = []
    totals: dict[str, dict[str, float]] = {}
    for name in templates.names():
        rows.extend(_template_rows(history, templates[name], totals))
    by_currency = [{"currency": c, "open": int(t["open"]), "pipeline": rounded(t["pipeline"]),
                    "expected_default": rounded(t["expected_default"]),
                    "expected_measured": rounded(t["expected_measured"])}
                   for c, t in sorted(totals.items())]
    conversion: dict[str, Any] | None = None
    if rates is not None:
        conversion = rates.describe(totals)
        for key in ("pipeline", "expected_default", "expected_measured"):
            conversion[key] = rounded(converted({c: t[key] for c, t in totals.items()},
                                                rates)[0])
        conversion["not_converted"] = sorted(c for c in totals if rates.rate(c) is None)
    return {
        "as_of": history.as_of,
        "stages": rows,
        "totals": by_currency,
        "converted": conversion,
        "target": _target(target, by_currency, conversion),
    }


def _template_rows(history: History, template: FunnelTemplate,
                   totals: dict[str, dict[str, float]]) -> list[dict[str, Any]]:
    """One template's rows (stage × currency), adding its open deals to ``totals``."""
    ids = [lid for lid, lead in history.leads.items() if lead.template == template.name]
    if not ids:
        return []
    won: dict[str, list[float]] = defaultdict(list)
    for lid in ids:
        deal = history.amounts.get(lid)
        if history.current_stage(lid) == "won" and deal is not None:
            won[deal[1] or ""].append(deal[0])
    # Deals without an amount are valued at the average won deal in the currency the
    # template wins most in: an average across currencies would mean nothing.
    main_key = _main_currency(won)
    avg_won = sum(won[main_key]) / len(won[main_key]) if main_key is not None else 0.0
    main = main_key or None
    stages = ("sql", *template.opportunity_stages)
    measured: dict[str, float | None] = {}
    for stage in stages:
        passed = [lid for lid in ids if history.reached(lid, stage)
                  and history.current_stage(lid) in CLOSED]
        n_won = sum(1 for lid in passed if history.current_stage(lid) == "won")
        measured[stage] = round(n_won / len(passed), 4) if passed else None
    rows = []
    for stage in stages:
        per: dict[str | None, _Open] = defaultdict(_Open)
        for lid in ids:
            if history.current_stage(lid) != stage:
                continue
            deal = history.amounts.get(lid)
            if deal is not None:
                cell = per[deal[1] or None]
                cell.amount += deal[0]
            else:
                cell = per[main]
                cell.amount += avg_won
                cell.estimated += 1
            cell.open += 1
        if not per:
            per[None] = _Open()
        p_default = template.probability(stage)
        m = measured[stage]
        p_measured = m if m is not None else p_default
        for currency in sorted(per, key=lambda c: c or ""):
            cell = per[currency]
            rows.append({
                "template": template.name, "stage": stage, "currency": currency,
                "open": cell.open, "amount": rounded(cell.amount),
                "estimated_amounts": cell.estimated, "probability_default": p_default,
                "probability_measured": m, "expected_default": rounded(cell.amount * p_default),
                "expected_measured": rounded(cell.amount * p_measured),
            })
            if currency is None:
                continue  # no amount to total: estimates with no won deal to go by
            total = totals.setdefault(currency, {"open": 0, "pipeline": 0.0,
                                                 "expected_default": 0.0,
                                                 "expected_measured": 0.0})
            total["open"] += cell.open
            total["pipeline"] += cell.amount
            total["expected_default"] += cell.amount * p_default
            total["expected_measured"] += cell.amount * p_measured
    return rows


def _target(target: float | None, totals: list[dict[str, Any]],
            conversion: dict[str, Any] | None) -> dict[str, Any] | None:
    """The gap between a revenue target and the expected revenue, in one currency."""
    if target is None:
        return None
    basis: dict[str, Any] | None
    note = None
    if conversion is not None:
        basis = conversion
        if conversion["not_converted"]:
            note = (f"{', '.join(conversion['not_converted'])} not counted: the rates file "
                    "has no rate for it")
    elif len(totals) == 1:
        basis = totals[0]
    elif not totals:
        basis = {"currency": None, "expected_default": 0.0, "expected_measured": 0.0}
    else:
        basis = None
        note = ("the pipeline is in several currencies: set LIFECYCLE_RATES_FILE to a rates "
                "table to compare it with one target")

    def gap(key: str) -> float | None:
        if basis is None or basis.get(key) is None:
            return None
        return rounded(target - float(basis[key]))

    return {"amount": target, "currency": None if basis is None else basis.get("currency"),
            "gap_default": gap("expected_default"), "gap_measured": gap("expected_measured"),
            "note": note}


def losses_report(store: ProjectionStore, *, as_of: float | None = None, top: int = 3,
                  rates: Rates | None = None,
                  grouping: Grouping | None = None) -> dict[str, Any]:
    """Losses and disqualifications by reason × stage × channel × template × competitor
    × month, with amounts per currency, and the top reasons per stage; with a
    ``grouping``, also per group (``groups``: count, amounts and top reasons of each).

    A disqualification a screen made and a later ``Reinstated`` reversed (new evidence
    cleared it, or a person acted on the lead) is not a loss: it is left out (``report
    quality`` counts reinstatements)."""
    cut = "" if as_of is None else " AND t.occurred_at <= ?"
    clause = (" WHERE NOT EXISTS (SELECT 1 FROM lc_transitions t WHERE t.lead_id = l.lead_id"
              f" AND t.kind = 'reinstated' AND t.version > l.version{cut})")
    params: list[Any] = []
    if as_of is not None:
        clause += " AND l.occurred_at <= ?"
        params = [as_of, as_of]
    # Summed here, not by SQL: PostgreSQL raises on a float sum that overflows, and a
    # sum across currencies is what this report must never print.
    groups: dict[tuple[Any, ...], list[float]] = defaultdict(lambda: [0, 0.0])
    per_group: dict[str, _Losses] = defaultdict(_Losses)
    for lead_id, *key, amount in store.query(
        "SELECT l.lead_id, l.kind, l.reason, l.stage, d.channel, d.template, l.competitor, "
        "l.month, l.currency, l.amount FROM lc_losses l JOIN lc_leads d "
        f"ON d.lead_id = l.lead_id{clause}", params,
    ):
        group = groups[tuple(key)]
        group[0] += 1
        group[1] += float(amount or 0)
        if grouping is not None:
            per_group[grouping.group(lead_id)].add(key[1], key[7], amount)
    # Ties in count come back in whatever order: break them on every field, so the same
    # losses give the same report, and the same order of equally frequent reasons.
    ordered = sorted(groups.items(), key=lambda kv: (
        -int(kv[1][0]), *("" if v is None else str(v) for v in kv[0])))
    cells = []
    by_stage: dict[str, Counter[str]] = defaultdict(Counter)
    by_reason: Counter[str] = Counter()
    by_competitor: Counter[str] = Counter()
    reason_amounts: dict[str, dict[str, float]] = defaultdict(dict)
    competitor_amounts: dict[str, dict[str, float]] = defaultdict(dict)
    totals: dict[str, float] = {}
    for (kind, reason, stage, channel, template, competitor, month, currency), (count, amount) \
            in ordered:
        n = int(count)
        cells.append({
            "kind": kind, "reason": reason, "stage": stage, "channel": channel,
            "template": template, "competitor": competitor, "month": month, "count": n,
            "amount": rounded(amount), "currency": currency,
        })
        by_stage[stage][reason] += n
        by_reason[reason] += n
        if amount:
            add(reason_amounts[reason], currency, amount)
            add(totals, currency, amount)
        if competitor:
            by_competitor[competitor] += n
            if amount:
                add(competitor_amounts[competitor], currency, amount)
    conversion: dict[str, Any] | None = None
    if rates is not None:
        conversion = rates.describe(totals)
        total, missing = converted(totals, rates)
        conversion |= {"total": rounded(total), "not_converted": missing, "by_reason": [
            {"reason": r, "amount": rounded(converted(reason_amounts[r], rates)[0])}
            for r, _ in by_reason.most_common()]}
    by_group: dict[str, Any] = {}
    if grouping is not None:
        by_group = {**grouping.describe(), "groups": [
            {"group": name, "leads": len(grouping.groups[name]), **per_group[name].summary(top)}
            for name in grouping.groups]}
    return {
        "as_of": as_of,
        **by_group,
        "total": sum(by_reason.values()),
        "by_reason": [{"reason": r, "count": n, "amounts": _amounts(reason_amounts[r])}
                      for r, n in by_reason.most_common()],
        "by_competitor": [{"competitor": c, "count": n,
                           "amounts": _amounts(competitor_amounts[c])}
                          for c, n in by_competitor.most_common()],
        "top_reasons_by_stage": {
            stage: [{"reason": r, "count": n} for r, n in counter.most_common(top)]
            for stage, counter in sorted(by_stage.items(), key=lambda kv: str(kv[0]))
        },
        "amounts": _amounts(totals),
        "converted": conversion,
        "cells": cells,
    }


@dataclass
class _Losses:
    """The losses of one group: count and amounts by reason."""

    reasons: Counter[str] = field(default_factory=Counter)
    amounts: dict[str, float] = field(default_factory=dict)

    def add(self, reason: str, currency: str | None, amount: float | None) -> None:
        self.reasons[reason] += 1
        if amount:
            add(self.amounts, currency, float(amount))

    def summary(self, top: int) -> dict[str, Any]:
        return {"count": sum(self.reasons.values()), "amounts": _amounts(self.amounts),
                "top_reasons": [{"reason": r, "count": n}
                                for r, n in self.reasons.most_common(top)]}


def _amounts(totals: dict[str, float]) -> list[dict[str, Any]]:
    """Per-currency totals as a list, by currency ("" — no currency — as null)."""
    return [{"currency": c or None, "amount": rounded(a)} for c, a in sorted(totals.items())]
