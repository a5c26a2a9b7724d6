"""Pipeline: a stream's events in batches, handled in order, acknowledged after handling.

Pure asyncio logic, so the stream is a fake with an async ``ack`` that records what it
acknowledged; every test runs its own event loop (``asyncio.run``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import pytest

from streams.batches import Pipeline

T = TypeVar("T")

LONG = 60.0  # a ``within`` no test waits for: only full batches are flushed


def run(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(asyncio.wait_for(main(), timeout=10))


class Stream:
    """The agent's ``noack()`` stream, as far as the pipeline uses it."""

    def __init__(self, log: list[tuple[str, Any]]) -> None:
        self.log = log

    async def ack(self, event: Any) -> None:
        self.log.append(("ack", event))


class Recorder:
    """A handler that logs when each batch started and finished; optionally waits for
    ``release`` (a slow database) or fails."""

    def __init__(self, log: list[tuple[str, Any]], *, slow: bool = False,
                 fail_on: Any = None) -> None:
        self.log = log
        self.batches: list[list[Any]] = []
        self.release = asyncio.Event()
        if not slow:
            self.release.set()
        self.fail_on = fail_on

    async def __call__(self, batch: list[Any]) -> None:
        self.log.append(("start", tuple(batch)))
        self.batches.append(list(batch))
        await asyncio.sleep(0)  # an acknowledgement must not slip in while handling
        await self.release.wait()
        if self.fail_on is not None and self.fail_on in batch:
            raise RuntimeError(f"database down while handling {batch}")
        self.log.append(("end", tuple(batch)))


class Crashes:
    def __init__(self) -> None:
        self.errors: list[BaseException] = []

    async def __call__(self, exc: BaseException) -> None:
        self.errors.append(exc)


def pipeline(log: list[tuple[str, Any]], handler: Callable[[list[Any]], Awaitable[None]],
             *, size: int, within: float = LONG, crash: Crashes | None = None) -> Pipeline:
    return Pipeline(Stream(log), handler, size=size, within=within, crash=crash or Crashes())


async def settle(rounds: int = 20) -> None:
    """Lets every ready task run until it blocks."""
    for _ in range(rounds):
        await asyncio.sleep(0)


def acks(log: list[tuple[str, Any]]) -> list[Any]:
    return [event for kind, event in log if kind == "ack"]


def test_full_batches_are_handled_in_order_and_acked_after_their_handling() -> None:
    async def main() -> tuple[list[tuple[str, Any]], list[list[Any]]]:
        log: list[tuple[str, Any]] = []
        handler = Recorder(log)
        p = pipeline(log, handler, size=3)
        for event in range(11):
            await p.add(event)
        await settle()
        await p.close()
        return log, handler.batches

    log, batches = run(main)
    assert batches == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]  # 9 and 10 wait for more
    assert log == [
        ("start", (0, 1, 2)), ("end", (0, 1, 2)), ("ack", 0), ("ack", 1), ("ack", 2),
        ("start", (3, 4, 5)), ("end", (3, 4, 5)), ("ack", 3), ("ack", 4), ("ack", 5),
        ("start", (6, 7, 8)), ("end", (6, 7, 8)), ("ack", 6), ("ack", 7), ("ack", 8),
    ]


def test_events_are_acked_only_once_the_handler_returned() -> None:
    async def main() -> None:
        log: list[tuple[str, Any]] = []
        handler = Recorder(log, slow=True)
        p = pipeline(log, handler, size=2)
        await p.add("a")
        await p.add("b")
        await settle()
        assert handler.batches == [["a", "b"]]
        assert acks(log) == []  # being handled: not acknowledged
        handler.release.set()
        await settle()
        assert log == [("start", ("a", "b")), ("end", ("a", "b")), ("ack", "a"), ("ack", "b")]
        await p.close()

    run(main)


def test_a_partial_batch_is_flushed_after_within_seconds() -> None:
    async def main() -> None:
        log: list[tuple[str, Any]] = []
        handler = Recorder(log)
        p = pipeline(log, handler, size=100, within=0.2)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await p.add("x")
        await asyncio.sleep(0.05)
        await p.add("y")
        await asyncio.sleep(0.05)
        assert handler.batches == []  # too early: it may still fill
        while not acks(log):
            await asyncio.sleep(0.01)
        waited = loop.time() - started
        assert handler.batches == [["x", "y"]]
        assert acks(log) == ["x", "y"]
        # timed from the batch's first event, not its last, and not much later
        assert 0.2 <= waited < 0.5
        await p.close()

    run(main)


def test_a_failing_handler_crashes_the_app_and_stops_the_pipeline() -> None:
    async def main() -> None:
        log: list[tuple[str, Any]] = []
        crashes = Crashes()
        handler = Recorder(log, fail_on=3)
        p = pipeline(log, handler, size=2, crash=crashes)
        for event in range(4):  # [0, 1] works, [2, 3] fails
            await p.add(event)
        await settle()
        assert [str(e) for e in crashes.errors] == ["database down while handling [2, 3]"]
        assert acks(log) == [0, 1]  # the failed batch stays unacknowledged
        with pytest.raises(RuntimeError, match="database down") as raised:
            await p.add(4)
        assert raised.value is crashes.errors[0]
        await settle()
        assert handler.batches == [[0, 1], [2, 3]]  # nothing handled after the failure
        await p.close()

    run(main)


