"""A report's data laid out as blocks — headings, notes and tables of already formatted
cells — for both renderers: :func:`lifecycle.reports.render.render_terminal` prints them
with rich, :func:`lifecycle.reports.html.write_html` writes them as HTML next to its
charts, so both show the same tables with the same numbers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lifecycle.reports.blocks.activity import alerts_blocks, cooling_blocks
from lifecycle.reports.blocks.funnel import channels_blocks, diagnosis_blocks, funnel_blocks
from lifecycle.reports.blocks.pipeline import forecast_blocks, losses_blocks
from lifecycle.reports.blocks.quality import quality_blocks
from lifecycle.reports.blocks.scoring import scoring_blocks
from lifecycle.reports.layout import Block

__all__ = ["report_blocks"]

_BUILDERS: dict[str, Callable[[dict[str, Any]], list[Block]]] = {
    "funnel": funnel_blocks,
    "diagnosis": diagnosis_blocks,
    "channels": channels_blocks,
    "losses": losses_blocks,
    "forecast": forecast_blocks,
    "cooling": cooling_blocks,
    "alerts": alerts_blocks,
    "quality": quality_blocks,
    "scoring": scoring_blocks,
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
