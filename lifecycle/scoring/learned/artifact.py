"""A trained model as data: what is stored, exported, imported and verified.

An artifact is JSON (keys sorted, so equal content is equal bytes); its identity is the
SHA-256 of those bytes (``model_id`` is the first 16 hex digits). Nothing in it can run
code on load: the feature spec and the metrics are plain data checked by pydantic,
the gradient-boosted trees are LightGBM's own model text (parsed, never executed), the
calibration and the baseline are lists of numbers. No pickle anywhere.

The served score blends the trees and the baseline on the log-odds scale (``blend``, the
trees' weight). An artifact without ``blend`` (written before it existed) is the trees
alone, and an artifact whose ``blend`` is 1 is written without it, so such an artifact
has the same bytes, hence the same id, whichever version encodes it.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lifecycle.errors import ModelTampered
from lifecycle.scoring.learned.features import FeatureSpec

__all__ = ["FORMAT", "Artifact", "Baseline", "Calibration", "ModelTampered", "content_hash",
           "decode", "encode", "model_id_of"]

FORMAT = "lifecycle-model/1"


class Calibration(BaseModel):
    """Isotonic calibration, fitted on out-of-fold predictions: the blend's raw
    probability ``x`` (the booster's own when ``blend`` is 1) → observed rate ``y``
    (piecewise linear between the points)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    x: tuple[float, ...]
    y: tuple[float, ...]


class Baseline(BaseModel):
    """The logistic-regression baseline on the same features (standardised, missing
    values imputed by the training median, then held to the range training saw)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    coef: tuple[float, ...]
    intercept: float
    median: tuple[float, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    low: tuple[float, ...] | None = None
    """Each column's smallest training value (after imputing): a value below it is read
    as it. A line extrapolates without bound where trees stay flat: a column constant in
    training (time since capture when every lead of an export closed a second after its
    capture) is years at scoring time, and one such term made every probability 1.0."""
    high: tuple[float, ...] | None = None


class Artifact(BaseModel):
    """Everything a model is. ``metrics`` holds at least ``cv_auc``, ``baseline_auc``,
    ``rules_auc``, ``pr_auc``, ``n_train``, ``n_positive``, ``calibration`` and ``lift``
    (by decile), ``importance`` (groups by mean |contribution|) and ``folds``; models
    trained with a blend also ``booster_auc`` and ``blend_weight``."""

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
    blend: float = Field(default=1.0, ge=0.0, le=1.0)
    """The trees' weight w in the served log-odds w·trees + (1 − w)·baseline (1: the
    trees alone, as every artifact before the blend)."""


def encode(artifact: Artifact) -> bytes:
    """The artifact's canonical bytes (sorted keys, ISO times; ``blend`` left out when
    it is the default 1, as artifacts before it were written)."""
    document = artifact.model_dump(mode="json")
    if artifact.blend == 1.0:
        del document["blend"]
    return orjson.dumps(document, option=orjson.OPT_SORT_KEYS)


def content_hash(data: bytes) -> str:
    """SHA-256 of the bytes, hex."""
    return hashlib.sha256(data).hexdigest()


def model_id_of(content_hash_hex: str) -> str:
    """A model's id: the first 16 hex digits of its content hash."""
    return content_hash_hex[:16]


def decode(data: bytes, expected_hash: str | None = None) -> Artifact:
    """The artifact in ``data``, after checking its hash (when given) and its shape.

    Raises:
        ModelTampered: the hash differs, or the bytes are no artifact.
    """
    if expected_hash is not None:
        actual = content_hash(data)
        if actual != expected_hash:
            raise ModelTampered(f"model bytes hash to {actual[:16]}…, not the "
                                f"{expected_hash[:16]}… they were stored under: refused")
    try:
        return Artifact.model_validate(orjson.loads(data))
    except (orjson.JSONDecodeError, ValidationError) as error:
        raise ModelTampered(f"the bytes are no model artifact ({_first_line(error)})") from None


def _first_line(error: Exception) -> str:
    if isinstance(error, ValidationError) and error.errors():
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the document"
        more = f"; {error.error_count() - 1} more" if error.error_count() > 1 else ""
        return f"{where}: {first['msg']}{more}"
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
