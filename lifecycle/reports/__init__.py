"""Reports read from the projections: funnel, diagnosis, channels, losses, forecast,
cooling, alerts and data quality — as plain data (JSON-ready dicts) for the renderers.

The funnel, channels and losses reports take a dimension to group leads by
(:mod:`lifecycle.reports.dimensions`); the channels report groups by channel unless
given another.

Output for machines goes through :func:`lifecycle.reports.output.strict_json`: strict
JSON whatever the projections hold (no ``Infinity``/``NaN``, times as ISO 8601)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from lifecycle.projections.queries import load_history
from lifecycle.projections.store import ProjectionStore
from lifecycle.reports.activity import alerts_report, cooling_report
from lifecycle.reports.dimensions import Dimension, Grouping, group_leads, parse_dimension
from lifecycle.reports.funnel import by_report, diagnosis_report, funnel_report
from lifecycle.reports.money import Rates, load_rates
from lifecycle.reports.pipeline import forecast_report, losses_report
from lifecycle.reports.quality import Unmatched, quality_report
from lifecycle.scoring import ScoringConfig
from lifecycle.templates import TemplateRegistry

if TYPE_CHECKING:
    from lifecycle.people import People

__all__ = ["BY_REPORTS", "REPORTS", "Dimension", "Rates", "Unmatched", "build_report",
           "load_rates", "parse_dimension"]

REPORTS = ("funnel", "diagnosis", "channels", "losses", "forecast", "cooling", "alerts",
           "quality")
BY_REPORTS = ("funnel", "channels", "losses")
"""The reports that group by a dimension (``--by``)."""


def build_report(
    name: str,
    store: ProjectionStore,
    templates: TemplateRegistry,
    config: ScoringConfig,
    *,
    as_of: datetime | None = None,
    at: datetime,
    target: float | None = None,
    rates: Rates | None = None,
    by: Dimension | None = None,
    channel_groups: Mapping[str, str] | None = None,
    unmatched: Unmatched | None = None,
    people: People | None = None,
) -> dict[str, Any]:
    """One report as data. ``as_of`` cuts history by business time (funnel views);
    ``at`` is the moment decaying scores and alerts are evaluated; ``rates`` converts
    money into one reporting currency (amounts are otherwise totalled per currency);
    ``by`` groups the leads of the funnel, channels and losses reports (others ignore
    it), with ``channel_groups`` for ``channel_group``; ``unmatched`` tells the quality
    report which profile values match nothing (``lifecycle.scoring.unmatched``);
    ``people`` names the leads the cooling and alerts lists show
    (:func:`lifecycle.people.people_reader`).

    Every time in the result is an ISO 8601 string (``as_of`` included)."""
    data = _build(name, store, templates, config, as_of=as_of, at=at, target=target,
                  rates=rates, by=by, channel_groups=channel_groups, unmatched=unmatched,
                  people=people)
    if "as_of" in data:
        data["as_of"] = None if as_of is None else as_of.astimezone(UTC).isoformat()
    return data


def _build(name: str, store: ProjectionStore, templates: TemplateRegistry,
           config: ScoringConfig, *, as_of: datetime | None, at: datetime,
           target: float | None, rates: Rates | None, by: Dimension | None,
           channel_groups: Mapping[str, str] | None,
           unmatched: Unmatched | None, people: People | None) -> dict[str, Any]:
    cut = as_of.timestamp() if as_of is not None else None
    moment = at.timestamp() if as_of is None else min(at.timestamp(), as_of.timestamp())
    # Cooling and alerts are evaluated at ``moment``: the leads' stages (closed or not,
    # how long in a stage, the p90 dwell) must be those of that moment too, not today's.
    history = load_history(store, as_of=moment if name in ("cooling", "alerts") else cut)

    def grouping(dimension: Dimension) -> Grouping:
        return group_leads(store, history, dimension, channel_groups=channel_groups)

    if name == "funnel":
        return funnel_report(history, templates, None if by is None else grouping(by))
    if name == "diagnosis":
        return diagnosis_report(funnel_report(history, templates))
    if name == "channels":
        return by_report(history, grouping(by or Dimension("channel")))
    if name == "losses":
        return losses_report(store, as_of=cut, rates=rates,
                             grouping=None if by is None else grouping(by))
    if name == "quality":
        return quality_report(store, history, config, unmatched=unmatched)
    if name == "forecast":
        return forecast_report(history, templates, target=target, rates=rates)
    if name == "cooling":
        return cooling_report(store, history, config,
                              at=at if as_of is None else min(at, as_of), people=people)
    if name == "alerts":
        return alerts_report(store, history, config, at=moment, people=people)
    raise ValueError(f"unknown report {name!r}; reports: {', '.join(REPORTS)}")
