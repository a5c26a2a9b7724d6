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
Faust's per-message work. :class:`_Consumer` starts each delivery in place, and only
a delivery that does block is raced against the suspension with ``wait_first``,
exactly as Faust does (:func:`_drain_messages` is Faust 0.15's loop with that change).

Only the wait and the hand-over change: offsets, commits, group membership and
everything exactly-once (tracking in PostgreSQL) are Faust's and aiokafka's, as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine, Generator
from typing import Any, cast

import faust
from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import aiokafka as faust_aiokafka

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


class _Consumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> _ConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def _drain_messages(self, fetcher: Any) -> None:  # noqa: PLR0915 - Faust's loop
        # Faust 0.15.3's Consumer._drain_messages; only the delivery (marked) differs.
        callback = self.callback
        getmany = self.getmany
        consumer_should_stop = self._stopped.is_set
        fetcher_should_stop = fetcher._stopped.is_set
        suspended = self.suspend_flow.is_set

        get_read_offset = self._read_offset.__getitem__
        set_read_offset = self._read_offset.__setitem__
        set_flag = self.diag.set_flag
        unset_flag = self.diag.unset_flag
        commit_every = self._commit_every
        acks_enabled_for = self.app.topics.acks_enabled_for

        yield_every = 100
        num_since_yield = 0
        sleep = asyncio.sleep

        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                set_flag(CONSUMER_FETCHING)
                ait = cast(AsyncIterator[Any], getmany(timeout=1.0))
                await self.sleep(0)
                if not self.should_stop:
                    async for tp, message in ait:
                        num_since_yield += 1
                        if num_since_yield > yield_every:
                            await sleep(0)
                            num_since_yield = 0

                        offset = message.offset
                        r_offset = get_read_offset(tp)
                        if r_offset is None or offset >= r_offset:
                            gap = offset - (r_offset or 0)
                            if gap > 1 and r_offset and acks_enabled_for(message.topic):
                                await self._add_gap(tp, r_offset + 1, offset)
                            if commit_every is not None and self._n_acked >= commit_every:
                                self._n_acked = 0
                                await self.commit()
                            # -- delivery: started in place; raced against a suspended
                            # flow (Faust's wait_first) only if it blocks.
                            delivery = cast(Coroutine[Any, Any, Any], callback(message))
                            if suspended():
                                await self.wait_first(delivery, self.suspend_flow.wait())
                            else:
                                try:
                                    yielded = delivery.send(None)
                                except StopIteration:
                                    pass
                                else:
                                    await self.wait_first(_resume(delivery, yielded),
                                                          self.suspend_flow.wait())
                            # -- end of the change
                            set_read_offset(tp, offset)
                    unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                self.log.info("Consumer shutting down for user cancel.")
                return
            raise
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            unset_flag(CONSUMER_FETCHING)


class _Transport(faust_aiokafka.Transport):
    Consumer = _Consumer


class App(faust.App):
    """``faust.App`` whose consumer transport is :class:`_Transport` (``kafka://`` URLs)."""

    def _new_transport(self) -> Any:
        return _Transport(self.conf.broker_consumer, self)
