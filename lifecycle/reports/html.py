"""The reports as one self-contained HTML file, with charts.

Every report gets a section (``id`` = the report's name) holding the same tables as
the terminal (:func:`lifecycle.reports.blocks.report_blocks`) and, where a picture
helps, charts (:mod:`lifecycle.reports.charts`, the ``[html]`` extra).

Whatever the data holds, the page is produced: text is escaped (control characters
shown as symbols), and a chart whose numbers are beyond drawing is replaced by a note.

The file needs nothing else to open: CSS is inline, text uses the reader's own fonts,
charts carry their glyphs as paths, and there are no scripts, links or external URLs.

Lists of leads are shown whole (:data:`~lifecycle.reports.blocks.activity.FULL_LISTS`):
the first :data:`~lifecycle.reports.layout.LIMIT` rows of a table, the others in a
``<details>`` element that opens on a click. That keeps the page one self-contained
file (a CSV beside it would be lost when the page is mailed or archived) without any
script; a CSV of every lead is ``lifecycle leads export``'s job.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from lifecycle.reports.blocks import report_blocks
from lifecycle.reports.blocks.activity import FULL_LISTS
from lifecycle.reports.charts import (
    calibration_chart,
    channel_chart,
    dwell_chart,
    forecast_chart,
    forecast_charts,
    funnel_chart,
    lift_chart,
    loss_chart,
)
from lifecycle.reports.drawing import Charts, charts, drawable, num, short_money
from lifecycle.reports.layout import (
    LIMIT,
    REPORT_TITLES,
    Block,
    Cell,
    Heading,
    Note,
    Table,
    count,
    money,
    pct,
    plural,
    when,
)
from lifecycle.reports.output import html_text

__all__ = ["write_html"]

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
details{margin:2px 0 0}
summary{cursor:pointer;color:#1e40af;font-size:12.5px;padding:2px 0}
.good{color:#15803d}.bad{color:#b91c1c}.muted{color:#9ca3af}
.strong{font-weight:650}
.nodata{color:#6b7280;font-style:italic}
footer{color:#9ca3af;font-size:12px;text-align:center;padding:0 0 30px}
@media print{body{background:#fff}section{box-shadow:none;break-inside:avoid-page}
header{background:#fff;color:#111827}nav{display:none}}
"""


# -- HTML ----------------------------------------------------------------------------------


def _cell(cell: Cell, tag: str, classes: list[str]) -> str:
    if cell.tone:
        classes = [*classes, cell.tone]
    attr = f' class="{" ".join(classes)}"' if classes else ""
    return f"<{tag}{attr}>{html_text(cell.text)}</{tag}>"


def _table_html(table: Table, *, fold: bool = False) -> str:
    """A table; with ``fold``, a long list's rows after the first :data:`LIMIT` go in a
    ``<details>`` element below it."""
    numeric = [c.numeric for c in table.columns]
    head = "".join(
        ('<th class="n">' if c.numeric else "<th>")
        + "<br>".join(html_text(part) for part in c.header.split("\n")) + "</th>"
        for c in table.columns)

    def classes(i: int) -> list[str]:
        column = table.columns[i]
        if column.numeric:
            return ["n"]
        if column.no_wrap:
            return ["id"]
        return ["wrap"] if i == len(table.columns) - 1 else []

    def body(rows: tuple[tuple[Cell, ...], ...]) -> str:
        return "".join(
            "<tr>" + "".join(_cell(c, "td", classes(i)) for i, c in enumerate(row)) + "</tr>"
            for row in rows)

    # A long list: its first rows in view, every other one a click away (same columns).
    shown, rest = (table.rows[:LIMIT], table.rows[LIMIT:]) if fold else (table.rows, ())
    more = ""
    if rest:
        more = (f"<details><summary>show the other {len(rest):,} of {len(table.rows):,} "
                f"rows</summary><table><thead><tr>{head}</tr></thead>"
                f"<tbody>{body(rest)}</tbody></table></details>")
    foot = ""
    if table.footer is not None:
        foot = "<tfoot><tr>" + "".join(
            _cell(c, "td", ["n"] if numeric[i] else []) for i, c in enumerate(table.footer)
        ) + "</tr></tfoot>"
    note = f'<p class="note">{html_text(table.note)}</p>' if table.note else ""
    return (f'<div class="table"><table><caption>{html_text(table.title)}</caption>'
            f"<thead><tr>{head}</tr></thead><tbody>{body(shown)}</tbody>{foot}</table>{more}"
            f"{note}</div>")


def _blocks_html(blocks: list[Block], charts_after: dict[str, list[str]], top: str, *,
                 fold: bool = False) -> str:
    """The blocks as HTML: ``top`` goes after the leading notes, ``charts_after[key]``
    after the heading with that key; ``fold``: the tables are lists of leads."""
    out: list[str] = []
    items: list[str] = []

    def flush() -> None:
        if items:
            out.append('<ul class="findings">' + "".join(items) + "</ul>")
            items.clear()

    for block in blocks:
        if isinstance(block, Note) and block.bullet:
            tone = f' class="{block.tone}"' if block.tone else ""
            items.append(f"<li{tone}>{html_text(block.text)}</li>")
            continue
        flush()
        if top and not isinstance(block, Note):
            out.append(top)
            top = ""
        if isinstance(block, Heading):
            out.append(f"<h3>{html_text(block.text)}</h3>")
            out.extend(charts_after.get(block.key or "", []))
        elif isinstance(block, Note):
            tone = "nodata" if block.text.startswith("no data") else block.tone
            out.append(f'<p class="{tone}">{html_text(block.text)}</p>' if tone
                       else f"<p>{html_text(block.text)}</p>")
        else:
            out.append(_table_html(block, fold=fold))
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


