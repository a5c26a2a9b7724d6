"""The data-quality report laid out as blocks: a summary of every finding, then the
leads each anomaly concerns (the first few; every one is counted)."""

from __future__ import annotations

from typing import Any

from lifecycle.reports.layout import (
    DASH,
    Block,
    Cell,
    Note,
    as_number,
    as_of_note,
    count,
    days,
    label,
    left_out,
    no_data,
    pct,
    plural,
    table_of,
    when,
)

__all__ = ["quality_blocks"]

_ANOMALIES = (
    ("before_capture", "events dated before their lead's capture"),
    ("recorded_before_business_time", "events whose business time is after they were "
     "recorded"),
    ("wins_before_first_contact", "wins dated before the lead's first contact"),
    ("negative_durations", "stays in a stage of negative length"),
)


def quality_blocks(data: dict[str, Any]) -> list[Block]:
    blocks: list[Block] = [as_of_note(data.get("as_of"))]
    leads = as_number(data.get("leads")) or 0
    if not leads:
        return [*blocks, no_data("no leads recorded yet")]
    without = data.get("without_contact") or {}
    screens = data.get("screens") or {}
    kinds = data.get("unknown_kinds") or []
    unmatched = data.get("unmatched_values")
    def share(n: Any) -> str:
        return pct((as_number(n) or 0) / leads)

    rows: list[tuple[str | Cell, ...]] = [
        ("leads without contact (no email, no phone)", _flag(without.get("count")),
         count(without.get("count")), pct(without.get("share"))),
        ("disqualified by a screen", _flag(screens.get("disqualified")), DASH, DASH),
        ("… still disqualified by it", count(screens.get("disqualified_now")),
         count(screens.get("disqualified_now")), share(screens.get("disqualified_now"))),
        ("touches of a kind the scoring file does not weigh",
         _flag(sum(int(as_number(k.get("touches")) or 0) for k in kinds)), DASH, DASH),
        ("profile values that match nothing",
         Cell("not checked", "muted") if unmatched is None else
         _flag(sum(int(as_number(u.get("leads")) or 0) for u in unmatched)), DASH, DASH),
    ]
    for key, what in _ANOMALIES:
        finding = data.get(key) or {}
        rows.append((what, _flag(finding.get("count")), count(finding.get("leads")),
                     share(finding.get("leads"))))
    blocks.append(table_of(f"{plural(leads, 'lead')}: findings",
                           "finding|#count|#leads|#share of\nleads", rows,
                           note="counted, never clipped or left out of the count"))
    blocks.extend(_screens(screens))
    if kinds:
        blocks.append(table_of("unknown touch kinds (scored 0)", "kind|#touches|#leads",
                               [(label(k.get("kind")), count(k.get("touches")),
                                 count(k.get("leads"))) for k in kinds]))
    for u in unmatched or []:
        values = u.get("values") or []
        blocks.append(table_of(
            f"unmatched {label(u.get('field'))} values ({plural(u.get('leads'), 'lead')})",
            "value|#leads", [(str(v.get("value")), count(v.get("leads"))) for v in values],
            note="add them to the scoring file's targets or aliases to score them"))
    for key, what in _ANOMALIES:
        blocks.extend(_examples(key, what, data.get(key) or {}))
    return blocks


def _flag(value: Any) -> Cell:
    n = as_number(value)
    return Cell(count(n), "bad" if n else "good")


def _screens(screens: dict[str, Any]) -> list[Block]:
    rows: list[tuple[str, str, str]] = [
        ("disqualified", label(r.get("reason")), count(r.get("count")))
        for r in screens.get("by_reason") or []]
    rows += [("reinstated", label(r.get("rule")), count(r.get("count")))
             for r in screens.get("reinstated") or []]
    if not rows:
        return []
    return [table_of("screen outcomes", "outcome|reason or rule|#count", rows,
                     note="a screen's own words are personal data (encrypted): "
                     "counted by reason")]


def _examples(key: str, what: str, finding: dict[str, Any]) -> list[Block]:
    examples = finding.get("examples") or []
    if not examples:
        return []
    total = int(as_number(finding.get("count")) or 0)
    note = left_out(len(examples), total, "rows")
    rows: list[tuple[str, ...]]
    if key == "before_capture":
        rows = [(str(e.get("lead_id")), label(e.get("event")), when(e.get("at")),
                 when(e.get("captured_at")), days(e.get("days_before"))) for e in examples]
        spec = "!lead|event|at|captured|#days\nbefore"
    elif key == "recorded_before_business_time":
        rows = [(str(e.get("lead_id")), label(e.get("event")), when(e.get("at")),
                 when(e.get("recorded_at")), days(e.get("hours_ahead"))) for e in examples]
        spec = "!lead|event|business time|recorded|#hours\nahead"
    elif key == "wins_before_first_contact":
        rows = [(str(e.get("lead_id")), when(e.get("won_at")), when(e.get("first_contact_at")),
                 days(e.get("days_before"))) for e in examples]
        spec = "!lead|won|first contact|#days\nbefore"
    else:
        rows = [(str(e.get("lead_id")), label(e.get("stage")), label(e.get("next_stage")),
                 when(e.get("entered_at")), when(e.get("left_at")), days(e.get("days")))
                for e in examples]
        spec = "!lead|stage|next|entered|left|#days"
    return [Note(f"{what}: {plural(total, 'row')} in {plural(finding.get('leads'), 'lead')}",
                 "bad"), table_of(what, spec, rows, note=note)]
