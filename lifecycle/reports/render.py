"""Reports for people: the terminal renderer, and the layout both renderers share.

A report's data (see :func:`lifecycle.reports.build_report`) is first laid out as a
list of blocks — headings, notes and tables of already formatted cells — by
:func:`report_blocks`. :func:`render_terminal` prints those blocks with rich, and
:mod:`lifecycle.reports.html` writes the same blocks as HTML next to its charts, so
both show the same tables with the same numbers.

Formatting: shares as percentages, days with one decimal, money with thousands
separators and its currency (amounts are totalled per currency, never across), times
in UTC. Text from the data is shown literally (no markup, control characters as
symbols: :func:`lifecycle.reports.output.literal`).
Long lists are cut at :data:`LIMIT` rows and say how many were left out.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from rich import box
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table as RichTable
from rich.text import Text

from lifecycle.reports.output import literal, visible

__all__ = [
    "LIMIT",
    "REPORT_TITLES",
    "Block",
    "Cell",
    "Column",
    "Heading",
    "Note",
    "Table",
    "amounts",
    "count",
    "days",
    "label",
    "money",
    "pct",
    "plural",
    "render_terminal",
    "report_blocks",
    "when",
]

LIMIT = 20
"""Rows shown of a long list (leads, alerts, reasons, competitors, cohorts)."""

WIDTH = 120
"""Columns the terminal tables are laid out for."""

REPORT_TITLES: dict[str, str] = {
    "funnel": "Funnel",
    "diagnosis": "Funnel diagnosis",
    "channels": "Channels",
    "losses": "Losses",
    "forecast": "Forecast",
    "cooling": "Cooling leads",
    "alerts": "Alerts",
}

RULE_MEANING: dict[str, str] = {
    "hot_not_contacted": "Hot lead not contacted by sales in time",
    "quote_no_reply": "no reply after a quote",
    "terms_revised": "terms revised again and again",
    "stuck_in_stage": "in its stage longer than the stage's p90 dwell",
}

POOL_ORDER = ("captured", "nurturing", "mql", "sql")

Tone = Literal["", "good", "bad", "muted", "strong"]

DASH = "—"


# -- formatting ------------------------------------------------------------------------


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def pct(value: Any, digits: int = 1) -> str:
    """A share (0..1) as a percentage: ``0.3408`` → ``34.1%``; ``—`` for none."""
    number = _number(value)
    return DASH if number is None else f"{number * 100:.{digits}f}%"


def days(value: Any) -> str:
    """Days with one decimal; ``—`` for none."""
    number = _number(value)
    return DASH if number is None else f"{number:,.1f}"


def money(value: Any) -> str:
    """An amount with thousands separators, no decimals; ``—`` for none. Beyond a
    quadrillion in scientific notation (``1.000e+308``): hundreds of digits read as
    nothing, and no real deal is that large."""
    number = _number(value)
    if number is None:
        return DASH
    return f"{number:.3e}" if abs(number) >= 1e15 else f"{number:,.0f}"


def count(value: Any) -> str:
    """A whole number with thousands separators; ``—`` for none."""
    number = _number(value)
    return DASH if number is None else f"{round(number):,}"


def when(value: Any) -> str:
    """An ISO 8601 time or an epoch second as ``YYYY-MM-DD HH:MM`` (UTC)."""
    if value is None:
        return DASH
    try:
        if isinstance(value, int | float):
            moment = datetime.fromtimestamp(float(value), UTC)
        else:
            moment = datetime.fromisoformat(str(value))
    except (ValueError, OverflowError, OSError):
        return str(value)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M")


def plural(n: Any, word: str, words: str | None = None) -> str:
    """``1 lead``, ``2 leads``: a count with thousands separators and its noun."""
    one = _number(n) == 1
    return f"{count(n)} {word if one else (words or word + 's')}"


def label(name: Any) -> str:
    """A stage, reason or channel name for reading: ``competitor_won`` → ``competitor won``."""
    return visible(name).replace("_", " ") if name is not None and str(name).strip() else DASH


_ISO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:[+-]\d\d:\d\d|Z)?")


def _short_times(text: str) -> str:
    return _ISO_TIME.sub(lambda m: when(m.group(0)), text)


def _open_for(hours: Any) -> str:
    number = _number(hours)
    if number is None:
        return DASH
    return f"{number:,.1f} h" if number < 48 else f"{number / 24:,.1f} d"


def _points(delta: float) -> str:
    return f"{delta * 100:+.1f} pts".replace("-", "\N{MINUS SIGN}")


# -- layout ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cell:
    """One formatted table cell; ``tone`` marks it good, bad, muted, …"""

    text: str
    tone: Tone = ""


@dataclass(frozen=True, slots=True)
class Column:
    """A column's header; numbers are right-aligned, ids are never wrapped."""

    header: str
    numeric: bool = False
    no_wrap: bool = False


