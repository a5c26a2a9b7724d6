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
from lifecycle.projections.faults import FAULTS, Fault, Unit, data_errors, with_reason
from lifecycle.schema import SCHEMA_LOCK, use_wal
from lifecycle.settings import persistence_env

__all__ = ["POSITIONS", "FaultSummary", "ProjectionStore"]

POSITIONS = TableSpec(
    "lc_projection_positions",
    (("name", "TEXT"), ("version", "BIGINT"), ("position", "BIGINT"),
     ("updated_at", "DOUBLE PRECISION")),
    ("name",),
)


FaultSummary = tuple[int, list[Fault], float | None]
"""A projection's faults: how many, the latest few, and when the latest was recorded."""


# Column types of TableSpec → PostgreSQL types for a binary COPY.
_BINARY_TYPES = {"TEXT": "text", "BIGINT": "int8", "INTEGER": "int4",
                 "DOUBLE PRECISION": "float8", "REAL": "float4", "BOOLEAN": "bool"}


def _copy_types(table: TableSpec) -> list[str] | None:
    """The PostgreSQL types of a table's columns; None if one is not a plain type."""
    types = [_BINARY_TYPES.get(sql_type.upper()) for _, sql_type in table.columns]
    return None if None in types else [t for t in types if t is not None]


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

    @property
    def integrity_errors(self) -> tuple[type[Exception], ...]:
        if self.dialect == "sqlite":
            return (sqlite3.IntegrityError,)
        import psycopg

        return (psycopg.IntegrityError,)

    @property
    def data_errors(self) -> tuple[type[BaseException], ...]:
        """Errors of the values written (an event's fault), not of the database."""
        return data_errors(self.dialect)

    # -- connection ---------------------------------------------------------------------

    def _connection(self) -> Any:
        if self._conn is None:
            if self.dialect == "sqlite":
                conn = sqlite3.connect(self._sqlite_path, timeout=30, isolation_level=None,
                                       check_same_thread=False)
                use_wal(conn)
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
                if conn.in_transaction:  # SQLite rolled back by itself (e.g. a full disk)
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
            if self.dialect == "postgres":  # SQLite: BEGIN IMMEDIATE already serialises it
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
            for statement in (*POSITIONS.ddl(), *FAULTS.ddl()):
                cur.execute(statement)
            for projection in projections:
                for table in projection.tables:
                    for statement in table.ddl():
                        cur.execute(statement)

    def positions(self) -> dict[str, tuple[int, int]]:
        """Each stored projection's (position, version)."""
        rows = self.query(f"SELECT name, position, version FROM {POSITIONS.name}")
        return {name: (int(pos), int(ver)) for name, pos, ver in rows}

    def reset(self, projection: Projection, *, drop_indexes: bool = False) -> None:
        """Drops a projection's rows and position, so it rebuilds from the start.

        With ``drop_indexes`` its tables' secondary indexes go too (primary keys stay):
        a rebuild then fills bare tables, and :meth:`ensure` builds each index once at
        the end, a sorted build far cheaper than keeping it up row by row.
        """
        names = [table.name for table in projection.tables]
        with self.transaction() as cur:
            if drop_indexes:
                for table in projection.tables:
                    for i in range(len(table.indexes)):  # named as TableSpec.ddl names them
                        cur.execute(f"DROP INDEX IF EXISTS {table.name}_ix{i}")
            if self.dialect == "postgres" and names:
                # Not DELETE: it leaves every old row dead in the tables and their
                # primary keys, and the rebuild re-inserts the very same keys, each
                # checked against its dead twin. TRUNCATE is transactional here.
                cur.execute(f"TRUNCATE {', '.join(names)}")
            else:
                for name in names:
                    cur.execute(f"DELETE FROM {name}")
            cur.execute(self.sql(f"DELETE FROM {POSITIONS.name} WHERE name = ?"),
                        (projection.name,))
            # A rebuild tries the faulted events again.
            cur.execute(self.sql(f"DELETE FROM {FAULTS.name} WHERE projection = ?"),
                        (projection.name,))

    def faults(self, *, latest: int = 3) -> dict[str, FaultSummary]:
        """Per projection with faults: their count, the ``latest`` most recent, and when
        the last was recorded."""
        counts = self.query(f"SELECT projection, COUNT(*), MAX(recorded_at) FROM {FAULTS.name} "
                            "GROUP BY projection")
        out: dict[str, FaultSummary] = {}
        for name, count, last in counts:
            rows = self.query(
                f"SELECT projection, lead_id, version, position, event_type, reason "
                f"FROM {FAULTS.name} WHERE projection = ? "
                f"ORDER BY recorded_at DESC, position DESC LIMIT ?", (name, latest))
            out[str(name)] = (int(count), [Fault(str(p), str(lead), int(v), int(pos), str(t),
                                                 str(r)) for p, lead, v, pos, t, r in rows],
                              None if last is None else float(last))
        return out

    def write(
        self,
        rows: dict[str, list[tuple[Any, ...]]],
        tables: dict[str, TableSpec],
        positions: dict[str, tuple[int, int]],
        *,
        direct: bool = False,
        faults: Sequence[Fault] = (),
    ) -> None:
        """Inserts rows and sets positions, atomically (and records ``faults``).

        Rows already there are ignored, unless ``direct`` (the caller knows no row of
        this batch can exist yet: PostgreSQL then copies straight into the tables and a
        conflict raises instead).
        """
        if self.dialect == "postgres":
            try:
                self._write(rows, tables, positions, direct=direct, binary=True,
                            faults=faults)
                return
            except (TypeError, ValueError, OverflowError, self._data_error()):
                # A value the binary COPY format cannot take as its column's type (an
                # int beyond BIGINT, text where a number goes): nothing was written;
                # the text format either takes it as PostgreSQL would or raises.
                pass
        self._write(rows, tables, positions, direct=direct, binary=False, faults=faults)

    def write_isolating(
        self,
        units: Sequence[Unit],
        tables: dict[str, TableSpec],
        positions: dict[str, tuple[int, int]],
        *,
        faults: Sequence[Fault] = (),
    ) -> list[Fault]:
        """:meth:`write` for a batch the database refused: finds the units (one event's
        rows for one projection) whose values it refuses, leaves them out and records
        them as faults; every other unit's rows, ``faults`` and the positions are
        written in one transaction. Returns the refused units' faults.

        The batch is halved until the refusing units are alone, each part inside a
        savepoint: a part that is taken stays, a refused part is rolled back and split.
        Errors of the database itself (not in :attr:`data_errors`) are raised.
        """
        refused: list[Fault] = []
        errors = self.data_errors
        with self.transaction() as cur:

            def insert(part: Sequence[Unit]) -> None:
                by_table: dict[str, list[tuple[Any, ...]]] = {}
                for _, unit_rows in part:
                    for table, row in unit_rows:
                        by_table.setdefault(table, []).append(row)
                for name, values in by_table.items():
                    self._insert(cur, tables[name], values)

            def attempt(part: Sequence[Unit]) -> None:
                try:
                    with self._savepoint(cur):
                        insert(part)
                except errors as e:
                    if len(part) == 1:
                        refused.append(with_reason(part[0][0], e))
                        return
                    half = len(part) // 2
                    attempt(part[:half])
                    attempt(part[half:])

            if units:
                attempt(units)
            self._record_faults(cur, [*faults, *refused])
            self._set_positions(cur, positions)
        return refused

    @contextmanager
    def _savepoint(self, cur: Any) -> Iterator[None]:
        cur.execute("SAVEPOINT lc_part")
        try:
            yield
        except BaseException:
            cur.execute("ROLLBACK TO SAVEPOINT lc_part")
            cur.execute("RELEASE SAVEPOINT lc_part")
            raise
        cur.execute("RELEASE SAVEPOINT lc_part")

    def _insert(self, cur: Any, table: TableSpec, values: list[tuple[Any, ...]]) -> None:
        cols = table.column_names
        marks = ", ".join("?" * len(cols))
        statement = (f"INSERT INTO {table.name} ({', '.join(cols)}) VALUES ({marks}) "
                     f"ON CONFLICT ({', '.join(table.primary_key)}) DO NOTHING")
        cur.executemany(self.sql(statement), values)

    def _record_faults(self, cur: Any, faults: Sequence[Fault]) -> None:
        if faults:
            now = time.time()
            # A fault already recorded (a redelivered envelope) keeps its first record.
            self._insert(cur, FAULTS, [(f.projection, f.lead_id, f.version, f.position,
                                        f.event_type, f.reason, now) for f in faults])

    @staticmethod
    def _data_error() -> type[Exception]:
        import psycopg

        return psycopg.DataError

    def _write(
        self,
        rows: dict[str, list[tuple[Any, ...]]],
        tables: dict[str, TableSpec],
        positions: dict[str, tuple[int, int]],
        *,
        direct: bool,
        binary: bool,
        faults: Sequence[Fault] = (),
    ) -> None:
        with self.transaction() as cur:
            for name, values in rows.items():
                if not values:
                    continue
                table = tables[name]
                if self.dialect == "postgres" and len(values) >= 64:
                    self._copy_insert(cur, table, values, direct=direct, binary=binary)
                    continue
                self._insert(cur, table, values)
            self._record_faults(cur, faults)
            self._set_positions(cur, positions)

    @staticmethod
    def _copy_insert(cur: Any, table: TableSpec, values: list[tuple[Any, ...]],
                     *, direct: bool = False, binary: bool = False) -> None:
        # Row-by-row INSERTs cost a protocol round of work per row even in pipeline
        # mode; COPY into a per-transaction scratch table and one INSERT … SELECT is
        # several times faster and keeps ON CONFLICT DO NOTHING semantics. The binary
        # format costs the client a fifth of the text format's (no number formatting)
        # and the server less parsing.
        types = _copy_types(table) if binary else None
        fmt = " (FORMAT BINARY)" if types is not None else ""
        scratch = f"{table.name}_load"
        cols = ", ".join(table.column_names)
        if not direct:
            cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS {scratch} "
                        f"(LIKE {table.name} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS")
        with cur.copy(f"COPY {table.name if direct else scratch} ({cols}) FROM STDIN{fmt}"
                      ) as copy:
            if types is not None:
                copy.set_types(types)
            for row in values:
                copy.write_row(row)
        if direct:
            return
        cur.execute(f"INSERT INTO {table.name} ({cols}) SELECT {cols} FROM {scratch} "
                    f"ON CONFLICT ({', '.join(table.primary_key)}) DO NOTHING")
        cur.execute(f"DELETE FROM {scratch}")

    def _set_positions(self, cur: Any, positions: dict[str, tuple[int, int]]) -> None:
        if positions:
            now = time.time()
            upsert = self.sql(
                f"INSERT INTO {POSITIONS.name} (name, version, position, updated_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
                "version = excluded.version, position = excluded.position, "
                "updated_at = excluded.updated_at"
            )
            # In name order: concurrent writers of the same positions lock them alike.
            cur.executemany(upsert, [(n, v, p, now) for n, (p, v) in sorted(positions.items())])
