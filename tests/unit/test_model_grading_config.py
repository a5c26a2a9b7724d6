"""``[grading] by`` and ``[grading.model]`` in a user's scoring file: foreign and hostile
values are refused with the key named, never half-applied."""

from __future__ import annotations

import math
from typing import Any

import pytest
from pydantic import ValidationError

from lifecycle.scoring import GradingConfig, ModelGrading

RULES = {"fit_weight": 0.4, "behaviour_weight": 0.4, "bant_weight": 0.2,
         "behaviour_cap": 100, "hot": 65, "warm": 35}


@pytest.mark.parametrize("model", [
    {"hot": 0.6},                          # one threshold without the other
    {"hot": 0.3, "warm": 0.6},             # warm above hot
    {"hot": 1.5, "warm": 0.2},             # not a probability
    {"hot": 0.0, "warm": 0.0},             # a threshold every lead passes
    {"hot": math.nan, "warm": 0.2},        # NaN passes every bound unless refused
    {"hot": math.inf, "warm": 0.2},
    {"hot_decile": 10},                    # no 100th percentile among the 9 cut points
    {"hot_decile": 5, "warm_decile": 8},   # warm above hot
    {"warm_decile": 0},
    {"top_factors": 0},
    {"top_factors": 10_000},
    {"hot": "high", "warm": 0.2},          # a word for a number
    {"deciles": [0.1, 0.2]},               # a key the section does not have
])
def test_a_bad_model_section_is_refused(model: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as raised:
        GradingConfig.model_validate({**RULES, "by": "model", "model": model})
    assert "model" in str(raised.value)


@pytest.mark.parametrize("by", ["Model", "learned", "", None, 1])
def test_only_rules_or_model_grade(by: Any) -> None:
    with pytest.raises(ValidationError, match="by"):
        GradingConfig.model_validate({**RULES, "by": by})


def test_the_defaults_grade_by_rules_and_by_deciles() -> None:
    grading = GradingConfig.model_validate(RULES)
    assert grading.by == "rules"
    assert grading.model == ModelGrading(hot=None, warm=None, hot_decile=9, warm_decile=7,
                                         top_factors=3)
    chosen = GradingConfig.model_validate({**RULES, "by": "model",
                                           "model": {"hot": 0.5, "warm": 0.2}})
    assert (chosen.model.hot, chosen.model.warm) == (0.5, 0.2)
