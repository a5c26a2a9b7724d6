"""How well scores rank outcomes: AUC, PR-AUC, calibration and lift by decile.

Plain functions over labels and scores, shared by training (out-of-fold predictions),
``model evaluate`` (leads closed after training) and the rules' own total score. Every
float is rounded to 6 places and every value is JSON-able (None where a figure does not
exist, such as the AUC of leads of one class).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

__all__ = ["DECILES", "IMPORTANCE_TOP", "auc", "by_decile", "pr_auc", "r6", "ranking",
           "training_report"]

DECILES = 10
IMPORTANCE_TOP = 15


def r6(value: float | None) -> float | None:
    """Rounded to 6 places; None stays None (and NaN becomes None: JSON has no NaN)."""
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else round(value, 6)


def _both_classes(labels: np.ndarray) -> bool:
    return labels.size > 0 and 0 < int(labels.sum()) < labels.size


def auc(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray) -> float | None:
    """ROC AUC (None unless both classes are present)."""
    y = np.asarray(labels, dtype=np.int64)
    if not _both_classes(y):
        return None
    return r6(float(roc_auc_score(y, np.asarray(scores, dtype=np.float64))))


def pr_auc(labels: Sequence[int] | np.ndarray,
           scores: Sequence[float] | np.ndarray) -> float | None:
    """Average precision, the area under the precision-recall curve (None unless both
    classes are present). A random ranking scores the base rate."""
    y = np.asarray(labels, dtype=np.int64)
    if not _both_classes(y):
        return None
    return r6(float(average_precision_score(y, np.asarray(scores, dtype=np.float64))))


def by_decile(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray
              ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Calibration and lift by decile of the score, decile 1 the highest.

    Rows are ranked by score, highest first (ties in the given order), and cut into ten
    groups of equal size (±1); empty groups (fewer than ten rows) are left out.
    ``lift``: the decile's observed rate / the overall rate; ``cumulative_lift``: the
    same for deciles 1 to this one together."""
    y = np.asarray(labels, dtype=np.int64)
    s = np.asarray(scores, dtype=np.float64)
    if y.size == 0:
        return [], []
    order = np.argsort(-s, kind="stable")
    base = float(y.mean())
    calibration: list[dict[str, Any]] = []
    lift: list[dict[str, Any]] = []
    seen = positives = 0
    for d, part in enumerate(np.array_split(order, DECILES), start=1):
        if part.size == 0:
            continue
        rate = float(y[part].mean())
        seen += int(part.size)
        positives += int(y[part].sum())
        calibration.append({"decile": d, "n": int(part.size),
                            "mean_predicted": r6(float(s[part].mean())), "observed": r6(rate)})
        lift.append({"decile": d, "n": int(part.size), "rate": r6(rate),
                     "lift": r6(rate / base) if base > 0 else None,
                     "cumulative_lift": r6(positives / seen / base) if base > 0 else None})
    return calibration, lift


def ranking(labels: Sequence[int] | np.ndarray,
            scores: Sequence[float] | np.ndarray) -> dict[str, Any]:
    """auc, pr_auc, n, n_positive, base_rate, calibration and lift by decile."""
    y = np.asarray(labels, dtype=np.int64)
    calibration, lift = by_decile(y, scores)
    return {"auc": auc(y, scores), "pr_auc": pr_auc(y, scores), "n": int(y.size),
            "n_positive": int(y.sum()), "base_rate": r6(float(y.mean())) if y.size else None,
            "calibration": calibration, "lift": lift}


def training_report(*, y: np.ndarray, oof: np.ndarray, baseline: np.ndarray,
                    fold_aucs: Sequence[float | None], calibrated: np.ndarray,
                    rules: np.ndarray, contributions: np.ndarray, groups: Sequence[str],
                    time_auc: float | None, time_split: dict[str, Any] | None,
                    skipped: dict[str, int], folds: int, rounds: int,
                    n_columns: int, booster: np.ndarray | None = None,
                    blend_weight: float = 1.0) -> dict[str, Any]:
    """A trained model's ``metrics``: ``cv_auc``, the out-of-fold AUC of the served
    model, the blend (one AUC over every lead's out-of-fold score, not a mean of the
    folds'); ``booster_auc`` (the trees alone, ``booster`` defaults to ``oof``), the
    baseline's and the rules' on the same leads; PR-AUC of each; ``blend_weight``;
    calibration and lift by decile of the calibrated out-of-fold probabilities; and the
    groups that move scores most (mean |contribution| over the training rows)."""
    n = int(y.size)
    positive = int(y.sum())
    trees = oof if booster is None else booster
    calibration, lift = by_decile(y, calibrated)
    weight = np.abs(contributions).mean(axis=0) if n else np.zeros(len(groups))
    ranked = sorted(((g, w) for g, w in zip(groups, weight.tolist(), strict=True) if w > 0),
                    key=lambda gw: (-gw[1], gw[0]))
    return {
        "cv_auc": auc(y, oof), "fold_aucs": [r6(a) for a in fold_aucs],
        "booster_auc": auc(y, trees), "baseline_auc": auc(y, baseline),
        "rules_auc": auc(y, rules), "blend_weight": r6(blend_weight),
        "pr_auc": pr_auc(y, oof), "booster_pr_auc": pr_auc(y, trees),
        "baseline_pr_auc": pr_auc(y, baseline), "rules_pr_auc": pr_auc(y, rules),
        "time_auc": r6(time_auc), "time_split": time_split,
        "n_train": n, "n_positive": positive, "n_negative": n - positive,
        "base_rate": r6(positive / n) if n else None, "folds": folds, "rounds": rounds,
        "calibration": calibration, "lift": lift,
        "importance": [{"feature": g, "weight": r6(w)} for g, w in ranked[:IMPORTANCE_TOP]],
        "skipped": dict(sorted(skipped.items())), "features": n_columns,
    }
