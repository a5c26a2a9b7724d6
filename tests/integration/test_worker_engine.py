"""The worker's engine in a child process, on a real PostgreSQL server.

The child records each batch with its partitions' offsets in one transaction and
answers after the commit; dead letters travel to the worker (the parent) and back
before that commit. Failures — the worker's dead-letter send, the child's death — come
back as :class:`EngineError`, never as a hang.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import orjson
import psycopg
import pytest

from lifecycle.errors import EngineError
from lifecycle.settings import Settings
from streams.engine import EngineProcess, LocalEngine, start_engine
from streams.protocol import IngestCounts, IngestRequest
from tests.harness.postgres import fresh_database
from tests.support import FIT45, T0, action_data, hours, touchpoint_data

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

TOPIC = "lifecycle.touchpoints"  # with the default LIFECYCLE_TOPIC_PREFIX
Letters = list[tuple[bytes, bytes]]
Batch = dict[int, list[tuple[int, bytes | None, bytes | None]]]


def query(url: str, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(statement, params).fetchall()


def event_rows(url: str) -> int:
    return int(query(url, "SELECT COUNT(*) FROM lifecycle_events")[0][0])


def positions(url: str) -> dict[str, int]:
    rows = query(url, "SELECT application_name, notification_id FROM lifecycle_tracking "
                 "WHERE application_name LIKE %s", (f"{TOPIC}:%",))
    return {str(name): int(offset) for name, offset in rows}


def touch(offset: int, name: str, **fields: Any) -> tuple[int, bytes | None, bytes | None]:
    data = touchpoint_data(f"{name}-{offset}", email=f"{name}@acme.com", **fields)
    return offset, name.encode(), orjson.dumps(data)


@dataclass(frozen=True)
class Rewind:
    """A request the engine does not know (it comes back as an EngineError)."""


class Postbox:
    """The worker's dead-letter sender; what it does on the next send is up to a test."""

    def __init__(self) -> None:
        self.sent: list[Letters] = []
        self.on_send: Callable[[Letters], None] | None = None

    def __call__(self, letters: Letters) -> None:
        if self.on_send is not None:
            self.on_send(letters)
        self.sent.append(letters)


@pytest.fixture(scope="module")
def shared_url(postgres_url: str) -> Iterator[str]:
    """One database for the tests that share an engine (each uses its own partitions)."""
    with fresh_database(postgres_url) as url:
        yield url


@pytest.fixture(scope="module")
def postbox() -> Postbox:
    return Postbox()


@pytest.fixture(scope="module")
def engine(shared_url: str, postbox: Postbox) -> Iterator[EngineProcess]:
    engine = EngineProcess(Settings(database_url=shared_url), postbox)
    # an empty batch waits for the child to be ready (its tables created), writes nothing
    assert engine.ingest({}) == (0, 0, 0, 0)
    yield engine
    engine.close()


@pytest.fixture
def letters(postbox: Postbox) -> Iterator[Postbox]:
    postbox.sent.clear()
    postbox.on_send = None
    yield postbox
    postbox.on_send = None


def test_an_ingest_returns_counts_after_the_events_are_stored(
    engine: EngineProcess, shared_url: str, letters: Postbox
) -> None:
    rows = event_rows(shared_url)
    batch: Batch = {0: [touch(0, "ann"), touch(1, "ann", kind="form_submit")],
                    1: [touch(5, "ben"), touch(6, "cat")]}
    counts = engine.ingest(batch)
    assert counts == IngestCounts(accepted=4, duplicate=0, rejected=0, skipped=0)
    assert isinstance(counts, IngestCounts)  # typed across the pipe
    assert event_rows(shared_url) > rows  # committed when the answer came
    assert {k: v for k, v in positions(shared_url).items() if k.endswith((":0", ":1"))} == {
        f"{TOPIC}:0": 1, f"{TOPIC}:1": 6}
    assert letters.sent == []
    # the same batch again: every offset is behind the stored positions
    rows = event_rows(shared_url)
    assert engine.ingest(batch) == (0, 0, 0, 4)
    assert event_rows(shared_url) == rows


