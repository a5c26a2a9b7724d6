"""The storage protocol itself, against each adapter on a real database.

The same stories run on the SQLite adapter (a file) and the PostgreSQL adapter (a fresh
database on a real server), through :func:`lifecycle.adapters.adapter_for` and the
protocol of :mod:`lifecycle.adapters.protocol` only: whatever the engine relies on from
a backend is here, so a new backend passes this suite before the engine runs on it.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any, cast
from uuid import UUID, uuid4

import psycopg
import pytest
from eventsourcing.persistence import InfrastructureFactory, IntegrityError, StoredEvent, Tracking

from lifecycle.adapters import adapter_for, driver_errors
from lifecycle.adapters.protocol import EventRecorder, EventStorage, InputRow
from lifecycle.chain import GENESIS, check_rows, link
from lifecycle.errors import ConfigError
from lifecycle.settings import Settings
from tests.integration.test_audit_erasure import holding, raw_bytes

TOPIC = "tests.storage:Thing.Happened"


@pytest.fixture
def storage(database_url: str) -> EventStorage:
    return adapter_for(database_url)


@pytest.fixture
def recorder(storage: EventStorage) -> Iterator[EventRecorder]:
    """The adapter's recorder, made by eventsourcing from the adapter's environment (as
    the application makes it)."""
    factory = InfrastructureFactory.construct(storage.persistence_env())
    yield cast(EventRecorder, factory.process_recorder())
    factory.close()


def chained(oid: UUID, versions: range, prev: bytes = GENESIS) -> list[StoredEvent]:
    """Stored events of one aggregate, hash-chained as the mapper chains them."""
    out = []
    for version in versions:
        body = b'{"n":%d}' % version
        prev = link(prev, TOPIC.encode(), body)
        out.append(StoredEvent(originator_id=oid, originator_version=version, topic=TOPIC,
                               state=prev + body))
    return out


def read_all(storage: EventStorage, recorder: EventRecorder, **where: Any
             ) -> tuple[dict[str, tuple[int, str]], int, list[Any]]:
    table: str = recorder.events_table_name  # type: ignore[attr-defined]
    with storage.read_chains(table, batch_size=3, **where) as (heads, top, batches):
        return heads, top, [row for rows in batches for row in rows]


def test_adapter_for_picks_the_backend_of_a_url_or_settings(database_url: str) -> None:
    storage = adapter_for(database_url)
    assert storage.name == ("sqlite" if database_url.startswith("sqlite") else "postgres")
    assert adapter_for(Settings(database_url=database_url)).name == storage.name
    assert set(storage.errors) <= set(driver_errors())
    storage.check_reachable()


def test_a_url_no_backend_serves_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unsupported database URL"):
        adapter_for("mysql://db/leads")


def test_driver_errors_are_those_of_every_backend() -> None:
    assert {sqlite3.Error, psycopg.Error} <= set(driver_errors())


def test_append_writes_events_trackings_inputs_and_heads_in_one_go(
    storage: EventStorage, recorder: EventRecorder
) -> None:
    a, b = uuid4(), uuid4()
    events = chained(a, range(1, 4)) + chained(b, range(1, 3))
    inputs: list[InputRow] = [("touchpoint:t1", a, b"sealed-1"), ("action:x1", b, b"sealed-2")]
    ids = recorder.insert_events(events, tracking=Tracking("upstream-0", 7),
                                 more_trackings=[Tracking("upstream-1", 3)], inputs=inputs)
    assert ids is not None
    assert len(ids) == 5
    assert list(ids) == sorted(ids)
    assert len(set(ids)) == 5
    assert recorder.max_notification_id() == ids[-1]
    tracked: Any = recorder
    assert tracked.max_tracking_id("upstream-0") == 7
    assert tracked.max_tracking_id("upstream-1") == 3
    assert recorder.inputs_of(["touchpoint:t1", "action:x1", "touchpoint:nope"]) == {
        "touchpoint:t1": (a, b"sealed-1"), "action:x1": (b, b"sealed-2")}
    heads, top, rows = read_all(storage, recorder)
    assert top == ids[-1]
    assert heads == {a.hex: (3, events[2].state[:64].decode()),
                     b.hex: (2, events[4].state[:64].decode())}
    assert list(check_rows([rows], dict(heads))) == []


def test_a_refused_append_writes_nothing_of_it(
    storage: EventStorage, recorder: EventRecorder
) -> None:
    a = uuid4()
    first = chained(a, range(1, 3))
    recorder.insert_events(first, inputs=[("touchpoint:t1", a, b"one")])
    b = uuid4()
    again = chained(b, range(1, 2))  # fine on its own ...
    with pytest.raises(IntegrityError):  # ... but this input id is recorded already
        recorder.insert_events(again, tracking=Tracking("upstream", 1),
                               inputs=[("touchpoint:t1", a, b"two")])
    with pytest.raises(IntegrityError):  # a version that is stored already
        recorder.insert_events(chained(a, range(2, 3)), tracking=Tracking("upstream", 2))
    tracked: Any = recorder
    assert tracked.max_tracking_id("upstream") is None
    assert recorder.events_of([b]) == []
    assert recorder.inputs_of(["touchpoint:t1"]) == {"touchpoint:t1": (a, b"one")}
    heads, _, _ = read_all(storage, recorder)
    assert heads == {a.hex: (2, first[-1].state[:64].decode())}


def test_events_of_many_aggregates_in_order_missing_ones_left_out(
    recorder: EventRecorder,
) -> None:
    ids = [uuid4() for _ in range(520)]  # more than one query's worth
    recorder.insert_events([e for oid in ids for e in chained(oid, range(1, 3))])
    wanted = [*ids[::-1], uuid4(), ids[0]]
    stored = recorder.events_of(wanted)
    assert len(stored) == 2 * len(ids)
    keys = [(s.originator_id, s.originator_version) for s in stored]
    assert len(set(keys)) == len(keys)
    changes = sum(1 for x, y in itertools.pairwise(keys) if x[0] != y[0])
    assert changes == len(ids) - 1  # each aggregate's events together
    by_aggregate: dict[Any, list[int]] = {}
    for oid, version in keys:
        by_aggregate.setdefault(oid, []).append(version)
    assert set(by_aggregate) == set(ids)
    assert all(v == [1, 2] for v in by_aggregate.values())
    one = recorder.events_of([ids[7]])
    assert one == chained(ids[7], range(1, 3))
    assert recorder.select_events(ids[7], desc=True, limit=1)[0] == one[-1]


def test_chains_read_by_lead_and_by_id_range(
    storage: EventStorage, recorder: EventRecorder
) -> None:
    ids = [UUID(int=n << 120 | 1) for n in (0x10, 0x7F, 0x80, 0xF0)]
    recorder.insert_events([e for oid in ids for e in chained(oid, range(1, 3))])
    heads, _, rows = read_all(storage, recorder, lead_id=ids[1])
    assert set(heads) == {ids[1].hex}
    assert {r[0] for r in rows} == {ids[1].hex}
    low = read_all(storage, recorder, hi="80")
    high = read_all(storage, recorder, lo="80")
    assert {r[0] for r in low[2]} == {ids[0].hex, ids[1].hex} == set(low[0])
    assert {r[0] for r in high[2]} == {ids[2].hex, ids[3].hex} == set(high[0])
    assert [r[1] for r in high[2]] == [1, 2, 1, 2]
    assert all(isinstance(r[2], bytes) and r[2] == TOPIC.encode() for r in high[2])


def test_key_store_fetches_inserts_and_deletes_keys_physically(
    storage: EventStorage, database_url: str
) -> None:
    keys = storage.key_store()
    other = storage.key_store()  # another process, as far as the database can tell
    try:
        a, b = uuid4(), uuid4()
        key_a, key_b = b"K" * 16 + uuid4().bytes, b"L" * 16 + uuid4().bytes
        assert keys.fetch([a, b]) == {}
        assert keys.insert({a: key_a}, 1.0) is True
        # A key another writer made first wins: the insert says so, and keeps it.
        assert other.insert({a: b"X" * 32, b: key_b}, 2.0) is False
        assert keys.fetch([a, b]) == {a: key_a, b: key_b}
        assert holding(key_a, raw_bytes(database_url))
        assert keys.delete(a) is True
        assert other.fetch([a, b]) == {b: key_b}
        assert holding(key_a, raw_bytes(database_url)) == []
        assert keys.delete(a) is False
    finally:
        keys.close()
        other.close()


def test_creating_the_schema_twice_changes_nothing(
    storage: EventStorage, recorder: EventRecorder
) -> None:
    a = uuid4()
    recorder.insert_events(chained(a, range(1, 2)))
    again = InfrastructureFactory.construct(storage.persistence_env())
    try:
        second = cast(EventRecorder, again.process_recorder())  # creates its tables again
        assert [s.originator_version for s in second.events_of([a])] == [1]
    finally:
        again.close()
    conn = storage.connect()
    try:
        statements: Sequence[str] = ["CREATE TABLE IF NOT EXISTS lc_test_t (x INTEGER)"]
        storage.create_tables(conn, statements)
        storage.create_tables(conn, statements)
        conn.execute("INSERT INTO lc_test_t (x) VALUES (1)")
        assert conn.execute("SELECT count(*) FROM lc_test_t").fetchone()[0] == 1
    finally:
        conn.close()


def test_only_a_locked_sqlite_database_is_busy(storage: EventStorage) -> None:
    locked = sqlite3.OperationalError("database is locked")
    assert storage.is_busy(locked) is (storage.name == "sqlite")
    assert not storage.is_busy(sqlite3.OperationalError("no such table: x"))
    assert not storage.is_busy(ValueError("database is locked"))


@pytest.mark.parametrize("url", [
    "mysql://host/db", "", "sqlite:///", "postgresql://host", "postgresql://host:99999/db",
    "postgresql://host:port/db", "postgresql://[::1/db", "postgres://h:-1/db",
])
def test_a_database_url_no_backend_can_use_is_a_config_error(url: str) -> None:
    """Whatever a user puts in LIFECYCLE_DATABASE_URL, the adapters answer with one
    ConfigError (never urllib's ValueError), and describing it for a message never fails."""
    from lifecycle.adapters import describe, persistence_env
    from lifecycle.errors import ConfigError

    with pytest.raises(ConfigError):
        persistence_env(url)
    try:
        text = describe(url)
    except ConfigError:
        return
    assert url.split("://", maxsplit=1)[0] in ("postgresql", "postgres")
    assert text.startswith("PostgreSQL at")
