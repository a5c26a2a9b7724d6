"""The tables ``lifecycle model`` prints: accuracy against the baselines, calibration and
lift by decile, the top factors, the stored models, replay mismatches.

The metrics come from :mod:`lifecycle.scoring.learned.training` as plain data (lists of
objects or of numbers, objects of numbers); a table shows what is there, whatever its
shape, so a metric added later shows without a change here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from rich.table import Table

from lifecycle.reports.output import literal

__all__ = ["TOP_FACTORS", "metrics_tables", "models_table", "replay_table"]

TOP_FACTORS = 10
"""Factors (feature groups by mean |contribution|) a model's terminal view lists."""

_ACCURACY = (("model (cross-validated)", "cv_auc"), ("model", "auc"),
             ("model on the latest 20 % of outcomes, trained on the rest", "time_auc"),
             ("logistic-regression baseline", "baseline_auc"), ("rules (total score)",
                                                                 "rules_auc"))


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value)


def metrics_tables(m: Mapping[str, Any], *, auc_key: str = "cv_auc") -> list[Table]:
    """The summary (AUC of the model against the baseline and the rules, PR-AUC, counts),
    calibration and lift by decile, and the top factors, of what is in ``m``."""
    summary = Table(title="accuracy (ROC AUC: 0.5 is chance, 1 a perfect ranking)",
                    title_justify="left")
    summary.add_column("ranking by")
    summary.add_column("AUC", justify="right")
    for label, key in _ACCURACY:
        if m.get(key) is not None and (key != "auc" or auc_key == "auc"):
            summary.add_row(label, _cell(m[key]))
    for label, key in (("PR-AUC (model)", "pr_auc"), ("leads", "n_train"), ("leads", "n"),
                       ("of them won", "n_positive")):
        if m.get(key) is not None:
            summary.add_row(label, _cell(m[key]))
    tables = [summary]
    for key, title in (("calibration", "calibration by decile (highest scores first)"),
                       ("lift", "lift by decile (observed rate / base rate)")):
        if m.get(key):
            tables.append(_rows_table(title, m[key]))
    if m.get("importance"):
        tables.append(_factors_table(m["importance"]))
    return tables


def _rows_table(title: str, items: Any) -> Table:
    """One row per decile: an object's fields as columns, or a number as ``value``."""
    table = Table(title=title, title_justify="left")
    rows: Sequence[Any] = list(items.values()) if isinstance(items, Mapping) else list(items)
    table.add_column("decile", justify="right")
    columns: list[str] = []
    for row in rows:
        if isinstance(row, Mapping):
            columns += [k for k in row if k not in columns and k != "decile"]
    for column in columns or ["value"]:
        table.add_column(column, justify="right")
    for i, row in enumerate(rows, start=1):
        if isinstance(row, Mapping):
            table.add_row(_cell(row.get("decile", i)), *(_cell(row.get(c)) for c in columns))
        elif isinstance(row, list | tuple):
            table.add_row(str(i), *(_cell(v) for v in row))
        else:
            table.add_row(str(i), _cell(row))
    return table


def _factors_table(importance: Any) -> Table:
    """The groups that move scores most, largest first (``{group: weight}``, or a list
    of ``{"feature", ...}`` objects or of pairs, as the training gives them)."""
    if isinstance(importance, Mapping):
        pairs = sorted(importance.items(), key=lambda kv: -abs(float(kv[1])))
    else:
        pairs = []
        for item in importance:
            if isinstance(item, Mapping):
                name = item.get("feature", item.get("group"))
                weight = item.get("weight", item.get("importance", item.get("value")))
                pairs.append((name, weight))
            else:
                pairs.append((item[0], item[1]))
    table = Table(title=f"top factors (mean |contribution|, log-odds; {len(pairs)} groups)",
                  title_justify="left")
    table.add_column("feature")
    table.add_column("weight", justify="right")
    for name, weight in pairs[:TOP_FACTORS]:
        table.add_row(literal(name), _cell(weight))
    return table


def models_table(rows: Sequence[Mapping[str, Any]]) -> Table:
    """The stored models (``lifecycle model list``), oldest first."""
    table = Table(title="models (* active)", title_justify="left")
    for column in ("", "model_id", "created", "outcomes", "leads", "won", "model AUC",
                   "baseline", "rules", "PR-AUC"):
        table.add_column(column, justify="right" if column in (
            "leads", "won", "model AUC", "baseline", "rules", "PR-AUC") else "left")
    for r in rows:
        if "tampered" in r:
            table.add_row("!", r["model_id"], _cell(r["created_at"]),
                          literal("refused: its stored bytes fail their hash"),
                          *([""] * 6))
            continue
        window = (f"{r['first_outcome']:%Y-%m-%d}–{r['last_outcome']:%Y-%m-%d}"
                  if "first_outcome" in r else "–")
        table.add_row("*" if r["active"] else "", r["model_id"], _cell(r["created_at"]),
                      window, *(_cell(r.get(k)) for k in (
                          "n_train", "n_positive", "cv_auc", "baseline_auc", "rules_auc",
                          "pr_auc")))
    return table


def replay_table(mismatches: Sequence[Mapping[str, Any]], *, limit: int = 20) -> Table:
    """The first ``limit`` grades a replay did not reproduce, each field a column."""
    columns: list[str] = []
    for m in mismatches[:limit]:
        columns += [k for k in m if k not in columns]
    table = Table(title=f"not reproduced (first {min(limit, len(mismatches))} of "
                  f"{len(mismatches)})", title_justify="left")
    for column in columns:
        table.add_column(column)
    for m in mismatches[:limit]:
        table.add_row(*(literal(_cell(m.get(c))) for c in columns))
    return table