@dataclass(frozen=True, slots=True)
class Table:
    """A table of formatted cells; ``note`` says what was left out or how to read it."""

    title: str
    columns: tuple[Column, ...]
    rows: tuple[tuple[Cell, ...], ...]
    footer: tuple[Cell, ...] | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Heading:
    """A sub-heading; ``key`` names what it introduces (a template), for the charts."""

    text: str
    key: str | None = None


@dataclass(frozen=True, slots=True)
class Note:
    text: str
    tone: Tone = ""
    bullet: bool = False


Block = Heading | Note | Table


def _cells(values: Iterable[str | Cell]) -> tuple[Cell, ...]:
    return tuple(v if isinstance(v, Cell) else Cell(v) for v in values)


def _columns(spec: str) -> tuple[Column, ...]:
    """Columns from ``"!lead|stage|#entered"``: ``#`` marks a number, ``!`` an id."""
    out = []
    for header in spec.split("|"):
        if header.startswith("#"):
            out.append(Column(header[1:], numeric=True, no_wrap=True))
        elif header.startswith("!"):
            out.append(Column(header[1:], no_wrap=True))
        else:
            out.append(Column(header))
    return tuple(out)


def _table(title: str, spec: str, rows: Iterable[Iterable[str | Cell]], *,
           footer: Iterable[str | Cell] | None = None, note: str | None = None) -> Table:
    return Table(title, _columns(spec), tuple(_cells(r) for r in rows),
                 None if footer is None else _cells(footer), note)


def _left_out(shown: int, total: int, what: str) -> str | None:
    if total <= shown:
        return None
    return f"showing {shown:,} of {total:,} {what}; {total - shown:,} more not shown"


def _vs(value: Any, benchmark: Any) -> Cell:
    """A conversion, red below its benchmark and green at or above it."""
    conv, bench = _number(value), _number(benchmark)
    if conv is None:
        return Cell(DASH, "muted")
    if bench is None:
        return Cell(pct(conv))
    return Cell(pct(conv), "bad" if conv < bench else "good")


def _as_of_note(as_of: Any) -> Note:
    if as_of is None:
        return Note("all recorded history", "muted")
    return Note(f"as of {when(as_of)} UTC (business time)", "muted")


def _no_data(what: str) -> Note:
    return Note(f"no data: {what}", "muted")


# -- the reports -------------------------------------------------------------------------