def test_a_slow_handler_holds_back_the_stream_after_one_queued_batch() -> None:
    async def main() -> None:
        log: list[tuple[str, Any]] = []
        handler = Recorder(log, slow=True)
        p = pipeline(log, handler, size=2)
        await p.add(0)
        await p.add(1)  # batch [0, 1]: taken by the handler, which waits
        await settle()
        await p.add(2)
        await p.add(3)  # batch [2, 3]: queued
        await p.add(4)  # a new batch fills ...
        blocked = asyncio.create_task(p.add(5))  # ... but cannot be queued
        await settle()
        assert not blocked.done()
        assert handler.batches == [[0, 1]]

        handler.release.set()  # the database catches up
        await asyncio.wait_for(blocked, timeout=1)
        await settle()
        assert handler.batches == [[0, 1], [2, 3], [4, 5]]
        assert acks(log) == [0, 1, 2, 3, 4, 5]
        await p.close()

    run(main)


def test_close_stops_handling_and_leaves_unhandled_events_unacked() -> None:
    async def main() -> None:
        log: list[tuple[str, Any]] = []
        handler = Recorder(log, slow=True)
        p = pipeline(log, handler, size=1)
        await p.add("a")
        await settle()
        await p.close()
        assert all(task.done() for task in p.tasks)
        handler.release.set()
        await settle()
        assert log == [("start", ("a",))]  # cancelled in the handler: never acked

    run(main)


def test_a_failing_ack_crashes_the_app_like_a_failing_handler() -> None:
    class Uncommittable(Stream):
        async def ack(self, event: Any) -> None:
            raise RuntimeError("consumer is closed")

    async def main() -> None:
        log: list[tuple[str, Any]] = []
        crashes = Crashes()
        p = Pipeline(Uncommittable(log), Recorder(log), size=1, within=LONG, crash=crashes)
        try:
            await p.add("a")
            await settle()
            assert [str(e) for e in crashes.errors] == ["consumer is closed"]
            with pytest.raises(RuntimeError, match="consumer is closed"):
                await p.add("b")
        finally:
            await p.close()

    run(main)


def test_an_add_waiting_for_room_raises_when_the_handler_fails() -> None:
    async def main() -> None:
        log: list[tuple[str, Any]] = []
        handler = Recorder(log, slow=True, fail_on="a")
        crashes = Crashes()
        p = pipeline(log, handler, size=1, crash=crashes)
        try:
            await p.add("a")  # being handled (held by the slow handler)
            await settle()
            await p.add("b")  # queued
            blocked = asyncio.ensure_future(p.add("c"))  # waits for room
            await settle()
            assert not blocked.done()
            handler.release.set()  # "a" fails
            with pytest.raises(RuntimeError, match="database down"):
                await asyncio.wait_for(blocked, timeout=5)
            assert len(crashes.errors) == 1
            assert acks(log) == []
        finally:
            await p.close()

    run(main)


def test_drain_finishes_the_batch_in_flight_and_takes_nothing_new() -> None:
    """SIGTERM's order: the batch being handled ends and is acknowledged before drain
    returns; the queued batch and the one filling are never handled nor acknowledged."""

    async def main() -> None:
        log: list[tuple[str, Any]] = []
        handler = Recorder(log, slow=True)
        p = pipeline(log, handler, size=2)
        for event in range(5):  # [0, 1] in flight, [2, 3] queued, [4] filling
            await p.add(event)
        await settle()
        drained = asyncio.create_task(p.drain())
        await settle()
        assert not drained.done()  # waits for the batch in flight
        await p.add(5)  # arrives during the drain: not taken
        handler.release.set()
        await asyncio.wait_for(drained, timeout=1)
        assert log == [("start", (0, 1)), ("end", (0, 1)), ("ack", 0), ("ack", 1)]
        assert all(task.done() for task in p.tasks)
        await p.add(6)
        await settle()
        assert handler.batches == [[0, 1]]
        assert acks(log) == [0, 1]

    run(main)


@pytest.mark.parametrize("in_flight", [0, 1, 2, 3])
def test_drain_at_any_point_acks_exactly_the_batches_handled(in_flight: int) -> None:
    """Drained after 0..3 batches were released: every handled batch is acknowledged
    whole, in order, nothing else; an add() waiting for room is released, not stuck."""

    async def main() -> None:
        log: list[tuple[str, Any]] = []
        handler = Recorder(log, slow=True)
        p = pipeline(log, handler, size=2)
        adding = asyncio.create_task(_add_all(p, range(12)))
        for _ in range(in_flight):
            await settle()
            handler.release.set()
            await settle()
            handler.release.clear()
        await settle()
        drained = asyncio.create_task(p.drain())
        await settle()
        handler.release.set()
        await asyncio.wait_for(drained, timeout=1)
        await asyncio.wait_for(adding, timeout=1)  # never left waiting for room
        handled = [e for batch in handler.batches for e in batch]
        assert acks(log) == handled
        assert handled == list(range(len(handled)))
        assert all(len(batch) == 2 for batch in handler.batches)

    run(main)


async def _add_all(p: Pipeline, events: range) -> None:
    for event in events:
        await p.add(event)


def test_drain_after_a_failure_returns_and_keeps_the_failed_batch_unacked() -> None:
    async def main() -> None:
        log: list[tuple[str, Any]] = []
        crashes = Crashes()
        handler = Recorder(log, slow=True, fail_on=0)
        p = pipeline(log, handler, size=1, crash=crashes)
        await p.add(0)
        await settle()
        drained = asyncio.create_task(p.drain())
        await settle()
        handler.release.set()
        await asyncio.wait_for(drained, timeout=1)
        assert len(crashes.errors) == 1  # a failure while draining still crashes the app
        assert acks(log) == []

    run(main)
