"""Reports read from the projections: funnel, diagnosis, channels, losses, forecast,
cooling and alerts — as plain data (JSON-ready dicts) for the renderers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from lifecycle.projections.queries import load_history
from lifecycle.projections.store import ProjectionStore
from lifecycle.reports.activity import alerts_report, cooling_report, engagement
from lifecycle.reports.funnel import channels_report, diagnosis_report, funnel_report
from lifecycle.reports.pipeline import forecast_report, losses_report
from lifecycle.scoring import ScoringConfig
from lifecycle.templates import TemplateRegistry

__all__ = ["REPORTS", "build_report", "engagement"]

REPORTS = ("funnel", "diagnosis", "channels", "losses", "forecast", "cooling", "alerts")


def build_report(
    name: str,
    store: ProjectionStore,
    templates: TemplateRegistry,
    config: ScoringConfig,
    *,
    as_of: datetime | None = None,
    at: datetime,
    target: float | None = None,
) -> dict[str, Any]:
    """One report as data. ``as_of`` cuts history by business time (funnel views);
    ``at`` is the moment decaying scores and alerts are evaluated."""
    cut = as_of.timestamp() if as_of is not None else None
    moment = at.timestamp() if as_of is None else min(at.timestamp(), as_of.timestamp())
    # Cooling and alerts are evaluated at ``moment``: the leads' stages (closed or not,
    # how long in a stage, the p90 dwell) must be those of that moment too, not today's.
    history = load_history(store, as_of=moment if name in ("cooling", "alerts") else cut)
    if name == "funnel":
        return funnel_report(history, templates)
    if name == "diagnosis":
        return diagnosis_report(funnel_report(history, templates))
    if name == "channels":
        return channels_report(history)
    if name == "losses":
        return losses_report(store, as_of=cut)
    if name == "forecast":
        return forecast_report(history, templates, target=target)
    if name == "cooling":
        return cooling_report(store, history, config,
                              at=at if as_of is None else min(at, as_of))
    if name == "alerts":
        return alerts_report(store, history, templates, config, at=moment)
    raise ValueError(f"unknown report {name!r}; reports: {', '.join(REPORTS)}")