def _funnel_blocks(data: dict[str, Any]) -> list[Block]:
    templates = data.get("templates") or []
    blocks: list[Block] = [_as_of_note(data.get("as_of"))]
    if not templates:
        return [*blocks, _no_data("no leads recorded yet")]
    for t in templates:
        name = t.get("template", "")
        blocks.append(Heading(f"{t.get('title') or name} ({name}): "
                              f"{plural(t.get('leads'), 'lead')}, {count(t.get('won'))} won",
                              key=name))
        rows = []
        for s in t.get("stages", []):
            dwell = s.get("dwell_days") or {}
            last = s.get("next_stage") is None
            rows.append((
                label(s.get("stage")), count(s.get("entered")), count(s.get("moved_forward")),
                count(s.get("lost")), count(s.get("disqualified")), count(s.get("recycled")),
                count(s.get("current")),
                Cell(DASH, "muted") if last else _vs(s.get("conversion_to_next"),
                                                     s.get("benchmark_conversion")),
                DASH if last else pct(s.get("benchmark_conversion"), 0),
                days(dwell.get("median")), days(dwell.get("p90")),
            ))
        blocks.append(_table(
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
                note=_left_out(len(shown), len(cohorts), "months (the latest are shown)")))
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
    return _table(title, f"{key}|#leads|#MQL|#SQL|#won|#lead\n→ MQL|#MQL\n→ SQL|#SQL\n→ won"
                  "|#win rate\nof closed¹|#to win d\nmedian|#to win d\np90", rows, note=note)


def _diagnosis_blocks(data: dict[str, Any]) -> list[Block]:
    templates = data.get("templates") or []
    blocks: list[Block] = [_as_of_note(data.get("as_of"))]
    if not templates:
        return [*blocks, _no_data("no leads recorded yet")]
    for t in templates:
        name = t.get("template", "")
        blocks.append(Heading(str(name), key=name))
        b = t.get("bottleneck")
        findings = t.get("findings") or []
        if b is None:
            blocks.append(Note("no stage has enough leads to judge yet", "muted"))
        else:
            conv, bench = _number(b.get("conversion")), _number(b.get("benchmark"))
            delta = None if conv is None or bench is None else conv - bench
            blocks.append(_table("bottleneck (furthest below its benchmark)",
                                 "stage → next|#conversion|#benchmark|#vs benchmark|#entered", [(
                f"{label(b.get('stage'))} → {label(b.get('next_stage'))}",
                _vs(conv, bench), pct(bench, 0),
                Cell(DASH) if delta is None else Cell(_points(delta),
                                                      "bad" if delta < 0 else "good"),
                count(b.get("entered")))]))
        for finding in findings:
            blocks.append(Note(finding, "bad", bullet=True))
        if b is not None and not findings:
            blocks.append(Note("every stage with enough leads converts at or above its "
                               "benchmark; no bulge, no broken bottom", "good", bullet=True))
    return blocks


def _channels_blocks(data: dict[str, Any]) -> list[Block]:
    channels = data.get("channels") or []
    blocks: list[Block] = [_as_of_note(data.get("as_of"))]
    if not channels:
        return [*blocks, _no_data("no leads recorded yet")]
    rows = []
    for c in channels[:LIMIT]:
        ttw = c.get("time_to_win_days") or {}
        rows.append((
            label(c.get("channel")), count(c.get("leads")), pct(c.get("share")),
            count(c.get("mql")), count(c.get("sql")), count(c.get("won")),
            pct(c.get("lead_to_mql")), pct(c.get("mql_to_sql")), pct(c.get("sql_to_won")),
            pct(c.get("win_rate_of_closed")), days(ttw.get("median")),
        ))
    blocks.append(_table(
        f"{plural(data.get('leads'), 'lead')} by first channel",
        "channel|#leads|#share|#MQL|#SQL|#won|#lead\n→ MQL|#MQL\n→ SQL|#SQL\n→ won"
        "|#win rate\nof closed¹|#to win d\nmedian", rows,
        note=_left_out(len(rows), len(channels), "channels") or _WIN_RATE))
    largest = data.get("largest_channel")
    if largest:
        blocks.append(Note(f"Largest channel: {label(largest.get('channel'))} brings "
                           f"{pct(largest.get('share'))} of all leads", "strong"))
    return blocks


