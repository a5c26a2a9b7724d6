"""The cooling and alerts reports laid out as blocks.

Each row says who the lead is and where it stands: its id (for ``lifecycle lead show``),
name and company, owner, stage, grade and how long (idle days for a cooling lead; for an
alert, how long it has been open, and its detail says since when or how long in stage).
The terminal shows the first :data:`~lifecycle.reports.layout.LIMIT` rows of a list and
says where the rest are; the HTML page asks for every row (``limit=None``,
:data:`FULL_LISTS`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from functools import partial
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
from lifecycle.reports.output import visible

__all__ = ["FULL_LISTS", "RULE_MEANING", "alerts_blocks", "cooling_blocks"]

RULE_MEANING: dict[str, str] = {
    "hot_not_contacted": "Hot lead not contacted by sales in time",
    "quote_no_reply": "no reply after a quote",
    "terms_revised": "terms revised again and again",
    "stuck_in_stage": "in a sales stage (MQL, SQL, opportunity) longer than the stage's p90 "
                      "dwell",
}

_ELSEWHERE = "; every row: --json, --html FILE or `lifecycle leads export`"


def _text(value: Any) -> str:
    return DASH if value is None or not str(value).strip() else visible(value)


def _shown(rows: list[dict[str, Any]], limit: int | None) -> list[dict[str, Any]]:
    return rows if limit is None else rows[:limit]


def _cut(shown: int, total: int, what: str) -> str | None:
    note = left_out(shown, total, what)
    return None if note is None else note + _ELSEWHERE


def _who(lead: dict[str, Any]) -> tuple[str, str, str]:
    """The id, ``name · company`` and owner cells."""
    name, company = lead.get("name"), lead.get("company")
    parts = [_text(v) for v in dict.fromkeys((name, company)) if v is not None]
    return (str(lead.get("lead_id")), " · ".join(parts) or DASH, _text(lead.get("owner")))


def cooling_blocks(data: dict[str, Any], *, limit: int | None = LIMIT) -> list[Block]:
    leads = data.get("leads") or []
    blocks: list[Block] = [Note(f"{plural(data.get('count', len(leads)), 'Hot or Warm lead')}"
                                f" cooling at {when(data.get('at'))} UTC")]
    idle = _idle_blocks(data.get("idle") or [], limit)
    if not leads:
        return [*blocks, no_data("no lead is cooling"), *idle]
    rows = []
    for lead in _shown(leads, limit):
        was, now = lead.get("grade"), lead.get("grade_now")
        threshold = as_number(lead.get("threshold"))
        quiet = "no_touch" in (lead.get("reasons") or ())
        rows.append((
            *_who(lead), label(lead.get("stage")),
            Cell(f"{was} → {now}", "bad") if now != was else Cell(str(was)),
            f"{days(lead.get('total_now'))} / " + (DASH if threshold is None else f"{threshold:g}"),
            Cell(days(lead.get("idle_days")) + (" !" if quiet else ""), "bad" if quiet else ""),
        ))
    blocks.append(table_of(
        data.get("order") or "Hot leads first, lowest score first",
        "!lead|name · company|owner|stage|grade|#score\n/ min.|#idle d", rows,
        note=_cut(len(rows), len(leads), "cooling leads")))
    blocks.append(Note("each scores below the minimum of the grade it holds; idle days "
                       "marked ! : no touch for a while too (alerts.cooling_no_touch_days)",
                       "muted"))
    return [*blocks, *idle]


def _idle_blocks(idle: list[dict[str, Any]], limit: int | None) -> list[Block]:
    if not idle:
        return []
    rows = [(*_who(lead), label(lead.get("stage")), str(lead.get("grade")),
             days(lead.get("total_now")), days(lead.get("idle_days")))
            for lead in _shown(idle, limit)]
    return [table_of(
        "idle: no touch for a while, but fit or BANT keep the grade (not cooling); "
        "Hot first, longest idle first",
        "!lead|name · company|owner|stage|grade|#score|#idle d", rows,
        note=_cut(len(rows), len(idle), "idle leads"))]


def alerts_blocks(data: dict[str, Any], *, limit: int | None = LIMIT) -> list[Block]:
    alerts = data.get("alerts") or []
    by_rule = data.get("by_rule") or {}
    blocks: list[Block] = [Note(f"{plural(data.get('count', len(alerts)), 'open alert')} at "
                                f"{when(data.get('at'))} UTC")]
    samples = data.get("stuck_min_samples")
    if samples is not None:
        blocks.append(Note(
            "stuck in stage: only MQL, SQL and opportunity stages (captured and nurturing "
            "leads are marketing's: see the cooling report), and only once a stage has "
            f"{count(samples)} completed stays in its template to measure a p90 from",
            "muted"))
    if not alerts:
        return [*blocks, no_data("no open alerts")]
    blocks.append(table_of("by rule, most urgent first", "rule|#open|what it means", [
        (label(rule), count(n), RULE_MEANING.get(rule, "")) for rule, n in by_rule.items()]))
    # The longest open of every rule, so one busy rule does not hide the others.
    per_rule = None if limit is None else max(limit // max(len(by_rule), 1), 1)
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for a in alerts:
        grouped[str(a.get("rule"))].append(a)
    for rule, group in grouped.items():
        rows = [(*_who(a), label(a.get("stage")), _text(a.get("grade")),
                 open_for(a.get("open_hours")),
                 short_times(str(a.get("detail", ""))))
                for a in _shown(group, per_rule)]
        blocks.append(table_of(
            f"{label(rule)}: longest open first",
            "!lead|name · company|owner|stage|grade|#open for|detail",
            rows, note=_cut(len(rows), len(group), "alerts")))
    return blocks


FULL_LISTS: dict[str, Callable[[dict[str, Any]], list[Block]]] = {
    "cooling": partial(cooling_blocks, limit=None),
    "alerts": partial(alerts_blocks, limit=None),
}
"""The reports whose lists the HTML page shows whole (every lead, every alert)."""
