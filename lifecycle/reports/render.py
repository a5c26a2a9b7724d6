"""Reports for people in a terminal: the blocks of a report
(:func:`lifecycle.reports.blocks.report_blocks`) printed as rich tables.

Text from the data is shown literally (no markup, control characters as symbols:
:func:`lifecycle.reports.output.literal`).
"""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table as RichTable
from rich.text import Text

from lifecycle.reports.blocks import report_blocks
from lifecycle.reports.layout import REPORT_TITLES, Heading, Note, Table
from lifecycle.reports.output import literal

__all__ = ["render_terminal"]

WIDTH = 120
"""Columns the terminal tables are laid out for."""

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
