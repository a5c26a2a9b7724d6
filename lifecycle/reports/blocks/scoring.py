"""The scoring report laid out as blocks: rules against the baseline and the model (AUC,
PR-AUC), calibration and lift by decile in one table, and the top factors."""

from __future__ import annotations

from typing import Any

from lifecycle.reports.layout import (
    DASH,
    Block,
    Cell,
    Heading,
    Note,
    as_number,
    count,
    pct,
    plural,
    table_of,
    when,
)
from lifecycle.reports.output import visible

__all__ = ["scoring_blocks"]


def _auc(value: Any) -> str:
    number = as_number(value)
    return DASH if number is None else f"{number:.3f}"


def _times(value: Any) -> str:
    number = as_number(value)
    return DASH if number is None else f"{number:.2f}×"


def scoring_blocks(data: dict[str, Any]) -> list[Block]:
    blocks: list[Block] = []
    tampered = data.get("tampered") or []
    if tampered:
        blocks.append(Note(f"{plural(len(tampered), 'stored model')} refused: the stored "
                           f"bytes fail their hash ({', '.join(map(visible, tampered))})",
                           "bad"))
    model = data.get("model")
    if not isinstance(model, dict):
        return [*blocks, Note(str(data.get("hint") or "no learned model"), "muted")]
    status = "active" if model.get("active") else "not active (the newest stored)"
    trained_on = (f"trained {when(model.get('created_at'))} UTC on "
                  f"{plural(data.get('n_train'), 'closed lead')} "
                  f"({count(data.get('n_positive'))} won, base rate {pct(data.get('base_rate'))}),"
                  f" outcomes {when(model.get('first_outcome'))} to "
                  f"{when(model.get('last_outcome'))}")
    blocks += [
        Note(f"model {visible(model.get('model_id'))}, {status}; {trained_on}", "muted"),
        _aucs(data),
    ]
    margin = _margin(data)
    if margin is not None:
        blocks.append(margin)
    if data.get("time_auc") is not None:
        split = data.get("time_split") or {}
        blocks.append(Note(
            f"trained on the earlier 80 % of outcomes, the model ranks the later "
            f"{count(split.get('test'))} (from {when(split.get('from'))}) with AUC "
            f"{_auc(data.get('time_auc'))}", "muted"))
    deciles = _deciles(data)
    if deciles is not None:
        blocks += [Heading("Calibration and lift by decile", "deciles"), deciles]
    factors = data.get("importance") or []
    if factors:
        blocks += [Heading("Top factors", "factors"), table_of(
            "what moves the model's scores most", "factor|#weight (log-odds)",
            [(visible(f.get("feature")), f"{as_number(f.get('weight')) or 0:.3f}")
             for f in factors],
            note="mean absolute contribution to a lead's log-odds over the training "
                 "leads (TreeSHAP, a field's columns summed); `lifecycle lead show` gives "
                 "one lead's own")]
    return blocks


def _aucs(data: dict[str, Any]) -> Block:
    rows: list[tuple[str | Cell, ...]] = [
        ("rules (the scoring file's total score)", _auc(data.get("rules_auc")),
         _auc(data.get("rules_pr_auc"))),
        ("baseline (logistic regression, same features)", _auc(data.get("baseline_auc")),
         _auc(data.get("baseline_pr_auc"))),
    ]
    weight = as_number(data.get("blend_weight"))
    model = "model (gradient-boosted trees)"
    if weight is not None and weight < 1.0:
        # The served model blends the trees with the baseline (the training's choice).
        rows.append(("gradient-boosted trees alone", _auc(data.get("booster_auc")),
                     _auc(data.get("booster_pr_auc"))))
        model = f"model (blend: {weight:.2f} trees, {1 - weight:.2f} baseline)"
    rows.append((Cell(model, "strong"), Cell(_auc(data.get("cv_auc")), "strong"),
                 _auc(data.get("pr_auc"))))
    return table_of(
        "how well each ranks the closed leads", "score|#ROC AUC|#PR AUC", rows,
        note=f"{count(data.get('folds'))}-fold cross-validation by lead: each lead scored "
             "by a model that never saw it. AUC 0.5 is chance, 1.0 a perfect ranking; "
             f"PR AUC of chance is the base rate ({pct(data.get('base_rate'))})")


def _margin(data: dict[str, Any]) -> Note | None:
    model, rules = as_number(data.get("cv_auc")), as_number(data.get("rules_auc"))
    if model is None or rules is None:
        return None
    delta = model - rules
    if delta > 0:
        return Note(f"the model ranks closed leads better than the rules by "
                    f"{delta:.3f} AUC", "good", bullet=True)
    return Note(f"the model ranks closed leads no better than the rules "
                f"({delta:+.3f} AUC)", "bad", bullet=True)


def _deciles(data: dict[str, Any]) -> Block | None:
    calibration = {c.get("decile"): c for c in data.get("calibration") or []
                   if isinstance(c, dict)}
    lift = [r for r in data.get("lift") or [] if isinstance(r, dict)]
    if not lift:
        return None
    rows = []
    for r in lift:
        c = calibration.get(r.get("decile")) or {}
        rows.append((count(r.get("decile")), count(r.get("n")),
                     pct(c.get("mean_predicted")), pct(c.get("observed", r.get("rate"))),
                     _times(r.get("lift")), _times(r.get("cumulative_lift"))))
    return table_of(
        "deciles of the predicted probability, highest first",
        "#decile|#leads|#predicted|#observed win rate|#lift|#cumulative lift", rows,
        note="predicted: the mean calibrated probability of the decile's leads; observed: "
             "the share of them that were won; lift: that share over the base rate "
             f"({pct(data.get('base_rate'))}); cumulative: deciles 1 to this one together. "
             "A well-calibrated model's predicted and observed agree")
