"""The reports as one self-contained HTML file, with charts.

Every report gets a section (``id`` = the report's name) holding the same tables as
the terminal (:func:`lifecycle.reports.render.report_blocks`) and, where a picture
helps, charts drawn by matplotlib as inline SVG:

- funnel (per template): bars narrowing from captured to won, with the count of each
  stage and the conversion to the next one against its benchmark;
- time in stage (per template): median and p90 dwell of every stage, in days;
- conversion by channel: lead → MQL, MQL → SQL and SQL → won per channel;
- losses: count per reason, split by the stage the lead was lost from;
- forecast: open amount and both expected values per stage, and the totals against
  the target: in the reporting currency when rates were given, else one chart per
  currency.

Whatever the data holds, the page is produced: text is escaped (control characters
shown as symbols), and a chart whose numbers are beyond drawing is replaced by a note.

The file needs nothing else to open: CSS is inline, text uses the reader's own fonts,
charts carry their glyphs as paths, and there are no scripts, links or external URLs.
"""

from __future__ import annotations

import html
import io
import math
import re
import textwrap
import warnings
from collections import defaultdict
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from lifecycle.reports.output import visible
from lifecycle.reports.render import (
    LIMIT,
    POOL_ORDER,
    REPORT_TITLES,
    Block,
    Cell,
    Heading,
    Note,
    Table,
    count,
    label,
    money,
    pct,
    plural,
    report_blocks,
    when,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.typing import RcKeyType

__all__ = ["write_html"]

# Colours: one blue family for the funnel, green for won, red for what went wrong.
INK, MUTED, GRID = "#1f2937", "#6b7280", "#e5e7eb"
BLUE, LIGHT_BLUE, GREEN, RED, AMBER = "#2563eb", "#bfdbfe", "#16a34a", "#dc2626", "#d97706"
FUNNEL_COLOURS = ("#1e3a8a", "#1e40af", "#1d4ed8", "#2563eb", "#3b82f6", "#0e7490",
                  "#0891b2", "#0d9488", "#14b8a6")
SERIES = ("#93c5fd", "#3b82f6", "#1e3a8a")
STAGE_COLOURS = ("#1e3a8a", "#3b82f6", "#93c5fd", "#0d9488", "#5eead4", "#d97706",
                 "#fcd34d", "#9ca3af")

# Figure widths in inches: half and full width of a section at 1 pt = 4/3 px.
HALF, FULL = 5.6, 11.4

RC: dict[RcKeyType, Any] = {
    "svg.fonttype": "path",
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.edgecolor": GRID,
    "axes.labelcolor": INK,
    "axes.titlesize": 10.5,
    "axes.titleweight": "bold",
    "axes.titlecolor": INK,
    "axes.titlelocation": "left",
    "axes.titlepad": 10,
    "xtick.color": MUTED,
    "ytick.color": INK,
    "text.color": INK,
    "legend.frameon": False,
    "legend.fontsize": 8.5,
    # Labels are data (channel names, stages): "$x$" in one is text, not TeX to parse.
    "text.parse_math": False,
}

CSS = """
*{box-sizing:border-box}
body{margin:0;background:#f3f4f6;color:#1f2937;font:14px/1.45 system-ui,-apple-system,
"Segoe UI",Roboto,"Helvetica Neue",Arial,"Liberation Sans","DejaVu Sans",sans-serif}
header{background:#111827;color:#f9fafb;padding:22px 32px 16px}
header h1{margin:0 0 4px;font-size:22px;font-weight:650}
header .meta{color:#9ca3af;font-size:12.5px}
nav{margin-top:12px;display:flex;flex-wrap:wrap;gap:6px}
nav a{color:#e5e7eb;text-decoration:none;font-size:12.5px;padding:3px 10px;border-radius:999px;
background:#1f2937}
main{max-width:1200px;margin:0 auto;padding:20px 24px 40px}
.kpis{display:grid;grid-template-columns:repeat(auto-fill,minmax(128px,1fr));gap:10px;
margin-bottom:18px}
.kpi{background:#fff;border-radius:8px;padding:10px 12px;box-shadow:0 1px 2px rgba(0,0,0,.06)}
.kpi .v{font-size:21px;font-weight:650;font-variant-numeric:tabular-nums}
.kpi .k{color:#6b7280;font-size:11px;text-transform:uppercase;letter-spacing:.04em;
white-space:nowrap}
.kpi .s{color:#6b7280;font-size:11.5px}
section{background:#fff;border-radius:10px;padding:18px 22px 12px;margin-bottom:18px;
box-shadow:0 1px 3px rgba(0,0,0,.07)}
h2{margin:0 0 6px;font-size:18px;font-weight:650}
h3{margin:20px 0 6px;font-size:15px;font-weight:600;color:#1e3a8a;
border-top:1px solid #e5e7eb;padding-top:14px}
h2+p+h3,h2+h3{border-top:0;padding-top:0;margin-top:8px}
p{margin:4px 0}
ul.findings{margin:6px 0 10px;padding-left:20px}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:14px;
margin:10px 0 6px}
.charts.single{grid-template-columns:1fr}
figure{margin:0}
svg.chart{display:block;max-width:100%;height:auto;margin:0 auto}
.table{overflow-x:auto;margin:10px 0 8px}
table{border-collapse:collapse;font-size:12.5px;font-variant-numeric:tabular-nums}
caption{text-align:left;font-weight:600;padding:2px 0 6px;color:#374151}
th{font-weight:600;color:#4b5563;border-bottom:2px solid #d1d5db;padding:4px 10px;
text-align:left;vertical-align:bottom;white-space:nowrap}
td{padding:3px 10px;border-bottom:1px solid #f0f1f3;white-space:nowrap}
td.wrap{white-space:normal;min-width:14em}
tbody tr:nth-child(even){background:#f9fafb}
tfoot td{font-weight:650;border-top:2px solid #d1d5db;border-bottom:0}
th.n,td.n{text-align:right}
td.id{font-family:ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:11.5px}
.note{color:#6b7280;font-size:12px;margin:4px 0 0}
.good{color:#15803d}.bad{color:#b91c1c}.muted{color:#9ca3af}
.strong{font-weight:650}
.nodata{color:#6b7280;font-style:italic}
footer{color:#9ca3af;font-size:12px;text-align:center;padding:0 0 30px}
@media print{body{background:#fff}section{box-shadow:none;break-inside:avoid-page}
header{background:#fff;color:#111827}nav{display:none}}
"""


def _e(text: Any) -> str:
    # visible(): a NUL or an escape character in the data is an HTML parse error, and a
    # lone surrogate cannot be written as UTF-8 at all; both are shown as symbols.
    return html.escape(visible(text), quote=True)


DRAWABLE = 1e15
"""Largest magnitude a chart draws: beyond it axis limits and ticks overflow (and no
reader can compare such bars); the chart is then left out with a note, the tables stay."""


def _drawable(values: list[float]) -> bool:
    return all(math.isfinite(v) and abs(v) <= DRAWABLE for v in values)


# -- charts ------------------------------------------------------------------------------


def _short_money(value: float, _pos: Any = None) -> str:
    size = abs(value)
    if size >= 1e6:
        return f"{value / 1e6:,.1f}M"
    if size >= 1e3:
        return f"{value / 1e3:,.0f}k"
    return f"{value:,.0f}"


def _clean(ax: Axes, *, grid_axis: Literal["x", "y"] | None = None) -> None:
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.tick_params(length=0)
    if grid_axis is not None:
        ax.grid(axis=grid_axis, color=GRID, linewidth=0.8)
        ax.set_axisbelow(True)


def _wrap(text: str, width: int = 14) -> str:
    return "\n".join(textwrap.wrap(text, width)) or text


def _funnel_chart(t: dict[str, Any]) -> Figure | None:
    from matplotlib.figure import Figure

    stages = t.get("stages") or []
    entered = [int(s.get("entered") or 0) for s in stages]
    if not stages or not any(entered):
        return None
    n, top = len(stages), max(entered)
    fig = Figure(figsize=(HALF, 0.36 * n + 1.0), layout="constrained")
    ax = fig.add_subplot()
    for i, (s, w) in enumerate(zip(stages, entered, strict=True)):
        y = n - 1 - i
        colour = GREEN if s.get("stage") == "won" else FUNNEL_COLOURS[min(i, 8)]
        ax.barh(y, max(w, top * 0.004), left=-max(w, top * 0.004) / 2, height=0.74,
                color=colour)
        if w >= top * 0.16:
            ax.text(0, y, f"{w:,}", ha="center", va="center", color="white",
                    fontsize=8.5, fontweight="bold")
        else:
            ax.text(w / 2 + top * 0.015, y, f"{w:,}", ha="left", va="center", fontsize=8.5)
        conv, bench = s.get("conversion_to_next"), s.get("benchmark_conversion")
        if s.get("next_stage") is not None and conv is not None:
            below = bench is not None and conv < bench
            ax.annotate(f"↓ {pct(conv)}", (top * 0.53, y - 0.5), ha="left", va="center",
                        fontsize=8, color=RED if below else GREEN, fontweight="bold")
            if bench is not None:
                ax.annotate(f"benchmark {pct(bench, 0)}", (top * 0.53, y - 0.5),
                            xytext=(50, 0), textcoords="offset points", ha="left",
                            va="center", fontsize=7.5, color=MUTED)
    ax.set_yticks(range(n), [label(s.get("stage")) for s in reversed(stages)])
    ax.set_xticks([])
    ax.set_xlim(-top * 0.52, top * 0.56)
    ax.set_ylim(-0.6, n - 0.4)
    _clean(ax)
    ax.spines["bottom"].set_visible(False)
    won, leads = int(t.get("won") or 0), int(t.get("leads") or 0)
    ax.set_title(f"Funnel: {plural(leads, 'lead')} → {won:,} won "
                 f"({pct(won / leads if leads else None)})")
    return fig


def _dwell_chart(t: dict[str, Any]) -> Figure | None:
    from matplotlib.figure import Figure

    stages = [s for s in t.get("stages") or [] if s.get("stage") != "won"]
    dwell = [s.get("dwell_days") or {} for s in stages]
    if not any(d.get("n") for d in dwell):
        return None
    n = len(stages)
    if not _drawable([_num(d.get(k)) for d in dwell for k in ("median", "p90")]):
        raise _Undrawable
    longest = max(float(d.get("p90") or 0) for d in dwell) or 1.0
    fig = Figure(figsize=(HALF, 0.36 * n + 1.0), layout="constrained")
    ax = fig.add_subplot()
    for i, d in enumerate(dwell):
        y = n - 1 - i
        med, p90 = d.get("median"), d.get("p90")
        if med is None or p90 is None:
            ax.text(0, y, "  no completed stays", va="center", fontsize=7.5, color=MUTED)
            continue
        ax.barh(y, p90, height=0.62, color=LIGHT_BLUE, label="p90" if i == 0 else None)
        ax.barh(y, med, height=0.62, color=BLUE, label="median" if i == 0 else None)
        ax.text(p90 + longest * 0.02, y, f"{med:,.1f} / {p90:,.1f}", va="center", fontsize=7.5,
                color=INK)
    ax.set_yticks(range(n), [label(s.get("stage")) for s in reversed(stages)])
    ax.set_xlim(0, longest * 1.25)
    ax.set_ylim(-0.6, n - 0.4)
    ax.set_xlabel("days in stage (median / p90 of completed stays)", fontsize=8, color=MUTED)
    _clean(ax, grid_axis="x")
    from matplotlib.patches import Patch

    ax.legend(handles=[Patch(color=BLUE, label="median"), Patch(color=LIGHT_BLUE, label="p90")],
              loc="lower right", bbox_to_anchor=(1, 1), ncol=2)
    ax.set_title("Time in stage")
    return fig


def _channel_chart(data: dict[str, Any]) -> Figure | None:
    from matplotlib.figure import Figure
    from matplotlib.ticker import PercentFormatter

    channels = (data.get("channels") or [])[:LIMIT]
    if not channels:
        return None
    n = len(channels)
    # At least half a section wide: the legend's three entries need it even for a
    # single channel (narrower, constrained layout collapses the axes).
    fig = Figure(figsize=(min(FULL, max(HALF, 1.0 * n + 1.6)), 3.7), layout="constrained")
    ax = fig.add_subplot()
    width = 0.27
    series = (("lead → MQL", "lead_to_mql"), ("MQL → SQL", "mql_to_sql"),
              ("SQL → won", "sql_to_won"))
    for k, (name, key) in enumerate(series):
        xs = [i + (k - 1) * width for i in range(n)]
        values = [100 * float(c.get(key) or 0) for c in channels]
        bars = ax.bar(xs, values, width=width * 0.94, color=SERIES[k], label=name)
        for bar, c, v in zip(bars, channels, values, strict=True):
            if c.get(key) is not None:
                ax.text(bar.get_x() + bar.get_width() / 2, v + 1.2, f"{v:.0f}", ha="center",
                        va="bottom", fontsize=6.8, color=MUTED)
    ax.set_xticks(range(n), [f"{label(c.get('channel'))}\n{count(c.get('leads'))} leads"
                             for c in channels], fontsize=8)
    ax.yaxis.set_major_formatter(PercentFormatter(decimals=0))
    highest = max(100 * float(c.get(k) or 0) for c in channels for _, k in series)
    ax.set_ylim(0, min(100.0, highest + 12) if highest > 0 else 100.0)
    _clean(ax, grid_axis="y")
    ax.legend(loc="lower right", ncol=3, bbox_to_anchor=(1, 1))
    ax.set_title("Conversion by first channel")
    return fig


def _loss_chart(data: dict[str, Any]) -> Figure | None:
    from matplotlib.figure import Figure

    cells = data.get("cells") or []
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    per_stage: dict[str, int] = defaultdict(int)
    for c in cells:
        n = int(c.get("count") or 0)
        counts[str(c.get("reason"))][str(c.get("stage"))] += n
        per_stage[str(c.get("stage"))] += n
    if not counts:
        return None
    reasons = sorted(counts, key=lambda r: -sum(counts[r].values()))[:LIMIT]
    busiest = sorted(per_stage, key=lambda s: -per_stage[s])
    kept = busiest[: len(STAGE_COLOURS) - 1] if len(busiest) > len(STAGE_COLOURS) else busiest
    order = sorted(kept, key=lambda s: (POOL_ORDER.index(s) if s in POOL_ORDER
                                        else len(POOL_ORDER), -per_stage[s], s))
    segments = [(label(s), [counts[r].get(s, 0) for r in reasons]) for s in order]
    other = [sum(v for s, v in counts[r].items() if s not in kept) for r in reasons]
    if any(other):
        segments.append(("other stages", other))
    n = len(reasons)
    fig = Figure(figsize=(FULL, 0.4 * n + 1.3), layout="constrained")
    ax = fig.add_subplot()
    ys = [n - 1 - i for i in range(n)]
    left = [0] * n
    for k, (name, values) in enumerate(segments):
        ax.barh(ys, values, left=left, height=0.66, label=name,
                color=STAGE_COLOURS[k % len(STAGE_COLOURS)])
        left = [a + b for a, b in zip(left, values, strict=True)]
    most = max(left) or 1
    for y, total in zip(ys, left, strict=True):
        ax.text(total + most * 0.01, y, f"{total:,}", va="center", fontsize=8)
    ax.set_yticks(ys, [label(r) for r in reasons])
    ax.set_xlim(0, most * 1.08)
    _clean(ax, grid_axis="x")
    ax.legend(title="lost or disqualified from", title_fontsize=8, loc="center left",
              bbox_to_anchor=(1.01, 0.5), alignment="left")
    ax.set_title("Losses by reason and stage")
    return fig


def _forecast_chart(data: dict[str, Any], currency: str | None = None) -> Figure | None:
    """The open pipeline of one currency by stage (``None``: the converted amounts)."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch
    from matplotlib.ticker import FuncFormatter

    conversion = data.get("converted") or {}
    rates = conversion.get("rates") or {}

    def factor(row: dict[str, Any]) -> float | None:
        if currency is not None:
            return 1.0 if row.get("currency") == currency else None
        rate = rates.get(row.get("currency"))
        return float(rate) if isinstance(rate, int | float) else None

    rows = [(s, f) for s in data.get("stages") or []
            if int(_num(s.get("open"))) > 0 and (f := factor(s)) is not None]
    if not rows:
        return None
    # An amount of null is a sum beyond any float: no bar can show it.
    values = [[_num(r.get(k), missing=math.inf) * f for r, f in rows]
              for k in ("amount", "expected_default", "expected_measured")]
    if not _drawable([v for series in values for v in series]):
        raise _Undrawable
    amounts, expected_default, expected_measured = values
    unit = currency or str(conversion.get("currency"))
    n = len(rows)
    fig = Figure(figsize=(FULL, 0.34 * n + 1.3), layout="constrained")
    ax = fig.add_subplot()
    ys = [n - 1 - i for i in range(n)]
    # A bullet chart: the open amount, and inside it what each probability expects of it.
    ax.barh(ys, amounts, height=0.78, color="#e5e7eb")
    ax.barh(ys, expected_default, height=0.5, color="#93c5fd")
    ax.barh(ys, expected_measured, height=0.22, color="#1e3a8a")
    most = max(amounts) or 1.0
    for y, (r, _), amount in zip(ys, rows, amounts, strict=True):
        ax.text(amount + most * 0.01, y, f"{money(amount)}  ({count(r.get('open'))} open)",
                va="center", fontsize=7.5, color=MUTED)
    ax.set_yticks(ys, [f"{label(r.get('template'))} · {label(r.get('stage'))}"
                       for r, _ in rows], fontsize=8)
    ax.set_xlim(0, most * 1.18)
    ax.xaxis.set_major_formatter(FuncFormatter(_short_money))
    _clean(ax, grid_axis="x")
    ax.legend(handles=[Patch(color="#e5e7eb", label="open amount"),
                       Patch(color="#93c5fd", label="expected, default probability"),
                       Patch(color="#1e3a8a", label="expected, measured probability")],
              loc="upper left", bbox_to_anchor=(0, -0.06), ncol=3)
    title = (f"Open pipeline in {unit}{' (converted)' if currency is None else ''}: "
             f"{_short_money(sum(amounts))} → expected {_short_money(sum(expected_default))} "
             f"(default) / {_short_money(sum(expected_measured))} (measured)")
    target = data.get("target")
    if isinstance(target, dict) and target.get("currency") == unit \
            and _drawable([_num(target.get("amount"))]):
        title += f"; target {_short_money(_num(target.get('amount')))}"
    ax.set_title(visible(title))
    return fig


def _forecast_charts(data: dict[str, Any]) -> list[tuple[str | None, str]]:
    """Which forecast charts to draw: the converted pipeline when rates were given, else
    one per currency (bars of two currencies on one axis would compare nothing)."""
    if data.get("converted"):
        return [(None, "forecast by stage")]
    currencies = sorted({str(s["currency"]) for s in data.get("stages") or []
                         if s.get("currency") and int(_num(s.get("open"))) > 0})
    if len(currencies) <= 1:
        return [(c, "forecast by stage") for c in currencies]
    return [(c, f"forecast by stage, {c}") for c in currencies[:MAX_CURRENCY_CHARTS]]


MAX_CURRENCY_CHARTS = 4


def _num(value: Any, *, missing: float = 0.0) -> float:
    """A number of the data for a chart (``missing`` for none)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return missing
    return float(value)


class _Undrawable(Exception):
    """A chart's values are beyond what it can draw (see :data:`DRAWABLE`)."""


_ID = re.compile(r'\bid="([^"]+)"')


def _svg(fig: Figure, name: str, description: str) -> str:
    """The figure as an inline ``<svg>``: no prolog, no DTD, ids unique in the page."""
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg",
                metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r"<!--.*?-->", "", svg, flags=re.S)
    # The HTML parser knows the xlink prefix; declaring it would be an external URL.
    svg = svg.replace(' xmlns:xlink="http://www.w3.org/1999/xlink"', "")
    svg = svg.replace("<svg ", f'<svg class="chart" role="img" aria-label="{_e(description)}" ',
                      1)
    # Inline SVGs share the page's id space: prefix every id and every reference to it.
    svg = _ID.sub(lambda m: f'id="{name}-{m.group(1)}"', svg)
    svg = re.sub(r'(href=")#', rf"\1#{name}-", svg)
    svg = re.sub(r"url\(#", f"url(#{name}-", svg)
    return re.sub(r"\n\s*", "\n", svg).strip()


