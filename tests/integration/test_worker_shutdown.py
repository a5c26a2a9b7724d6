"""A worker's graceful shutdown, without Kafka: a real :class:`streams.worker.Worker` (its
engine in a thread or a child process) on a real PostgreSQL, fed by its batch pipeline.

SIGTERM used to stop the engine's executor before the pipeline drained: the batch in
flight, or the next queued one, failed with ``cannot schedule new futures after
shutdown`` and the worker exited 1. :func:`streams.app.drain_and_stop` is the order
Faust's ``on_before_shutdown`` runs: the batch in flight commits and is acknowledged,
nothing new is taken, then the engine stops. Whatever was not acknowledged is read
again by the next worker, and the tracking records make that exactly once.
"""

from __future__ import annotations

import asyncio
import os
import signal
from dataclasses import dataclass
from typing import Any

import orjson
import psycopg
import pytest

from lifecycle.settings import Settings
from streams.app import drain_and_stop
from streams.batches import Pipeline, touchpoint_batches
from streams.engine import EngineProcess
from streams.worker import Worker
from tests.support import touchpoint_data

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

TOPIC = "lifecycle.touchpoints"


@dataclass(frozen=True)
class _Message:
    partition: int
    offset: int
    key: bytes
    value: bytes


@dataclass(frozen=True)
class _Event:
    message: _Message


class _Stream:
    """The agent's ``noack()`` stream as the pipeline uses it: records acknowledgements."""

    def __init__(self) -> None:
        self.acked: list[tuple[int, int]] = []

    async def ack(self, event: _Event) -> None:
        self.acked.append((event.message.partition, event.message.offset))


def _events(n: int, partitions: int = 3) -> list[_Event]:
    out = []
    for i in range(n):
        partition = i % partitions
        person = f"p{i % 40}"
        data = touchpoint_data(f"t-{i}", email=f"{person}@acme-industries.com")
        out.append(_Event(_Message(partition, i // partitions, person.encode(),
                                   orjson.dumps(data))))
    return out


def _query(url: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return list(conn.execute(sql, params).fetchall())


def _tracked(url: str) -> dict[int, int]:
    rows = _query(url, "SELECT application_name, MAX(notification_id) FROM lifecycle_tracking "
                  "WHERE application_name LIKE %s GROUP BY application_name", (f"{TOPIC}:%",))
    return {int(name.rsplit(":", 1)[1]): int(offset) for name, offset in rows}


def _recorded(url: str) -> list[str]:
    rows = _query(url, "SELECT originator_id::text, originator_version FROM lifecycle_events "
                  "WHERE topic LIKE %s", ("%TouchpointRecorded",))
    return [f"{o}:{v}" for o, v in rows]


async def _stop_mid_stream(settings: Settings, events: list[_Event], *,
                           batch: int) -> tuple[_Stream, list[BaseException]]:
    """Feeds ``events`` to a worker's pipeline and shuts it down while a batch is in
    flight, another queued and more arriving."""
    w = Worker(settings)
    crashes: list[BaseException] = []
    started = asyncio.Event()

    async def crash(exc: BaseException) -> None:
        crashes.append(exc)

    async def handle(items: list[Any]) -> None:
        started.set()
        await w.ingest(touchpoint_batches(items))

    stream = _Stream()
    pipeline = Pipeline(stream, handle, size=batch, within=60.0, crash=crash)

    async def feed() -> None:
        for event in events:
            await pipeline.add(event)

    feeding = asyncio.create_task(feed())
    await asyncio.wait_for(started.wait(), timeout=30)  # a batch is in the engine
    state = {"w": w}
    await asyncio.wait_for(drain_and_stop([pipeline], state), timeout=60)
    await asyncio.wait_for(feeding, timeout=5)  # an add waiting for room was let go
    assert state == {}  # the worker was closed
    return stream, crashes


@pytest.mark.parametrize("engine", ["thread", "process"])
def test_shutdown_commits_the_batch_in_flight_and_a_restart_takes_the_rest_once(
        pg_database_url: str, engine: str) -> None:
    settings = Settings(database_url=pg_database_url, mode="distributed",
                        worker_engine=engine)
    events = _events(600)
    by_offset = {(e.message.partition, e.message.offset): e for e in events}
    rounds = []
    remaining = list(events)
    for _ in range(3):  # three SIGTERMs mid-stream, each restart reads what is unacked
        stream, crashes = asyncio.run(_stop_mid_stream(settings, remaining, batch=40))
        assert crashes == []
        assert stream.acked, "the batch in flight must commit and be acknowledged"
        tracked = _tracked(pg_database_url)
        for partition, offset in stream.acked:  # acknowledged only what is committed
            assert offset <= tracked[partition]
        rounds.append(len(stream.acked))
        # A Kafka consumer starts after the last committed (acknowledged) offset of each
        # partition: the committed prefix is skipped, the rest is delivered again.
        acked = set(stream.acked)
        remaining = [by_offset[k] for k in sorted(by_offset, key=lambda k: (k[1], k[0]))
                     if k not in acked and k in {(e.message.partition, e.message.offset)
                                                 for e in remaining}]
        assert len(remaining) < len(events)
    assert sum(rounds) < len(events), "each stop must land in the middle of the stream"

    async def finish() -> None:  # the last worker takes everything that is left
        w = Worker(settings)
        try:
            await w.ingest(touchpoint_batches(remaining))
        finally:
            await drain_and_stop([], {"w": w})

    asyncio.run(finish())
    recorded = _recorded(pg_database_url)
    assert len(recorded) == len(events)  # every input once: none lost, none twice
    assert len(set(recorded)) == len(recorded)
    assert _tracked(pg_database_url) == {p: max(o for q, o in by_offset if q == p)
                                         for p in range(3)}


def test_the_engine_process_outlives_a_sigterm_to_the_process_group(
        pg_database_url: str) -> None:
    """systemd and a shell's job control signal every process of the group: the engine
    must stay until the worker drained and stopped it."""
    engine = EngineProcess(Settings(database_url=pg_database_url), lambda letters: None)
    try:
        assert engine.ingest({}) == (0, 0, 0, 0)  # started, ready
        pid = engine._process.pid
        assert pid is not None
        os.kill(pid, signal.SIGTERM)
        batch = {0: [(0, b"a", orjson.dumps(touchpoint_data("x-1")))]}
        assert engine.ingest(batch) == (1, 0, 0, 0)
        assert engine._process.is_alive()
    finally:
        engine.close()
    assert engine._process.exitcode == 0  # stopped by the worker, not the signal
