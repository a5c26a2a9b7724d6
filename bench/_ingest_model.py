"""What grading by a learned model adds to ingest (issue 12's goal: at most 10 %).

Run from the repository root::

    .venv/bin/python bench/_ingest_model.py --touchpoints 20000 --leads 2000 --repeat 3

The ingest benchmark's touchpoints (:mod:`bench._ingest_input`) are recorded with
``LeadLifecycle.record_batch`` in batches of ``--batch-size`` into a fresh SQLite file,
once with the built-in scoring (``by = "rules"``) and once with every template graded by
a model (``by = "model"``, the model active): a LightGBM model trained by the engine's
own training on the same leads' facts, labelled by a made-up propensity (demo requests,
pricing views, contact with sales, the industry). The phases alternate (rules, model,
rules, ...) so a busy machine slows both alike; figures are medians of ``--repeat``.
The time inside the model-grading hook (features, one prediction and one factor call per
batch, the ``grade_by_model`` commands) is measured apart (wall and CPU): the rest of the
difference is storing the model's ``Graded`` events and their nurture steps. CPU seconds
of the process are reported beside wall time; the machine's load average before and
after too.

The last line is one JSON object. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a plain script: make ``lifecycle``/``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import loadavg
from bench._ingest_input import generate_touchpoints, validate
from lifecycle.application import LeadLifecycle
from lifecycle.contracts import Touchpoint
from lifecycle.policies import model_grading
from lifecycle.scoring import ScoringConfig, load_scoring
from lifecycle.scoring.learned.artifact import content_hash, encode, model_id_of
from lifecycle.scoring.learned.model import Model
from lifecycle.scoring.learned.training import Example, Examples, train
from lifecycle.settings import Settings
from lifecycle.whatif import graded_by_model

__all__ = ["ingest_cost", "main"]

_GOAL = 0.10


def _record(url: str, items: Sequence[Touchpoint], scoring: ScoringConfig,
            model: Model | None, batch_size: int) -> dict[str, float]:
    app = LeadLifecycle(Settings(database_url=url), scoring=scoring)
    app.__dict__["_active_model"] = model
    hook: list[float] = [0.0, 0.0]
    original = model_grading.grade_batch

    def timed(*args: Any, **kwargs: Any) -> int:
        start, start_cpu = time.perf_counter(), time.process_time()
        try:
            return original(*args, **kwargs)
        finally:
            hook[0] += time.perf_counter() - start
            hook[1] += time.process_time() - start_cpu

    model_grading.grade_batch = timed
    try:
        gc.collect()
        wall, cpu = time.perf_counter(), time.process_time()
        for start in range(0, len(items), batch_size):
            app.record_batch(items[start:start + batch_size])
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        events = app.event_recorder.max_notification_id() or 0
    finally:
        model_grading.grade_batch = original
        app.close()
    return {"wall_s": wall, "cpu_s": cpu, "hook_s": hook[0], "hook_cpu_s": hook[1],
            "events": float(events)}


def _trained(items: Sequence[Touchpoint], workdir: Path, seed: int) -> tuple[Model, float]:
    """A model of the leads' facts (recorded once), labelled by a made-up propensity."""
    app = LeadLifecycle(Settings(database_url=f"sqlite:///{workdir / 'train.db'}"))
    ids = {r.lead_id for start in range(0, len(items), 1000)
           for r in app.record_batch(items[start:start + 1000]) if r.lead_id is not None}
    rng = random.Random(seed)
    examples = []
    for lead_id in sorted(ids):
        facts = app.get_lead(lead_id).facts
        kinds = [k for _, k, _ in facts.touches]
        logit = (-1.5 + 0.9 * kinds.count("demo_requested") + 0.4 * kinds.count(
            "pricing_page_view") + 1.0 * kinds.count("contact_sales")
            + 0.8 * (facts.profile.get("industry") in ("software", "saas")))
        label = int(rng.random() < 1 / (1 + math.exp(-logit)))
        at = facts.newest_at + timedelta(days=rng.uniform(1, 10))
        examples.append(Example(lead_id, facts, at, label, 0.0, at))
    app.close()
    start = time.perf_counter()
    artifact = train(Examples(items=examples), folds=3, seed=seed,
                     created_at=datetime(2024, 6, 1, tzinfo=UTC))
    seconds = time.perf_counter() - start
    return Model(artifact, model_id_of(content_hash(encode(artifact)))), seconds


def ingest_cost(touchpoints: int = 20_000, leads: int = 2_000, *, seed: int = 1,
                batch_size: int = 1_000, repeat: int = 3,
                progress: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """Times ingest by rules and by model (medians of ``repeat``); see the module doc."""
    items, _ = validate(generate_touchpoints(touchpoints, leads, seed))
    rules = load_scoring()
    by_model = graded_by_model(rules)
    runs: dict[str, list[dict[str, float]]] = {"rules": [], "model": []}
    load_before = loadavg()
    with tempfile.TemporaryDirectory(prefix="lc-bench-model-") as tmp:
        workdir = Path(tmp)
        model, train_s = _trained(items, workdir, seed)
        progress(f"model {model.model_id} trained in {train_s:.1f}s "
                 f"(cv_auc {model.artifact.metrics.get('cv_auc')})")
        for r in range(repeat):
            for name, scoring, active in (("rules", rules, None), ("model", by_model, model)):
                url = f"sqlite:///{workdir / f'{name}-{r}.db'}"
                runs[name].append(_record(url, items, scoring, active, batch_size))
                progress(f"{name} #{r + 1}: {runs[name][-1]}")

    def median(name: str, key: str) -> float:
        return statistics.median(run[key] for run in runs[name])

    out: dict[str, Any] = {
        "touchpoints": len(items), "leads": leads, "batch_size": batch_size, "repeat": repeat,
        "model_id": model.model_id, "features": len(model.names), "train_s": round(train_s, 2),
    }
    for name in runs:
        out[name] = {k: round(median(name, k), 3) for k in ("wall_s", "cpu_s", "hook_s",
                                                            "hook_cpu_s", "events")}
        out[name]["touchpoints_per_s"] = round(len(items) / median(name, "wall_s"))
    out["added_wall"] = round(median("model", "wall_s") / median("rules", "wall_s") - 1, 4)
    out["added_cpu"] = round(median("model", "cpu_s") / median("rules", "cpu_s") - 1, 4)
    out["hook_share_cpu"] = round(median("model", "hook_cpu_s") / median("rules", "cpu_s"), 4)
    out["goal_added"] = _GOAL
    out["loadavg"] = {"before": load_before, "after": loadavg()}
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--touchpoints", type=int, default=20_000)
    parser.add_argument("--leads", type=int, default=2_000)
    parser.add_argument("--batch-size", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    result = ingest_cost(args.touchpoints, args.leads, seed=args.seed,
                         batch_size=args.batch_size, repeat=args.repeat,
                         progress=lambda line: print(line, flush=True))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
