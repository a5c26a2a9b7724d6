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
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

import faust
import psycopg

from lifecycle.application import LeadLifecycle, build_application
from lifecycle.client import KeyHashPartitioner
from lifecycle.distributed import Relay, project_partitions
from lifecycle.errors import ConfigError
from lifecycle.projections import ProjectionStore, all_projections
from lifecycle.settings import Settings
from lifecycle.worker_engine import Batches, Letters, start_engine, tune_gc
from streams.batches import Pipeline
from streams.transport import App

__all__ = ["Worker", "create_app", "drain_and_stop"]

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
        # The engine writes (in a child process by default); this process reads the
        # notification log for the relay.
        self.engine = start_engine(settings, self.send_dead_letters)
        self.app: LeadLifecycle = build_application(settings)
        self.projections = all_projections(self.app.scoring.behaviour.half_life_days)
        self.projection_store = ProjectionStore(settings.database_url)
        self.projection_store.ensure(self.projections)
        self.relay_store = ProjectionStore(settings.database_url)
        mapper = self.app.mapper
        self.relay = Relay(self.app, self.relay_store, payload=mapper.public_state)  # type: ignore[attr-defined]
        # One thread per concern: calls to the engine (ingest, policies), projections,
        # relay.
        self.engine_thread = ThreadPoolExecutor(1, thread_name_prefix="engine")
        self.projection_thread = ThreadPoolExecutor(1, thread_name_prefix="projection")
        self.relay_thread = ThreadPoolExecutor(1, thread_name_prefix="relay")
        self._producer: Any = None
        self.partitioner = KeyHashPartitioner()
        self.loop = asyncio.get_running_loop()
        self._lock_conn: psycopg.Connection[Any] | None = None
        self.counts: dict[str, int] = defaultdict(int)

    # -- plumbing -------------------------------------------------------------------------

    async def producer(self) -> Any:
        """The worker's own aiokafka producer (all acks), started on first use.

        aiokafka builds record batches in C; kafka-python's pure-Python producer cost
        the relay more than reading and encoding the events. Per partition, aiokafka
        has one request in flight per broker at a time, so order is kept without the
        idempotent producer; its retries may repeat a message, which the relay's stable
        event ids and the idempotent projections (and a dead letter's stable key)
        already allow for. (aiokafka's idempotent producer asks for a producer id with
        InitProducerId v0, which the test broker, Tansu, answers with an error.)
        """
        if self._producer is None:
            from aiokafka import AIOKafkaProducer

            producer = AIOKafkaProducer(
                bootstrap_servers=self.settings.kafka_bootstrap, acks="all",
                linger_ms=5, client_id="lifecycle-worker", request_timeout_ms=30_000)
            await producer.start()
            self._producer = producer
        return self._producer

    async def publish(self, topic: str, messages: Sequence[tuple[bytes, bytes]]) -> None:
        """Sends keyed messages and waits for every acknowledgement (raises on a failure).

        Each key goes to the partition the Java client (and :class:`KeyHashPartitioner`)
        picks — murmur2 of the key — in record batches built per partition.
        """
        if not messages:
            return
        producer = await self.producer()
        partitions = sorted(await producer.partitions_for(topic))
        by_partition: dict[int, list[tuple[bytes, bytes]]] = defaultdict(list)
        choose = self.partitioner.choose
        for key, value in messages:
            by_partition[partitions[choose(key, len(partitions))]].append((key, value))
        futures = []
        for partition, items in by_partition.items():
            batch = producer.create_batch()
            for key, value in items:
                if batch.append(key=key, value=value, timestamp=None) is None:
                    futures.append(await producer.send_batch(batch, topic, partition=partition))
                    batch = producer.create_batch()
                    if batch.append(key=key, value=value, timestamp=None) is None:
                        raise ValueError(f"a message for {topic} does not fit in a batch")
            futures.append(await producer.send_batch(batch, topic, partition=partition))
        await asyncio.gather(*futures)

    def publish_from_thread(self, topic: str, messages: Sequence[tuple[bytes, bytes]]) -> None:
        """:meth:`publish` from a worker thread (blocks that thread, not the event loop)."""
        asyncio.run_coroutine_threadsafe(self.publish(topic, messages), self.loop).result(60)

    def is_leader(self) -> bool:
        """Holds (or takes) the advisory lock that makes one worker the relay/policy leader."""
        if self._lock_conn is None or self._lock_conn.closed:
            self._lock_conn = psycopg.connect(self.settings.database_url, autocommit=True)
        row = self._lock_conn.execute("SELECT pg_try_advisory_lock(%s)", (RELAY_LOCK,)).fetchone()
        return bool(row and row[0])

    async def run(self, pool: ThreadPoolExecutor, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)

    # -- the work -------------------------------------------------------------------------

    async def record_events(self, batch: list[Any]) -> None:
        """Records a batch of ``touchpoints`` events (the ingest agent's handler)."""
        by_partition: dict[int, list[tuple[int, bytes | None, bytes | None]]] = \
            defaultdict(list)
        for event in batch:
            m = event.message
            by_partition[m.partition].append((m.offset, m.key, m.value))
        await self.run(self.engine_thread, self.ingest_batch, dict(by_partition))

    async def project_events(self, batch: list[Any]) -> None:
        """Projects a batch of ``lead-events`` events (the projector agent's handler)."""
        by_partition: dict[int, list[tuple[int, bytes]]] = defaultdict(list)
        for event in batch:
            m = event.message
            if m.value is not None:
                by_partition[m.partition].append((m.offset, m.value))
        if by_partition:
            await self.run(self.projection_thread, self.project_batches, dict(by_partition))

    def send_dead_letters(self, letters: Letters) -> None:
        self.publish_from_thread(self.settings.dlq_topic, letters)

    def ingest_batch(self, batches: Batches) -> None:
        """Records a batch (one or more partitions) in one transaction."""
        a, d, r, s = self.engine.call(("ingest", batches))
        self.counts["accepted"] += a
        self.counts["duplicate"] += d
        self.counts["rejected"] += r
        self.counts["skipped"] += s

    def relay_pending(self, limit: int = 5000) -> tuple[list[tuple[bytes, bytes]], int | None]:
        """The next envelopes to relay and the position they lead to (leader only)."""
        if not self.is_leader():
            return [], None
        return self.relay.pending(limit)

    async def relay_once(self) -> int:
        envelopes, position = await self.run(self.relay_thread, self.relay_pending)
        if position is None:
            return 0
        await self.publish(self.settings.events_topic, envelopes)
        await self.run(self.relay_thread, self.relay.acknowledge, position)
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
        result = self.engine.call(("policies", datetime.now(UTC).isoformat()))
        log.info("policies: %s", result)

    async def stop_producer(self) -> None:
        if self._producer is not None:
            producer, self._producer = self._producer, None
            await producer.stop()

    def close(self) -> None:
        for pool in (self.engine_thread, self.projection_thread, self.relay_thread):
            pool.shutdown(wait=True)
        self.engine.close()
        if self._lock_conn is not None:
            self._lock_conn.close()
        self.projection_store.close()
        self.relay_store.close()
        self.app.close()


