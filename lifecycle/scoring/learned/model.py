"""A verified artifact, loaded to predict: batched, deterministic, explainable.

The score is a blend on the log-odds scale, s = w·trees + (1 − w)·baseline, with w the
artifact's ``blend`` (1: the trees alone); the probability is the isotonic calibration
of 1 / (1 + e^−s). A lead's factors blend the same way: w·TreeSHAP + (1 − w)·the
baseline's linear terms, so they still add up (with the expected value) to s.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import lightgbm
import numpy as np

from lifecycle.errors import ModelTampered
from lifecycle.scoring.learned.artifact import Artifact, Baseline
from lifecycle.scoring.learned.features import group_of

__all__ = ["Factor", "Groups", "Model", "blend", "linear_score", "linear_terms", "sigmoid"]

PARALLEL_FROM = 256
"""Rows from which contributions are computed on every core (LightGBM's default)."""


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


class Groups:
    """The columns of a spec gathered by group (:func:`~.features.group_of`), to sum
    per-column contributions into per-group ones and to read a group's value."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = tuple(names)
        group_ids: dict[str, int] = {}
        of_column = [group_ids.setdefault(group_of(n), len(group_ids)) for n in self.names]
        self.groups = tuple(group_ids)
        # Columns ordered so each group's are contiguous (stable: matrix order within a
        # group), summed by np.add.reduceat: a fixed summation order, unlike a matrix
        # product whose BLAS blocking may differ between machines.
        self.order = np.argsort(np.asarray(of_column, dtype=np.int64), kind="stable")
        sorted_ids = np.asarray(of_column, dtype=np.int64)[self.order]
        self.starts = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]])
        self.columns: tuple[tuple[int, ...], ...] = tuple(
            tuple(i for i, g in enumerate(of_column) if g == gid)
            for gid in range(len(self.groups)))

    def sum(self, contributions: np.ndarray) -> np.ndarray:
        """Per-column contributions (rows × columns) → per-group sums (rows × groups)."""
        if not self.names:
            return np.zeros((contributions.shape[0], 0))
        summed: np.ndarray = np.add.reduceat(contributions[:, self.order], self.starts, axis=1)
        return summed

    def value(self, row: np.ndarray, group_index: int) -> Any:
        """The row's value of a group: the category whose one-hot column is set (the
        pooled ``(other)`` included; None when none is: the lead gave no value), else the
        group's number (its own column, e.g. a property's latest value, not its sum)."""
        group = self.groups[group_index]
        columns = self.columns[group_index]
        prefix = group + "="
        onehot = [i for i in columns if self.names[i].startswith(prefix)]
        if onehot:
            for i in onehot:
                if row[i] == 1.0:
                    return self.names[i][len(prefix):]
            return None
        own = [i for i in columns if self.names[i] == group] or list(columns)
        return _number(float(row[own[0]]))


def linear_terms(baseline: Baseline, rows: np.ndarray) -> np.ndarray:
    """The baseline's per-column log-odds terms coef_j · (x_j − mean_j) / scale_j, after
    imputing missing values by the training median and holding each value to the range
    training saw (rows × columns)."""
    filled = np.where(np.isnan(rows), np.asarray(baseline.median), rows)
    if baseline.low is not None and baseline.high is not None:
        filled = np.clip(filled, np.asarray(baseline.low), np.asarray(baseline.high))
    terms: np.ndarray = ((filled - np.asarray(baseline.mean)) / np.asarray(baseline.scale)
                         * np.asarray(baseline.coef))
    return terms


def linear_score(baseline: Baseline, rows: np.ndarray) -> np.ndarray:
    """The baseline's log-odds: the intercept plus its terms, added column by column.

    A fixed summation order, unlike a matrix product (whose BLAS blocking may differ
    with the number of rows or the machine): a row's score is bitwise the same scored
    alone or in a batch, here or elsewhere."""
    terms = linear_terms(baseline, rows)
    score = np.full(rows.shape[0], baseline.intercept)
    for j in range(terms.shape[1]):
        score = score + terms[:, j]
    return score


def blend(weight: float, trees: np.ndarray, linear: np.ndarray) -> np.ndarray:
    """w · trees + (1 − w) · linear (either side alone, exactly, at w = 1 or 0)."""
    if weight == 1.0:
        return trees
    if weight == 0.0:
        return linear
    out: np.ndarray = weight * trees + (1.0 - weight) * linear
    return out


def sigmoid(score: np.ndarray) -> np.ndarray:
    out: np.ndarray = 1.0 / (1.0 + np.exp(-score))
    return out


def _number(value: float) -> float | int | None:
    if math.isnan(value):
        return None
    if value.is_integer() and abs(value) < 2**53:
        return int(value)
    return round(value, 6)


class Model:
    """Built only from an :class:`Artifact` (``Model(artifact, model_id)``).

    Raises:
        ModelTampered: the artifact's booster text is no LightGBM model, or its trees
            or its baseline read a different number of columns than its feature spec
            names.
    """

    def __init__(self, artifact: Artifact, model_id: str) -> None:
        self.artifact = artifact
        self.model_id = model_id
        try:
            self._booster = lightgbm.Booster(model_str=artifact.booster)
        except (lightgbm.basic.LightGBMError, ValueError, IndexError) as error:
            raise ModelTampered(f"model {model_id}: its trees are no LightGBM model "
                                f"({str(error).strip()[:200]})") from None
        self.groups = Groups(artifact.spec.names)
        n = self._booster.num_feature()
        if n != len(self.groups.names):
            raise ModelTampered(f"model {model_id}: its trees read {n} columns, its feature "
                                f"spec names {len(self.groups.names)}")
        b = artifact.baseline
        sizes = {len(b.coef), len(b.median), len(b.mean), len(b.scale),
                 *(len(r) for r in (b.low, b.high) if r is not None)}
        if sizes != {n}:
            raise ModelTampered(f"model {model_id}: its baseline reads {sorted(sizes)} "
                                f"columns, its feature spec names {n}")
        self.blend = artifact.blend
        self._x = np.asarray(artifact.calibration.x, dtype=np.float64)
        self._y = np.asarray(artifact.calibration.y, dtype=np.float64)
        if self._x.size == 0 or self._x.size != self._y.size:
            raise ModelTampered(f"model {model_id}: its calibration has {self._x.size} "
                                f"inputs and {self._y.size} outputs")

    @property
    def names(self) -> tuple[str, ...]:
        """The columns the model reads (its spec's), in matrix order."""
        return self.groups.names

    def _check(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.float64)
        if rows.ndim != 2 or rows.shape[1] != len(self.groups.names):
            raise ValueError(f"model {self.model_id} reads rows of {len(self.groups.names)} "
                             f"columns, not an array of shape {rows.shape}")
        return rows

    def _trees(self, rows: np.ndarray, *, raw_score: bool) -> np.ndarray:
        # One thread: OpenMP's start-up costs more than it saves below ~50k rows
        # (measured on 2 cores: 1 row 0.24 ms vs 4.5 ms, 1,000 rows 8 ms vs 15 ms, 50,000
        # rows 196 ms vs 218 ms); a row's probability does not depend on the threads.
        return np.asarray(self._booster.predict(rows, num_threads=1, raw_score=raw_score),
                          dtype=np.float64)

    def score(self, rows: np.ndarray) -> np.ndarray:
        """The blend's log-odds s = w · trees + (1 − w) · baseline, uncalibrated."""
        rows = self._check(rows)
        if rows.shape[0] == 0:
            return np.zeros(0)
        trees = self._trees(rows, raw_score=True) if self.blend > 0 else np.zeros(0)
        linear = (linear_score(self.artifact.baseline, rows) if self.blend < 1
                  else np.zeros(0))
        return blend(self.blend, trees, linear)

    def raw(self, rows: np.ndarray) -> np.ndarray:
        """The blend's (uncalibrated) probabilities: the booster's own when ``blend`` is
        1 (as LightGBM computes them, so artifacts from before the blend predict as they
        did), else 1 / (1 + e^−s)."""
        rows = self._check(rows)
        if rows.shape[0] == 0:
            return np.zeros(0)
        if self.blend == 1.0:
            return self._trees(rows, raw_score=False)
        return sigmoid(self.score(rows))

    def predict(self, rows: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of winning, one per row (one call for all rows)."""
        out: np.ndarray = np.interp(self.raw(rows), self._x, self._y)
        return out

    def contributions(self, rows: np.ndarray) -> np.ndarray:
        """Per row and group, the log-odds contribution, columns in ``groups.groups``
        order: w · TreeSHAP + (1 − w) · the baseline's terms, a group's columns summed.
        With :meth:`expected` they add up to :meth:`score`."""
        rows = self._check(rows)
        if rows.shape[0] == 0:
            return np.zeros((0, len(self.groups.groups)))
        trees = self._shap(rows)[:, :-1] if self.blend > 0 else np.zeros(0)
        linear = (linear_terms(self.artifact.baseline, rows) if self.blend < 1
                  else np.zeros(0))
        return self.groups.sum(blend(self.blend, trees, linear))

    def expected(self, rows: np.ndarray) -> np.ndarray:
        """Per row, the log-odds the contributions start from: w · the trees' expected
        value + (1 − w) · the baseline's intercept (the same for every row)."""
        rows = self._check(rows)
        n = rows.shape[0]
        trees = self._shap(rows)[:, -1] if self.blend > 0 and n else np.zeros(0)
        return blend(self.blend, trees, np.full(n, self.artifact.baseline.intercept))

    def _shap(self, rows: np.ndarray) -> np.ndarray:
        # TreeSHAP costs ~0.2 ms a row (leaf-wise trees run deep): worth the threads
        # from a few hundred rows on (1,000 rows on 2 cores: 187 ms vs 243 ms on one).
        threads = 0 if rows.shape[0] >= PARALLEL_FROM else 1
        return np.asarray(self._booster.predict(rows, pred_contrib=True, num_threads=threads))

    def factors(self, rows: np.ndarray, *, top: int = 3) -> list[list[Factor]]:
        """Per row, the ``top`` groups with the largest |contribution|
        (:meth:`contributions`), largest first; groups that did not move the row's score
        at all are left out."""
        rows = self._check(rows)
        grouped = self.contributions(rows)
        if grouped.shape[1] == 0:
            return [[] for _ in range(rows.shape[0])]
        ranked = np.argsort(-np.abs(grouped), axis=1, kind="stable")[:, :top]
        out: list[list[Factor]] = []
        for r in range(rows.shape[0]):
            row_factors = []
            for g in ranked[r]:
                c = float(grouped[r, g])
                if c == 0.0:
                    break
                row_factors.append(Factor(self.groups.groups[g], self.groups.value(rows[r], g),
                                          c))
            out.append(row_factors)
        return out

    def grade_of(self, probability: float, *, hot: float | None = None,
                 warm: float | None = None, hot_decile: int = 9,
                 warm_decile: int = 7) -> str:
        """hot / warm / cold: by the probability thresholds when given, else by the
        training distribution: hot at or above its ``hot_decile`` × 10th percentile
        (9: the top 10 %), warm at or above the ``warm_decile`` × 10th.

        Calibrated probabilities come in steps, so a cut point may fall on a step that
        many leads share: all of them are graded alike (the top decile may then hold a
        little more than 10 %)."""
        deciles = self.artifact.deciles
        hot_at = hot if hot is not None else deciles[hot_decile - 1]
        warm_at = warm if warm is not None else deciles[warm_decile - 1]
        if probability >= hot_at:
            return "hot"
        if probability >= warm_at:
            return "warm"
        return "cold"

    def describe(self, names: Sequence[str] | None = None) -> dict[str, Any]:
        """id, created_at, as_of, window, n_train, metrics (for ``model show``).

        ``names``: the metrics to include, in that order (None: all of them)."""
        a = self.artifact
        metrics = a.metrics if names is None else {k: a.metrics.get(k) for k in names}
        return {
            "model_id": self.model_id,
            "format": a.format,
            "target": a.target,
            "created_at": a.created_at.isoformat(),
            "as_of": None if a.as_of is None else a.as_of.isoformat(),
            "window": {"from": a.first_outcome.isoformat(), "to": a.last_outcome.isoformat()},
            "n_train": a.metrics.get("n_train"),
            "features": len(a.spec.names),
            "sales": a.spec.sales,
            "params": dict(a.params),
            "metrics": dict(metrics),
        }
