"""Training: closed leads as examples, cross-validated models, honest metrics.

An example is a lead whose outcome is known: won is positive; lost, or disqualified by a
person (not by a screen), negative; open leads are not used. The outcome is the lead's
last closing event (a lead reopened and still open is open). Its features are its facts
as of just before the outcome (:func:`~.facts.facts_as_of` with ``before`` = the
outcome's business time, ``at`` = the same moment); a lead whose capture is not before
its outcome is skipped and counted. ``as_of``: only what was recorded by then (events
recorded later, and outcomes after it, do not exist for the training).

The gradient-boosted model is LightGBM (fixed seed, deterministic, one thread); the
baseline is scikit-learn's logistic regression on the same columns. Both are
cross-validated by lead (stratified folds, each lead in one fold) and, when the outcomes
span at least ``TIME_SPLIT_MONTHS`` months, also by time (train on the earlier 80 % of
outcomes, test on the later 20 %). Probabilities are calibrated by isotonic regression
on the out-of-fold predictions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from lifecycle.errors import NotEnoughOutcomes
from lifecycle.scoring.learned.artifact import Artifact
from lifecycle.scoring.learned.facts import LeadFacts

if TYPE_CHECKING:
    from lifecycle.application import LeadLifecycle

__all__ = ["MIN_PER_CLASS", "Example", "Examples", "NotEnoughOutcomes", "examples", "train"]

MIN_PER_CLASS = 50
"""Outcomes needed of each class (won, not won) to train: 5-fold cross-validation then
tests each fold on at least 10 of each, below which a fold's AUC varies by more than
±0.1 and the reported accuracy would mean little (Salesforce Einstein asks for 120
conversions, Adobe for 10, Odoo for 1 of each)."""

TIME_SPLIT_MONTHS = 3


@dataclass(frozen=True, slots=True)
class Example:
    lead_id: UUID
    facts: LeadFacts
    at: datetime
    """The outcome's business time: features are as of just before it."""
    label: int
    """1: won; 0: lost or disqualified by a person."""
    rules_total: float
    """The configured rule-based total score as of ``at`` (for ``rules_auc``)."""
    recorded_at: datetime
    """When the outcome was recorded (``model evaluate``: closed after training)."""


@dataclass
class Examples:
    items: list[Example] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    """Leads not used, by why: ``open``, ``screened`` (disqualified by a screen),
    ``outcome_before_capture``."""


def examples(app: LeadLifecycle, *, as_of: datetime | None = None,
             closed_after: datetime | None = None, sales: bool = False) -> Examples:
    """Every closed lead of the store as an example (read in batches, one pass).

    ``closed_after``: only outcomes recorded after it (``model evaluate``)."""
    raise NotImplementedError  # contract: filled in by the training branch


def train(data: Examples, *, folds: int = 5, seed: int = 0,
          min_per_class: int = MIN_PER_CLASS, sales: bool = False,
          as_of: datetime | None = None, created_at: datetime) -> Artifact:
    """Trains, cross-validates and calibrates; the artifact carries the metrics.

    Raises:
        NotEnoughOutcomes: fewer than ``min_per_class`` positives or negatives.
    """
    raise NotImplementedError  # contract: filled in by the training branch


def evaluate(model: Any, data: Examples) -> dict[str, Any]:
    """How ``model`` (a :class:`~.model.Model`) ranks the given examples: n, n_positive,
    auc, pr_auc, rules_auc, calibration and lift by decile (``model evaluate``)."""
    raise NotImplementedError  # contract: filled in by the training branch


def metrics(labels: Sequence[int], scores: Sequence[float]) -> dict[str, Any]:
    """auc, pr_auc, calibration by decile (mean predicted, observed rate, n) and lift by
    decile (observed rate / base rate), deciles from the highest score down."""
    raise NotImplementedError  # contract: filled in by the training branch
