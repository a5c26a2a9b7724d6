"""The scoring report: how well the learned model ranks closed leads, next to the rules.

Read from the stored models' metrics (:meth:`ModelRegistry.list
<lifecycle.scoring.learned.registry.ModelRegistry.list>`: the bytes are checked, no
model is loaded): the active model, else the newest stored one. Its metrics were measured
when it was trained, on the leads closed by then (out-of-fold: each lead scored by a
model that never saw it): AUC of the rules, the logistic baseline and the model,
calibration and lift by decile, and the factors that move its scores most. Without a
usable model the report says how to train one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lifecycle.scoring.learned.registry import StoredModel

__all__ = ["TRAIN_HINT", "scoring_report"]

TRAIN_HINT = ("no learned model yet: `lifecycle model train` learns one from the leads "
              "whose outcome is known (at least 50 won and 50 not won), `lifecycle model "
              "activate MODEL_ID` makes it the one leads are scored by")

_KEYS = ("cv_auc", "booster_auc", "baseline_auc", "rules_auc", "blend_weight", "pr_auc",
         "booster_pr_auc", "baseline_pr_auc", "rules_pr_auc",
         "time_auc", "time_split", "n_train", "n_positive", "n_negative", "base_rate", "folds",
         "features", "calibration", "lift", "importance")


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def scoring_report(models: Sequence[StoredModel]) -> dict[str, Any]:
    """The report's data (JSON-ready): ``model`` (None without a usable one), ``models``
    (how many are stored), ``tampered`` (ids whose stored bytes fail their hash), and
    the chosen model's metrics under their own keys."""
    tampered = [m.model_id for m in models if "tampered" in m.metrics]
    usable = [m for m in models if "tampered" not in m.metrics]
    chosen = next((m for m in usable if m.active), None)
    if chosen is None and usable:
        chosen = max(usable, key=lambda m: (m.created_at, m.stored_at))
    data: dict[str, Any] = {"models": len(models), "tampered": tampered, "model": None,
                            "hint": TRAIN_HINT}
    if chosen is None:
        return data
    metrics = chosen.metrics
    data["model"] = {
        "model_id": chosen.model_id, "active": chosen.active,
        "created_at": _iso(chosen.created_at), "as_of": _iso(metrics.get("as_of")),
        "first_outcome": _iso(metrics.get("first_outcome")),
        "last_outcome": _iso(metrics.get("last_outcome")),
    }
    data.update({key: metrics.get(key) for key in _KEYS})
    return data