def test_dead_letters_reach_the_worker_before_the_commit(
    engine: EngineProcess, shared_url: str, letters: Postbox
) -> None:
    seen: dict[str, Any] = {}
    rows = event_rows(shared_url)

    def look(sent: Letters) -> None:
        seen["positions"] = positions(shared_url)
        seen["rows"] = event_rows(shared_url)

    letters.on_send = look
    nobody = action_data("n-1", "note", email="nobody@nowhere.org", text="who?")
    batch: Batch = {2: [touch(0, "dan"), (1, b"k", b"{oops"),
                        (2, b"k", orjson.dumps(nobody))]}
    assert engine.ingest(batch) == (1, 0, 2, 0)
    assert f"{TOPIC}:2" not in seen["positions"]  # nothing of the batch committed yet
    assert seen["rows"] == rows
    assert event_rows(shared_url) > rows
    assert positions(shared_url)[f"{TOPIC}:2"] == 2  # committed after the send returned
    assert len(letters.sent) == 1
    keys = [key for key, _ in letters.sent[0]]
    assert sorted(keys) == [f"{TOPIC}:2:1".encode(), f"{TOPIC}:2:2".encode()]
    codes = {key: orjson.loads(value)["code"] for key, value in letters.sent[0]}
    assert codes == {f"{TOPIC}:2:1".encode(): "schema",
                     f"{TOPIC}:2:2".encode(): "unknown_lead"}


def test_a_failed_dead_letter_send_fails_the_call_and_stores_nothing(
    engine: EngineProcess, shared_url: str, letters: Postbox
) -> None:
    def broker_down(sent: Letters) -> None:
        raise ConnectionError("dead-letter topic unreachable")

    letters.on_send = broker_down
    batch: Batch = {3: [touch(0, "eve"), (1, b"k", b"not json")]}
    rows = event_rows(shared_url)
    with pytest.raises(EngineError, match="ConnectionError: dead-letter topic unreachable"):
        engine.ingest(batch)
    assert event_rows(shared_url) == rows
    assert f"{TOPIC}:3" not in positions(shared_url)

    # the engine is still there, and the redelivered batch is recorded whole
    letters.on_send = None
    assert engine.ingest(batch) == (1, 0, 1, 0)
    assert positions(shared_url)[f"{TOPIC}:3"] == 1
    assert event_rows(shared_url) > rows


def test_an_error_in_a_request_comes_back_and_the_engine_goes_on(
    engine: EngineProcess, letters: Postbox
) -> None:
    with pytest.raises(EngineError, match="unknown engine request 'Rewind'"):
        engine.call(Rewind())  # type: ignore[call-overload]  # not a request it knows
    result = engine.policies(T0 + hours(24 * 90))
    assert result["at"] == (T0 + hours(24 * 90)).isoformat()
    assert engine._process.is_alive()


def test_close_stops_the_child(pg_database_url: str) -> None:
    engine = EngineProcess(Settings(database_url=pg_database_url), Postbox())
    assert engine.ingest({0: [touch(0, "fay")]}) == (1, 0, 0, 0)
    engine.close()
    assert not engine._process.is_alive()
    assert engine._process.exitcode == 0  # it stopped when asked, it was not killed


