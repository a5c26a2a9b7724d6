"""PartitionIngest on real databases: several Kafka partitions in one transaction.

Each partition's last offset is stored with the batch's events (one tracking record
``<topic>:<partition>``); offsets at or below a stored position are skipped, not applied
again; rejected messages leave as dead letters before the commit, and a dead-letter
callback that fails leaves nothing saved. Every test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg
import pytest

from lifecycle.application import LeadLifecycle
from lifecycle.errors import LeadNotFound
from lifecycle.scoring import ScoringConfig
from lifecycle.settings import Settings, persistence_env
from lifecycle.templates import TemplateRegistry
from streams.ingest import DeadLetter, Message, PartitionIngest
from tests.support import FIT45, T0, action_data, hours, touchpoint_data

pytestmark = pytest.mark.integration

TOPIC = "tp"
NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


class Database:
    """The event store's tables as rows, read past the application."""

    def __init__(self, app: LeadLifecycle) -> None:
        recorder: Any = app.recorder
        self.url = app.settings.database_url
        self.sqlite = persistence_env(self.url)["PERSISTENCE_MODULE"].endswith("sqlite")
        self.events: str = recorder.events_table_name
        # eventsourcing's SQLite recorder names its tracking table "tracking"
        self.tracking: str = "tracking" if self.sqlite else recorder.tracking_table_name

    def query(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        if self.sqlite:
            conn = sqlite3.connect(persistence_env(self.url)["SQLITE_DBNAME"])
            try:
                return conn.execute(statement, params).fetchall()
            finally:
                conn.close()
        with psycopg.connect(self.url, autocommit=True) as pg:
            return pg.execute(statement.replace("?", "%s"), params).fetchall()

    def event_rows(self) -> int:
        return int(self.query(f"SELECT COUNT(*) FROM {self.events}")[0][0])

    def positions(self) -> dict[str, int]:
        """Every tracking row of the touchpoints topic: name -> offset."""
        rows = self.query(f"SELECT application_name, notification_id FROM {self.tracking} "
                          "WHERE application_name LIKE ?", (f"{TOPIC}:%",))
        return {str(name): int(offset) for name, offset in rows}


@pytest.fixture
def app(database_url: str, templates: TemplateRegistry,
        scoring: ScoringConfig) -> Iterator[LeadLifecycle]:
    app = LeadLifecycle(Settings(database_url=database_url), templates=templates,
                        scoring=scoring, clock=lambda: NOW)
    yield app
    app.close()


@pytest.fixture
def ingest(app: LeadLifecycle) -> PartitionIngest:
    return PartitionIngest(app, TOPIC)


@pytest.fixture
def db(app: LeadLifecycle) -> Database:
    return Database(app)


def message(partition: int, offset: int, value: dict[str, Any] | bytes | None,
            key: bytes | None = b"k") -> Message:
    raw = orjson.dumps(value) if isinstance(value, dict) else value
    return Message(partition, offset, key, raw)


def capture(partition: int, offset: int, name: str) -> Message:
    """A touchpoint that captures a new lead ``<name>@acme.com``."""
    return message(partition, offset, touchpoint_data(f"{name}-tp", email=f"{name}@acme.com"))


class Letters:
    """A dead-letter callback that keeps what it was sent, one list per call."""

    def __init__(self) -> None:
        self.calls: list[list[DeadLetter]] = []

    def __call__(self, letters: list[DeadLetter]) -> None:
        self.calls.append(list(letters))

    @property
    def bodies(self) -> dict[bytes, dict[str, Any]]:
        return {d.key: orjson.loads(d.value) for call in self.calls for d in call}


def no_letters(letters: list[DeadLetter]) -> None:
    raise AssertionError(f"no dead letter expected, got {letters}")


def test_one_call_stores_each_partition_at_its_last_offset(
    app: LeadLifecycle, ingest: PartitionIngest, db: Database
) -> None:
    batches = {
        0: [capture(0, 10, "a0"), capture(0, 11, "a1"), capture(0, 12, "a2")],
        3: [capture(3, 0, "b0"), capture(3, 1, "b1")],
        7: [capture(7, 40, "c0")],
    }
    assert ingest.process(batches, no_letters) == (6, 0, 0, 0)
    assert db.positions() == {f"{TOPIC}:0": 12, f"{TOPIC}:3": 1, f"{TOPIC}:7": 40}
    assert [ingest.position(p) for p in (0, 3, 7)] == [12, 1, 40]
    assert ingest.position(1) is None  # a partition the batch did not have
    for name in ("a0", "a1", "a2", "b0", "b1", "c0"):
        lead = app.get_lead(app.find_lead(f"{name}@acme.com"))
        assert f"touchpoint:{name}-tp" in lead.seen


def test_a_replayed_batch_is_skipped_and_writes_nothing(
    ingest: PartitionIngest, db: Database
) -> None:
    batches = {
        0: [capture(0, 0, "a0"), message(0, 1, b"not json")],
        1: [capture(1, 5, "b0"), capture(1, 6, "b1")],
    }
    first = Letters()
    assert ingest.process(batches, first) == (3, 0, 1, 0)
    assert list(first.bodies) == [f"{TOPIC}:0:1".encode()]
    rows, positions = db.event_rows(), db.positions()
    assert rows > 0
    assert positions == {f"{TOPIC}:0": 1, f"{TOPIC}:1": 6}

    # a redelivery (a rebalance, a restart) is recognised by its offsets: nothing is
    # applied, and the bad message's dead letter is not sent a second time
    assert ingest.process(batches, no_letters) == (0, 0, 0, 4)
    assert db.event_rows() == rows
    assert db.positions() == positions


def test_a_batch_mixing_old_and_new_offsets_applies_only_the_new(
    app: LeadLifecycle, ingest: PartitionIngest, db: Database
) -> None:
    assert ingest.process({0: [capture(0, 0, "a0"), capture(0, 1, "a1"), capture(0, 2, "a2")],
                           1: [capture(1, 0, "b0"), capture(1, 1, "b1")]},
                          no_letters) == (5, 0, 0, 0)
    rows = db.event_rows()
    # Old offsets carry new content here: were they applied, these leads would exist.
    # (A redelivery carries the same content; skipping must not depend on it.)
    mixed = {
        0: [capture(0, 1, "old-1"), capture(0, 2, "old-2"), capture(0, 3, "a3"),
            capture(0, 4, "a4")],
        1: [capture(1, 0, "old-3"), capture(1, 1, "old-4")],  # all old
        2: [capture(2, 0, "c0")],  # a partition seen for the first time
    }
    assert ingest.process(mixed, no_letters) == (3, 0, 0, 4)
    assert db.positions() == {f"{TOPIC}:0": 4, f"{TOPIC}:1": 1, f"{TOPIC}:2": 0}
    for name in ("a3", "a4", "c0"):
        app.find_lead(f"{name}@acme.com")
    for name in ("old-1", "old-2", "old-3", "old-4"):
        with pytest.raises(LeadNotFound):
            app.find_lead(f"{name}@acme.com")
    assert db.event_rows() > rows


def test_a_known_input_at_a_new_offset_is_a_duplicate(
    ingest: PartitionIngest, db: Database
) -> None:
    """Offsets guard against redelivery; the lead's ``seen`` ids against a producer
    that published the same input twice."""
    assert ingest.process({0: [capture(0, 0, "a0")]}, no_letters) == (1, 0, 0, 0)
    rows = db.event_rows()
    assert ingest.process({0: [capture(0, 1, "a0")], 1: [capture(1, 0, "a0")]},
                          no_letters) == (0, 2, 0, 0)
    assert db.event_rows() == rows
    assert db.positions() == {f"{TOPIC}:0": 1, f"{TOPIC}:1": 0}


def test_rejected_messages_become_dead_letters_with_reason_and_original_bytes(
    app: LeadLifecycle, ingest: PartitionIngest, db: Database
) -> None:
    good = [
        message(0, 0, touchpoint_data("ada-1", profile=FIT45)),
        message(0, 1, touchpoint_data("ada-2", "demo_requested", at=T0 + hours(1))),
        message(0, 2, action_data("ada-a", "accept", at=T0 + hours(2))),
        message(0, 3, action_data("ada-b", "lose", at=T0 + hours(3), reason="competitor_won",
                                  competitor="Initech")),
    ]
    bad: dict[tuple[int, int], tuple[str, bytes | None]] = {
        (0, 4): ("illegal_transition", orjson.dumps(  # ada was lost in this batch
            action_data("ada-c", "win", at=T0 + hours(4)))),
        (1, 7): ("schema", b'{"touchpoint_id": "t-x", '),  # not JSON
        (1, 8): ("schema", b"\xff\xfe not utf-8"),  # not JSON either, not even text
        (1, 9): ("schema", orjson.dumps(  # JSON, not the contract
            touchpoint_data("t-y", kind="page_view", channel=None))),
        (2, 4): ("unknown_lead", orjson.dumps(
            action_data("nobody-a", "note", email="nobody@nowhere.org", text="who?"))),
        (2, 5): ("rejected", None),  # a tombstone
    }
    batches: dict[int, list[Message]] = {0: list(good), 1: [], 2: []}
    for (partition, offset), (_, raw) in bad.items():
        batches[partition].append(Message(partition, offset, b"lead-key", raw))
    batches = {p: sorted(ms, key=lambda m: m.offset) for p, ms in batches.items()}

    positions_when_sent: list[int | None] = []
    letters = Letters()

    def send(sent: list[DeadLetter]) -> None:
        positions_when_sent.extend(ingest.position(p) for p in (0, 1, 2))
        letters(sent)

    accepted, duplicate, rejected, skipped = ingest.process(batches, send)
    total = sum(len(ms) for ms in batches.values())
    assert (accepted, duplicate, rejected, skipped) == (4, 0, 6, 0)
    assert accepted + duplicate + rejected + skipped == total
    assert len(letters.calls) == 1  # all in one go, before the commit ...
    assert positions_when_sent == [None, None, None]  # ... when no position was stored
    assert db.positions() == {f"{TOPIC}:0": 4, f"{TOPIC}:1": 9, f"{TOPIC}:2": 5}

    bodies = letters.bodies
    assert set(bodies) == {f"{TOPIC}:{p}:{o}".encode() for p, o in bad}
    for (partition, offset), (code, raw) in bad.items():
        body = bodies[f"{TOPIC}:{partition}:{offset}".encode()]
        assert body["code"] == code
        assert body["reason"]
        assert body["source"] == {"topic": TOPIC, "partition": partition, "offset": offset,
                                  "key": "lead-key"}
        original = body["original"]
        if "text" in original:
            assert original["text"].encode() == (raw or b"")
        else:
            assert original["base64"] == "//4gbm90IHV0Zi04"  # b"\xff\xfe not utf-8"
            assert raw == b"\xff\xfe not utf-8"
    assert bodies[f"{TOPIC}:0:4".encode()]["input_id"] == "ada-c"
    assert bodies[f"{TOPIC}:2:4".encode()]["input_id"] == "nobody-a"
    assert "stage 'lost'" in bodies[f"{TOPIC}:0:4".encode()]["reason"]
    assert app.get_lead(app.find_lead("ada@acme.com")).stage == "lost"


def test_a_failing_dead_letter_callback_leaves_nothing_saved(
    app: LeadLifecycle, ingest: PartitionIngest, db: Database
) -> None:
    batches = {
        0: [capture(0, 0, "a0"), message(0, 1, b"not json")],
        1: [capture(1, 0, "b0"),
            message(1, 1, action_data("x", "note", email="nobody@nowhere.org", text="?"))],
    }
    rows = db.event_rows()

    def broker_down(letters: Sequence[DeadLetter]) -> None:
        raise ConnectionError("dead-letter topic unreachable")

    with pytest.raises(ConnectionError, match="unreachable"):
        ingest.process(batches, broker_down)
    assert db.event_rows() == rows
    assert db.positions() == {}
    assert [ingest.position(p) for p in (0, 1)] == [None, None]
    with pytest.raises(LeadNotFound):  # not even from the application's cache
        app.find_lead("a0@acme.com")

    # the redelivered batch, with the broker back, is recorded whole
    letters = Letters()
    assert ingest.process(batches, letters) == (2, 0, 2, 0)
    assert set(letters.bodies) == {f"{TOPIC}:0:1".encode(), f"{TOPIC}:1:1".encode()}
    assert db.positions() == {f"{TOPIC}:0": 1, f"{TOPIC}:1": 1}
    assert app.get_lead(app.find_lead("b0@acme.com")).version >= 1


def test_a_batch_of_only_rejects_still_moves_the_positions(
    ingest: PartitionIngest, db: Database
) -> None:
    letters = Letters()
    assert ingest.process({4: [message(4, 0, b"[]"), message(4, 1, None)]}, letters) == (
        0, 0, 2, 0)
    assert db.event_rows() == 0
    assert db.positions() == {f"{TOPIC}:4": 1}
    assert [b["code"] for b in letters.bodies.values()] == ["schema", "rejected"]
    assert ingest.process({4: [message(4, 0, b"[]"), message(4, 1, None)]},
                          no_letters) == (0, 0, 0, 2)

