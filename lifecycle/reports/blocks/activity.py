"""The cooling and alerts reports laid out as blocks."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from lifecycle.reports.layout import (
    DASH,
    LIMIT,
    Block,
    Cell,
    Note,
    as_number,
    count,
    days,
    label,
    left_out,
    no_data,
    open_for,
    plural,
    short_times,
    table_of,
    when,
)

__all__ = ["RULE_MEANING", "alerts_blocks", "cooling_blocks"]

RULE_MEANING: dict[str, str] = {
    "hot_not_contacted": "Hot lead not contacted by sales in time",
    "quote_no_reply": "no reply after a quote",
    "terms_revised": "terms revised again and again",
    "stuck_in_stage": "in its stage longer than the stage's p90 dwell",
}

_REASONS = {"score_below_threshold": "score < min.", "no_touch": "no touch"}


def cooling_blocks(data: dict[str, Any]) -> list[Block]:
    leads = data.get("leads") or []
    blocks: list[Block] = [Note(f"{plural(data.get('count', len(leads)), 'Hot or Warm lead')}"
                                f" cooling at {when(data.get('at'))} UTC")]
    idle = _idle_blocks(data.get("idle") or [])
    if not leads:
        return [*blocks, no_data("no lead is cooling"), *idle]
    rows = []
    for lead in leads[:LIMIT]:
        was, now = lead.get("grade"), lead.get("grade_now")
        threshold = as_number(lead.get("threshold"))
        rows.append((
            str(lead.get("lead_id")),
            f"{label(lead.get('template'))} · {label(lead.get('stage'))}",
            Cell(f"{was} → {now}", "bad") if now != was else Cell(str(was)),
            f"{days(lead.get('total_now'))} / " + (DASH if threshold is None else f"{threshold:g}"),
            days(lead.get("idle_days")),
            "; ".join(_REASONS.get(r, label(r)) for r in lead.get("reasons", [])),
        ))
    blocks.append(table_of(
        "Hot leads first, lowest score first", "!lead|template · stage|grade|#score\n/ min."
        "|#idle d|why", rows,
        note=left_out(len(rows), len(leads), "cooling leads")))
    return [*blocks, *idle]


def _idle_blocks(idle: list[dict[str, Any]]) -> list[Block]:
    if not idle:
        return []
    rows = [(str(lead.get("lead_id")),
             f"{label(lead.get('template'))} · {label(lead.get('stage'))}",
             str(lead.get("grade")), days(lead.get("total_now")), days(lead.get("idle_days")))
            for lead in idle[:LIMIT]]
    return [table_of(
        "idle: no touch for a while, but fit or BANT keep the grade (not cooling)",
        "!lead|template · stage|grade|#score|#idle d", rows,
        note=left_out(len(rows), len(idle), "idle leads"))]


def alerts_blocks(data: dict[str, Any]) -> list[Block]:
    alerts = data.get("alerts") or []
    by_rule = data.get("by_rule") or {}
    blocks: list[Block] = [Note(f"{plural(data.get('count', len(alerts)), 'open alert')} at "
                                f"{when(data.get('at'))} UTC")]
    if not alerts:
        return [*blocks, no_data("no open alerts")]
    blocks.append(table_of("by rule", "rule|#open|what it means", [
        (label(rule), count(n), RULE_MEANING.get(rule, "")) for rule, n in by_rule.items()]))
    # The longest open of every rule, so one busy rule does not hide the others.
    per_rule = max(LIMIT // max(len(by_rule), 1), 1)
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for a in alerts:
        grouped[str(a.get("rule"))].append(a)
    for rule, group in grouped.items():
        rows = [(str(a.get("lead_id")), f"{label(a.get('template'))} · {label(a.get('stage'))}",
                 open_for(a.get("open_hours")), short_times(str(a.get("detail", ""))))
                for a in group[:per_rule]]
        blocks.append(table_of(
            f"{label(rule)}: longest open first", "!lead|template · stage|#open for|detail",
            rows, note=left_out(len(rows), len(group), "alerts")))
    return blocks
