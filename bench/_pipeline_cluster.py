"""``bench/pipeline.py``'s deployments: inputs, a database, topics and real workers.

Each measurement gets a fresh PostgreSQL database and topic prefix, a broker (the one
named by ``LIFECYCLE_TEST_KAFKA_BOOTSTRAP`` or a throwaway Tansu broker) and
``python -m lifecycle worker`` subprocesses; :class:`Monitor` reads from PostgreSQL how
far the pipeline is, and :func:`warm_up` waits until every worker takes part.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from demo import generate
from lifecycle.contracts import SalesAction, Touchpoint, parse_inbound
from lifecycle.settings import Settings
from streams.client import encode_input
from streams.topics import ensure_topics
from tests.harness.kafka import kafka_broker, pdeathsig_preexec
from tests.harness.workers import assigned, consistently_keyed

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    from kafka import KafkaProducer

__all__ = ["BenchError", "Deployment", "Inbound", "Monitor", "demo_inputs", "deployment",
           "wait_for", "warm_up"]

ROOT = Path(__file__).resolve().parents[1]
LEAD_PREFIX = "lifecycle.aggregates.lead:Lead.%"

Inbound = Touchpoint | SalesAction


class BenchError(RuntimeError):
    """A deployment did not come up or a worker died (not: the machine was slow)."""


# --------------------------------------------------------------------------- input


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
        return [assigned((self.logs / f"worker{i}.log").read_text(errors="replace"),
                         self.settings.touchpoints_topic) for i in range(len(self.workers))]


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


def wait_for(dep: Deployment, check: Any, *, timeout: float, what: str,
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
    assigned = wait_for(dep, lambda: all(dep.assigned()), timeout=timeout,
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
    flowed = wait_for(dep, lambda: monitor.current(dep.settings.partitions), timeout=timeout,
                   what="the warm-up inputs to be projected")
    if flowed is None:
        raise BenchError(f"the warm-up inputs were not projected\n{dep.logs_tail()}")
    return {"ready_s": round(time.perf_counter() - started, 2),
            "assignment_seen": assigned is not None}