class _Charts:
    """Draws figures to SVG one at a time, each with a page-unique id prefix."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, draw: Callable[[], Figure | None], description: str) -> str | None:
        # A glyph the font lacks (an emoji in a channel name) is drawn as a box, a label
        # matplotlib will not show (empty, "_hidden") is left out: their warnings would
        # only reach the reader's terminal.
        with warnings.catch_warnings():
            # (matplotlib attributes them to its caller, so no module filter matches.)
            warnings.simplefilter("ignore", UserWarning)
            try:
                fig = draw()
            except _Undrawable:
                return (f'<p class="note">{_e(description)}: chart left out, its values are '
                        "beyond what a chart can draw (see the table)</p>")
            if fig is None:
                return None
            self.count += 1
            return _svg(fig, f"c{self.count}", description)


# -- HTML ----------------------------------------------------------------------------------


def _cell(cell: Cell, tag: str, classes: list[str]) -> str:
    if cell.tone:
        classes = [*classes, cell.tone]
    attr = f' class="{" ".join(classes)}"' if classes else ""
    return f"<{tag}{attr}>{_e(cell.text)}</{tag}>"


def _table_html(table: Table) -> str:
    numeric = [c.numeric for c in table.columns]
    head = "".join(
        ('<th class="n">' if c.numeric else "<th>")
        + "<br>".join(_e(part) for part in c.header.split("\n")) + "</th>"
        for c in table.columns)

    def classes(i: int) -> list[str]:
        column = table.columns[i]
        if column.numeric:
            return ["n"]
        if column.no_wrap:
            return ["id"]
        return ["wrap"] if i == len(table.columns) - 1 else []

    body = "".join(
        "<tr>" + "".join(_cell(c, "td", classes(i)) for i, c in enumerate(row)) + "</tr>"
        for row in table.rows)
    foot = ""
    if table.footer is not None:
        foot = "<tfoot><tr>" + "".join(
            _cell(c, "td", ["n"] if numeric[i] else []) for i, c in enumerate(table.footer)
        ) + "</tr></tfoot>"
    note = f'<p class="note">{_e(table.note)}</p>' if table.note else ""
    return (f'<div class="table"><table><caption>{_e(table.title)}</caption>'
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody>{foot}</table>{note}</div>")


def _blocks_html(blocks: list[Block], charts_after: dict[str, list[str]], top: str) -> str:
    """The blocks as HTML: ``top`` goes after the leading notes, ``charts_after[key]``
    after the heading with that key."""
    out: list[str] = []
    items: list[str] = []

    def flush() -> None:
        if items:
            out.append('<ul class="findings">' + "".join(items) + "</ul>")
            items.clear()

    for block in blocks:
        if isinstance(block, Note) and block.bullet:
            tone = f' class="{block.tone}"' if block.tone else ""
            items.append(f"<li{tone}>{_e(block.text)}</li>")
            continue
        flush()
        if top and not isinstance(block, Note):
            out.append(top)
            top = ""
        if isinstance(block, Heading):
            out.append(f"<h3>{_e(block.text)}</h3>")
            out.extend(charts_after.get(block.key or "", []))
        elif isinstance(block, Note):
            tone = "nodata" if block.text.startswith("no data") else block.tone
            out.append(f'<p class="{tone}">{_e(block.text)}</p>' if tone
                       else f"<p>{_e(block.text)}</p>")
        else:
            out.append(_table_html(block))
    flush()
    if top:
        out.append(top)
    return "\n".join(out)


def _figures(svgs: list[str | None], *, single: bool = False) -> str:
    kept = [s for s in svgs if s is not None]
    if not kept:
        return ""
    cls = "charts single" if single or len(kept) == 1 else "charts"
    return f'<div class="{cls}">' + "".join(f"<figure>{s}</figure>" for s in kept) + "</div>"


def _section(name: str, data: dict[str, Any], chart: _Charts) -> str:
    blocks = report_blocks(name, data)
    top = ""
    per_key: dict[str, list[str]] = {}
    if name == "funnel":
        for t in data.get("templates") or []:
            key = str(t.get("template", ""))
            figures = _figures([
                chart(partial(_funnel_chart, t), f"funnel of {key}"),
                chart(partial(_dwell_chart, t), f"time in stage, {key}"),
            ])
            per_key[key] = [figures] if figures else []
    elif name == "channels":
        top = _figures([chart(lambda: _channel_chart(data), "conversion by channel")],
                       single=True)
    elif name == "losses":
        top = _figures([chart(lambda: _loss_chart(data), "losses by reason and stage")],
                       single=True)
    elif name == "forecast":
        top = _figures([chart(partial(_forecast_chart, data, c), description)
                        for c, description in _forecast_charts(data)], single=True)
    title = REPORT_TITLES.get(name, name)
    body = _blocks_html(blocks, per_key, top)
    return f'<section id="{_e(name)}">\n<h2>{_e(title)}</h2>\n{body}\n</section>'


def _kpis(reports: dict[str, dict[str, Any]]) -> str:
    cards: list[tuple[str, str, str]] = []
    templates = (reports.get("funnel") or {}).get("templates") or []
    if "funnel" in reports:
        leads = sum(int(t.get("leads") or 0) for t in templates)
        mql = sum(int(t.get("mql") or 0) for t in templates)
        sql = sum(int(t.get("sql") or 0) for t in templates)
        won = sum(int(t.get("won") or 0) for t in templates)
        cards += [
            ("leads", count(leads), plural(len(templates), "funnel template")),
            ("MQL", count(mql), f"{pct(mql / leads if leads else None)} of leads"),
            ("SQL", count(sql), f"{pct(sql / mql if mql else None)} of MQLs"),
            ("won", count(won), f"{pct(won / sql if sql else None)} of SQLs"),
        ]
    forecast = reports.get("forecast")
    if forecast is not None:
        cards.extend(_forecast_kpis(forecast))
    if "alerts" in reports:
        cards.append(("open alerts", count(reports["alerts"].get("count", 0)),
                      f"{plural(len(reports['alerts'].get('by_rule') or {}), 'rule')} firing"))
    if "cooling" in reports:
        cards.append(("cooling leads", count(reports["cooling"].get("count", 0)),
                      "Hot/Warm going cold"))
    if not cards:
        return ""
    return '<div class="kpis">' + "".join(
        f'<div class="kpi"><div class="k">{_e(k)}</div><div class="v">{_e(v)}</div>'
        f'<div class="s">{_e(s)}</div></div>' for k, v, s in cards) + "</div>"


def _forecast_kpis(forecast: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Open pipeline and expected revenue: converted, or in the one currency there is;
    several currencies without rates are counted, never added up."""
    opened = sum(int(_num(s.get("open"))) for s in forecast.get("stages") or [])
    totals = forecast.get("totals") or []
    basis = forecast.get("converted") or (totals[0] if len(totals) == 1 else None)
    if basis is None:
        many = plural(len(totals), "currency", "currencies")
        return [("open pipeline", f"{count(opened)} open", f"in {many}; see the forecast")]

    def amount(key: str) -> str:
        value = basis.get(key)
        if not isinstance(value, int | float) or not _drawable([float(value)]):
            return money(value)
        return f"{_short_money(float(value))} {basis.get('currency')}"

    target = forecast.get("target")
    gap = target.get("gap_measured") if isinstance(target, dict) else None
    sub = "with measured win rates"
    if isinstance(gap, int | float) and _drawable([float(gap)]):
        sub = f"{_short_money(abs(gap))} {'short of' if gap > 0 else 'ahead of'} target"
    return [("open pipeline", amount("pipeline"),
             plural(opened, "open opportunity", "open opportunities")),
            ("expected revenue", amount("expected_measured"), sub)]


