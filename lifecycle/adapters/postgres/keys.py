"""The PostgreSQL adapter's key store: each lead's personal-data key, deleted physically."""

from __future__ import annotations

import contextlib
import re
import time
from typing import Any
from uuid import UUID

import psycopg

from lifecycle.adapters import protocol
from lifecycle.adapters.base import KeyTable
from lifecycle.adapters.postgres.events import create_tables, postgres_schema_lock
from lifecycle.adapters.protocol import KEYS_TABLE
from lifecycle.errors import ErasureIncomplete

__all__ = ["PostgresKeyStore"]

_KEPT = re.compile(r"(\d+) dead row versions cannot be removed")


class PostgresKeyStore(KeyTable):
    """The key table on the server, on a connection of its own.

    Deleting is physical: the row is deleted and the key table rewritten (``VACUUM
    FULL``: a plain ``VACUUM`` was measured to leave deleted keys readable in the pages'
    free space), and the key column is kept out of the planner's statistics
    (``ANALYZE`` would otherwise copy key values into ``pg_statistic``).
    """

    mark = "%s"

    def __init__(self, url: str) -> None:
        self._url = url

    def _open(self) -> Any:
        conn = psycopg.connect(self._url, autocommit=True)
        create_tables(conn, [
            f"CREATE TABLE IF NOT EXISTS {KEYS_TABLE} (lead_id TEXT PRIMARY KEY, "
            "key BYTEA NOT NULL, created_at DOUBLE PRECISION NOT NULL)"])
        # ANALYZE copies sample values of a column into pg_statistic, where a
        # deleted key would outlive its row: keys are never sampled. (A table
        # made before this: "TYPE" to the same type drops what was sampled.)
        with postgres_schema_lock(conn):
            [(target,)] = conn.execute(
                "SELECT attstattarget FROM pg_attribute WHERE attrelid = %s::regclass "
                "AND attname = 'key'", (KEYS_TABLE,)).fetchall()
            if target != 0:
                with contextlib.suppress(psycopg.errors.DatabaseError):  # not the owner
                    conn.execute(f"ALTER TABLE {KEYS_TABLE} ALTER COLUMN key "
                                 "SET STATISTICS 0, ALTER COLUMN key TYPE BYTEA")
        return conn

    def _insert_rows(self, conn: Any, statement: str, rows: list[tuple[str, bytes, float]]
                     ) -> int:
        with conn.transaction(), conn.cursor() as cur:
            cur.executemany(statement, rows)
            inserted: int = cur.rowcount
        return inserted

    def delete(self, lead_id: UUID) -> bool:
        conn = self._connection()
        with conn.transaction():
            deleted = bool(conn.execute(f"DELETE FROM {KEYS_TABLE} WHERE lead_id = %s",
                                        (lead_id.hex,)).rowcount)
            [(xid,)] = conn.execute("SELECT pg_current_xact_id()::xid::text").fetchall()
        self._vacuum(conn, lead_id, xid)
        return deleted

    @staticmethod
    def _vacuum(conn: Any, lead_id: UUID, xid: str) -> None:
        """Rewrites the key table without the row deleted by transaction ``xid``.

        A deleted row stays in its page until the space is reused, and a plain VACUUM
        was measured to leave some deleted keys readable in free space: the table is
        rewritten (a brief exclusive lock on the key table only). A rewrite keeps a row
        that a transaction older than the delete may still see, so it waits for those
        to end (a role that may not see other sessions' transactions in
        ``pg_stat_activity`` waits by retrying), and reads VACUUM's report to check that
        no dead row was kept.
        """
        deadline = time.monotonic() + protocol.ERASE_WAIT  # read now: tests shorten it
        notices: list[str] = []

        def notice(diagnostic: Any) -> None:  # valid only during the call: copy the text
            notices.append(f"{diagnostic.message_primary} {diagnostic.message_detail}")

        conn.add_notice_handler(notice)
        try:
            while True:
                # VACUUM's horizon is the oldest snapshot in this database, and the
                # rewrite's own snapshot starts at the oldest transaction still running
                # in any database: so both must be younger than the delete.
                older = [pid for (pid,) in conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
                    "AND (age(backend_xid) >= age(%s::xid) OR (datname = current_database() "
                    "AND age(backend_xmin) >= age(%s::xid)))", (xid, xid))]
                if not older:
                    notices.clear()
                    conn.execute(f"VACUUM (FULL, VERBOSE) {KEYS_TABLE}")
                    kept = [int(m.group(1)) for n in notices if (m := _KEPT.search(n))]
                    if not any(kept):
                        return
                if time.monotonic() > deadline:
                    raise ErasureIncomplete(
                        f"the key of lead {lead_id} is deleted, but transactions older than "
                        f"the erasure (PostgreSQL pids {older or 'unknown'}) keep its row "
                        "from being removed from the key table's pages: run erase again "
                        "when they are done")
                time.sleep(0.1)
        finally:
            conn.remove_notice_handler(notice)
