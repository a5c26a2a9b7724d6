"""A model's ``predicted`` object for many leads at once (``lead show``, ``leads export``).

One feature matrix, one :meth:`~.model.Model.predict` and one
:meth:`~.model.Model.factors` call for all the leads given: a call per lead would pay
LightGBM's per-call overhead once per lead, which is most of the cost at these sizes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from lifecycle.scoring.learned.facts import LeadFacts
from lifecycle.scoring.learned.features import matrix
from lifecycle.scoring.learned.model import Model

__all__ = ["predictions"]


def predictions(model: Model, facts: Sequence[LeadFacts], at: Sequence[datetime], *,
                top: int) -> list[dict[str, Any]]:
    """Per lead (``facts[i]`` as of ``at[i]``): ``{"model_id", "probability", "at",
    "factors"}``, the ``top`` factors largest first (:meth:`~.model.Factor.as_dict`)."""
    if not facts:
        return []
    rows = matrix(model.artifact.spec, facts, at)
    probabilities = model.predict(rows)
    factors = model.factors(rows, top=top)
    return [{"model_id": model.model_id, "probability": float(p), "at": moment.isoformat(),
             "factors": [f.as_dict() for f in fs]}
            for p, moment, fs in zip(probabilities, at, factors, strict=True)]
