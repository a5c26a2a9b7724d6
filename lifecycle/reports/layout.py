"""The layout both renderers share: formatting of values, and the blocks a report is
laid out as (headings, notes and tables of already formatted cells).

Formatting: shares as percentages, days with one decimal, money with thousands
separators and its currency (amounts are totalled per currency, never across), times
in UTC. Long lists are cut at :data:`LIMIT` rows and say how many were left out.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from lifecycle.reports.output import visible

__all__ = [
    "DASH",
    "LIMIT",
    "POOL_ORDER",
    "REPORT_TITLES",
    "Block",
    "Cell",
    "Column",
    "Heading",
    "Note",
    "Table",
    "amounts",
    "as_number",
    "as_of_note",
    "cells_of",
    "count",
    "days",
    "group_label",
    "grouping_note",
    "label",
    "left_out",
    "money",
    "no_data",
    "open_for",
    "pct",
    "plural",
    "short_times",
    "signed_points",
    "table_of",
    "versus",
    "when",
]

LIMIT = 20
"""Rows shown of a long list (leads, alerts, reasons, competitors, cohorts)."""

REPORT_TITLES: dict[str, str] = {
    "funnel": "Funnel",
    "diagnosis": "Funnel diagnosis",
    "channels": "Channels",
    "losses": "Losses",
    "forecast": "Forecast",
    "cooling": "Cooling leads",
    "alerts": "Alerts",
    "quality": "Data quality",
    "scoring": "Scoring",
}

POOL_ORDER = ("captured", "nurturing", "mql", "sql")

Tone = Literal["", "good", "bad", "muted", "strong"]

DASH = "—"


# -- formatting ------------------------------------------------------------------------


def as_number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def pct(value: Any, digits: int = 1) -> str:
    """A share (0..1) as a percentage: ``0.3408`` → ``34.1%``; ``—`` for none."""
    number = as_number(value)
    return DASH if number is None else f"{number * 100:.{digits}f}%"


def days(value: Any) -> str:
    """Days with one decimal; ``—`` for none."""
    number = as_number(value)
    return DASH if number is None else f"{number:,.1f}"


def money(value: Any) -> str:
    """An amount with thousands separators, no decimals; ``—`` for none. Beyond a
    quadrillion in scientific notation (``1.000e+308``): hundreds of digits read as
    nothing, and no real deal is that large."""
    number = as_number(value)
    if number is None:
        return DASH
    return f"{number:.3e}" if abs(number) >= 1e15 else f"{number:,.0f}"


def count(value: Any) -> str:
    """A whole number with thousands separators; ``—`` for none."""
    number = as_number(value)
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
    one = as_number(n) == 1
    return f"{count(n)} {word if one else (words or word + 's')}"


def label(name: Any) -> str:
    """A stage, reason or channel name for reading: ``competitor_won`` → ``competitor won``."""
    return visible(name).replace("_", " ") if name is not None and str(name).strip() else DASH


_ISO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:[+-]\d\d:\d\d|Z)?")


def short_times(text: str) -> str:
    return _ISO_TIME.sub(lambda m: when(m.group(0)), text)


def open_for(hours: Any) -> str:
    number = as_number(hours)
    if number is None:
        return DASH
    return f"{number:,.1f} h" if number < 48 else f"{number / 24:,.1f} d"


def signed_points(delta: float) -> str:
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


def cells_of(values: Iterable[str | Cell]) -> tuple[Cell, ...]:
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


def table_of(title: str, spec: str, rows: Iterable[Iterable[str | Cell]], *,
             footer: Iterable[str | Cell] | None = None, note: str | None = None) -> Table:
    return Table(title, _columns(spec), tuple(cells_of(r) for r in rows),
                 None if footer is None else cells_of(footer), note)


def left_out(shown: int, total: int, what: str) -> str | None:
    if total <= shown:
        return None
    return f"showing {shown:,} of {total:,} {what}; {total - shown:,} more not shown"


def versus(value: Any, benchmark: Any) -> Cell:
    """A conversion, red below its benchmark and green at or above it."""
    conv, bench = as_number(value), as_number(benchmark)
    if conv is None:
        return Cell(DASH, "muted")
    if bench is None:
        return Cell(pct(conv))
    return Cell(pct(conv), "bad" if conv < bench else "good")


def as_of_note(as_of: Any) -> Note:
    if as_of is None:
        return Note("all recorded history", "muted")
    return Note(f"as of {when(as_of)} UTC (business time)", "muted")


def group_label(by: Any, value: Any) -> str:
    """A group's name for reading: a property's value exactly as given (``a_b`` is not
    ``a b``), other dimensions' tokens as :func:`label` shows them."""
    if str(by).startswith("property:"):
        return visible(value) if value is not None and str(value) else DASH
    return label(value)


def grouping_note(data: dict[str, Any]) -> Note:
    """How a report's leads were grouped (``--by``), and how many values were pooled."""
    pooled = int(as_number(data.get("groups_pooled")) or 0)
    text = f"grouped by {visible(data.get('by'))}; a lead without a value is in (none)"
    if pooled:
        text += (f"; the {count(data.get('top'))} largest groups are shown, "
                 f"{plural(pooled, 'smaller value')} pooled as (other)")
    return Note(text, "muted")


def no_data(what: str) -> Note:
    return Note(f"no data: {what}", "muted")


def amounts(items: Any) -> str:
    """Per-currency amounts for reading: ``5,000 EUR; 1,500,000 JPY``; ``—`` for none."""
    parts = [f"{money(a.get('amount'))} {a.get('currency') or '(no currency)'}"
             for a in items or () if isinstance(a, dict)]
    return "; ".join(parts) or DASH