def amounts(items: Any) -> str:
    """Per-currency amounts for reading: ``5,000 EUR; 1,500,000 JPY``; ``—`` for none."""
    parts = [f"{money(a.get('amount'))} {a.get('currency') or '(no currency)'}"
             for a in items or () if isinstance(a, dict)]
    return "; ".join(parts) or DASH


def _losses_blocks(data: dict[str, Any]) -> list[Block]:
    blocks: list[Block] = [_as_of_note(data.get("as_of"))]
    reasons = data.get("by_reason") or []
    total = _number(data.get("total")) or 0.0
    if not reasons:
        return [*blocks, _no_data("no lead lost or disqualified yet")]
    cells = data.get("cells") or []
    by_kind: dict[tuple[str, str], int] = defaultdict(int)
    for c in cells:
        by_kind[(c.get("reason"), c.get("kind"))] += int(_number(c.get("count")) or 0)
    blocks.append(Note(f"{plural(total, 'lead')} lost or disqualified"))
    conversion = data.get("converted") or None
    in_reporting = {r.get("reason"): r.get("amount")
                    for r in (conversion or {}).get("by_reason") or []}
    rows = []
    for r in reasons[:LIMIT]:
        row = [label(r.get("reason")), count(r.get("count")),
               count(by_kind[(r.get("reason"), "lost")]),
               count(by_kind[(r.get("reason"), "disqualified")]),
               pct((_number(r.get("count")) or 0) / total if total else None),
               amounts(r.get("amounts"))]
        if conversion:
            row.append(money(in_reporting.get(r.get("reason"))))
        rows.append(row)
    spec = "reason|#total|#lost|#disqualified|#share|amount by currency"
    if conversion:
        spec += f"|#in {conversion.get('currency')}"
    blocks.append(_table("by reason", spec, rows,
                         note=_left_out(len(rows), len(reasons), "reasons")
                         or (_rates_note(conversion) if conversion else None)))
    competitors = data.get("by_competitor") or []
    if competitors:
        lost_to = sum(int(_number(c.get("count")) or 0) for c in competitors)
        shown = [(str(c.get("competitor")), count(c.get("count")),
                  pct(int(_number(c.get("count")) or 0) / lost_to if lost_to else None),
                  amounts(c.get("amounts")))
                 for c in competitors[:LIMIT]]
        blocks.append(_table("lost to a competitor", "competitor|#deals|#share|amount", shown,
                             note=_left_out(len(shown), len(competitors), "competitors")))
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
        blocks.append(_table("top reasons per stage left",
                             "|".join(["stage", *ordinals[:top]]), ranked_rows))
    return blocks


