"""The funnel, diagnosis and channels reports laid out as blocks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lifecycle.reports.layout import (
    DASH,
    LIMIT,
    Block,
    Cell,
    Heading,
    Note,
    Table,
    as_number,
    as_of_note,
    count,
    days,
    label,
    left_out,
    no_data,
    pct,
    plural,
    signed_points,
    table_of,
    versus,
)

__all__ = ["channels_blocks", "diagnosis_blocks", "funnel_blocks"]


def _per_template(data: dict[str, Any],
                  section: Callable[[dict[str, Any]], list[Block]]) -> list[Block]:
    """The as-of note, then each template's section (or a note that there is none)."""
    templates = data.get("templates") or []
    blocks: list[Block] = [as_of_note(data.get("as_of"))]
    if not templates:
        return [*blocks, no_data("no leads recorded yet")]
    for t in templates:
        blocks.extend(section(t))
    return blocks


def funnel_blocks(data: dict[str, Any]) -> list[Block]:
    return _per_template(data, _funnel_template)


def _funnel_template(t: dict[str, Any]) -> list[Block]:
    name = t.get("template", "")
    blocks: list[Block] = [Heading(f"{t.get('title') or name} ({name}): "
                                   f"{plural(t.get('leads'), 'lead')}, {count(t.get('won'))} won",
                                   key=name)]
    rows = []
    for s in t.get("stages", []):
        dwell = s.get("dwell_days") or {}
        last = s.get("next_stage") is None
        rows.append((
            label(s.get("stage")), count(s.get("entered")), count(s.get("moved_forward")),
            count(s.get("lost")), count(s.get("disqualified")), count(s.get("recycled")),
            count(s.get("current")),
            Cell(DASH, "muted") if last else versus(s.get("conversion_to_next"),
                                                    s.get("benchmark_conversion")),
            DASH if last else pct(s.get("benchmark_conversion"), 0),
            days(dwell.get("median")), days(dwell.get("p90")),
        ))
    blocks.append(table_of(
        "stages, top to bottom",
        "stage|#entered|#moved\nforward|#lost|#disq.|#recycled|#now|#conv.\n→ next"
        "|#benchmark|#dwell d\nmedian|#dwell d\np90", rows,
        note="conv. → next: share of the stage's leads that reached the next stage, "
        "red below benchmark; dwell: completed stays"))
    blocks.append(_rates_table("conversion", "", [("all leads", t)], note=_WIN_RATE))
    cohorts = t.get("by_cohort") or []
    if cohorts:
        shown = cohorts[-LIMIT:]
        blocks.append(_rates_table(
            "by capture month", "cohort", [(c.get("cohort"), c) for c in shown],
            note=left_out(len(shown), len(cohorts), "months (the latest are shown)")))
    return blocks


_WIN_RATE = "¹ won of the SQLs that have closed (won, lost or disqualified)"


def _rates_table(title: str, key: str, groups: list[tuple[Any, dict[str, Any]]], *,
                 note: str | None = None) -> Table:
    rows = []
    for name, r in groups:
        ttw = r.get("time_to_win_days") or {}
        rows.append((
            label(name), count(r.get("leads")), count(r.get("mql")), count(r.get("sql")),
            count(r.get("won")), pct(r.get("lead_to_mql")), pct(r.get("mql_to_sql")),
            pct(r.get("sql_to_won")), pct(r.get("win_rate_of_closed")),
            days(ttw.get("median")), days(ttw.get("p90")),
        ))
    return table_of(title, f"{key}|#leads|#MQL|#SQL|#won|#lead\n→ MQL|#MQL\n→ SQL|#SQL\n→ won"
                    "|#win rate\nof closed¹|#to win d\nmedian|#to win d\np90", rows, note=note)


def diagnosis_blocks(data: dict[str, Any]) -> list[Block]:
    return _per_template(data, _diagnosis_template)


def _diagnosis_template(t: dict[str, Any]) -> list[Block]:
    name = t.get("template", "")
    blocks: list[Block] = [Heading(str(name), key=name)]
    b = t.get("bottleneck")
    findings = t.get("findings") or []
    if b is None:
        blocks.append(Note("no stage has enough leads to judge yet", "muted"))
    else:
        conv, bench = as_number(b.get("conversion")), as_number(b.get("benchmark"))
        delta = None if conv is None or bench is None else conv - bench
        blocks.append(table_of("bottleneck (furthest below its benchmark)",
                               "stage → next|#conversion|#benchmark|#vs benchmark|#entered", [(
            f"{label(b.get('stage'))} → {label(b.get('next_stage'))}",
            versus(conv, bench), pct(bench, 0),
            Cell(DASH) if delta is None else Cell(signed_points(delta),
                                                  "bad" if delta < 0 else "good"),
            count(b.get("entered")))]))
    for finding in findings:
        blocks.append(Note(finding, "bad", bullet=True))
    if b is not None and not findings:
        blocks.append(Note("every stage with enough leads converts at or above its "
                           "benchmark; no bulge, no broken bottom", "good", bullet=True))
    return blocks


def channels_blocks(data: dict[str, Any]) -> list[Block]:
    channels = data.get("channels") or []
    blocks: list[Block] = [as_of_note(data.get("as_of"))]
    if not channels:
        return [*blocks, no_data("no leads recorded yet")]
    rows = []
    for c in channels[:LIMIT]:
        ttw = c.get("time_to_win_days") or {}
        rows.append((
            label(c.get("channel")), count(c.get("leads")), pct(c.get("share")),
            count(c.get("mql")), count(c.get("sql")), count(c.get("won")),
            pct(c.get("lead_to_mql")), pct(c.get("mql_to_sql")), pct(c.get("sql_to_won")),
            pct(c.get("win_rate_of_closed")), days(ttw.get("median")),
        ))
    blocks.append(table_of(
        f"{plural(data.get('leads'), 'lead')} by first channel",
        "channel|#leads|#share|#MQL|#SQL|#won|#lead\n→ MQL|#MQL\n→ SQL|#SQL\n→ won"
        "|#win rate\nof closed¹|#to win d\nmedian", rows,
        note=left_out(len(rows), len(channels), "channels") or _WIN_RATE))
    largest = data.get("largest_channel")
    if largest:
        blocks.append(Note(f"Largest channel: {label(largest.get('channel'))} brings "
                           f"{pct(largest.get('share'))} of all leads", "strong"))
    return blocks
