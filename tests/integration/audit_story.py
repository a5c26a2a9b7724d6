"""A small funnel with personal data, and raw access to the stored rows, for the audit tests.

Every lead carries a name, a phone and an email; sales leave free text in notes and
losses. :class:`RawEvents` reads and edits the events table directly (SQLite or
PostgreSQL), as someone with database access would.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg

from lifecycle.application import LeadLifecycle
from lifecycle.contracts import SalesAction, Touchpoint
from lifecycle.settings import Settings, persistence_env

__all__ = [
    "ICP", "T0", "Clock", "Person", "RawEvents", "act", "open_app", "people", "story", "touch",
]

T0 = datetime(2024, 3, 4, 9, 0, tzinfo=UTC)
ICP: dict[str, object] = {"industry": "software", "employees": 300, "title": "CTO", "country": "US"}


@dataclass(frozen=True)
class Person:
    email: str
    name: str
    phone: str
    note: str
    loss_text: str


def people(n: int) -> list[Person]:
    return [Person(email=f"grace.hopper{i}@navy{i}.example.com", name=f"Grace Hopper {i}",
                   phone=f"+1 202 555 01{i:02d}", note=f"Grace {i} prefers calls after 5pm",
                   loss_text=f"Grace {i} chose the rival compiler")
            for i in range(n)]


def touch(tid: str, kind: str, at: datetime, email: str, **fields: Any) -> Touchpoint:
    return Touchpoint.model_validate({"touchpoint_id": tid, "source": "website",
                                      "channel": "seo", "kind": kind,
                                      "occurred_at": at.isoformat(), "email": email, **fields})


def act(aid: str, kind: str, at: datetime, email: str, **fields: Any) -> SalesAction:
    return SalesAction.model_validate({"action_id": aid, "actor": "sales:bob", "action": kind,
                                       "occurred_at": at.isoformat(), "email": email, **fields})


def story(persons: list[Person], *, first: int = 0) -> list[Touchpoint | SalesAction]:
    """Per person: capture, demo request (MQL), accept (SQL), a note; then a third are
    won, a third lost with a reason in free text, a third stay open.

    Input ids are global: ``first`` numbers the persons of a later story after the
    earlier ones, so their ids are new rather than conflicting."""
    items: list[Touchpoint | SalesAction] = []
    for i, p in enumerate(persons, start=first):
        t = T0 + timedelta(days=i)
        h = timedelta(hours=1)
        items += [
            touch(f"c{i}", "form_submit", t, p.email,
                  profile={**ICP, "name": p.name, "phone": p.phone}),
            touch(f"d{i}", "demo_requested", t + h, p.email),
            act(f"a{i}", "accept", t + 2 * h, p.email),
            act(f"n{i}", "note", t + 3 * h, p.email, text=p.note),
        ]
        if i % 3 == 0:
            items += [act(f"v{i}", "advance", t + 4 * h, p.email, stage="discovery"),
                      act(f"w{i}", "win", t + 5 * h, p.email, skip_reason="signed early",
                          amount=12000.0, currency="EUR")]
        elif i % 3 == 1:
            items.append(act(f"l{i}", "lose", t + 4 * h, p.email, reason="competitor_won",
                             competitor="Rival", text=p.loss_text))
    return items


class Clock:
    """A settable clock: the recorded time of the next batch."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def open_app(url: str, clock: Clock | None = None) -> LeadLifecycle:
    return LeadLifecycle(Settings(database_url=url), clock=clock)


class RawEvents:
    """The events table as rows, for reading and tampering, on either backend."""

    def __init__(self, app: LeadLifecycle) -> None:
        self.url = app.settings.database_url
        self.table: str = app.recorder.events_table_name  # type: ignore[attr-defined]
        env = persistence_env(self.url)
        self.sqlite = env["PERSISTENCE_MODULE"].endswith("sqlite")
        self.path = env.get("SQLITE_DBNAME", "")

    @contextmanager
    def connect(self) -> Iterator[Any]:
        conn: Any = (sqlite3.connect(self.path, isolation_level=None) if self.sqlite
                     else psycopg.connect(self.url, autocommit=True))
        try:
            yield conn
        finally:
            conn.close()

    def execute(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        if not self.sqlite:
            statement = statement.replace("?", "%s")
        with self.connect() as conn:
            cur = conn.execute(statement, params)
            return list(cur.fetchall()) if cur.description else []

    def _id(self, oid: UUID) -> Any:
        return oid.hex if self.sqlite else oid

    def states(self, oid: UUID) -> list[tuple[int, str, bytes]]:
        return [(int(v), t, bytes(s)) for v, t, s in self.execute(
            f"SELECT originator_version, topic, state FROM {self.table} "
            "WHERE originator_id = ? ORDER BY originator_version", (self._id(oid),))]

    def set_state(self, oid: UUID, version: int, state: bytes) -> None:
        self.execute(f"UPDATE {self.table} SET state = ? WHERE originator_id = ? "
                     "AND originator_version = ?", (state, self._id(oid), version))

    def set_topic(self, oid: UUID, version: int, topic: str) -> None:
        self.execute(f"UPDATE {self.table} SET topic = ? WHERE originator_id = ? "
                     "AND originator_version = ?", (topic, self._id(oid), version))

    def delete(self, oid: UUID, version: int) -> None:
        self.execute(f"DELETE FROM {self.table} WHERE originator_id = ? "
                     "AND originator_version = ?", (self._id(oid), version))

    def all_text(self) -> str:
        """Every value of every table in the database (events, tracking, keys, chain
        heads, projections — all ``lc_*`` tables), as one text to search."""
        if self.sqlite:
            tables = [r[0] for r in self.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")]
        else:
            tables = [r[0] for r in self.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = 'public'")]
        assert self.table in tables
        assert any(t.startswith("lc_") for t in tables)
        chunks = []
        for table in tables:
            for row in self.execute(f"SELECT * FROM {table}"):
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        chunks.append(bytes(value).decode("utf-8", "replace"))
                    else:
                        chunks.append(str(value))
        return "\n".join(chunks)