def wait_until(check: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def waiting_on_a_lock(url: str) -> bool:
    return bool(query(url, "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = "
                      "current_database() AND wait_event_type = 'Lock'")[0][0])


def other_sessions(url: str) -> int:
    return int(query(url, "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = "
                     "current_database() AND pid <> pg_backend_pid()")[0][0])


def test_a_child_killed_during_a_call_fails_the_call_and_commits_nothing(
    pg_database_url: str,
) -> None:
    url = pg_database_url
    engine = EngineProcess(Settings(database_url=url), Postbox())
    try:
        assert engine.ingest({0: [touch(0, "gus")]}) == (1, 0, 0, 0)
        rows = event_rows(url)
        pid = engine._process.pid
        assert pid is not None
        with psycopg.connect(url) as blocker, ThreadPoolExecutor(1) as pool:
            # the child gets as far as its write transaction, and waits there
            blocker.execute("LOCK TABLE lifecycle_tracking IN EXCLUSIVE MODE")
            pending = pool.submit(engine.call, IngestRequest({0: [touch(1, "gus"),
                                                                  touch(2, "hal")]}))
            wait_until(lambda: waiting_on_a_lock(url), "the child to wait for the lock")
            os.kill(pid, signal.SIGKILL)
            with pytest.raises(EngineError, match=r"engine process is gone \(exit code -9\)"):
                pending.result(timeout=10)  # an answer, not a hang
            blocker.rollback()
        # the server drops the dead child's sessions; its transaction never committed
        wait_until(lambda: other_sessions(url) == 0, "the child's sessions to end")
        assert positions(url) == {f"{TOPIC}:0": 0}
        assert event_rows(url) == rows
    finally:
        engine.close()
    assert not engine._process.is_alive()


def test_a_call_after_the_child_died_raises_engine_error(pg_database_url: str) -> None:
    engine = EngineProcess(Settings(database_url=pg_database_url), Postbox())
    try:
        assert engine.ingest({0: [touch(0, "ida")]}) == (1, 0, 0, 0)
        pid = engine._process.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        engine._process.join(5)  # died between two batches (say, the OOM killer)
        assert engine._process.exitcode == -signal.SIGKILL
        with pytest.raises(EngineError, match="engine process is gone"):
            engine.ingest({0: [touch(1, "ida")]})
    finally:
        engine.close()


def story() -> Batch:
    """Two partitions' worth of a funnel, with rejects and an in-batch duplicate."""
    return {  # ada@acme.com: the builders' default email
        0: [(0, b"ada", orjson.dumps(touchpoint_data("ada-1", profile=FIT45))),
            (1, b"ada", orjson.dumps(touchpoint_data("ada-2", "demo_requested",
                                                     at=T0 + hours(1)))),
            (2, b"ada", orjson.dumps(action_data("ada-a", "accept", at=T0 + hours(2)))),
            # a win straight from sql skips stages: refused by the state machine
            (3, b"ada", orjson.dumps(action_data("ada-w", "win", at=T0 + hours(3)))),
            (4, b"ada", orjson.dumps(touchpoint_data("ada-1", profile=FIT45)))],
        1: [(7, b"bo", orjson.dumps(touchpoint_data("bo-1", "trial_started",
                                                    email="bo@initech.io"))),
            (8, None, b"\x00garbage"),
            (9, b"cy", orjson.dumps(action_data("cy-a", "note", email="cy@globex.de",
                                                text="hi")))],
    }


def test_the_local_engine_and_the_child_process_agree(postgres_url: str) -> None:
    results: dict[str, tuple[Any, Any, list[tuple[bytes, str]], dict[str, int]]] = {}
    for kind in ("process", "thread"):
        with fresh_database(postgres_url) as url:
            box = Postbox()
            engine = start_engine(Settings(database_url=url, worker_engine=kind), box)
            assert isinstance(engine, EngineProcess if kind == "process" else LocalEngine)
            try:
                first = engine.ingest(story())
                again = engine.ingest(story())
            finally:
                engine.close()
            letters = sorted((k, orjson.loads(v)["code"]) for s in box.sent for k, v in s)
            results[kind] = (first, again, letters, positions(url))
    first, again, letters, stored = results["process"]
    assert first == (4, 1, 3, 0)
    assert again == (0, 0, 0, 8)
    assert letters == [(f"{TOPIC}:0:3".encode(), "illegal_transition"),
                       (f"{TOPIC}:1:8".encode(), "schema"),
                       (f"{TOPIC}:1:9".encode(), "unknown_lead")]
    assert stored == {f"{TOPIC}:0": 4, f"{TOPIC}:1": 9}
    assert results["thread"] == results["process"]
