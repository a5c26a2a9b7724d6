"""Where projections live: SQL tables beside the event store, SQLite or PostgreSQL.

Rows and each projection's position are written in one transaction, so a crash
between them is impossible: after a restart a projection resumes exactly after the
last event whose rows it kept.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from lifecycle.projections.base import Projection, TableSpec
from lifecycle.settings import persistence_env

__all__ = ["POSITIONS", "ProjectionStore"]

POSITIONS = TableSpec(
    "lc_projection_positions",
    (("name", "TEXT"), ("version", "BIGINT"), ("position", "BIGINT"),
     ("updated_at", "DOUBLE PRECISION")),
    ("name",),
)


class ProjectionStore:
    """A connection to the projection tables, with the dialect differences hidden.

    Queries are written with ``?`` placeholders; on PostgreSQL they are rewritten.
    """

    def __init__(self, database_url: str) -> None:
        self.url = database_url
        env = persistence_env(database_url)
        self.dialect = "sqlite" if env["PERSISTENCE_MODULE"].endswith("sqlite") else "postgres"
        self._conn: Any = None
        if self.dialect == "sqlite":
            self._sqlite_path = env["SQLITE_DBNAME"]

    # -- connection ---------------------------------------------------------------------

    def _connection(self) -> Any:
        if self._conn is None:
            if self.dialect == "sqlite":
                conn = sqlite3.connect(self._sqlite_path, timeout=30, isolation_level=None,
                                       check_same_thread=False)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                self._conn = conn
            else:
                import psycopg

                self._conn = psycopg.connect(self.url, autocommit=True)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """A cursor inside one transaction (committed on success, rolled back on error)."""
        conn = self._connection()
        if self.dialect == "sqlite":
            cur = conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                yield cur
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            cur.execute("COMMIT")
        else:
            with conn.transaction(), conn.cursor() as cur:
                yield cur

    def sql(self, statement: str) -> str:
        """The statement in this dialect's placeholder style."""
        if self.dialect == "postgres":
            return statement.replace("%", "%%").replace("?", "%s")
        return statement

    def query(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Runs a read query and returns all rows as tuples."""
        conn = self._connection()
        if self.dialect == "sqlite":
            return list(conn.execute(statement, tuple(params)).fetchall())
        with conn.cursor() as cur:
            cur.execute(self.sql(statement), tuple(params))
            return list(cur.fetchall())

    # -- schema and positions -------------------------------------------------------------

    def ensure(self, projections: Sequence[Projection]) -> None:
        """Creates every table (and the positions table) that does not exist yet."""
        with self.transaction() as cur:
            for statement in POSITIONS.ddl():
                cur.execute(statement)
            for projection in projections:
                for table in projection.tables:
                    for statement in table.ddl():
                        cur.execute(statement)

    def positions(self) -> dict[str, tuple[int, int]]:
        """Each stored projection's (position, version)."""
        rows = self.query(f"SELECT name, position, version FROM {POSITIONS.name}")
        return {name: (int(pos), int(ver)) for name, pos, ver in rows}

    def reset(self, projection: Projection) -> None:
        """Drops a projection's rows and position, so it rebuilds from the start."""
        with self.transaction() as cur:
            for table in projection.tables:
                cur.execute(f"DELETE FROM {table.name}")
            cur.execute(self.sql(f"DELETE FROM {POSITIONS.name} WHERE name = ?"),
                        (projection.name,))

    def write(
        self,
        rows: dict[str, list[tuple[Any, ...]]],
        tables: dict[str, TableSpec],
        positions: dict[str, tuple[int, int]],
    ) -> None:
        """Inserts rows (ignoring ones already there) and sets positions, atomically."""
        with self.transaction() as cur:
            for name, values in rows.items():
                if not values:
                    continue
                table = tables[name]
                cols = table.column_names
                marks = ", ".join("?" * len(cols))
                statement = (f"INSERT INTO {name} ({', '.join(cols)}) VALUES ({marks}) "
                             f"ON CONFLICT ({', '.join(table.primary_key)}) DO NOTHING")
                cur.executemany(self.sql(statement), values)
            now = time.time()
            upsert = self.sql(
                f"INSERT INTO {POSITIONS.name} (name, version, position, updated_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
                "version = excluded.version, position = excluded.position, "
                "updated_at = excluded.updated_at"
            )
            cur.executemany(upsert, [(n, v, p, now) for n, (p, v) in positions.items()])
