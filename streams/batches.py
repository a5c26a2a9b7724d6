"""Batches of a stream's events, handled one at a time while the next one fills.

Faust's ``Stream.take_events`` stops filling its buffer while the agent handles a batch:
the stream's per-event work (taking events off the channel, Faust's bookkeeping) and
the handling (a database transaction, in another thread or process) take turns, and
each waits for the other. :class:`Pipeline` overlaps them: the agent iterates a
``noack()`` stream and adds each event; full batches (or the events waiting
``within`` seconds) go, in order, to one handler task; at most one more batch waits
while one is being handled, so a slow handler slows the stream down (back-pressure).

An event is acknowledged — its offset may be committed to Kafka — only after the batch
it is in was handled: exactly what ``take_events`` promises. If handling (or
acknowledging) fails, the batch's events stay unacknowledged and the app crashes (the
worker exits non-zero, as a Kafka Streams thread dies on an unhandled error); what was
not committed to the database is read again by whichever worker takes the partitions.

A worker told to stop (SIGTERM) first drains (:meth:`Pipeline.drain`): the batch being
handled finishes and is acknowledged, batches not yet started are dropped
unacknowledged and no new event is taken — only then may the engine and its threads
stop. (Stopping them first made the in-flight batch, or the next queued one, fail with
``cannot schedule new futures after shutdown`` and the worker exit 1.)

:func:`touchpoint_batches` and :func:`envelope_batches` decode a batch of events into
what the engine and the projector take: per partition, the messages in offset order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from streams.projector import EnvelopeBatches
from streams.protocol import Batches

__all__ = ["Handler", "Pipeline", "envelope_batches", "touchpoint_batches"]

log = logging.getLogger("lifecycle.worker")

Handler = Callable[[list[Any]], Awaitable[None]]


class Pipeline:
    """Collects a stream's events into batches and hands them to ``handle`` in order.

    Args:
        stream: the agent's ``noack()`` stream (its ``ack`` acknowledges an event).
        handle: called with each batch of events; the events are acknowledged after it
            returns.
        size: events per batch at most.
        within: seconds the first event of a batch may wait for the batch to fill.
        crash: called with the exception when ``handle`` fails (``App.crash``).
    """

    def __init__(self, stream: Any, handle: Handler, *, size: int, within: float,
                 crash: Callable[[BaseException], Awaitable[None]]) -> None:
        self.stream = stream
        self.handle = handle
        self.size = size
        self.within = within
        self.crash = crash
        self.loop = asyncio.get_running_loop()
        self.current: list[Any] = []
        self.started = 0.0
        self.queue: asyncio.Queue[list[Any]] = asyncio.Queue(maxsize=1)
        self.failure: BaseException | None = None
        self.draining = False
        # Held while a batch is handled and acknowledged: drain() waits for it.
        self._busy = asyncio.Lock()
        self.tasks = [self.loop.create_task(self._handle_batches()),
                      self.loop.create_task(self._flush_waiting())]

    async def add(self, event: Any) -> None:
        """Adds an event; waits while a full batch cannot be queued yet."""
        if self.failure is not None:
            raise self.failure
        if self.draining:
            return  # not taken: stays unacknowledged, read again after the restart
        if not self.current:
            self.started = self.loop.time()
        self.current.append(event)
        if len(self.current) >= self.size:
            await self._flush()

    async def _flush(self) -> None:
        if self.current:
            batch, self.current = self.current, []
            await self.queue.put(batch)  # FIFO: batches are handled in the order flushed
            if self.failure is not None:  # failed while this add waited for room
                raise self.failure

    async def _flush_waiting(self) -> None:
        tick = max(self.within / 4, 0.005)
        while True:
            await asyncio.sleep(tick)
            if self.current and self.loop.time() - self.started >= self.within:
                await self._flush()

    async def _handle_batches(self) -> None:
        while True:
            batch = await self.queue.get()
            async with self._busy:
                if self.draining:
                    continue  # queued before the drain: dropped, unacknowledged
                try:
                    await self.handle(batch)
                    ack = self.stream.ack
                    for event in batch:
                        await ack(event)
                except asyncio.CancelledError:
                    raise
                except BaseException as exc:
                    self.failure = exc
                    log.exception("handling a batch of %d events failed", len(batch))
                    # Wake an add() waiting for room (it raises the failure), then crash.
                    while not self.queue.empty():
                        self.queue.get_nowait()
                    await self.crash(exc)
                    return

    async def drain(self) -> None:
        """Finishes the batch being handled (handled and acknowledged), takes nothing new.

        Batches not yet handled — queued, or still filling — are dropped without an
        acknowledgement: the worker that takes their partitions reads them again, and
        the engine's tracking records skip what was committed. Returns once nothing is
        being handled; the pipeline is closed then. A failure of the last batch is
        handled as always (logged, and the app crashes).
        """
        self.draining = True
        self.current = []
        while not self.queue.empty():  # also wakes an add() waiting for room
            self.queue.get_nowait()
        async with self._busy:  # the batch in flight, handled and acknowledged
            pass
        await self.close()

    async def close(self) -> None:
        """Stops handling; events not yet handled stay unacknowledged."""
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task  # a failure ended it already: logged, and the app crashed


def touchpoint_batches(events: Iterable[Any]) -> Batches:
    """A batch of ``touchpoints`` events as the engine takes it: per partition,
    (offset, key, value) in the order consumed (offset order)."""
    by_partition: dict[int, list[tuple[int, bytes | None, bytes | None]]] = defaultdict(list)
    for event in events:
        m = event.message
        by_partition[m.partition].append((m.offset, m.key, m.value))
    return dict(by_partition)


def envelope_batches(events: Iterable[Any]) -> EnvelopeBatches:
    """A batch of ``lead-events`` events as the projector takes it: per partition,
    (offset, envelope); a message without a value (a tombstone) is no envelope."""
    by_partition: dict[int, list[tuple[int, bytes]]] = defaultdict(list)
    for event in events:
        m = event.message
        if m.value is not None:
            by_partition[m.partition].append((m.offset, m.value))
    return dict(by_partition)
