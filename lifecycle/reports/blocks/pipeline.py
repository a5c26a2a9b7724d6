"""The losses and forecast reports laid out as blocks: money per currency, converted
where rates were given."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from lifecycle.reports.layout import (
    DASH,
    LIMIT,
    POOL_ORDER,
    Block,
    Cell,
    Note,
    amounts,
    as_number,
    as_of_note,
    cells_of,
    count,
    group_label,
    grouping_note,
    label,
    left_out,
    money,
    no_data,
    pct,
    plural,
    table_of,
)

__all__ = ["forecast_blocks", "losses_blocks"]


def losses_blocks(data: dict[str, Any]) -> list[Block]:
    blocks: list[Block] = [as_of_note(data.get("as_of"))]
    reasons = data.get("by_reason") or []
    total = as_number(data.get("total")) or 0.0
    if not reasons:
        return [*blocks, no_data("no lead lost or disqualified yet")]
    cells = data.get("cells") or []
    by_kind: dict[tuple[str, str], int] = defaultdict(int)
    for c in cells:
        by_kind[(c.get("reason"), c.get("kind"))] += int(as_number(c.get("count")) or 0)
    blocks.append(Note(f"{plural(total, 'lead')} lost or disqualified"))
    conversion = data.get("converted") or None
    in_reporting = {r.get("reason"): r.get("amount")
                    for r in (conversion or {}).get("by_reason") or []}
    rows = []
    for r in reasons[:LIMIT]:
        row = [label(r.get("reason")), count(r.get("count")),
               count(by_kind[(r.get("reason"), "lost")]),
               count(by_kind[(r.get("reason"), "disqualified")]),
               pct((as_number(r.get("count")) or 0) / total if total else None),
               amounts(r.get("amounts"))]
        if conversion:
            row.append(money(in_reporting.get(r.get("reason"))))
        rows.append(row)
    spec = "reason|#total|#lost|#disqualified|#share|amount by currency"
    if conversion:
        spec += f"|#in {conversion.get('currency')}"
    blocks.append(table_of("by reason", spec, rows,
                           note=left_out(len(rows), len(reasons), "reasons")
                           or (_rates_note(conversion) if conversion else None)))
    competitors = data.get("by_competitor") or []
    if competitors:
        lost_to = sum(int(as_number(c.get("count")) or 0) for c in competitors)
        shown = [(str(c.get("competitor")), count(c.get("count")),
                  pct(int(as_number(c.get("count")) or 0) / lost_to if lost_to else None),
                  amounts(c.get("amounts")))
                 for c in competitors[:LIMIT]]
        blocks.append(table_of("lost to a competitor", "competitor|#deals|#share|amount", shown,
                               note=left_out(len(shown), len(competitors), "competitors")))
    blocks.extend(_loss_groups(data))
    per_stage = data.get("top_reasons_by_stage") or {}
    if per_stage:
        order = sorted(per_stage, key=lambda s: (
            POOL_ORDER.index(s) if s in POOL_ORDER else len(POOL_ORDER), s))
        top = max(len(per_stage[s]) for s in order)
        ordinals = ["1st", "2nd", "3rd", *(f"{i}th" for i in range(4, top + 1))]
        ranked_rows: list[list[str]] = []
        for stage in order:
            ranked = [f"{label(r.get('reason'))} ({count(r.get('count'))})"
                      for r in per_stage[stage]]
            ranked_rows.append([label(stage), *ranked, *[""] * (top - len(ranked))])
        blocks.append(table_of("top reasons per stage left",
                               "|".join(["stage", *ordinals[:top]]), ranked_rows))
    return blocks


def _loss_groups(data: dict[str, Any]) -> list[Block]:
    """Losses per group of a dimension (``--by``): count, share of the group's leads,
    amounts and the top reasons."""
    groups = data.get("groups")
    if groups is None:
        return []
    by = str(data.get("by"))
    rows = []
    for g in groups[:LIMIT]:
        n, leads = as_number(g.get("count")) or 0.0, as_number(g.get("leads")) or 0.0
        reasons = ", ".join(f"{label(r.get('reason'))} ({count(r.get('count'))})"
                            for r in g.get("top_reasons") or [])
        rows.append((group_label(by, g.get("group")), count(leads), count(n),
                     pct(n / leads if leads else None), amounts(g.get("amounts")),
                     reasons or DASH))
    return [grouping_note(data), table_of(
        f"by {by}", f"{by}|#leads|#lost or\ndisqualified|#of its\nleads|amount by currency"
        "|top reasons", rows, note=left_out(len(rows), len(groups), "groups"))]


def forecast_blocks(data: dict[str, Any]) -> list[Block]:
    blocks: list[Block] = [as_of_note(data.get("as_of"))]
    stages = data.get("stages") or []
    if not stages:
        blocks.append(no_data("no open opportunities"))
    else:
        rows = []
        previous = None
        for s in stages:
            n = int(as_number(s.get("open")) or 0)
            measured = s.get("probability_measured")
            template = s.get("template")
            rows.append(cells_of((
                label(template) if template != previous else "", label(s.get("stage")),
                str(s.get("currency") or DASH), count(n), money(s.get("amount")),
                count(s.get("estimated_amounts")), pct(s.get("probability_default"), 0),
                Cell(pct(measured, 0)) if measured is not None else Cell("default", "muted"),
                money(s.get("expected_default")), money(s.get("expected_measured")),
            )))
            if n == 0:
                rows[-1] = tuple(Cell(c.text, "muted") for c in rows[-1])
            previous = template
        blocks.append(table_of(
            "open pipeline by stage",
            "template|stage|cur.|#open|#amount|#est.¹|#P\ndefault|#P\nmeasured|#expected\n"
            "(default)|#expected\n(measured)", rows,
            note="¹ opportunities without an amount, valued at the template's average won "
            "deal in the currency it wins most in; P measured: share won of the leads that "
            "passed the stage and closed"))
    blocks.extend(_money_totals(data))
    blocks.extend(_target_blocks(data))
    return blocks


def _rates_note(conversion: dict[str, Any]) -> str:
    rates = conversion.get("rates") or {}
    used = ", ".join(f"1 {c} = {r:g} {conversion.get('currency')}" for c, r in rates.items()
                     if c != conversion.get("currency") and as_number(r) is not None)
    source = f" ({conversion['source']})" if conversion.get("source") else ""
    missing = conversion.get("not_converted") or []
    return (f"converted at the rates of {conversion.get('date')}{source}"
            + (f": {used}" if used else "")
            + (f"; not converted (no rate): {', '.join(map(str, missing))}" if missing else ""))


def _money_totals(data: dict[str, Any]) -> list[Block]:
    """The open pipeline per currency, and converted into one when rates were given."""
    totals = data.get("totals") or []
    if not totals:
        return []
    rows = [(str(t.get("currency")), count(t.get("open")), money(t.get("pipeline")),
             money(t.get("expected_default")), money(t.get("expected_measured")))
            for t in totals]
    conversion = data.get("converted")
    footer = None
    note = "amounts are totalled per currency, never across currencies"
    if conversion:
        footer = (f"in {conversion.get('currency')}", "", money(conversion.get("pipeline")),
                  money(conversion.get("expected_default")),
                  money(conversion.get("expected_measured")))
        note = _rates_note(conversion)
    return [table_of("open pipeline by currency",
                     "currency|#open|#pipeline|#expected\n(default)|#expected\n(measured)", rows,
                     footer=footer, note=note)]


def _target_blocks(data: dict[str, Any]) -> list[Block]:
    target = data.get("target")
    if not isinstance(target, dict):
        return []
    amount, currency = as_number(target.get("amount")), target.get("currency")
    unit = f" {currency}" if currency else ""
    if target.get("gap_default") is None and target.get("gap_measured") is None:
        return [Note(f"target {money(amount)}{unit}: " + str(target.get("note") or
                                                          "no expected revenue to compare"),
                     "muted")]
    rows: list[list[str | Cell]] = []
    for basis, key in (("default probabilities", "gap_default"),
                       ("measured probabilities", "gap_measured")):
        gap = as_number(target.get(key))
        expected = None if gap is None or amount is None else amount - gap
        row: list[str | Cell] = [basis, money(expected), money(amount)]
        if gap is None:
            row.append(DASH)
        elif gap > 0:
            row.append(Cell(f"{money(gap)} short", "bad"))
        else:
            row.append(Cell(f"{money(-gap)} ahead", "good"))
        rows.append(row)
    return [table_of(f"expected revenue against target{unit and ' (' + unit.strip() + ')'}",
                     "basis|#expected revenue|#target|#gap", rows,
                     note=target.get("note") or None)]
