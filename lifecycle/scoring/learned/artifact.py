"""A trained model as data: what is stored, exported, imported and verified.

An artifact is JSON (keys sorted, so equal content is equal bytes); its identity is the
SHA-256 of those bytes (``model_id`` is the first 16 hex digits). Nothing in it can run
code on load: the feature spec and the metrics are plain data checked by pydantic,
the gradient-boosted trees are LightGBM's own model text (parsed, never executed), the
calibration and the baseline are lists of numbers. No pickle anywhere.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from lifecycle.errors import ModelTampered
from lifecycle.scoring.learned.features import FeatureSpec

__all__ = ["FORMAT", "Artifact", "Baseline", "Calibration", "ModelTampered", "content_hash",
           "decode", "encode", "model_id_of"]

FORMAT = "lifecycle-model/1"


class Calibration(BaseModel):
    """Isotonic calibration, fitted on out-of-fold predictions: the booster's raw
    probability ``x`` → observed rate ``y`` (piecewise linear between the points)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    x: tuple[float, ...]
    y: tuple[float, ...]


class Baseline(BaseModel):
    """The logistic-regression baseline on the same features (standardised, missing
    values imputed by the training median)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    coef: tuple[float, ...]
    intercept: float
    median: tuple[float, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]


class Artifact(BaseModel):
    """Everything a model is. ``metrics`` holds at least ``cv_auc``, ``baseline_auc``,
    ``rules_auc``, ``pr_auc``, ``n_train``, ``n_positive``, ``calibration`` and ``lift``
    (by decile), ``importance`` (groups by mean |contribution|) and ``folds``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: Literal["lifecycle-model/1"] = "lifecycle-model/1"
    target: Literal["won"] = "won"
    created_at: datetime
    as_of: datetime | None
    """Trained on what was recorded by then (None: everything recorded at training)."""
    first_outcome: datetime
    last_outcome: datetime
    spec: FeatureSpec
    booster: str
    """LightGBM's model text."""
    calibration: Calibration
    deciles: tuple[float, ...]
    """The 9 cut points of the calibrated training probabilities (10 %, 20 %, ... 90 %)."""
    baseline: Baseline
    params: dict[str, Any]
    metrics: dict[str, Any]


def encode(artifact: Artifact) -> bytes:
    """The artifact's canonical bytes (sorted keys, ISO times)."""
    raise NotImplementedError  # contract: filled in by the training branch


def content_hash(data: bytes) -> str:
    """SHA-256 of the bytes, hex."""
    raise NotImplementedError  # contract: filled in by the training branch


def model_id_of(content_hash_hex: str) -> str:
    """A model's id: the first 16 hex digits of its content hash."""
    raise NotImplementedError  # contract: filled in by the training branch


def decode(data: bytes, expected_hash: str | None = None) -> Artifact:
    """The artifact in ``data``, after checking its hash (when given) and its shape.

    Raises:
        ModelTampered: the hash differs, or the bytes are no artifact.
    """
    raise NotImplementedError  # contract: filled in by the training branch
