"""Features: a lead's facts at a moment as one row of numbers.

A :class:`FeatureSpec` names the columns. It is discovered from the training leads
(:meth:`FeatureSpec.discover`: the kinds, channels and categories seen, each capped to
the most frequent, the rest pooled as ``(other)``), stored in the model's artifact, and
applied unchanged when the model scores any lead, in any database.

Column names (``FeatureSpec.names``), each with the *group* it belongs to (what a
factor is reported by: ``property:tags`` for every ``property:tags=...`` column):

- activity: ``touches``, ``kinds``, ``channels``, ``touches_7d``, ``touches_30d``,
  ``decayed_touches`` (half-life ``half_life_days``), ``days_since_capture``,
  ``days_since_last_touch``, ``touches_per_week``; ``count:<kind>`` per kind;
- who: ``first_channel=<v>``, ``source=<v>``, ``template=<v>``, ``profile:<field>=<v>``
  (country, industry, title and the categorical profile fields seen), ``employees``,
  ``contactable``, ``has_company``;
- properties: ``property:<name>`` (latest numeric value), ``property:<name>:sum``,
  ``property:<name>=<v>`` (categorical, latest value);
- with ``sales`` only: ``sales:actions``, ``sales:stage``, ``sales:bant``,
  ``sales:property:<name>...``.

``at`` is the moment the row describes (training: the outcome's business time; live:
the lead's newest input, or the moment a view asks for). Missing values are NaN.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np
from pydantic import BaseModel, ConfigDict

from lifecycle.scoring.learned.facts import LeadFacts

__all__ = ["FeatureSpec", "group_of", "matrix"]


class FeatureSpec(BaseModel):
    """Which columns a model reads, in order (stored in its artifact)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kinds: tuple[str, ...]
    channels: tuple[str, ...]
    categorical: dict[str, tuple[str, ...]]
    """Field (``source``, ``template``, ``profile:<f>``, ``property:<name>``) → kept values."""
    numeric: tuple[str, ...]
    """Property names read as numbers."""
    sales: bool = False
    half_life_days: float = 14.0

    @property
    def names(self) -> tuple[str, ...]:
        """Every column's name, in matrix order."""
        raise NotImplementedError  # contract: filled in by the features branch

    @classmethod
    def discover(cls, facts: Sequence[LeadFacts], *, max_categories: int = 20,
                 min_count: int = 5, sales: bool = False) -> FeatureSpec:
        """The columns the given leads support: values seen on fewer than ``min_count``
        leads are pooled; at most ``max_categories`` kept per field."""
        raise NotImplementedError  # contract: filled in by the features branch


def matrix(spec: FeatureSpec, facts: Sequence[LeadFacts],
           at: Sequence[datetime]) -> np.ndarray:
    """One float64 row per lead (``facts[i]`` at ``at[i]``), columns ``spec.names``."""
    raise NotImplementedError  # contract: filled in by the features branch


def group_of(name: str) -> str:
    """The group a column belongs to (``property:tags=ringing`` → ``property:tags``)."""
    raise NotImplementedError  # contract: filled in by the features branch