async def drain_and_stop(pipelines: Sequence[Pipeline], state: dict[str, Worker],
                         *, idle: Sequence[asyncio.Lock] = ()) -> None:
    """A graceful shutdown's order: drain every pipeline (the batches in flight commit
    and are acknowledged, nothing new is taken), wait until nothing holds the ``idle``
    locks (a relay round, a policy run), and only then stop the producer, the
    executors and the engine of the worker in ``state`` (removed from it).
    """
    await asyncio.gather(*(p.drain() for p in pipelines))
    for lock in idle:
        await lock.acquire()  # held until the end: no new round starts meanwhile
    try:
        w = state.pop("w", None)
        if w is not None:
            await w.stop_producer()
            # Off the event loop: the engine process may take a moment to stop.
            await asyncio.get_running_loop().run_in_executor(None, w.close)
    finally:
        for lock in idle:
            lock.release()


class _Stop:
    """What a graceful shutdown waits for: the agents' pipelines, a relay round and a
    policy run (each holds its lock while it uses the worker)."""

    def __init__(self) -> None:
        self.pipelines: set[Pipeline] = set()
        self.stopping = asyncio.Event()
        self.relaying = asyncio.Lock()
        self.policing = asyncio.Lock()


def _faust_app(settings: Settings) -> faust.App:
    # Faust's app with a consumer that does not sit 1.5 s on an empty fetch.
    return App(
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
        stream_buffer_maxsize=16384,
        # A group join takes about half the session timeout; Faust's default (60 s)
        # makes every start and rebalance wait half a minute.
        broker_session_timeout=6.0,
        broker_heartbeat_interval=0.5,
        broker_rebalance_timeout=20.0,
        broker_commit_every=1000,
        broker_commit_interval=1.0,
    )


