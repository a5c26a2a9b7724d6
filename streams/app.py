"""The Faust application of a distributed worker.

Agents stay thin: decode, call the engine's synchronous pieces in
:mod:`lifecycle.distributed` on a worker thread, record. Exactly-once comes from the
database (tracking records and idempotent projection rows), not from Faust's
transactions (faust-streaming's ``exactly_once`` has open duplicate-on-rebalance bugs).

- ``ingest``: ``touchpoints`` → lead events in PostgreSQL, per partition, offset
  tracked in the same transaction; rejects → ``touchpoints-dlq``.
- ``relay`` (one worker at a time, chosen by a PostgreSQL advisory lock): the
  notification log → ``lead-events``.
- ``project``: ``lead-events`` → the projection tables, idempotent by event id.
- ``policies`` timer (same leader): decay regrades and due nurture steps.
"""

from __future__ import annotations

import asyncio
import logging
import time
import warnings
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

import faust
import psycopg

from lifecycle.application import LeadLifecycle, build_application
from lifecycle.client import KeyHashPartitioner
from lifecycle.distributed import (
    DeadLetter,
    Message,
    PartitionIngest,
    Relay,
    project_partitions,
)
from lifecycle.errors import ConfigError
from lifecycle.projections import ProjectionStore, all_projections
from lifecycle.settings import Settings
from streams.transport import App

__all__ = ["Worker", "create_app"]

log = logging.getLogger("lifecycle.worker")
T = TypeVar("T")
RELAY_LOCK = 0x1EAD_0001


class Worker:
    """The state one worker process keeps: engine, stores, producer, executors."""

    def __init__(self, settings: Settings) -> None:
        if not settings.is_postgres:
            raise ConfigError("a distributed worker needs PostgreSQL: set "
                              "LIFECYCLE_DATABASE_URL=postgresql://…")
        self.settings = settings
        self.app: LeadLifecycle = build_application(settings)
        self.ingest = PartitionIngest(self.app, settings.touchpoints_topic)
        self.projections = all_projections(self.app.scoring.behaviour.half_life_days)
        self.projection_store = ProjectionStore(settings.database_url)
        self.projection_store.ensure(self.projections)
        self.relay_store = ProjectionStore(settings.database_url)
        mapper = self.app.mapper
        self.relay = Relay(self.app, self.relay_store, payload=mapper.public_state)  # type: ignore[attr-defined]
        # One thread per concern: the engine (ingest, policies), projections, relay.
        self.engine_thread = ThreadPoolExecutor(1, thread_name_prefix="engine")
        self.projection_thread = ThreadPoolExecutor(1, thread_name_prefix="projection")
        self.relay_thread = ThreadPoolExecutor(1, thread_name_prefix="relay")
        self._producer: Any = None
        self._lock_conn: psycopg.Connection[Any] | None = None
        self.counts: dict[str, int] = defaultdict(int)

    # -- plumbing -------------------------------------------------------------------------

    def producer(self) -> Any:
        if self._producer is None:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", category=DeprecationWarning)
                from kafka import KafkaProducer

            self._producer = KafkaProducer(
                bootstrap_servers=self.settings.kafka_bootstrap, acks="all",
                enable_idempotence=True, linger_ms=5, batch_size=512 * 1024,
                client_id="lifecycle-worker", partitioner=KeyHashPartitioner(),
            )
        return self._producer

    def send_all(self, topic: str, messages: list[tuple[bytes, bytes]]) -> None:
        """Sends and waits for every acknowledgement (raises on any failure)."""
        producer = self.producer()
        futures = [producer.send(topic, key=k, value=v) for k, v in messages]
        producer.flush()
        for f in futures:
            f.get(timeout=30)

    def is_leader(self) -> bool:
        """Holds (or takes) the advisory lock that makes one worker the relay/policy leader."""
        if self._lock_conn is None or self._lock_conn.closed:
            self._lock_conn = psycopg.connect(self.settings.database_url, autocommit=True)
        row = self._lock_conn.execute("SELECT pg_try_advisory_lock(%s)", (RELAY_LOCK,)).fetchone()
        return bool(row and row[0])

    async def run(self, pool: ThreadPoolExecutor, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)

    # -- the work -------------------------------------------------------------------------

    def ingest_batch(self, partition: int, messages: list[Message]) -> None:
        def dead_letters(letters: list[DeadLetter]) -> None:
            self.send_all(self.settings.dlq_topic, [(d.key, d.value) for d in letters])

        for attempt in range(5):
            try:
                a, d, r, s = self.ingest.process(partition, messages, dead_letters)
            except Exception as e:
                if "IntegrityError" not in type(e).__name__ or attempt == 4:
                    raise
                log.warning("partition %s: concurrent write, retrying (%s)", partition, e)
                time.sleep(0.05 * (attempt + 1))
                continue
            self.counts["accepted"] += a
            self.counts["duplicate"] += d
            self.counts["rejected"] += r
            self.counts["skipped"] += s
            return

    def relay_once(self, limit: int = 5000) -> int:
        if not self.is_leader():
            return 0
        envelopes, position = self.relay.pending(limit)
        if position is None:
            return 0
        if envelopes:
            self.send_all(self.settings.events_topic, envelopes)
        self.relay.acknowledge(position)
        self.counts["relayed"] += len(envelopes)
        return len(envelopes)

    def project_batch(self, partition: int, messages: list[tuple[int, bytes]]) -> None:
        self.project_batches({partition: messages})

    def project_batches(self, batches: dict[int, list[tuple[int, bytes]]]) -> None:
        """Every partition's envelopes in one transaction (rows idempotent, offsets with
        them): fewer, larger writes than one per partition."""
        for attempt in range(5):
            try:
                project_partitions(self.projection_store, self.projections,
                                   self.settings.events_topic, batches)
                break
            except (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure) as e:
                # Another worker writing the same rows (during a rebalance): the
                # transaction rolled back; writing again is idempotent.
                if attempt == 4:
                    raise
                log.warning("projection write conflicted, retrying (%s)", e)
                time.sleep(0.05 * (attempt + 1))
        self.counts["projected"] += sum(len(m) for m in batches.values())

    def run_policies(self) -> None:
        if not self.is_leader():
            return
        from lifecycle.policies import run_policies

        result = run_policies(self.app, at=datetime.now(UTC), store=self.projection_store,
                              embedded=False)
        log.info("policies: %s", result)

    def close(self) -> None:
        for pool in (self.engine_thread, self.projection_thread, self.relay_thread):
            pool.shutdown(wait=True)
        if self._producer is not None:
            self._producer.close()
        if self._lock_conn is not None:
            self._lock_conn.close()
        self.projection_store.close()
        self.relay_store.close()
        self.app.close()


