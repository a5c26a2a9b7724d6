"""Learned scoring: how well it ranks, how long it trains, how fast it scores, and what
grading by it adds to ingest.

Run from the repository root (``./run bench scoring`` runs the same)::

    .venv/bin/python bench/scoring.py --leads 100000

What it does, in one process:

1. Builds ``--leads`` closed leads (:mod:`bench._scoring_data`: their facts as the Lead
   aggregate folds them, who buys following the demo's buyers) and trains on them with
   the engine's own training (:func:`lifecycle.scoring.learned.training.train`: 5-fold
   cross-validated LightGBM, the logistic baseline, isotonic calibration, TreeSHAP
   importance). Reports the AUC of the rules (the scoring file's total score at the
   outcome), the baseline and the model, all on the same leads in this run, and the
   training time (wall and CPU).
2. Batch scoring: the facts of ``--score-leads`` leads (default: all of them) → the
   feature matrix (:func:`~lifecycle.scoring.learned.features.matrix`) → calibrated
   probabilities (:meth:`Model.predict <lifecycle.scoring.learned.model.Model.predict>`),
   in leads/s (median of ``--repeat``); and with the top factors too (what model grading
   records). The naive baseline in the same run scores ``--naive-leads`` leads one at a
   time (one matrix row and one predict call per lead). Goal: ≥ 50,000 leads/s.
3. Ingest with grading by model (``[grading] by = "model"``, a model active) against the
   same touchpoints graded by the rules (:mod:`bench._ingest_model`: the ingest
   benchmark's touchpoints, phases alternating, medians of ``--repeat``). Goal: at most
   10 % added. ``--ingest-touchpoints 0`` skips it.

The machine's load average is printed before and after (figures on a shared machine
move with it; CPU seconds are given beside wall time). Nothing is asserted. The last line
of the output is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console

if __package__ in (None, ""):  # run as a plain script: make ``lifecycle``/``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import loadavg, print_goals
from bench._scoring_data import closed_leads
from lifecycle.scoring.learned.artifact import content_hash, encode, model_id_of
from lifecycle.scoring.learned.features import matrix
from lifecycle.scoring.learned.model import Model
from lifecycle.scoring.learned.training import Examples, train

__all__ = ["main", "score_batch", "score_naive"]

GOAL_LEADS_PER_S = 50_000.0
GOAL_ADDED = 0.10


def _timed(work: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    return time.perf_counter() - wall, time.process_time() - cpu


def score_batch(model: Model, data: Examples, *, factors: bool = False) -> dict[str, float]:
    """All leads at once: one matrix, one predict call (and one factors call); the wall
    and CPU seconds of each step."""
    facts = [e.facts for e in data.items]
    at = [e.facts.newest_at for e in data.items]
    holder: dict[str, Any] = {}

    def build() -> None:
        holder["rows"] = matrix(model.artifact.spec, facts, at)

    out: dict[str, float] = {}
    out["matrix_s"], out["matrix_cpu_s"] = _timed(build)
    out["predict_s"], out["predict_cpu_s"] = _timed(lambda: model.predict(holder["rows"]))
    if factors:
        out["factors_s"], out["factors_cpu_s"] = _timed(lambda: model.factors(holder["rows"]))
    return out


def score_naive(model: Model, data: Examples) -> None:
    """One lead at a time: a one-row matrix and a predict call per lead."""
    spec = model.artifact.spec
    for e in data.items:
        model.predict(matrix(spec, [e.facts], [e.facts.newest_at]))


def _rate(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else 0.0


def _train(data: Examples, out: dict[str, Any], console: Console) -> Model:
    """Phase 1: trains with the engine's training; the AUCs and the time."""
    holder: dict[str, Any] = {}

    def fit() -> None:
        holder["artifact"] = train(data, created_at=datetime(2025, 6, 1, tzinfo=UTC))

    train_s, train_cpu = _timed(fit)
    artifact = holder["artifact"]
    m = artifact.metrics
    model = Model(artifact, model_id_of(content_hash(encode(artifact))))
    out["training"] = {
        "wall_s": round(train_s, 2), "cpu_s": round(train_cpu, 2), "n_train": m["n_train"],
        "n_positive": m["n_positive"], "features": m["features"], "rounds": m["rounds"],
        "cv_auc": m["cv_auc"], "booster_auc": m.get("booster_auc"),
        "blend_weight": m.get("blend_weight"), "baseline_auc": m["baseline_auc"],
        "rules_auc": m["rules_auc"], "pr_auc": m["pr_auc"], "time_auc": m["time_auc"]}
    console.print(f"trained on {m['n_train']:,} leads in {train_s:.1f} s (CPU {train_cpu:.1f} s;"
                  f" {m['features']} columns, {m['rounds']} rounds)")
    console.print(f"AUC: model {m['cv_auc']:.3f} (cross-validated; trees alone "
                  f"{m.get('booster_auc') or 0:.3f}, blend weight {m.get('blend_weight')}) · "
                  f"baseline (logistic) {m['baseline_auc']:.3f} · rules {m['rules_auc']:.3f}")
    return model


