"""The HTML report's charts, one figure each (drawn with :mod:`lifecycle.reports.drawing`):

- funnel (per template): bars narrowing from captured to won, with the count of each
  stage and the conversion to the next one against its benchmark;
- time in stage (per template): median and p90 dwell of every stage, in days;
- conversion by channel: lead → MQL, MQL → SQL and SQL → won per channel;
- losses: count per reason, split by the stage the lead was lost from;
- forecast: open amount and both expected values per stage, and the totals against
  the target: in the reporting currency when rates were given, else one chart per
  currency;
- calibration and lift (scoring): a learned model's predicted against observed win
  rate by decile, and each decile's lift over the base rate.

A figure whose numbers are beyond drawing raises ``Undrawable``
(:mod:`lifecycle.reports.drawing`); the page then shows a note instead (the tables stay).
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from lifecycle.reports.drawing import (
    BLUE,
    FULL,
    FUNNEL_COLOURS,
    GREEN,
    HALF,
    INK,
    LIGHT_BLUE,
    MUTED,
    RED,
    SERIES,
    STAGE_COLOURS,
    Undrawable,
    clean_axes,
    drawable,
    num,
    short_money,
)
from lifecycle.reports.layout import (
    LIMIT,
    POOL_ORDER,
    count,
    group_label,
    label,
    money,
    pct,
    plural,
)
from lifecycle.reports.output import visible

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "calibration_chart",
    "channel_chart",
    "dwell_chart",
    "forecast_chart",
    "forecast_charts",
    "funnel_chart",
    "lift_chart",
    "loss_chart",
]


def funnel_chart(t: dict[str, Any]) -> Figure | None:
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
    clean_axes(ax)
    ax.spines["bottom"].set_visible(False)
    won, leads = int(t.get("won") or 0), int(t.get("leads") or 0)
    ax.set_title(f"Funnel: {plural(leads, 'lead')} → {won:,} won "
                 f"({pct(won / leads if leads else None)})")
    return fig


def dwell_chart(t: dict[str, Any]) -> Figure | None:
    from matplotlib.figure import Figure

    stages = [s for s in t.get("stages") or [] if s.get("stage") != "won"]
    dwell = [s.get("dwell_days") or {} for s in stages]
    if not any(d.get("n") for d in dwell):
        return None
    n = len(stages)
    if not drawable([num(d.get(k)) for d in dwell for k in ("median", "p90")]):
        raise Undrawable
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
    clean_axes(ax, grid_axis="x")
    from matplotlib.patches import Patch

    ax.legend(handles=[Patch(color=BLUE, label="median"), Patch(color=LIGHT_BLUE, label="p90")],
              loc="lower right", bbox_to_anchor=(1, 1), ncol=2)
    ax.set_title("Time in stage")
    return fig


def channel_chart(data: dict[str, Any]) -> Figure | None:
    from matplotlib.figure import Figure
    from matplotlib.ticker import PercentFormatter

    channels = (data.get("groups") or [])[:LIMIT]
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
    by = str(data.get("by") or "channel")
    ax.set_xticks(range(n), [f"{_short(group_label(by, c.get('group')))}\n"
                             f"{count(c.get('leads'))} leads" for c in channels], fontsize=8)
    ax.yaxis.set_major_formatter(PercentFormatter(decimals=0))
    highest = max(100 * float(c.get(k) or 0) for c in channels for _, k in series)
    ax.set_ylim(0, min(100.0, highest + 12) if highest > 0 else 100.0)
    clean_axes(ax, grid_axis="y")
    ax.legend(loc="lower right", ncol=3, bbox_to_anchor=(1, 1))
    ax.set_title("Conversion by first channel" if by == "channel"
                 else f"Conversion by {_short(by, 60)}")
    return fig


def _short(text: str, most: int = 24) -> str:
    """A label cut to ``most`` characters: a group may be any value a user sent."""
    return text if len(text) <= most else text[:most - 1] + "…"


def loss_chart(data: dict[str, Any]) -> Figure | None:
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
    clean_axes(ax, grid_axis="x")
    ax.legend(title="lost or disqualified from", title_fontsize=8, loc="center left",
              bbox_to_anchor=(1.01, 0.5), alignment="left")
    ax.set_title("Losses by reason and stage")
    return fig


def forecast_chart(data: dict[str, Any], currency: str | None = None) -> Figure | None:
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
            if int(num(s.get("open"))) > 0 and (f := factor(s)) is not None]
    if not rows:
        return None
    # An amount of null is a sum beyond any float: no bar can show it.
    values = [[num(r.get(k), missing=math.inf) * f for r, f in rows]
              for k in ("amount", "expected_default", "expected_measured")]
    if not drawable([v for series in values for v in series]):
        raise Undrawable
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
    ax.xaxis.set_major_formatter(FuncFormatter(short_money))
    clean_axes(ax, grid_axis="x")
    ax.legend(handles=[Patch(color="#e5e7eb", label="open amount"),
                       Patch(color="#93c5fd", label="expected, default probability"),
                       Patch(color="#1e3a8a", label="expected, measured probability")],
              loc="upper left", bbox_to_anchor=(0, -0.06), ncol=3)
    title = (f"Open pipeline in {unit}{' (converted)' if currency is None else ''}: "
             f"{short_money(sum(amounts))} → expected {short_money(sum(expected_default))} "
             f"(default) / {short_money(sum(expected_measured))} (measured)")
    target = data.get("target")
    if isinstance(target, dict) and target.get("currency") == unit \
            and drawable([num(target.get("amount"))]):
        title += f"; target {short_money(num(target.get('amount')))}"
    ax.set_title(visible(title))
    return fig


def forecast_charts(data: dict[str, Any]) -> list[tuple[str | None, str]]:
    """Which forecast charts to draw: the converted pipeline when rates were given, else
    one per currency (bars of two currencies on one axis would compare nothing)."""
    if data.get("converted"):
        return [(None, "forecast by stage")]
    currencies = sorted({str(s["currency"]) for s in data.get("stages") or []
                         if s.get("currency") and int(num(s.get("open"))) > 0})
    if len(currencies) <= 1:
        return [(c, "forecast by stage") for c in currencies]
    return [(c, f"forecast by stage, {c}") for c in currencies[:MAX_CURRENCY_CHARTS]]


MAX_CURRENCY_CHARTS = 4


def _deciles(rows: Any, keys: tuple[str, ...]) -> list[tuple[int, list[float]]]:
    """(decile, values) of the rows whose values are all numbers."""
    out = []
    for r in rows or []:
        if not isinstance(r, dict):
            continue
        values = [num(r.get(k), missing=math.nan) for k in keys]
        if not any(math.isnan(v) for v in values):
            out.append((int(num(r.get("decile"))), values))
    if not drawable([v for _, vs in out for v in vs]):
        raise Undrawable
    return out


def calibration_chart(data: dict[str, Any]) -> Figure | None:
    """Predicted against observed win rate per decile, on the diagonal when calibrated."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import PercentFormatter

    points = _deciles(data.get("calibration"), ("mean_predicted", "observed"))
    if not points:
        return None
    fig = Figure(figsize=(HALF, 3.6), layout="constrained")
    ax = fig.add_subplot()
    ax.plot([0, 100], [0, 100], color=MUTED, linewidth=0.8, linestyle="--",
            label="perfectly calibrated")
    xs = [100 * v[0] for _, v in points]
    ys = [100 * v[1] for _, v in points]
    ax.plot(xs, ys, color=BLUE, marker="o", markersize=4, linewidth=1.4, label="model")
    labelled: list[tuple[float, float]] = []
    for (decile, _), x, y in zip(points, xs, ys, strict=True):
        if any(abs(x - a) < 2 and abs(y - b) < 2 for a, b in labelled):
            continue  # deciles on one spot (all at 0 %): the first one names it
        labelled.append((x, y))
        ax.annotate(str(decile), (x, y), xytext=(4, -9), textcoords="offset points",
                    fontsize=7, color=MUTED)
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 100)
    ax.xaxis.set_major_formatter(PercentFormatter(decimals=0))
    ax.yaxis.set_major_formatter(PercentFormatter(decimals=0))
    ax.set_xlabel("predicted probability (decile mean)", fontsize=8, color=MUTED)
    ax.set_ylabel("observed win rate", fontsize=8, color=MUTED)
    clean_axes(ax, grid_axis="y")
    ax.legend(loc="upper left")
    ax.set_title("Calibration by decile")
    return fig


def lift_chart(data: dict[str, Any]) -> Figure | None:
    """Each decile's win rate over the base rate, highest predicted first."""
    from matplotlib.figure import Figure

    bars = _deciles(data.get("lift"), ("lift", "cumulative_lift"))
    if not bars:
        return None
    fig = Figure(figsize=(HALF, 3.6), layout="constrained")
    ax = fig.add_subplot()
    xs = [d for d, _ in bars]
    ax.bar(xs, [v[0] for _, v in bars], width=0.7, color=BLUE, label="lift")
    ax.plot(xs, [v[1] for _, v in bars], color=GREEN, marker="o", markersize=3.5,
            linewidth=1.3, label="cumulative lift")
    ax.axhline(1.0, color=RED, linewidth=0.8, linestyle="--", label="base rate")
    ax.set_xticks(xs, [str(d) for d in xs])
    ax.set_xlabel("decile of the predicted probability (1: highest)", fontsize=8,
                  color=MUTED)
    ax.set_ylabel("× base rate", fontsize=8, color=MUTED)
    clean_axes(ax, grid_axis="y")
    ax.legend(loc="upper right")
    ax.set_title("Lift by decile")
    return fig
