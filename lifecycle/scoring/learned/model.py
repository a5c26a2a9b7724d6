"""A verified artifact, loaded to predict: batched, deterministic, explainable."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lifecycle.scoring.learned.artifact import Artifact

__all__ = ["Factor", "Model"]


@dataclass(frozen=True, slots=True)
class Factor:
    """One group's push on one lead's score: ``contribution`` in log-odds (positive:
    towards winning), ``value`` the lead's value of it (a category, a number, None)."""

    feature: str
    value: Any
    contribution: float

    def as_dict(self) -> dict[str, Any]:
        return {"feature": self.feature, "value": self.value,
                "contribution": round(self.contribution, 6)}


class Model:
    """Built only from an :class:`Artifact` (``Model(artifact, model_id)``)."""

    def __init__(self, artifact: Artifact, model_id: str) -> None:
        self.artifact = artifact
        self.model_id = model_id
        raise NotImplementedError  # contract: filled in by the training branch

    def predict(self, rows: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of winning, one per row (one call for all rows)."""
        raise NotImplementedError  # contract: filled in by the training branch

    def factors(self, rows: np.ndarray, *, top: int = 3) -> list[list[Factor]]:
        """Per row, the ``top`` groups with the largest |contribution| (TreeSHAP,
        summed over a group's columns), largest first."""
        raise NotImplementedError  # contract: filled in by the training branch

    def grade_of(self, probability: float, *, hot: float | None = None,
                 warm: float | None = None, hot_decile: int = 9,
                 warm_decile: int = 7) -> str:
        """hot / warm / cold: by the probability thresholds when given, else by the
        training distribution: hot at or above its ``hot_decile`` × 10th percentile
        (9: the top 10 %), warm at or above the ``warm_decile`` × 10th."""
        raise NotImplementedError  # contract: filled in by the training branch

    def describe(self, names: Sequence[str] | None = None) -> dict[str, Any]:
        """id, created_at, as_of, window, n_train, metrics (for ``model show``)."""
        raise NotImplementedError  # contract: filled in by the training branch
