"""Ingest throughput: touchpoints through the engine, against a naive baseline.

Run from the repository root (``./run bench ingest`` runs the same)::

    .venv/bin/python bench/ingest.py --touchpoints 100000 --leads 5000 \\
        --backends sqlite,postgres --repeat 3

What it does:

1. Generates ``--touchpoints`` realistic synthetic touchpoints over ``--leads`` leads,
   deterministically from ``--seed``: mixed kinds and channels, a profile on each
   lead's first touch (and a few later profile changes), ~1 % redeliveries of earlier
   touchpoints and ~0.5 % late ones (business time in the past).
2. Validates them with :func:`lifecycle.contracts.parse_inbound` before any timing
   (and reports that validation throughput on its own).
3. For each backend (a fresh SQLite file; a fresh PostgreSQL database on the server
   from ``tests/harness/postgres.py`` — ``LIFECYCLE_TEST_POSTGRES_URL`` or a throwaway
   one), times ``LeadLifecycle.record_batch`` over the whole input in batches of
   ``--batch-size``, then a naive baseline on the first ``--baseline-touchpoints`` of
   the same input: a plain eventsourcing ``Application`` (default mapper and
   recorder, no aggregate cache) with the same ``Lead`` aggregate, doing one
   ``repository.get`` and one ``save`` per touchpoint. Rates are compared, so the
   baseline may run on a subset: it is slow.

Every run of a phase happens in a fresh process forked from a small server process
started before the input is generated (``forkserver``), so runs share no caches and
peak memory is the ``resource.getrusage`` ``ru_maxrss`` of that process: the validated
input included; ``growth`` is how much the timed phase added to the peak. Before the
timed phase each worker collects and freezes (``gc.freeze``) what it holds, the input
above all: a streaming ingest does not hold 100,000 validated inputs, and the
collector scanning them would be a cost of the benchmark, not of the engine. Both the
engine and the baseline get the same treatment. CPU seconds of the worker are
reported beside wall time (on a shared machine they say more; on PostgreSQL they
leave out the server's work). With ``--repeat R`` every phase runs R times and the
figures are medians. Nothing is asserted about speed: the goals (≥ 20,000
touchpoints/s on SQLite, ≥ 10 x the naive baseline on the same database) are
reported, never enforced.

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
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console

if __package__ in (None, ""):  # run as a plain script: make ``lifecycle``/``tests`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


from bench._common import database, print_goals
from bench._ingest_input import generate_touchpoints, input_mix, validate
from bench._ingest_naive import NaiveLifecycle
from lifecycle.application import LeadLifecycle, Outcome
from lifecycle.contracts import SalesAction, Touchpoint
from lifecycle.settings import Settings

__all__ = ["generate_touchpoints", "main", "validate"]

GOAL_SQLITE_TPS = 20_000.0
GOAL_RATIO = 10.0
_MIB = 1024.0 * 1024.0
_MAXRSS_UNIT = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB else

# --------------------------------------------------------------------------- phases


@dataclass
class PhaseRun:
    """One timed run of one phase in its own process."""

    touchpoints: int
    seconds: float
    validate_seconds: float
    accepted: int = 0
    duplicate: int = 0
    rejected: int = 0
    lead_events: int = 0
    stored_events: int = 0
    maxrss_before: int = 0
    maxrss_after: int = 0
    cpu_seconds: float = 0.0

    @property
    def tps(self) -> float:
        return self.touchpoints / self.seconds if self.seconds else 0.0

    @property
    def eps(self) -> float:
        return self.lead_events / self.seconds if self.seconds else 0.0


def _maxrss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * _MAXRSS_UNIT


def _settle() -> None:
    """Collects, then freezes what the worker holds (the input): see the module doc."""
    gc.collect()
    gc.freeze()


def _count(run: PhaseRun, outcome: Outcome, events: int) -> None:
    if outcome is Outcome.ACCEPTED:
        run.accepted += 1
        run.lead_events += events
    elif outcome is Outcome.DUPLICATE:
        run.duplicate += 1
    else:
        run.rejected += 1


def run_engine(url: str, raw: Sequence[dict[str, Any]], batch_size: int) -> PhaseRun:
    """Times ``record_batch`` over every input (in a worker process)."""
    items, validate_seconds = validate(raw)
    app = LeadLifecycle(Settings(database_url=url))
    try:
        inputs: Sequence[Touchpoint | SalesAction] = items
        _settle()
        run = PhaseRun(len(items), 0.0, validate_seconds, maxrss_before=_maxrss())
        started, cpu = time.perf_counter(), time.process_time()
        for start in range(0, len(inputs), batch_size):
            for result in app.record_batch(inputs[start : start + batch_size]):
                _count(run, result.outcome, result.events)
        run.seconds = time.perf_counter() - started
        run.cpu_seconds = time.process_time() - cpu
        run.maxrss_after = _maxrss()
        run.stored_events = app.process_recorder.max_notification_id() or 0
    finally:
        app.close()
    return run


def run_naive(url: str, raw: Sequence[dict[str, Any]]) -> PhaseRun:
    """Times the naive baseline, one get + save per touchpoint (in a worker process)."""
    items, validate_seconds = validate(raw)
    app = NaiveLifecycle(url)
    try:
        _settle()
        run = PhaseRun(len(items), 0.0, validate_seconds, maxrss_before=_maxrss())
        recorded_at = datetime.now(UTC)
        started, cpu = time.perf_counter(), time.process_time()
        for item in items:
            outcome, events = app.record(item, recorded_at)
            _count(run, outcome, events)
        run.seconds = time.perf_counter() - started
        run.cpu_seconds = time.process_time() - cpu
        run.maxrss_after = _maxrss()
        run.stored_events = app.recorder.max_notification_id() or 0
    finally:
        app.close()
    return run


# --------------------------------------------------------------------------- driver


@dataclass
class BackendFigures:
    """Medians over the repeats of one backend, and every run."""

    backend: str
    engine: list[PhaseRun] = field(default_factory=list)
    naive: list[PhaseRun] = field(default_factory=list)

    @staticmethod
    def _median(runs: Sequence[PhaseRun], get: Callable[[PhaseRun], float]) -> float:
        return statistics.median(get(r) for r in runs) if runs else 0.0

    def summary(self) -> dict[str, Any]:
        e, n, med = self.engine, self.naive, self._median
        engine_tps = med(e, lambda r: r.tps)
        naive_tps = med(n, lambda r: r.tps)
        last_e = e[-1] if e else None
        last_n = n[-1] if n else None
        return {
            "touchpoints_per_s": round(engine_tps, 1),
            "events_per_s": round(med(e, lambda r: r.eps), 1),
            "stored_events_per_s": round(med(e, lambda r: r.stored_events / r.seconds), 1),
            "seconds": round(med(e, lambda r: r.seconds), 3),
            "cpu_seconds": round(med(e, lambda r: r.cpu_seconds), 3),
            "touchpoints_per_cpu_s": round(med(e, lambda r: r.touchpoints / r.cpu_seconds), 1),
            "touchpoints": last_e.touchpoints if last_e else 0,
            "accepted": last_e.accepted if last_e else 0,
            "duplicate": last_e.duplicate if last_e else 0,
            "rejected": last_e.rejected if last_e else 0,
            "lead_events": last_e.lead_events if last_e else 0,
            "stored_events": last_e.stored_events if last_e else 0,
            "events_per_touchpoint": round(
                last_e.lead_events / last_e.touchpoints, 3) if last_e else 0.0,
            "peak_rss_mib": round(med(e, lambda r: r.maxrss_after) / _MIB, 1),
            "rss_growth_mib": round(
                med(e, lambda r: r.maxrss_after - r.maxrss_before) / _MIB, 1),
            "runs_touchpoints_per_s": [round(r.tps, 1) for r in e],
            "naive": {
                "touchpoints_per_s": round(naive_tps, 1),
                "events_per_s": round(med(n, lambda r: r.eps), 1),
                "seconds": round(med(n, lambda r: r.seconds), 3),
                "cpu_seconds": round(med(n, lambda r: r.cpu_seconds), 3),
                "touchpoints_per_cpu_s": round(
                    med(n, lambda r: r.touchpoints / r.cpu_seconds), 1),
                "touchpoints": last_n.touchpoints if last_n else 0,
                "accepted": last_n.accepted if last_n else 0,
                "duplicate": last_n.duplicate if last_n else 0,
                "lead_events": last_n.lead_events if last_n else 0,
                "peak_rss_mib": round(med(n, lambda r: r.maxrss_after) / _MIB, 1),
                "rss_growth_mib": round(
                    med(n, lambda r: r.maxrss_after - r.maxrss_before) / _MIB, 1),
                "runs_touchpoints_per_s": [round(r.tps, 1) for r in n],
            },
            "ratio_vs_naive": round(engine_tps / naive_tps, 2) if naive_tps else None,
        }


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Touchpoint ingest throughput of the engine vs a naive baseline.")
    parser.add_argument("--touchpoints", type=int, default=100_000, metavar="N",
                        help="touchpoints through the engine (default 100000)")
    parser.add_argument("--leads", type=int, default=5_000, metavar="M",
                        help="distinct leads (default 5000)")
    parser.add_argument("--backends", default="sqlite,postgres",
                        help="comma-separated: sqlite, postgres (default both)")
    parser.add_argument("--batch-size", type=int, default=Settings().batch_size,
                        help="inputs per record_batch call (default: the engine's, 2000)")
    parser.add_argument("--seed", type=int, default=20240108, help="input generator seed")
    parser.add_argument("--baseline-touchpoints", type=int, default=5_000, metavar="K",
                        help="first K touchpoints through the naive baseline (default 5000; "
                        "0 skips it)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs per phase; figures are medians (default 1)")
    parser.add_argument("--sqlite-dir", type=Path, default=None,
                        help="where the SQLite files go (default: a temporary directory)")
    args = parser.parse_args(argv)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = sorted(set(backends) - {"sqlite", "postgres"})
    if unknown or not backends:
        parser.error(f"--backends: unknown {', '.join(unknown) or '(none given)'}; "
                     "use sqlite, postgres")
    if args.touchpoints < 1 or args.leads < 1 or args.batch_size < 1 or args.repeat < 1:
        parser.error("--touchpoints, --leads, --batch-size and --repeat must be positive")
    args.backends = backends
    args.baseline_touchpoints = max(0, min(args.baseline_touchpoints, args.touchpoints))
    return args


_WORKERS = multiprocessing.get_context("forkserver")


def _in_worker(fn: Callable[..., PhaseRun], *args: Any) -> PhaseRun:
    with ProcessPoolExecutor(max_workers=1, mp_context=_WORKERS) as pool:
        return pool.submit(fn, *args).result()


def _start_workers() -> None:
    """Starts the fork server while this process is still small (see the module doc)."""
    _WORKERS.set_forkserver_preload(["lifecycle.application"])
    _in_worker(_nothing)


def _nothing() -> PhaseRun:
    return PhaseRun(0, 0.0, 0.0, maxrss_after=_maxrss())


def _render(console: Console, result: dict[str, Any], args: argparse.Namespace) -> None:
    """The readable part of the output: a table per path, then notes and goals."""
    from rich.table import Table

    table = Table(title=f"ingest: {args.touchpoints:,} touchpoints / {args.leads:,} leads, "
                  f"batch {args.batch_size}, median of {args.repeat} (tp = touchpoints; "
                  "+MiB = peak growth during the timed phase)")
    for col in ("backend", "path", "touchpoints", "tp/s", "events/s", "ev/tp", "tp/CPU-s",
                "peak MiB", "+MiB", "vs naive"):
        table.add_column(col, justify="left" if col in ("backend", "path") else "right")
    for name, s in result["backends"].items():
        table.add_row(name, "engine", f"{s['touchpoints']:,}", f"{s['touchpoints_per_s']:,.0f}",
                      f"{s['events_per_s']:,.0f}", f"{s['events_per_touchpoint']:.2f}",
                      f"{s['touchpoints_per_cpu_s']:,.0f}",
                      f"{s['peak_rss_mib']:.0f}", f"{s['rss_growth_mib']:.0f}",
                      f"{s['ratio_vs_naive']:.1f}x" if s["ratio_vs_naive"] else "-")
        n = s["naive"]
        if n["touchpoints"]:
            table.add_row(name, "naive", f"{n['touchpoints']:,}",
                          f"{n['touchpoints_per_s']:,.0f}", f"{n['events_per_s']:,.0f}",
                          f"{n['lead_events'] / n['touchpoints']:.2f}",
                          f"{n['touchpoints_per_cpu_s']:,.0f}",
                          f"{n['peak_rss_mib']:.0f}", f"{n['rss_growth_mib']:.0f}", "1.0x")
    console.print(table)
    mix = result["input"]
    console.print(f"validation (parse_inbound): {result['validation_per_s']:,.0f} inputs/s, "
                  f"measured apart; input has {mix['redeliveries']} redeliveries and "
                  f"{mix['late']} late touchpoints")
    if result["baseline_touchpoints"]:
        console.print(f"note: {result['baseline_note']}")
    console.print(f"memory: {result['memory']}")
    console.print(f"gc: {result['gc']} (see the module docstring)")
    print_goals(console, result["goals"])


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    console = Console(width=120)
    _start_workers()
    console.print(f"generating {args.touchpoints:,} touchpoints over {args.leads:,} leads "
                  f"(seed {args.seed}) ...")
    raw = generate_touchpoints(args.touchpoints, args.leads, args.seed)
    items, validate_seconds = validate(raw)
    redeliveries, late = input_mix(items)
    del items
    baseline = raw[: args.baseline_touchpoints]

    figures: dict[str, BackendFigures] = {}
    stack = contextlib.ExitStack()
    with stack:
        workdir = args.sqlite_dir or Path(stack.enter_context(
            tempfile.TemporaryDirectory(prefix="lc-bench-")))
        workdir.mkdir(parents=True, exist_ok=True)
        pg_base: str | None = None
        if "postgres" in args.backends:
            from tests.harness.postgres import postgres_server

            pg_base = stack.enter_context(postgres_server())
        for backend in args.backends:
            fig = figures[backend] = BackendFigures(backend)
            for rep in range(args.repeat):
                console.print(f"[{backend}] run {rep + 1}/{args.repeat}: engine ...",
                              markup=False)
                with database(backend, workdir, f"engine-{rep}", pg_base) as url:
                    fig.engine.append(_in_worker(run_engine, url, raw, args.batch_size))
                if baseline:
                    console.print(f"[{backend}] run {rep + 1}/{args.repeat}: naive baseline ...",
                                  markup=False)
                    with database(backend, workdir, f"naive-{rep}", pg_base) as url:
                        fig.naive.append(_in_worker(run_naive, url, baseline))

    validation_runs = [validate_seconds] + [r.validate_seconds for f in figures.values()
                                            for r in f.engine]
    validation_tps = len(raw) / statistics.median(validation_runs)
    result: dict[str, Any] = {
        "bench": "ingest",
        "touchpoints": args.touchpoints,
        "leads": args.leads,
        "batch_size": args.batch_size,
        "seed": args.seed,
        "repeat": args.repeat,
        "statistic": "median",
        "input": {"redeliveries": redeliveries, "late": late},
        "baseline_touchpoints": len(baseline),
        "baseline_note": (f"naive baseline ran on the first {len(baseline)} touchpoints of "
                          "the same input; rates are compared" if baseline else "skipped"),
        "validation_per_s": round(validation_tps, 1),
        "memory": "peak RSS of the worker process (resource.getrusage ru_maxrss, "
                  "validated input included); growth = peak after - peak before the phase",
        "gc": "workers gc.collect() + gc.freeze() the validated input before timing",
        "backends": {name: f.summary() for name, f in figures.items()},
        "goals": {},
        "python": platform.python_version(),
        "eventsourcing": importlib.metadata.version("eventsourcing"),
        "cpus": os.cpu_count(),
    }
    sqlite = result["backends"].get("sqlite")
    if sqlite is not None:
        result["goals"]["sqlite_touchpoints_per_s"] = {
            "goal": GOAL_SQLITE_TPS, "value": sqlite["touchpoints_per_s"],
            "met": sqlite["touchpoints_per_s"] >= GOAL_SQLITE_TPS}
    for name, summary in result["backends"].items():
        if summary["ratio_vs_naive"] is not None:
            result["goals"][f"{name}_ratio_vs_naive"] = {
                "goal": GOAL_RATIO, "value": summary["ratio_vs_naive"],
                "met": summary["ratio_vs_naive"] >= GOAL_RATIO}

    _render(console, result, args)
    sys.stdout.flush()
    print(json.dumps(result, sort_keys=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
