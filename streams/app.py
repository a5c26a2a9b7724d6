"""The Faust application of a distributed worker: topics, agents, timers, shutdown.

Agents stay thin: decode the batch (:mod:`streams.batches`), call the worker's
synchronous pieces on a thread (:class:`streams.worker.Worker`), record the counts.
Exactly-once comes from the database (tracking records and idempotent projection rows),
not from Faust's transactions (faust-streaming's ``exactly_once`` has open
duplicate-on-rebalance bugs).

- ``ingest``: ``touchpoints`` → lead events in PostgreSQL, per partition, offset
  tracked in the same transaction; rejects → ``touchpoints-dlq``.
- ``relay`` (one worker at a time, :mod:`streams.leadership`): the notification log →
  ``lead-events``.
- ``project``: ``lead-events`` → the projection tables, idempotent by event id.
- ``policies`` timer (same leader): decay regrades and due nurture steps.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any, cast

import faust

from lifecycle.settings import Settings
from streams.batches import Handler, Pipeline, envelope_batches, touchpoint_batches
from streams.engine import tune_gc
from streams.transport import App
from streams.worker import Worker

__all__ = [
    "create_app",
    "drain_and_stop",
    "ingest_handler",
    "project_handler",
    "run_worker",
    "start_worker",
]

log = logging.getLogger("lifecycle.worker")


def start_worker(settings: Settings) -> Worker:
    """The worker of a worker process (its start-up objects kept out of the collector's
    sight: see :func:`streams.engine.tune_gc`)."""
    w = Worker(settings)
    tune_gc()
    return w


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
            await w.shutdown()
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


def ingest_handler(w: Worker) -> Handler:
    """The ingest agent's work on a batch of ``touchpoints`` events."""

    async def handle(batch: list[Any]) -> None:  # decode → call → record
        counts = await w.ingest(touchpoint_batches(batch))
        w.counts.update(counts._asdict())

    return handle


def project_handler(w: Worker) -> Handler:
    """The projector agent's work on a batch of ``lead-events`` events."""

    async def handle(batch: list[Any]) -> None:  # decode → call → record
        batches = envelope_batches(batch)
        if batches:
            w.counts["projected"] += await w.project(batches)

    return handle


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


def create_app(settings: Settings | None = None, *,
               worker: Callable[[Settings], Worker] = start_worker) -> faust.App:
    """Builds the worker's Faust app (nothing connects until the worker starts).

    ``worker`` builds the :class:`~streams.worker.Worker` when the first agent or task
    needs it (the agents' unit tests give a stand-in).
    """
    settings = settings or Settings()
    app = _faust_app(settings)
    touchpoints = app.topic(settings.touchpoints_topic, key_type=bytes, value_type=bytes,
                            key_serializer="raw", value_serializer="raw",
                            partitions=settings.partitions)
    events = app.topic(settings.events_topic, key_type=bytes, value_type=bytes,
                       key_serializer="raw", value_serializer="raw",
                       partitions=settings.partitions)
    state: dict[str, Worker] = {}

    def the_worker() -> Worker:
        if "w" not in state:
            state["w"] = worker(settings)
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
        await _batched(stream, ingest_handler(the_worker()), size=settings.worker_batch)

    @app.agent(events, name="project")
    async def project(stream: faust.StreamT[Any]) -> None:
        await _batched(stream, project_handler(the_worker()), size=5000)

    async def _batched(stream: faust.StreamT[Any], handle: Handler, *, size: int) -> None:
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
        w = the_worker()
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
                await w.policies()

    @app.timer(interval=10.0)
    async def report_counts() -> None:
        if "w" in state:
            log.info("worker counts: %s", dict(state["w"].counts))

    return app


def run_worker(settings: Settings, *, loglevel: str = "info") -> None:
    """Runs a worker process until it is stopped (``lifecycle worker``)."""
    faust.Worker(create_app(settings), loglevel=loglevel, quiet=True).execute_from_commandline()
