"""Where projections live: SQL tables beside the event store, on any backend.

Rows and each projection's position are written in one transaction, so a crash
between them is impossible: after a restart a projection resumes exactly after the
last event whose rows it kept. What differs between databases (connections, bulk
inserts, savepoints, the errors a value causes) is the backend's, from
:mod:`lifecycle.adapters`; this module is the same SQL on every one.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

from lifecycle.adapters import projection_backend_for
from lifecycle.adapters.protocol import ProjectionBackend, ProjectionCursor
from lifecycle.projections.base import Projection, TableSpec
from lifecycle.projections.faults import FAULTS, Fault, Unit, with_reason

__all__ = ["POSITIONS", "FaultSummary", "ProjectionStore"]

POSITIONS = TableSpec(
    "lc_projection_positions",
    (("name", "TEXT"), ("version", "BIGINT"), ("position", "BIGINT"),
     ("updated_at", "DOUBLE PRECISION")),
    ("name",),
)


FaultSummary = tuple[int, list[Fault], float | None]
"""A projection's faults: how many, the latest few, and when the latest was recorded."""


class ProjectionStore:
    """A connection to the projection tables, over the database's backend.

    Queries are written with ``?`` placeholders; the backend rewrites them as it needs.

    Args:
        database_url: where the tables are.
        backend: the backend to use (default: the one of ``database_url``).
    """

    def __init__(self, database_url: str, backend: ProjectionBackend | None = None) -> None:
        self.url = database_url
        self.backend = backend or projection_backend_for(database_url)

    @property
    def integrity_errors(self) -> tuple[type[BaseException], ...]:
        """A row that is there already (a ``direct`` write that expected none)."""
        return self.backend.integrity_errors

    @property
    def data_errors(self) -> tuple[type[BaseException], ...]:
        """Errors of the values written (an event's fault), not of the database."""
        return self.backend.data_errors

    # -- connection ---------------------------------------------------------------------

    def close(self) -> None:
        self.backend.close()

    def transaction(self) -> AbstractContextManager[ProjectionCursor]:
        """A cursor inside one transaction (committed on success, rolled back on error)."""
        return self.backend.transaction()

    def sql(self, statement: str) -> str:
        """The statement in the backend's placeholder style."""
        return self.backend.sql(statement)

    def query(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Runs a read query and returns all rows as tuples."""
        return self.backend.query(statement, params)

    # -- schema and positions -------------------------------------------------------------

    def ensure(self, projections: Sequence[Projection]) -> None:
        """Creates every table (and the positions table) that does not exist yet."""
        with self.transaction() as cur:
            self.backend.lock_schema(cur)
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
            self.backend.clear(cur, names)
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
        this batch can exist yet: a backend's bulk path, PostgreSQL's COPY, then goes
        straight into the tables and a conflict raises one of :attr:`integrity_errors`).
        """
        try:
            self._write(rows, tables, positions, direct=direct, binary=True, faults=faults)
        except self.backend.binary_refusals:
            # A value the binary format cannot take as its column's type (an int beyond
            # BIGINT, text where a number goes): nothing was written; the text format
            # either takes it as the database would or raises.
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
                    self.backend.insert(cur, tables[name], values)

            def attempt(part: Sequence[Unit]) -> None:
                try:
                    with self.backend.savepoint(cur):
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
            self._erase(cur, tables, {table: [row for _, unit_rows in units
                                              for name, row in unit_rows if name == table]
                                      for table in tables})
            self._record_faults(cur, [*faults, *refused])
            self.set_positions(cur, positions)
        return refused

    def _erase(self, cur: ProjectionCursor, tables: dict[str, TableSpec],
               rows: dict[str, list[tuple[Any, ...]]]) -> None:
        """Deletes what the erasure rows among ``rows`` erase (see ``TableSpec.erases``),
        after the batch's inserts: rows the same batch copied go too."""
        for name, values in rows.items():
            table = tables[name]
            if not table.erases or not values:
                continue
            at = table.column_names.index("lead_id")
            leads = sorted({(row[at],) for row in values})
            for target in table.erases:
                cur.executemany(self.sql(f"DELETE FROM {target} WHERE lead_id = ?"), leads)

    def _record_faults(self, cur: ProjectionCursor, faults: Sequence[Fault]) -> None:
        if faults:
            now = time.time()
            # A fault already recorded (a redelivered envelope) keeps its first record.
            self.backend.insert(cur, FAULTS, [(f.projection, f.lead_id, f.version, f.position,
                                               f.event_type, f.reason, now) for f in faults])

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
                self.backend.insert(cur, tables[name], values, bulk=True, direct=direct,
                                    binary=binary)
            self._erase(cur, tables, rows)
            self._record_faults(cur, faults)
            self.set_positions(cur, positions)

    def set_positions(self, cur: ProjectionCursor,
                      positions: dict[str, tuple[int, int]]) -> None:
        """Sets projections' (position, version) inside the transaction of ``cur``."""
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