def _forecast_blocks(data: dict[str, Any]) -> list[Block]:
    blocks: list[Block] = [_as_of_note(data.get("as_of"))]
    stages = data.get("stages") or []
    if not stages:
        blocks.append(_no_data("no open opportunities"))
    else:
        rows = []
        previous = None
        for s in stages:
            n = int(_number(s.get("open")) or 0)
            measured = s.get("probability_measured")
            template = s.get("template")
            rows.append(_cells((
                label(template) if template != previous else "", label(s.get("stage")),
                str(s.get("currency") or DASH), count(n), money(s.get("amount")),
                count(s.get("estimated_amounts")), pct(s.get("probability_default"), 0),
                Cell(pct(measured, 0)) if measured is not None else Cell("default", "muted"),
                money(s.get("expected_default")), money(s.get("expected_measured")),
            )))
            if n == 0:
                rows[-1] = tuple(Cell(c.text, "muted") for c in rows[-1])
            previous = template
        blocks.append(_table(
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
                     if c != conversion.get("currency") and _number(r) is not None)
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
    return [_table("open pipeline by currency",
                   "currency|#open|#pipeline|#expected\n(default)|#expected\n(measured)", rows,
                   footer=footer, note=note)]


def _target_blocks(data: dict[str, Any]) -> list[Block]:
    target = data.get("target")
    if not isinstance(target, dict):
        return []
    amount, currency = _number(target.get("amount")), target.get("currency")
    unit = f" {currency}" if currency else ""
    if target.get("gap_default") is None and target.get("gap_measured") is None:
        return [Note(f"target {money(amount)}{unit}: " + str(target.get("note") or
                                                          "no expected revenue to compare"),
                     "muted")]
    rows: list[list[str | Cell]] = []
    for basis, key in (("default probabilities", "gap_default"),
                       ("measured probabilities", "gap_measured")):
        gap = _number(target.get(key))
        expected = None if gap is None or amount is None else amount - gap
        row: list[str | Cell] = [basis, money(expected), money(amount)]
        if gap is None:
            row.append(DASH)
        elif gap > 0:
            row.append(Cell(f"{money(gap)} short", "bad"))
        else:
            row.append(Cell(f"{money(-gap)} ahead", "good"))
        rows.append(row)
    return [_table(f"expected revenue against target{unit and ' (' + unit.strip() + ')'}",
                   "basis|#expected revenue|#target|#gap", rows,
                   note=target.get("note") or None)]


_REASONS = {"score_below_threshold": "score < min.", "no_touch": "no touch"}


def _cooling_blocks(data: dict[str, Any]) -> list[Block]:
    leads = data.get("leads") or []
    blocks: list[Block] = [Note(f"{plural(data.get('count', len(leads)), 'Hot or Warm lead')}"
                                f" cooling at {when(data.get('at'))} UTC")]
    idle = _idle_blocks(data.get("idle") or [])
    if not leads:
        return [*blocks, _no_data("no lead is cooling"), *idle]
    rows = []
    for lead in leads[:LIMIT]:
        was, now = lead.get("grade"), lead.get("grade_now")
        threshold = _number(lead.get("threshold"))
        rows.append((
            str(lead.get("lead_id")),
            f"{label(lead.get('template'))} · {label(lead.get('stage'))}",
            Cell(f"{was} → {now}", "bad") if now != was else Cell(str(was)),
            f"{days(lead.get('total_now'))} / " + (DASH if threshold is None else f"{threshold:g}"),
            days(lead.get("idle_days")),
            "; ".join(_REASONS.get(r, label(r)) for r in lead.get("reasons", [])),
        ))
    blocks.append(_table(
        "Hot leads first, lowest score first", "!lead|template · stage|grade|#score\n/ min."
        "|#idle d|why", rows,
        note=_left_out(len(rows), len(leads), "cooling leads")))
    return [*blocks, *idle]


def _idle_blocks(idle: list[dict[str, Any]]) -> list[Block]:
    if not idle:
        return []
    rows = [(str(lead.get("lead_id")),
             f"{label(lead.get('template'))} · {label(lead.get('stage'))}",
             str(lead.get("grade")), days(lead.get("total_now")), days(lead.get("idle_days")))
            for lead in idle[:LIMIT]]
    return [_table(
        "idle: no touch for a while, but fit or BANT keep the grade (not cooling)",
        "!lead|template · stage|grade|#score|#idle d", rows,
        note=_left_out(len(rows), len(idle), "idle leads"))]


def _alerts_blocks(data: dict[str, Any]) -> list[Block]:
    alerts = data.get("alerts") or []
    by_rule = data.get("by_rule") or {}
    blocks: list[Block] = [Note(f"{plural(data.get('count', len(alerts)), 'open alert')} at "
                                f"{when(data.get('at'))} UTC")]
    if not alerts:
        return [*blocks, _no_data("no open alerts")]
    blocks.append(_table("by rule", "rule|#open|what it means", [
        (label(rule), count(n), RULE_MEANING.get(rule, "")) for rule, n in by_rule.items()]))
    # The longest open of every rule, so one busy rule does not hide the others.
    per_rule = max(LIMIT // max(len(by_rule), 1), 1)
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for a in alerts:
        grouped[str(a.get("rule"))].append(a)
    for rule, group in grouped.items():
        rows = [(str(a.get("lead_id")), f"{label(a.get('template'))} · {label(a.get('stage'))}",
                 _open_for(a.get("open_hours")), _short_times(str(a.get("detail", ""))))
                for a in group[:per_rule]]
        blocks.append(_table(
            f"{label(rule)}: longest open first", "!lead|template · stage|#open for|detail",
            rows, note=_left_out(len(rows), len(group), "alerts")))
    return blocks


_BUILDERS: dict[str, Callable[[dict[str, Any]], list[Block]]] = {
    "funnel": _funnel_blocks,
    "diagnosis": _diagnosis_blocks,
    "channels": _channels_blocks,
    "losses": _losses_blocks,
    "forecast": _forecast_blocks,
    "cooling": _cooling_blocks,
    "alerts": _alerts_blocks,
}


def report_blocks(name: str, data: dict[str, Any]) -> list[Block]:
    """A report laid out as headings, notes and formatted tables.

    Args:
        name: one of :data:`lifecycle.reports.REPORTS`.
        data: that report's data, as :func:`lifecycle.reports.build_report` returns it.

    Raises:
        ValueError: ``name`` is not a known report.
    """
    builder = _BUILDERS.get(name)
    if builder is None:
        raise ValueError(f"unknown report {name!r}; reports: {', '.join(_BUILDERS)}")
    return builder(data)


# -- terminal ------------------------------------------------------------------------------

_STYLES: dict[str, str] = {"good": "green", "bad": "red", "muted": "dim",
                           "strong": "bold", "": ""}


def _rich_table(table: Table) -> RichTable:
    out = RichTable(
        title=literal(table.title, "bold"), title_justify="left", box=box.SIMPLE_HEAD,
        caption=literal(table.note, "dim") if table.note else None, caption_justify="left",
        show_footer=table.footer is not None, header_style="bold", pad_edge=False,
        show_edge=False,
    )
    for i, column in enumerate(table.columns):
        cells = [row[i].text for row in table.rows]
        if table.footer is not None:
            cells.append(table.footer[i].text)
        widest = max((len(c) for c in cells), default=0)
        # On a narrow console rich shrinks columns: let headers and text wrap, but
        # never cut a number or an id short (``96.…`` would read as a value).
        out.add_column(
            literal(column.header), justify="right" if column.numeric else "left",
            no_wrap=column.no_wrap, overflow="fold",
            min_width=widest if column.no_wrap else min(widest, 12),
            footer=literal(table.footer[i].text, "bold") if table.footer else "",
        )
    for row in table.rows:
        out.add_row(*(literal(c.text, _STYLES[c.tone]) for c in row))
    return out


def render_terminal(name: str, data: dict[str, Any], console: Console) -> None:
    """Prints one report as rich tables (text from the data is never read as markup).

    Args:
        name: one of :data:`lifecycle.reports.REPORTS`.
        data: that report's data, as :func:`lifecycle.reports.build_report` returns it.
        console: where to print.

    Raises:
        ValueError: ``name`` is not a known report.
    """
    blocks = report_blocks(name, data)
    console.print()
    console.rule(Text(REPORT_TITLES.get(name, name), style="bold"), align="left")
    for block in blocks:
        if isinstance(block, Heading):
            console.print()
            console.print(literal(block.text, "bold cyan"))
        elif isinstance(block, Note):
            text = literal(("  • " if block.bullet else "") + block.text, _STYLES[block.tone])
            console.print(text)
        else:
            table = _rich_table(block)
            # A console narrower than the table (80 columns when piped) would crop it or
            # cut numbers short: print it at up to WIDTH columns and let lines run over.
            natural = Measurement.get(console, console.options.update_width(WIDTH), table)
            console.print()
            if natural.maximum <= console.width:
                console.print(table)
                continue
            narrow = console.width
            console.width = natural.maximum
            try:
                console.print(table, crop=False)
            finally:
                console.width = narrow