def _score(model: Model, data: Examples, args: argparse.Namespace, out: dict[str, Any],
           console: Console) -> None:
    """Phase 2: batch scoring against one call per lead."""
    scored = Examples(items=data.items[:args.score_leads or args.leads])
    naive = Examples(items=data.items[:args.naive_leads])
    runs = [score_batch(model, scored, factors=True) for _ in range(args.repeat)]
    one = [_timed(lambda: score_naive(model, naive)) for _ in range(args.repeat)]
    n, k = len(scored.items), len(naive.items)

    def median(key: str) -> float:
        return statistics.median(r[key] for r in runs)

    batch_s = median("matrix_s") + median("predict_s")
    batch_rate = _rate(n, batch_s)
    cpu_rate = _rate(n, median("matrix_cpu_s") + median("predict_cpu_s"))
    explained_rate = _rate(n, batch_s + median("factors_s"))
    naive_rate = _rate(k, statistics.median(w for w, _ in one))
    out["scoring"] = {
        "leads": n, "leads_per_s": round(batch_rate), "leads_per_cpu_s": round(cpu_rate),
        "matrix_leads_per_s": round(_rate(n, median("matrix_s"))),
        "predict_leads_per_s": round(_rate(n, median("predict_s"))),
        "with_factors_leads_per_s": round(explained_rate),
        "naive_leads": k, "naive_leads_per_s": round(naive_rate),
        "ratio": round(batch_rate / naive_rate, 1) if naive_rate else None}
    sc = out["scoring"]
    console.print(f"batch scoring of {n:,} leads (matrix + predict): {batch_rate:,.0f} leads/s "
                  f"({cpu_rate:,.0f} per CPU second; matrix {sc['matrix_leads_per_s']:,}/s, "
                  f"predict {sc['predict_leads_per_s']:,}/s); with top factors (TreeSHAP): "
                  f"{explained_rate:,.0f} leads/s; naive (one call per lead, {k:,} leads): "
                  f"{naive_rate:,.0f} leads/s ({sc['ratio']}x)")


def _ingest(args: argparse.Namespace, out: dict[str, Any], console: Console) -> None:
    """Phase 3: ingest graded by model against the same graded by the rules."""
    from bench._ingest_model import ingest_cost

    cost = ingest_cost(args.ingest_touchpoints, args.ingest_leads, seed=args.seed,
                       repeat=args.repeat)
    out["ingest"] = cost
    console.print(
        f"ingest of {cost['touchpoints']:,} touchpoints: rules "
        f"{cost['rules']['touchpoints_per_s']:,} tp/s, graded by model "
        f"{cost['model']['touchpoints_per_s']:,} tp/s: +{100 * cost['added_wall']:.1f} % "
        f"wall, +{100 * cost['added_cpu']:.1f} % CPU (the hook itself "
        f"{100 * cost['hook_share_cpu']:.1f} % of the rules' CPU)")


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--leads", type=int, default=100_000,
                        help="closed leads to train on (default 100,000)")
    parser.add_argument("--score-leads", type=int, default=None,
                        help="leads scored in one batch (default: --leads)")
    parser.add_argument("--naive-leads", type=int, default=2_000,
                        help="leads the one-at-a-time baseline scores (it is slow)")
    parser.add_argument("--ingest-touchpoints", type=int, default=20_000,
                        help="touchpoints of the ingest phase (0: skip it)")
    parser.add_argument("--ingest-leads", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    console = Console(highlight=False)
    out: dict[str, Any] = {"leads": args.leads, "seed": args.seed, "repeat": args.repeat,
                           "loadavg_before": loadavg()}
    console.print(f"load average before: {out['loadavg_before']}")

    started = time.perf_counter()
    data = closed_leads(args.leads, args.seed)
    out["build_s"] = round(time.perf_counter() - started, 2)
    won = sum(e.label for e in data.items)
    console.print(f"built {args.leads:,} closed leads ({won:,} won) in {out['build_s']} s")

    model = _train(data, out, console)
    m = model.artifact.metrics
    _score(model, data, args, out, console)
    if args.ingest_touchpoints > 0:
        _ingest(args, out, console)

    goals: dict[str, dict[str, Any]] = {
        "batch scoring leads/s": {"value": out["scoring"]["leads_per_s"],
                                  "goal": GOAL_LEADS_PER_S,
                                  "met": out["scoring"]["leads_per_s"] >= GOAL_LEADS_PER_S},
        "model AUC over rules AUC": {"value": round(m["cv_auc"] - m["rules_auc"], 3),
                                     "goal": 0.0, "met": m["cv_auc"] > m["rules_auc"]},
        "model AUC at least the baseline's": {
            "value": round(m["cv_auc"] - m["baseline_auc"], 3), "goal": 0.0,
            "met": m["cv_auc"] >= m["baseline_auc"]},
    }
    if "ingest" in out:
        added = out["ingest"]["added_wall"]
        goals["ingest added by model grading"] = {"value": added, "goal": GOAL_ADDED,
                                                  "met": added <= GOAL_ADDED}
    out["goals"] = goals
    out["loadavg_after"] = loadavg()
    print_goals(console, goals)
    console.print(f"load average after: {out['loadavg_after']}")
    print(json.dumps(out, default=str))
    return out


if __name__ == "__main__":
    main()
