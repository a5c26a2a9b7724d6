"""``_resume``: a delivery coroutine started by hand (``send(None)``) and finished in a task.

The worker's consumer starts each delivery in place and, only if it suspends, hands the
suspended coroutine to a task through ``_resume``. The task must then behave as if it
had awaited the coroutine from the start: results, exceptions and cancellation pass
through, and every suspension reaches the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import pytest

from streams.transport import _FlowWait, _resume, _SuspendFlow


def started(coro: Coroutine[Any, Any, Any]) -> tuple[Coroutine[Any, Any, Any], Any]:
    """Starts ``coro`` as the consumer does; it must suspend."""
    try:
        yielded = coro.send(None)
    except StopIteration:  # pragma: no cover - every test's coroutine suspends
        raise AssertionError("the coroutine finished without suspending") from None
    return coro, yielded


def test_a_coroutine_waiting_on_a_future_gets_its_result_and_returns() -> None:
    async def main() -> None:
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        async def delivery() -> str:
            value = await fut
            return f"got {value}"

        coro, yielded = started(delivery())
        assert yielded is fut
        task = asyncio.create_task(_resume(coro, yielded))
        await asyncio.sleep(0.01)
        assert not task.done()  # still waiting for the future, not spinning
        fut.set_result(42)
        assert await asyncio.wait_for(task, timeout=1) == "got 42"

    asyncio.run(main())


def test_an_exception_set_on_the_future_is_raised_in_the_coroutine() -> None:
    async def main() -> None:
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        caught: list[str] = []

        async def delivery() -> int:
            try:
                return await fut
            except KeyError as e:
                caught.append(str(e))
                raise

        task = asyncio.create_task(_resume(*started(delivery())))
        await asyncio.sleep(0)
        fut.set_exception(KeyError("partition revoked"))
        with pytest.raises(KeyError, match="partition revoked"):
            await task
        assert caught == ["'partition revoked'"]

    asyncio.run(main())


def test_each_bare_suspension_reaches_the_event_loop() -> None:
    async def main() -> None:
        log: list[str] = []

        async def delivery() -> int:
            for i in range(4):
                log.append(f"delivery {i}")
                await asyncio.sleep(0)
            return 4

        async def other() -> None:
            for i in range(4):
                log.append(f"other {i}")
                await asyncio.sleep(0)

        coro, yielded = started(delivery())
        assert yielded is None  # sleep(0) is a bare yield
        task = asyncio.create_task(_resume(coro, yielded))
        neighbour = asyncio.create_task(other())
        assert await task == 4
        await neighbour
        # the two took turns: every sleep(0) of the delivery gave the loop a go
        assert log == ["delivery 0", "other 0", "delivery 1", "other 1", "delivery 2",
                       "other 2", "delivery 3", "other 3"]

    asyncio.run(main())


def test_cancelling_the_task_cancels_the_coroutine_waiting_on_a_future() -> None:
    async def main() -> None:
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        log: list[str] = []

        async def delivery() -> int:
            try:
                return await fut
            except asyncio.CancelledError:
                log.append("cancelled")
                raise
            finally:
                log.append("finally")

        task = asyncio.create_task(_resume(*started(delivery())))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert log == ["cancelled", "finally"]
        assert fut.cancelled()  # the wait itself was cancelled, as with a plain await

    asyncio.run(main())


def test_cancelling_the_task_between_bare_suspensions_reaches_the_coroutine() -> None:
    async def main() -> None:
        log: list[str] = []

        async def delivery() -> None:
            try:
                while True:
                    log.append("step")
                    await asyncio.sleep(0)
            finally:
                log.append("finally")

        task = asyncio.create_task(_resume(*started(delivery())))
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert log[-1] == "finally"
        assert log.count("step") >= 2  # it ran in the task before the cancellation

    asyncio.run(main())


def test_a_coroutine_that_handles_its_cancellation_returns_its_value() -> None:
    async def main() -> None:
        async def delivery() -> str:
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                return "stopped cleanly"
            return "slept"

        task = asyncio.create_task(_resume(*started(delivery())))
        await asyncio.sleep(0)
        task.cancel()
        assert await task == "stopped cleanly"  # as if the task had run delivery()

    asyncio.run(main())


def test_the_suspend_flow_wait_is_started_only_when_awaited_and_ends_when_set() -> None:
    """The consumer tells its delivery call apart by the :class:`_FlowWait` it gets."""

    async def main() -> None:
        flow = _SuspendFlow()
        wait = flow.wait()
        assert isinstance(wait, _FlowWait)  # nothing runs yet: no coroutine to clean up
        task = asyncio.ensure_future(wait)  # as Faust's wait_first takes it
        await asyncio.sleep(0.01)
        assert not task.done()
        flow.set()
        assert await asyncio.wait_for(task, timeout=1) is True

    asyncio.run(main())
