"""The funnel, diagnosis and channels ("by" a dimension) reports laid out as blocks."""

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
    group_label,
    grouping_note,
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
    blocks = _funnel_sections(data)
    if data.get("templates") or data.get("groups"):
        blocks.append(Note(MOVED_NOTE, "muted"))
    return blocks


def _funnel_sections(data: dict[str, Any]) -> list[Block]:
    if "groups" not in data:
        return _per_template(data, _funnel_template)
    groups = data.get("groups") or []
    blocks: list[Block] = [as_of_note(data.get("as_of")), grouping_note(data)]
    if not groups:
        return [*blocks, no_data("no leads recorded yet")]
    by = str(data.get("by"))
    for g in groups:
        value = str(g.get("group"))
        blocks.append(Heading(f"{by} = {value}: {plural(g.get('leads'), 'lead')}",
                              key=f"{by}={value}"))
        for t in g.get("templates") or []:
            blocks.extend(_funnel_template(t, prefix=f"{value} · "))
    return blocks


def _funnel_template(t: dict[str, Any], *, prefix: str = "") -> list[Block]:
    name = t.get("template", "")
    blocks: list[Block] = [Heading(f"{prefix}{t.get('title') or name} ({name}): "
                                   f"{plural(t.get('leads'), 'lead')}, {count(t.get('won'))} won",
                                   key=None if prefix else name)]
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
        "red below benchmark; dwell: completed stays" + _negative(t.get("stages", []))))
    blocks.append(_rates_table("conversion", "", [("all leads", t)], note=_WIN_RATE))
    cohorts = t.get("by_cohort") or []
    if cohorts:
        shown = cohorts[-LIMIT:]
        blocks.append(_rates_table(
            "by capture month", "cohort", [(c.get("cohort"), c) for c in shown],
            note=left_out(len(shown), len(cohorts), "months (the latest are shown)")))
    return blocks


_WIN_RATE = "¹ won of the SQLs that have closed (won, lost or disqualified)"
MOVED_NOTE = (
    "Each ratio divides the leads that ever reached the later stage by those that ever "
    "reached the earlier one (MQL → won: the MQLs that were won). In the stage table, "
    "\"moved forward\" counts stays that left a stage for a later one, while the next "
    "stage's \"entered\" counts distinct leads that ever entered it: they differ when "
    "leads skip a stage (entered from further up), are recycled to nurturing and come "
    "back (one lead, several stays), or are reopened or reinstated after a loss or a "
    "disqualification.")


def _negative(stages: list[dict[str, Any]]) -> str:
    """A note of the stays of negative length left out of the dwell figures."""
    n = sum(int(as_number((s.get("dwell_days") or {}).get("negative")) or 0) for s in stages)
    if not n:
        return ""
    return (f"; {plural(n, 'stay')} of negative length (a move dated before the one it "
            "follows) left out of dwell: see `report quality`")


def _rates_table(title: str, key: str, groups: list[tuple[Any, dict[str, Any]]], *,
                 note: str | None = None) -> Table:
    rows = []
    for name, r in groups:
        ttw = r.get("time_to_win_days") or {}
        rows.append((
            label(name), count(r.get("leads")), count(r.get("mql")), count(r.get("sql")),
            count(r.get("won")), pct(r.get("lead_to_mql")), pct(r.get("mql_to_sql")),
            pct(r.get("sql_to_won")), pct(r.get("mql_to_won")), pct(r.get("win_rate_of_closed")),
            days(ttw.get("median")), days(ttw.get("p90")),
        ))
    return table_of(title, f"{key}|#leads|#MQL|#SQL|#won|#lead\n→ MQL|#MQL\n→ SQL|#SQL\n→ won"
                    "|#MQL\n→ won|#win rate\nof closed¹|#to win d\nmedian|#to win d\np90", rows,
                    note=note)


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
    groups = data.get("groups") or []
    by = str(data.get("by") or "channel")
    blocks: list[Block] = [as_of_note(data.get("as_of"))]
    if not groups:
        return [*blocks, no_data("no leads recorded yet")]
    if by != "channel" or data.get("groups_pooled"):
        blocks.append(grouping_note(data))
    rows = []
    for c in groups[:LIMIT]:
        ttw = c.get("time_to_win_days") or {}
        rows.append((
            group_label(by, c.get("group")), count(c.get("leads")), pct(c.get("share")),
            count(c.get("mql")), count(c.get("sql")), count(c.get("won")),
            pct(c.get("lead_to_mql")), pct(c.get("mql_to_sql")), pct(c.get("sql_to_won")),
            pct(c.get("mql_to_won")), pct(c.get("win_rate_of_closed")),
            days(ttw.get("median")),
        ))
    title = "by first channel" if by == "channel" else f"by {by}"
    blocks.append(table_of(
        f"{plural(data.get('leads'), 'lead')} {title}",
        f"{by}|#leads|#share|#MQL|#SQL|#won|#lead\n→ MQL|#MQL\n→ SQL|#SQL\n→ won|#MQL\n→ won"
        "|#win rate\nof closed¹|#to win d\nmedian", rows,
        note=left_out(len(rows), len(groups), "groups") or _WIN_RATE))
    largest = data.get("largest")
    if largest:
        blocks.append(Note(f"Largest {'channel' if by == 'channel' else 'group'}: "
                           f"{group_label(by, largest.get('group'))} brings "
                           f"{pct(largest.get('share'))} of all leads", "strong"))
    return blocks
