"""matplotlib set up for the HTML report: the ``[html]`` extra's import, the charts'
style, and figures exported as inline SVG with page-unique ids (glyphs as paths).

matplotlib is imported only when charts are drawn; without it :func:`charts` raises a
:class:`~lifecycle.errors.ConfigError` that says what to install.
"""

from __future__ import annotations

import io
import math
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal

from lifecycle.errors import ConfigError
from lifecycle.reports.output import html_text

if TYPE_CHECKING:
    from collections.abc import Callable

    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.typing import RcKeyType

__all__ = [
    "AMBER",
    "BLUE",
    "FULL",
    "FUNNEL_COLOURS",
    "GREEN",
    "GRID",
    "HALF",
    "INK",
    "LIGHT_BLUE",
    "MISSING_CHARTS",
    "MUTED",
    "RED",
    "SERIES",
    "STAGE_COLOURS",
    "Charts",
    "Undrawable",
    "charts",
    "clean_axes",
    "drawable",
    "num",
    "require_matplotlib",
    "short_money",
]

MISSING_CHARTS = ("the HTML report draws its charts with matplotlib, which is not installed: "
                  "install lead-lifecycle[html] for charts")


def require_matplotlib() -> Any:
    """matplotlib, set to draw off screen (no display needed).

    Raises:
        ConfigError: matplotlib is not installed (the ``[html]`` extra).
    """
    try:
        import matplotlib
    except ImportError:
        raise ConfigError(MISSING_CHARTS) from None
    matplotlib.use("Agg")
    return matplotlib


@contextmanager
def charts() -> Iterator[Charts]:
    """A chart drawer for one page, in the report's style.

    Raises:
        ConfigError: matplotlib is not installed (the ``[html]`` extra).
    """
    matplotlib = require_matplotlib()
    with matplotlib.rc_context(RC):
        yield Charts()


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

DRAWABLE = 1e15
"""Largest magnitude a chart draws: beyond it axis limits and ticks overflow (and no
reader can compare such bars); the chart is then left out with a note, the tables stay."""


def drawable(values: list[float]) -> bool:
    return all(math.isfinite(v) and abs(v) <= DRAWABLE for v in values)


def num(value: Any, *, missing: float = 0.0) -> float:
    """A number of the data for a chart (``missing`` for none)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return missing
    return float(value)


class Undrawable(Exception):
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
    svg = svg.replace(
        "<svg ", f'<svg class="chart" role="img" aria-label="{html_text(description)}" ', 1)
    # Inline SVGs share the page's id space: prefix every id and every reference to it.
    svg = _ID.sub(lambda m: f'id="{name}-{m.group(1)}"', svg)
    svg = re.sub(r'(href=")#', rf"\1#{name}-", svg)
    svg = re.sub(r"url\(#", f"url(#{name}-", svg)
    return re.sub(r"\n\s*", "\n", svg).strip()


class Charts:
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
            except Undrawable:
                return (f'<p class="note">{html_text(description)}: chart left out, its values are '
                        "beyond what a chart can draw (see the table)</p>")
            if fig is None:
                return None
            self.count += 1
            return _svg(fig, f"c{self.count}", description)


def short_money(value: float, _pos: Any = None) -> str:
    size = abs(value)
    if size >= 1e6:
        return f"{value / 1e6:,.1f}M"
    if size >= 1e3:
        return f"{value / 1e3:,.0f}k"
    return f"{value:,.0f}"


def clean_axes(ax: Axes, *, grid_axis: Literal["x", "y"] | None = None) -> None:
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.tick_params(length=0)
    if grid_axis is not None:
        ax.grid(axis=grid_axis, color=GRID, linewidth=0.8)
        ax.set_axisbelow(True)
