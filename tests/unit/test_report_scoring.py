"""The scoring report: which stored model it shows, and how it lays out the metrics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from rich.console import Console

from lifecycle.reports.blocks import report_blocks
from lifecycle.reports.layout import Note, Table
from lifecycle.reports.render import render_terminal
from lifecycle.reports.scoring import TRAIN_HINT, scoring_report
from lifecycle.scoring.learned.registry import StoredModel

T = datetime(2025, 6, 1, tzinfo=UTC)


def metrics(cv: float = 0.9, rules: float | None = 0.6) -> dict[str, Any]:
    deciles = range(1, 11)
    return {
        "cv_auc": cv, "baseline_auc": 0.85, "rules_auc": rules, "pr_auc": 0.8,
        "baseline_pr_auc": 0.7, "rules_pr_auc": 0.5, "time_auc": None, "time_split": None,
        "n_train": 200, "n_positive": 80, "n_negative": 120, "base_rate": 0.4, "folds": 5,
        "features": 40, "first_outcome": T - timedelta(days=90), "last_outcome": T,
        "as_of": None,
        "calibration": [{"decile": d, "n": 20, "mean_predicted": 1 - d / 10,
                         "observed": 1 - d / 10} for d in deciles],
        "lift": [{"decile": d, "n": 20, "rate": 1 - d / 10, "lift": (1 - d / 10) / 0.4,
                  "cumulative_lift": 1.5} for d in deciles],
        "importance": [{"feature": "property:seats_requested", "weight": 0.8},
                       {"feature": "count:trial_started", "weight": 0.5}],
    }


def stored(model_id: str, days: int, *, active: bool = False,
           data: dict[str, Any] | None = None) -> StoredModel:
    return StoredModel(model_id, model_id * 4, T + timedelta(days=days),
                       T + timedelta(days=days), active, data if data is not None else metrics())


def text(blocks: list[Any]) -> str:
    out = []
    for b in blocks:
        if isinstance(b, Table):
            out += [b.title, *(c.text for row in b.rows for c in row), b.note or ""]
        else:
            out.append(b.text)
    return "\n".join(out)


def test_without_a_model_it_says_how_to_train_one() -> None:
    data = scoring_report([])
    assert (data["model"], data["models"]) == (None, 0)
    blocks = report_blocks("scoring", data)
    assert blocks == [Note(TRAIN_HINT, "muted")]
    assert "lifecycle model train" in TRAIN_HINT


def test_the_active_model_else_the_newest_and_never_a_tampered_one() -> None:
    tampered = stored("dddd", 9, data={"tampered": "the SHA-256 differs"})
    models = [stored("aaaa", 0), stored("bbbb", 2), tampered]
    assert scoring_report(models)["model"]["model_id"] == "bbbb"
    models.append(stored("cccc", 1, active=True))
    data = scoring_report(models)
    assert (data["model"]["model_id"], data["model"]["active"]) == ("cccc", True)
    assert data["tampered"] == ["dddd"]
    only_bad = scoring_report([tampered])
    assert only_bad["model"] is None
    said = text(report_blocks("scoring", only_bad))
    assert "1 stored model refused" in said
    assert "dddd" in said
    assert TRAIN_HINT in said


def test_the_blocks_compare_rules_baseline_and_model() -> None:
    blocks = report_blocks("scoring", scoring_report([stored("aaaa", 0, active=True)]))
    tables = {b.title: b for b in blocks if isinstance(b, Table)}
    aucs = tables["how well each ranks the closed leads"]
    assert [[c.text for c in row][1] for row in aucs.rows] == ["0.600", "0.850", "0.900"]
    deciles = tables["deciles of the predicted probability, highest first"]
    assert len(deciles.rows) == 10
    assert [c.text for c in deciles.rows[0]] == ["1", "20", "90.0%", "90.0%", "2.25×", "1.50×"]
    said = text(blocks)
    assert "better than the rules by 0.300 AUC" in said
    assert "property:seats_requested" in said
    worse = text(report_blocks("scoring", scoring_report([stored("a", 0, data=metrics(0.55))])))
    assert "no better than the rules (-0.050 AUC)" in worse
    unknown = text(report_blocks("scoring", scoring_report([stored("a", 0, data=metrics(
        rules=None))])))
    assert "than the rules" not in unknown
    blended = report_blocks("scoring", scoring_report([stored("a", 0, data={
        **metrics(), "blend_weight": 0.25, "booster_auc": 0.88})]))
    rows = [[c.text for c in row] for b in blended if isinstance(b, Table)
            and b.title.startswith("how well") for row in b.rows]
    assert rows[2][:2] == ["gradient-boosted trees alone", "0.880"]
    assert rows[3][:2] == ["model (blend: 0.25 trees, 0.75 baseline)", "0.900"]


def test_the_terminal_prints_the_same_tables() -> None:
    console = Console(record=True, width=120)
    render_terminal("scoring", scoring_report([stored("aaaa", 0)]), console)
    out = console.export_text()
    assert "Scoring" in out
    assert "model aaaa, not active (the newest stored)" in out
    assert "0.900" in out
    assert "count:trial_started" in out
