"""The worker's Kafka transport: Faust's aiokafka driver, with a shorter fetch wait and
a cheaper hand-over of each message.

Faust hard-codes ``fetch_max_wait_ms=1500`` for its consumer and has no setting for
it. A broker may hold a Fetch that finds no new records for up to that long, and not
every Kafka-protocol broker answers a held Fetch as soon as records arrive (the test
broker, Tansu, does not: ~0.75 s per hop measured, see ``tests/harness/KAFKA_NOTES.md``).
Each Faust hop of the pipeline (``touchpoints`` → ingest, ``lead-events`` → projector)
then adds up to 1.5 s. Apache Kafka answers a held Fetch as soon as records arrive, so
there the shorter wait only costs a few empty fetches a second while a worker is idle.

Faust's consumer hands each fetched message to the topic's channels with
``await self.wait_first(callback(message), self.suspend_flow.wait())``: four asyncio
tasks and an ``asyncio.wait`` per message, so that a delivery blocked on a full
channel gives up when a rebalance suspends the flow. Nearly every delivery completes
without ever blocking, and those four tasks cost a worker more CPU than the rest of
Faust's per-message work. :class:`_Consumer` recognises that call (its second argument
is the wait of :class:`_SuspendFlow`) and starts the delivery in place; only a delivery
that does block is raced against the suspension with Faust's ``wait_first``, and while
the flow is suspended everything goes to Faust's ``wait_first`` as before. Faust's
fetch loop (``Consumer._drain_messages``) itself is not copied.

Only the wait and the hand-over change: offsets, commits, group membership and
everything exactly-once (tracking in PostgreSQL) are Faust's and aiokafka's, as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Generator
from typing import Any

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka
from mode.services import WaitResults

__all__ = ["FETCH_MAX_WAIT_MS", "App"]

FETCH_MAX_WAIT_MS = 100
"""Longest a broker may hold the workers' Fetch (aiokafka's default is 500)."""


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # AIOKafkaConsumer keeps the argument and hands it to its fetcher in start();
        # Faust passes 1500 and offers no setting. If aiokafka renames the attribute,
        # the consumer keeps Faust's wait: slower, never wrong.
        if hasattr(consumer, "_fetch_max_wait_ms"):
            consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS
        return consumer


class _Resumed:
    """Awaitable that hands the event loop what a manually started coroutine yielded."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __await__(self) -> Generator[Any, Any, Any]:
        return (yield self.value)


async def _resume(coro: Coroutine[Any, Any, Any], yielded: Any) -> Any:
    """Runs to its end a coroutine that was started with ``send(None)`` and yielded
    ``yielded`` (a future it waits on, or None), passing on what the task sends or
    throws (e.g. a cancellation) — as if it had been awaited from the start."""
    while True:
        try:
            sent = await _Resumed(yielded)
        except BaseException as exc:  # handed on to the coroutine
            try:
                yielded = coro.throw(exc)
            except StopIteration as stop:
                return stop.value
            continue
        try:
            yielded = coro.send(sent)
        except StopIteration as stop:
            return stop.value


class _FlowWait:
    """``suspend_flow.wait()``, not started: an awaitable :class:`_Consumer` can tell
    apart from any other argument of ``wait_first`` (nothing runs unless awaited)."""

    __slots__ = ("event",)

    def __init__(self, event: asyncio.Event) -> None:
        self.event = event

    def __await__(self) -> Generator[Any, Any, Any]:
        return asyncio.Event.wait(self.event).__await__()


class _SuspendFlow(asyncio.Event):
    """The consumer's ``suspend_flow`` (an ``asyncio.Event`` in Faust), whose wait is a
    :class:`_FlowWait`."""

    def wait(self) -> Any:  # an awaitable, as Event.wait's coroutine is
        return _FlowWait(self)


class _Consumer(faust_aiokafka.Consumer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.suspend_flow = _SuspendFlow()

    def _new_consumer_thread(self) -> _ConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def wait_first(self, *coros: Any, timeout: Any = None) -> Any:
        # The fetch loop's delivery, ``wait_first(callback(message), suspend_flow.wait())``,
        # while the flow runs: started in place, raced against a suspension only if it
        # blocks. Everything else is Faust's.
        if (len(coros) == 2 and timeout is None and isinstance(coros[1], _FlowWait)
                and isinstance(coros[0], Coroutine) and not self.suspend_flow.is_set()):
            delivery = coros[0]
            try:
                yielded = delivery.send(None)
            except StopIteration as stop:
                return WaitResults([delivery], [stop.value], False)
            return await super().wait_first(_resume(delivery, yielded), coros[1])
        return await super().wait_first(*coros, timeout=timeout)


class _Transport(faust_aiokafka.Transport):
    Consumer = _Consumer


class App(faust.App):
    """``faust.App`` whose consumer transport is :class:`_Transport` (``kafka://`` URLs)."""

    def _new_transport(self) -> Any:
        return _Transport(self.conf.broker_consumer, self)