def create_app(settings: Settings | None = None) -> faust.App:
    """Builds the worker's Faust app (nothing connects until the worker starts)."""
    settings = settings or Settings()
    # Faust's app with a consumer that does not sit 1.5 s on an empty fetch.
    app = App(
        "lead-lifecycle",
        broker=[f"kafka://{b.strip()}" for b in settings.kafka_bootstrap.split(",")],
        store="memory://",
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication,
        topic_allow_declare=False,
        consumer_auto_offset_reset="earliest",
        web_enabled=settings.worker_web_port > 0,
        web_port=settings.worker_web_port or 6066,
        stream_wait_empty=False,
        # A group join takes about half the session timeout; Faust's default (60 s)
        # makes every start and rebalance wait half a minute.
        broker_session_timeout=6.0,
        broker_heartbeat_interval=0.5,
        broker_rebalance_timeout=20.0,
        broker_commit_every=1000,
        broker_commit_interval=1.0,
    )
    touchpoints = app.topic(settings.touchpoints_topic, key_type=bytes, value_type=bytes,
                            key_serializer="raw", value_serializer="raw",
                            partitions=settings.partitions)
    events = app.topic(settings.events_topic, key_type=bytes, value_type=bytes,
                       key_serializer="raw", value_serializer="raw",
                       partitions=settings.partitions)
    state: dict[str, Worker] = {}

    def worker() -> Worker:
        if "w" not in state:
            state["w"] = Worker(settings)
        return state["w"]

    @app.on_before_shutdown.connect  # type: ignore[arg-type]  # mode's signal typing
    async def _shutdown(sender: Any, *args: Any, signal: Any = None, **kwargs: Any) -> None:
        if "w" in state:
            state.pop("w").close()

    @app.agent(touchpoints, name="ingest")
    async def ingest(stream: faust.StreamT[Any]) -> AsyncIterator[None]:
        w = worker()
        async for batch in cast(faust.Stream[Any], stream).take_events(
                settings.worker_batch, within=0.2):
            by_partition: dict[int, list[Message]] = defaultdict(list)
            for event in batch:
                m = event.message
                by_partition[m.partition].append(Message(m.partition, m.offset, m.key, m.value))
            for partition, messages in by_partition.items():
                await w.run(w.engine_thread, w.ingest_batch, partition, messages)
            yield None

    @app.agent(events, name="project")
    async def project(stream: faust.StreamT[Any]) -> AsyncIterator[None]:
        w = worker()
        async for batch in cast(faust.Stream[Any], stream).take_events(5000, within=0.2):
            by_partition: dict[int, list[tuple[int, bytes]]] = defaultdict(list)
            for event in batch:
                m = event.message
                if m.value is not None:
                    by_partition[m.partition].append((m.offset, m.value))
            if by_partition:
                await w.run(w.projection_thread, w.project_batches, dict(by_partition))
            yield None

    @app.task
    async def relay() -> None:
        w = worker()
        while state.get("w") is w:  # until shutdown closed the worker (and its threads)
            n = await w.run(w.relay_thread, w.relay_once)
            if n == 0:
                await asyncio.sleep(0.05)

    @app.timer(interval=settings.policy_interval)
    async def policies() -> None:
        w = state.get("w")
        if w is not None:  # None: not started yet, or shut down
            await w.run(w.engine_thread, w.run_policies)

    @app.timer(interval=10.0)
    async def report_counts() -> None:
        if "w" in state:
            log.info("worker counts: %s", dict(state["w"].counts))

    return app
