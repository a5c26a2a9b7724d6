"""A determined insider with SQL access to the event store, for the audit tests.

:class:`Tamper` edits the raw rows of the events table, the chain heads and the
projections on SQLite or PostgreSQL — including what someone who knows the chain scheme
would do to hide it: recompute the chain of an aggregate after the edit and rewrite its
head (:meth:`Tamper.reseal`). :meth:`Tamper.snapshot` / :meth:`Tamper.restore` put the
tables back (with their notification ids), so one store serves many tampering examples.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from lifecycle.application import LeadLifecycle
from lifecycle.chain import GENESIS, HASH_LEN, HEADS_TABLE, link
from lifecycle.projections import all_projections
from tests.integration.audit_story import RawEvents

__all__ = ["Stored", "Tamper"]

Stored = tuple[str, int, str, bytes, int]
"""A raw event: originator id (32 hex digits), version, topic, state, notification id."""


class Tamper(RawEvents):
    """Raw access to the events table, heads and projections of one store."""

    def __init__(self, app: LeadLifecycle) -> None:
        super().__init__(app)
        self.nid = "rowid" if self.sqlite else "notification_id"

    def run(self, statements: list[tuple[str, tuple[Any, ...]]]) -> None:
        """Several statements on one connection (one per statement is slow on PostgreSQL)."""
        with self.connect() as conn:
            for statement, params in statements:
                conn.execute(statement if self.sqlite else statement.replace("?", "%s"), params)

    def oid(self, hex_id: str) -> Any:
        return hex_id if self.sqlite else UUID(hex=hex_id)

    def events(self, hex_id: str | None = None) -> list[Stored]:
        where, params = (" WHERE originator_id = ?", (self.oid(hex_id),)) if hex_id else ("", ())
        return [(UUID(str(o)).hex, int(v), str(t), bytes(s), int(n)) for o, v, t, s, n in
                self.execute(f"SELECT originator_id, originator_version, topic, state, "
                             f"{self.nid} FROM {self.table}{where} "
                             "ORDER BY originator_id, originator_version", params)]

    def aggregates(self) -> list[tuple[str, str]]:
        """Every aggregate's id and the topic of its first event."""
        return [(o, t) for o, v, t, _, _ in self.events() if v == 1]

    def heads(self) -> list[tuple[str, int, str]]:
        return [(UUID(str(o)).hex, int(v), str(h)) for o, v, h in self.execute(
            f"SELECT originator_id, version, hash FROM {HEADS_TABLE} ORDER BY originator_id")]

    # -- edits ------------------------------------------------------------------------

    def delete_event(self, hex_id: str, version: int) -> None:
        self.execute(f"DELETE FROM {self.table} WHERE originator_id = ? AND "
                     "originator_version = ?", (self.oid(hex_id), version))

    def set_state_of(self, hex_id: str, version: int, state: bytes) -> None:
        self.execute(f"UPDATE {self.table} SET state = ? WHERE originator_id = ? AND "
                     "originator_version = ?", (state, self.oid(hex_id), version))

    def set_nid(self, hex_id: str, version: int, nid: int) -> None:
        self.execute(f"UPDATE {self.table} SET {self.nid} = ? WHERE originator_id = ? AND "
                     "originator_version = ?", (nid, self.oid(hex_id), version))

    def swap_nids(self, hex_id: str, a: int, b: int) -> None:
        """Swaps the notification ids of two events (the log re-ordered)."""
        rows = {v: n for _, v, _, _, n in self.events(hex_id)}
        self.set_nid(hex_id, a, -1)
        self.set_nid(hex_id, b, rows[a])
        self.set_nid(hex_id, a, rows[b])

    def delete_head(self, hex_id: str) -> None:
        self.execute(f"DELETE FROM {HEADS_TABLE} WHERE originator_id = ?", (self.oid(hex_id),))

    def set_head(self, hex_id: str, version: int, digest: str) -> None:
        self.delete_head(hex_id)
        self.run([self._insert_head(hex_id, version, digest)])

    def delete_aggregate(self, hex_id: str) -> None:
        """Its events and its head row."""
        self.execute(f"DELETE FROM {self.table} WHERE originator_id = ?", (self.oid(hex_id),))
        self.delete_head(hex_id)

    def delete_projection_rows(self, lead: UUID) -> int:
        """Every projection row of a lead (tables with a ``lead_id`` column)."""
        deleted = 0
        for projection in all_projections(14.0):
            for table in projection.tables:
                if "lead_id" in table.column_names:
                    before = self.execute(f"SELECT COUNT(*) FROM {table.name} "
                                          "WHERE lead_id = ?", (str(lead),))[0][0]
                    self.execute(f"DELETE FROM {table.name} WHERE lead_id = ?", (str(lead),))
                    deleted += int(before)
        return deleted

    def reseal(self, hex_id: str) -> None:
        """Hides an edit: renumbers the aggregate's remaining events 1..n, recomputes
        their chain and rewrites its head, as someone who knows the scheme would."""
        rows = self.events(hex_id)
        self.delete_aggregate(hex_id)
        prev = GENESIS
        statements = []
        for version, (_, _, topic, state, nid) in enumerate(rows, 1):
            body = state[HASH_LEN:]
            prev = link(prev, topic.encode(), body)
            statements.append(self._insert((hex_id, version, topic, prev + body, nid)))
        if rows:
            statements.append(self._insert_head(hex_id, len(rows), prev.decode()))
        self.run(statements)

    def _insert(self, row: Stored) -> tuple[str, tuple[Any, ...]]:
        oid, version, topic, state, nid = row
        return (f"INSERT INTO {self.table} ({self.nid}, originator_id, originator_version, "
                "topic, state) VALUES (?, ?, ?, ?, ?)",
                (nid, self.oid(oid), version, topic, state))

    def _insert_head(self, hex_id: str, version: int, digest: str) -> tuple[str, tuple[Any, ...]]:
        return (f"INSERT INTO {HEADS_TABLE} (originator_id, version, hash) VALUES (?, ?, ?)",
                (self.oid(hex_id), version, digest))

    # -- put back ----------------------------------------------------------------------

    def snapshot(self) -> tuple[list[Stored], list[tuple[str, int, str]]]:
        return self.events(), self.heads()

    def restore(self, saved: tuple[list[Stored], list[tuple[str, int, str]]]) -> None:
        events, heads = saved
        self.run([(f"DELETE FROM {self.table}", ()), (f"DELETE FROM {HEADS_TABLE}", ()),
                  *map(self._insert, events),
                  *(self._insert_head(oid, v, digest) for oid, v, digest in heads)])