def create_app(settings: Settings | None = None) -> faust.App:
    """Builds the worker's Faust app (nothing connects until the worker starts)."""
    settings = settings or Settings()
    app = _faust_app(settings)
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
            tune_gc()
        return state["w"]

    stop = _Stop()

    @app.on_before_shutdown.connect  # type: ignore[arg-type]  # mode's signal typing
    async def _shutdown(sender: Any, *args: Any, signal: Any = None, **kwargs: Any) -> None:
        """Drains, then stops: Faust calls this after it stopped fetching (App.on_stop:
        consumer paused, fetcher stopped) and before it stops the agents and commits
        the acknowledged offsets (Consumer.on_stop). So the batches in flight finish
        and are acknowledged, the relay and the policies finish their round, and only
        then do the producer, the engine and the threads stop."""
        stop.stopping.set()
        await drain_and_stop(list(stop.pipelines), state, idle=(stop.relaying, stop.policing))

    # The agents yield nothing: Faust logs and inspects every value an agent yields.
    @app.agent(touchpoints, name="ingest")
    async def ingest(stream: faust.StreamT[Any]) -> None:
        w = worker()
        await _batched(stream, w.record_events, size=settings.worker_batch)

    @app.agent(events, name="project")
    async def project(stream: faust.StreamT[Any]) -> None:
        w = worker()
        await _batched(stream, w.project_events, size=5000)

    async def _batched(stream: faust.StreamT[Any], handle: Any, *, size: int) -> None:
        """Feeds the stream's events to a :class:`Pipeline` (see streams/batches.py)."""
        events = cast(faust.Stream[Any], stream).noack()
        pipeline = Pipeline(events, handle, size=size, within=0.2, crash=app.crash)
        stop.pipelines.add(pipeline)
        add = pipeline.add
        try:
            async for event in cast(faust.Stream[Any], events).events():
                await add(event)
        finally:
            stop.pipelines.discard(pipeline)
            await pipeline.close()

    @app.task
    async def relay() -> None:
        w = worker()
        while not stop.stopping.is_set():  # a round in progress finishes first
            async with stop.relaying:
                if stop.stopping.is_set():
                    break
                n = await w.relay_once()
            if n == 0:
                await asyncio.sleep(0.05)

    @app.timer(interval=settings.policy_interval)
    async def policies() -> None:
        async with stop.policing:
            w = state.get("w")
            if w is not None and not stop.stopping.is_set():  # None: not started yet
                await w.run(w.engine_thread, w.run_policies)

    @app.timer(interval=10.0)
    async def report_counts() -> None:
        if "w" in state:
            log.info("worker counts: %s", dict(state["w"].counts))

    return app