def _section(name: str, data: dict[str, Any], chart: Charts) -> str:
    full = FULL_LISTS.get(name)
    blocks = full(data) if full is not None else report_blocks(name, data)
    top = ""
    per_key: dict[str, list[str]] = {}
    if name == "funnel":
        for t in data.get("templates") or []:
            key = str(t.get("template", ""))
            figures = _figures([
                chart(partial(funnel_chart, t), f"funnel of {key}"),
                chart(partial(dwell_chart, t), f"time in stage, {key}"),
            ])
            per_key[key] = [figures] if figures else []
    elif name == "channels":
        top = _figures([chart(lambda: channel_chart(data), "conversion by channel")],
                       single=True)
    elif name == "losses":
        top = _figures([chart(lambda: loss_chart(data), "losses by reason and stage")],
                       single=True)
    elif name == "scoring":
        per_key["deciles"] = [_figures([
            chart(lambda: calibration_chart(data), "calibration by decile"),
            chart(lambda: lift_chart(data), "lift by decile")])]
    elif name == "forecast":
        top = _figures([chart(partial(forecast_chart, data, c), description)
                        for c, description in forecast_charts(data)], single=True)
    title = REPORT_TITLES.get(name, name)
    body = _blocks_html(blocks, per_key, top, fold=full is not None)
    return f'<section id="{html_text(name)}">\n<h2>{html_text(title)}</h2>\n{body}\n</section>'


def _kpis(reports: dict[str, dict[str, Any]]) -> str:
    cards: list[tuple[str, str, str]] = []
    funnel = reports.get("funnel") or {}
    # Grouped (--by): the same templates, once per group; their sums are the totals.
    templates = funnel.get("templates") or [
        t for g in funnel.get("groups") or [] for t in g.get("templates") or []]
    if "funnel" in reports:
        leads = sum(int(t.get("leads") or 0) for t in templates)
        mql = sum(int(t.get("mql") or 0) for t in templates)
        sql = sum(int(t.get("sql") or 0) for t in templates)
        won = sum(int(t.get("won") or 0) for t in templates)
        cards += [
            ("leads", count(leads),
             plural(len({t.get("template") for t in templates}), "funnel template")),
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
    scoring = reports.get("scoring") or {}
    if isinstance(scoring.get("model"), dict) and scoring.get("cv_auc") is not None:
        rules = scoring.get("rules_auc")
        cards.append(("model AUC", f"{num(scoring.get('cv_auc')):.3f}",
                      f"rules {num(rules):.3f}" if isinstance(rules, int | float)
                      else "rules —"))
    if "cooling" in reports:
        cards.append(("cooling leads", count(reports["cooling"].get("count", 0)),
                      "Hot/Warm going cold"))
    if not cards:
        return ""
    return '<div class="kpis">' + "".join(
        f'<div class="kpi"><div class="k">{html_text(k)}</div><div class="v">{html_text(v)}</div>'
        f'<div class="s">{html_text(s)}</div></div>' for k, v, s in cards) + "</div>"


def _forecast_kpis(forecast: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Open pipeline and expected revenue: converted, or in the one currency there is;
    several currencies without rates are counted, never added up."""
    opened = sum(int(num(s.get("open"))) for s in forecast.get("stages") or [])
    totals = forecast.get("totals") or []
    basis = forecast.get("converted") or (totals[0] if len(totals) == 1 else None)
    if basis is None:
        many = plural(len(totals), "currency", "currencies")
        return [("open pipeline", f"{count(opened)} open", f"in {many}; see the forecast")]

    def amount(key: str) -> str:
        value = basis.get(key)
        if not isinstance(value, int | float) or not drawable([float(value)]):
            return money(value)
        return f"{short_money(float(value))} {basis.get('currency')}"

    target = forecast.get("target")
    gap = target.get("gap_measured") if isinstance(target, dict) else None
    sub = "with measured win rates"
    if isinstance(gap, int | float) and drawable([float(gap)]):
        sub = f"{short_money(abs(gap))} {'short of' if gap > 0 else 'ahead of'} target"
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
            as :func:`lifecycle.reports.build_report` returns it, and ``scoring``
            (:func:`lifecycle.reports.scoring.scoring_report`); sections follow the
            order of the mapping.
        path: the file to write (its directory must exist).
        title: the page's title.
        generated_at: the time to print as "generated"; now (UTC) by default.

    Raises:
        ValueError: a report name is not known.
        ConfigError: matplotlib, which draws the charts, is not installed (the
            ``[html]`` extra).
    """
    stamp = generated_at or datetime.now(UTC).isoformat(timespec="seconds")
    with charts() as chart:
        sections = [_section(name, data, chart) for name, data in reports.items()]
    nav = "".join(f'<a href="#{html_text(name)}">{html_text(REPORT_TITLES.get(name, name))}</a>'
                  for name in reports)
    document = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html_text(title)}</title>
<style>{CSS}</style>
</head>
<body>
<header>
<h1>{html_text(title)}</h1>
<div class="meta">generated {html_text(when(stamp))} UTC</div>
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
