"""The worker's Faust agents, through ``agent.test_context()``: no broker, no database.

Each agent decodes a batch of its topic's events, calls the worker and records what
the worker answered. A stand-in worker records the calls: the ingest agent hands the
engine per-partition batches of (offset, key, value) in offset order and adds the
engine's counts to the worker's; the projector agent hands the projector (offset,
envelope) per partition, leaves tombstones out, and counts what was projected. Events
are acknowledged only after their batch was handled.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any, cast

from lifecycle.settings import Settings
from streams.app import create_app
from streams.protocol import Batches, IngestCounts
from streams.worker import Worker

SETTINGS = Settings(database_url="postgresql://nobody@127.0.0.1:1/none",
                    kafka_bootstrap="127.0.0.1:1", worker_web_port=0, worker_batch=3)


class StandIn:
    """What the agents use of a :class:`~streams.worker.Worker`, recorded."""

    def __init__(self) -> None:
        self.ingested: list[Batches] = []
        self.projected: list[dict[int, list[tuple[int, bytes]]]] = []
        self.counts: Counter[str] = Counter()
        self.handled = asyncio.Event()
        self.fail: BaseException | None = None
        self.crash: BaseException | None = None

    async def ingest(self, batches: Batches) -> IngestCounts:
        if self.fail is not None:
            raise self.fail
        self.ingested.append(batches)
        self.handled.set()
        n = sum(len(m) for m in batches.values())
        return IngestCounts(accepted=n - 1, duplicate=0, rejected=1, skipped=0)

    async def project(self, batches: dict[int, list[tuple[int, bytes]]]) -> int:
        self.projected.append(batches)
        self.handled.set()
        return sum(len(m) for m in batches.values())


def _with_agent(name: str, body: Callable[[Any, StandIn], Any]) -> StandIn:
    """Runs ``body(agent, stand_in)`` inside the named agent's test context; what the
    app crashed with, if it did, is ``stand_in.crash``."""
    stand_in = StandIn()

    async def main() -> None:
        app = create_app(SETTINGS, worker=lambda settings: cast(Worker, stand_in))
        agent = next(a for a in app.agents.values() if a.name.endswith(name))
        try:
            async with agent.test_context() as tested:
                await body(tested, stand_in)
            stand_in.crash = app.crash_reason
        finally:
            # The acknowledgements made Faust build its (never started) consumer, whose
            # thread owns an event loop of its own: closed here, not left to the GC.
            consumer = app._consumer
            if consumer is not None:
                cast(Any, consumer)._thread.thread_loop.close()

    asyncio.run(main())
    return stand_in


async def _handled(stand_in: StandIn) -> None:
    await asyncio.wait_for(stand_in.handled.wait(), timeout=10)
    stand_in.handled.clear()


def test_the_ingest_agent_hands_the_engine_partition_batches_and_records_its_counts() -> None:
    acked: list[int] = []

    async def body(agent: Any, stand_in: StandIn) -> None:
        events = [await agent.put(b'{"n": 1}', key=b"ann", partition=2),
                  await agent.put(b'{"n": 2}', key=b"ben", partition=0),
                  await agent.put(None, key=b"cy", partition=2)]  # a full batch (3)
        await _handled(stand_in)
        await asyncio.sleep(0.05)  # the acknowledgements follow the handling
        acked.extend(e.message.offset for e in events if e.message.acked)

    stand_in = _with_agent("ingest", body)
    # offsets are the test context's own (0, 1, 2); partitions as put
    assert stand_in.ingested == [{2: [(0, b"ann", b'{"n": 1}'), (2, b"cy", None)],
                                  0: [(1, b"ben", b'{"n": 2}')]}]
    assert stand_in.counts == {"accepted": 2, "duplicate": 0, "rejected": 1, "skipped": 0}
    assert acked == [0, 1, 2]


def test_the_ingest_agent_flushes_a_partial_batch_within_its_wait() -> None:
    async def body(agent: Any, stand_in: StandIn) -> None:
        await agent.put(b"{}", key=b"dan", partition=1)  # one of three: waits ≤ 0.2 s
        await _handled(stand_in)

    stand_in = _with_agent("ingest", body)
    assert stand_in.ingested == [{1: [(0, b"dan", b"{}")]}]
    assert stand_in.counts["accepted"] == 0
    assert stand_in.counts["rejected"] == 1


def test_the_projector_agent_hands_over_envelopes_without_tombstones_and_counts() -> None:
    async def body(agent: Any, stand_in: StandIn) -> None:
        await agent.put(b'{"event_id": "a:1"}', key=b"a", partition=4)
        await agent.put(None, key=b"a", partition=4)  # a tombstone: no envelope
        await agent.put(b'{"event_id": "b:1"}', key=b"b", partition=1)
        await _handled(stand_in)

    stand_in = _with_agent("project", body)
    assert stand_in.projected == [{4: [(0, b'{"event_id": "a:1"}')],
                                   1: [(2, b'{"event_id": "b:1"}')]}]
    assert stand_in.counts == {"projected": 2}
    assert stand_in.ingested == []


def test_a_batch_of_tombstones_only_is_not_projected() -> None:
    async def body(agent: Any, stand_in: StandIn) -> None:
        await agent.put(None, key=b"a", partition=0)
        await asyncio.sleep(0.5)  # past the batch's wait: flushed, and nothing handed on

    stand_in = _with_agent("project", body)
    assert stand_in.projected == []
    assert stand_in.counts == {}


def test_a_failing_engine_call_crashes_the_app_and_leaves_the_batch_unacknowledged() -> None:
    seen: dict[str, Any] = {}

    async def body(agent: Any, stand_in: StandIn) -> None:
        stand_in.fail = ConnectionError("engine gone")
        event = await agent.put(b"{}", key=b"eve", partition=0)
        await asyncio.sleep(0.5)  # flushed and failed
        seen["acked"] = event.message.acked

    stand_in = _with_agent("ingest", body)
    assert isinstance(stand_in.crash, ConnectionError)
    assert str(stand_in.crash) == "engine gone"
    assert seen == {"acked": False}
    assert stand_in.counts == {}