def write_html(
    reports: dict[str, dict[str, Any]],
    path: Path,
    *,
    title: str = "Lead lifecycle report",
    generated_at: str | None = None,
) -> None:
    """Writes the reports into one self-contained HTML file.

    Args:
        reports: report data by report name (any of :data:`lifecycle.reports.REPORTS`),
            as :func:`lifecycle.reports.build_report` returns it; sections follow the
            order of the mapping.
        path: the file to write (its directory must exist).
        title: the page's title.
        generated_at: the time to print as "generated"; now (UTC) by default.

    Raises:
        ValueError: a report name is not known.
    """
    import matplotlib

    matplotlib.use("Agg")
    stamp = generated_at or datetime.now(UTC).isoformat(timespec="seconds")
    chart = _Charts()
    with matplotlib.rc_context(RC):
        sections = [_section(name, data, chart) for name, data in reports.items()]
    nav = "".join(f'<a href="#{_e(name)}">{_e(REPORT_TITLES.get(name, name))}</a>'
                  for name in reports)
    document = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title>
<style>{CSS}</style>
</head>
<body>
<header>
<h1>{_e(title)}</h1>
<div class="meta">generated {_e(when(stamp))} UTC</div>
<nav>{nav}</nav>
</header>
<main>
{_kpis(reports)}
{chr(10).join(sections)}
</main>
<footer>lead lifecycle engine · figures from the projections at generation time</footer>
</body>
</html>
"""
    path.write_text(document, encoding="utf-8", errors="replace")
