"""Projection throughput: rebuilds against eventsourcing's ProjectionRunner, and lag.

Run from the repository root (``./run bench projections`` runs the same)::

    .venv/bin/python bench/projections.py --leads 3000 --backends sqlite,postgres --repeat 3

What it does, per backend (a fresh SQLite file; a fresh PostgreSQL database on the
server from ``tests/harness/postgres.py`` — ``LIFECYCLE_TEST_POSTGRES_URL`` or a
throwaway one), in a fresh process (``spawn``):

1. Records the synthetic history of :func:`demo.generate` (``--leads``,
   ``--days``, ``--seed``) through ``LeadLifecycle.record_batch`` — not timed — except
   its last ``(--lag-warmup + --lag-batches) x --lag-batch-size`` inputs, kept for 3.
2. **Rebuild**, ``--repeat`` times: a new application and ``build_runner`` (what
   ``lifecycle projections rebuild`` does), then ``ProjectionRunner.rebuild()`` timed
   from the call to its return (reset, every notification read, rows written, indexes
   built). Figures: notifications/s (``events_per_s``; every notification of the log
   counts, as the runner reads them all), and the CPU seconds the rebuild cost this
   process and — where the server is a local process — the PostgreSQL backends.
3. **Lag**: the kept inputs in batches of ``--lag-batch-size``; for each, the time from
   calling ``record_batch`` until ``runner.run()`` returned with every projection at
   the head (embedded mode: ingest, then project), also split into its two parts.
   The first ``--lag-warmup`` batches are not counted (cold caches).
4. **Baseline**: eventsourcing's own projection machinery, as its documentation builds a
   materialised view: ``eventsourcing.projection.ProjectionRunner`` subscribed to the
   application, a ``Projection`` whose ``process_event`` turns each domain event into
   the same rows (the engine's own handlers) and writes them with its tracking record
   through a ``TrackingRecorder`` view — one transaction per event. It runs on the
   first ``--baseline-events`` notifications only (it is slow); rates are compared.
   PostgreSQL's recorder is subscribed with LISTEN/NOTIFY; eventsourcing's SQLite
   recorder has no ``subscribe()``, so there the application's recorder gets a polling
   subscription (eventsourcing's ``ListenNotifySubscription``, woken every 50 ms). The
   baseline's rows are compared with the engine's for the same events
   (``baseline_rows_equal``).

The machine's load average is printed before and after: on a shared machine the
figures move with the other work. Nothing is asserted about speed: the goal (>= 50,000
events/s rebuilding on PostgreSQL) is reported, never enforced.

The last line of the output is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib.metadata
import json
import multiprocessing
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a plain script: make ``lifecycle``/``tests`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


from bench._common import ServerCpu, database, loadavg, percentile, print_goals
from bench._projections_naive import run_baseline
from demo import generate
from lifecycle.application import LeadLifecycle
from lifecycle.contracts import SalesAction, Touchpoint, parse_inbound
from lifecycle.projections import (
    Projection,
    ProjectionStore,
    build_runner,
)
from lifecycle.settings import Settings

__all__ = ["main"]

GOAL_POSTGRES_EVENTS_PER_S = 50_000.0

# --------------------------------------------------------------------------- phases


@dataclass(frozen=True)
class Options:
    batch_size: int
    repeat: int
    lag_batches: int
    lag_batch_size: int
    lag_warmup: int
    baseline_events: int
    baseline_timeout: float


def _record(url: str, items: Sequence[Touchpoint | SalesAction], batch: int) -> None:
    app = LeadLifecycle(Settings(database_url=url))
    try:
        for start in range(0, len(items), batch):
            app.record_batch(items[start:start + batch])
    finally:
        app.close()


def _table_counts(store: ProjectionStore, projections: Sequence[Projection]) -> dict[str, int]:
    return {t.name: int(store.query(f"SELECT COUNT(*) FROM {t.name}")[0][0])
            for p in projections for t in p.tables}


def _rebuild_once(url: str, batch_size: int) -> dict[str, Any]:
    gc.collect()
    app = LeadLifecycle(Settings(database_url=url))
    cpu = ServerCpu(url) if url.startswith("postgres") else None
    try:
        runner = build_runner(app, batch_size=batch_size)
        head = runner.head()
        before = cpu.snapshot() if cpu else None
        c0 = time.process_time()
        t0 = time.perf_counter()
        n = runner.rebuild()
        seconds = time.perf_counter() - t0
        client_cpu = time.process_time() - c0
        after = cpu.snapshot() if cpu else None
        rows = sum(_table_counts(runner.store, runner.projections).values())
        behind = [s.name for s in runner.status() if s.lag]
        runner.store.close()
    finally:
        app.close()
    return {"notifications": n, "head": head, "seconds": seconds, "rows": rows,
            "client_cpu_s": client_cpu, "server_cpu_s": ServerCpu.used(before, after),
            "current": not behind}


def _lag(url: str, batches: list[list[Touchpoint | SalesAction]], warmup: int,
         batch_size: int) -> dict[str, Any]:
    app = LeadLifecycle(Settings(database_url=url))
    try:
        runner = build_runner(app, batch_size=batch_size)
        runner.run()
        total: list[float] = []
        record: list[float] = []
        project: list[float] = []
        events: list[int] = []
        for i, batch in enumerate(batches):
            head = runner.head()
            t0 = time.perf_counter()
            app.record_batch(batch)
            t1 = time.perf_counter()
            runner.run()
            t2 = time.perf_counter()
            if i >= warmup:
                total.append(t2 - t0)
                record.append(t1 - t0)
                project.append(t2 - t1)
                events.append(runner.head() - head)
        behind = [s.name for s in runner.status() if s.lag]
        runner.store.close()
    finally:
        app.close()
    ms = 1000.0
    return {
        "batches": len(total), "inputs_per_batch": len(batches[0]) if batches else 0,
        "events_per_batch": round(statistics.mean(events), 1) if events else 0.0,
        "p50_ms": round(percentile(total, 0.5) * ms, 2),
        "p99_ms": round(percentile(total, 0.99) * ms, 2),
        "max_ms": round(max(total, default=0.0) * ms, 2),
        "record_p50_ms": round(percentile(record, 0.5) * ms, 2),
        "project_p50_ms": round(percentile(project, 0.5) * ms, 2),
        "project_p99_ms": round(percentile(project, 0.99) * ms, 2),
        "current": not behind,
    }


def run_backend(url: str, inputs: Path, opts: Options) -> dict[str, Any]:
    """Every phase on one (empty) database, in a worker process.

    The inputs come from a JSONL file, so that nothing of them outlives the ingest in
    this process (a rebuild in ``lifecycle projections rebuild`` has no such heap).
    """
    with inputs.open("rb") as f:
        items: list[Touchpoint | SalesAction] = [parse_inbound(json.loads(line)) for line in f]
    keep = (opts.lag_warmup + opts.lag_batches) * opts.lag_batch_size
    head, tail = items[:len(items) - keep], items[len(items) - keep:]
    t0 = time.perf_counter()
    _record(url, head, Settings().batch_size)
    ingest_seconds = time.perf_counter() - t0
    del items, head
    rebuilds = [_rebuild_once(url, opts.batch_size) for _ in range(opts.repeat)]
    k = opts.lag_batch_size
    lag = _lag(url, [tail[i:i + k] for i in range(0, len(tail), k)], opts.lag_warmup,
               opts.batch_size)
    baseline = (run_baseline(url, opts.baseline_events, opts.baseline_timeout)
                if opts.baseline_events else None)
    return {"ingest_seconds": ingest_seconds, "rebuilds": rebuilds, "lag": lag,
            "baseline": baseline}


# --------------------------------------------------------------------------- driver


def _summary(figures: dict[str, Any]) -> dict[str, Any]:
    runs = figures["rebuilds"]
    med = statistics.median
    eps = [r["notifications"] / r["seconds"] for r in runs if r["seconds"] > 0]
    server = [r["server_cpu_s"] for r in runs if r["server_cpu_s"] is not None]
    rebuild = {
        "events_per_s": round(med(eps), 1) if eps else 0.0,
        "seconds": round(med(r["seconds"] for r in runs), 3),
        "notifications": runs[-1]["notifications"],
        "rows": runs[-1]["rows"],
        "client_cpu_s": round(med(r["client_cpu_s"] for r in runs), 3),
        "server_cpu_s": round(med(server), 3) if server else None,
        "current": all(r["current"] for r in runs),
        "runs_events_per_s": [round(x, 1) for x in eps],
    }
    baseline = figures["baseline"]
    out: dict[str, Any] = {"rebuild": rebuild,
                           "ingest_seconds": round(figures["ingest_seconds"], 2)}
    if baseline is not None:
        out["baseline"] = {k: (round(v, 3) if isinstance(v, float) else v)
                           for k, v in baseline.items()}
        b = baseline["events_per_s"]
        out["ratio_vs_baseline"] = round(rebuild["events_per_s"] / b, 1) if b else None
    else:
        out["baseline"] = None
        out["ratio_vs_baseline"] = None
    out["lag"] = figures["lag"]
    return out


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Projection rebuild throughput vs eventsourcing's ProjectionRunner, "
                    "and ingest → projection lag.")
    parser.add_argument("--leads", type=int, default=3000,
                        help="leads of the generated history (default 3000: ~26k inputs, "
                        "~47k events)")
    parser.add_argument("--days", type=int, default=180, help="days of history (default 180)")
    parser.add_argument("--seed", type=int, default=7, help="generator seed (default 7)")
    parser.add_argument("--backends", default="sqlite,postgres",
                        help="comma-separated: sqlite, postgres (default both)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="timed rebuilds per backend; figures are medians (default 3)")
    parser.add_argument("--batch-size", type=int, default=5000,
                        help="notifications per transaction of the runner (default 5000, "
                        "build_runner's)")
    parser.add_argument("--lag-batches", type=int, default=200,
                        help="ingest batches the lag is measured over (default 200)")
    parser.add_argument("--lag-batch-size", type=int, default=20,
                        help="inputs per lag batch (default 20)")
    parser.add_argument("--lag-warmup", type=int, default=5,
                        help="first lag batches not counted (default 5)")
    parser.add_argument("--baseline-events", type=int, default=3000, metavar="K",
                        help="first K notifications through eventsourcing's ProjectionRunner "
                        "(default 3000; 0 skips it)")
    parser.add_argument("--baseline-timeout", type=float, default=180.0,
                        help="seconds the baseline may take before its partial rate is "
                        "reported (default 180)")
    parser.add_argument("--sqlite-dir", type=Path, default=None,
                        help="where the SQLite files go (default: a temporary directory)")
    args = parser.parse_args(argv)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = sorted(set(backends) - {"sqlite", "postgres"})
    if unknown or not backends:
        parser.error(f"--backends: unknown {', '.join(unknown) or '(none given)'}; "
                     "use sqlite, postgres")
    if min(args.leads, args.repeat, args.batch_size, args.lag_batch_size) < 1:
        parser.error("--leads, --repeat, --batch-size and --lag-batch-size must be positive")
    if args.lag_batches < 0 or args.lag_warmup < 0 or args.baseline_events < 0:
        parser.error("--lag-batches, --lag-warmup and --baseline-events must be >= 0")
    args.backends = backends
    return args


def _in_worker(url: str, inputs: Path, opts: Options) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        return pool.submit(run_backend, url, inputs, opts).result()


def main(argv: Sequence[str] | None = None) -> int:
    from rich.console import Console
    from rich.table import Table

    args = _parse_args(argv)
    console = Console(width=120)
    load_before = loadavg()
    console.print(f"load average before: {load_before} on {os.cpu_count()} CPUs")
    console.print(f"generating the history of {args.leads:,} leads over {args.days} days "
                  f"(seed {args.seed}) ...")
    raw = [dict(r) for r in generate(leads=args.leads, days=args.days, seed=args.seed)]
    opts = Options(batch_size=args.batch_size, repeat=args.repeat,
                   lag_batches=args.lag_batches, lag_batch_size=args.lag_batch_size,
                   lag_warmup=args.lag_warmup if args.lag_batches else 0,
                   baseline_events=args.baseline_events,
                   baseline_timeout=args.baseline_timeout)
    kept = (opts.lag_warmup + opts.lag_batches) * opts.lag_batch_size
    if kept >= len(raw):
        console.print(f"error: the lag phase needs {kept:,} of the {len(raw):,} inputs; "
                      "lower --lag-batches/--lag-batch-size or raise --leads")
        return 2

    results: dict[str, dict[str, Any]] = {}
    with contextlib.ExitStack() as stack:
        workdir = args.sqlite_dir or Path(stack.enter_context(
            tempfile.TemporaryDirectory(prefix="lc-bench-")))
        workdir.mkdir(parents=True, exist_ok=True)
        inputs = workdir / "inputs.jsonl"
        inputs.write_text("".join(json.dumps(r) + "\n" for r in raw), encoding="utf-8")
        pg_base: str | None = None
        if "postgres" in args.backends:
            from tests.harness.postgres import postgres_server

            pg_base = stack.enter_context(postgres_server())
        for backend in args.backends:
            console.print(f"[{backend}] ingest {len(raw) - kept:,} inputs, "
                          f"{args.repeat} rebuild(s), lag over {args.lag_batches} batches, "
                          f"baseline on {args.baseline_events:,} events ...", markup=False)
            with database(backend, workdir, "projections", pg_base) as url:
                results[backend] = _summary(_in_worker(url, inputs, opts))

    load_after = loadavg()
    result: dict[str, Any] = {
        "bench": "projections",
        "leads": args.leads,
        "days": args.days,
        "seed": args.seed,
        "inputs": len(raw),
        "inputs_ingested_before_rebuild": len(raw) - kept,
        "repeat": args.repeat,
        "batch_size": args.batch_size,
        "statistic": "median",
        "events_note": "events_per_s counts every notification of the log (lead and "
                       "lead-key events), as the runner reads them all",
        "baseline_note": (f"eventsourcing.projection.ProjectionRunner, one transaction per "
                          f"event, on the first {args.baseline_events} notifications of the "
                          "same log; rates are compared" if args.baseline_events
                          else "skipped"),
        "lag_note": "record_batch of one batch + runner.run() until every projection is at "
                    "the head (embedded mode)",
        "backends": results,
        "goals": {},
        "machine": {"cpus": os.cpu_count(), "load_average_before": load_before,
                    "load_average_after": load_after,
                    "note": "wall-clock figures move with other work on a shared machine; "
                            "CPU seconds less so"},
        "python": platform.python_version(),
        "eventsourcing": importlib.metadata.version("eventsourcing"),
    }
    pg = results.get("postgres")
    if pg is not None:
        value = pg["rebuild"]["events_per_s"]
        result["goals"]["postgres_rebuild_events_per_s"] = {
            "goal": GOAL_POSTGRES_EVENTS_PER_S, "value": value,
            "met": value >= GOAL_POSTGRES_EVENTS_PER_S}

    table = Table(title=f"projections: {args.leads:,} leads, rebuild median of {args.repeat}, "
                  f"batch {args.batch_size}")
    for col in ("backend", "events", "rebuild ev/s", "client CPU s", "server CPU s",
                "baseline ev/s", "vs baseline", "lag p50 ms", "lag p99 ms"):
        table.add_column(col, justify="left" if col == "backend" else "right")
    for name, s in results.items():
        r, b, lag = s["rebuild"], s["baseline"], s["lag"]
        table.add_row(
            name, f"{r['notifications']:,}", f"{r['events_per_s']:,.0f}",
            f"{r['client_cpu_s']:.2f}",
            "-" if r["server_cpu_s"] is None else f"{r['server_cpu_s']:.2f}",
            "-" if b is None else f"{b['events_per_s']:,.0f}",
            "-" if s["ratio_vs_baseline"] is None else f"{s['ratio_vs_baseline']:.0f}x",
            f"{lag['p50_ms']:.1f}", f"{lag['p99_ms']:.1f}")
    console.print(table)
    for name, s in results.items():
        r, b, lag = s["rebuild"], s["baseline"], s["lag"]
        console.print(f"{name}: rebuild runs {r['runs_events_per_s']} ev/s, {r['rows']:,} rows, "
                      f"current={r['current']}; lag over {lag['batches']} batches of "
                      f"{lag['inputs_per_batch']} inputs (~{lag['events_per_batch']} events): "
                      f"record p50 {lag['record_p50_ms']} ms + project p50 "
                      f"{lag['project_p50_ms']} ms", markup=False)
        if b is not None:
            console.print(f"{name}: baseline {b['events']:,} events in {b['seconds']:.2f} s, "
                          f"complete={b['complete']}, rows_equal={b['rows_equal']}",
                          markup=False)
    console.print(f"load average before {load_before}, after {load_after} "
                  f"({os.cpu_count()} CPUs)")
    print_goals(console, result["goals"])
    sys.stdout.flush()
    print(json.dumps(result, sort_keys=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
