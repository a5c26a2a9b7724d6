"""Reading the raw events table to verify its hash chains, in one process or several.

Rows are read straight from the events table in (aggregate, version) order, in batches
(a server-side cursor on PostgreSQL), together with the chain heads in the same
snapshot, and checked by :func:`lifecycle.chain.check_rows` without decoding any
event. A large table is split by aggregate id into ranges checked by parallel
processes: every aggregate lies in one range, and each range is one consistent read.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any
from uuid import UUID

from lifecycle.chain import HEADS_TABLE, Break, Row, check_rows

__all__ = ["Source", "Tally", "scan", "scan_parallel"]


@dataclass(frozen=True)
class Source:
    """Where the events are: ``sqlite`` (a file path) or ``postgres`` (a URL)."""

    dialect: str
    location: str
    table: str
    schema: str = "public"


@dataclass
class Tally:
    aggregates: int = 0
    events: int = 0


def _counted(batches: Iterator[Sequence[Row]], tally: Tally) -> Iterator[Sequence[Row]]:
    previous = None
    for rows in batches:
        tally.events += len(rows)
        current = previous
        for row in rows:
            if row[0] != current:
                current = row[0]
                tally.aggregates += 1
        previous = current
        yield rows


def scan(source: Source, *, lead_id: UUID | None = None, lo: str | None = None,
         hi: str | None = None, batch_size: int = 20_000) -> tuple[list[Break], Tally]:
    """Checks the chains of one lead, of the aggregates whose id (32 hex digits) is in
    ``[lo, hi)``, or of every aggregate."""
    tally = Tally()
    reader = _sqlite if source.dialect == "sqlite" else _postgres
    with reader(source, lead_id, lo, hi, batch_size) as (heads, batches):
        breaks = list(check_rows(_counted(batches, tally), heads))
    return breaks, tally


def _scan_range(source: Source, lo: str, hi: str | None, batch_size: int
                ) -> tuple[list[Break], Tally]:
    return scan(source, lo=lo, hi=hi, batch_size=batch_size)


def scan_parallel(source: Source, workers: int, *, batch_size: int = 20_000
                  ) -> tuple[list[Break], Tally]:
    """:func:`scan` of every aggregate, split into ``workers`` id ranges."""
    bounds = [f"{256 * i // workers:02x}" for i in range(workers)]
    ranges = list(zip(bounds, [*bounds[1:], None], strict=True))
    breaks: list[Break] = []
    tally = Tally()
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(_scan_range, source, lo, hi, batch_size) for lo, hi in ranges]
        for future in futures:
            found, part = future.result()
            breaks.extend(found)
            tally.aggregates += part.aggregates
            tally.events += part.events
    return breaks, tally


def _where(lead_id: UUID | None, lo: str | None, hi: str | None, *, postgres: bool
           ) -> tuple[str, tuple[Any, ...]]:
    mark = "%s" if postgres else "?"
    if lead_id is not None:
        return f" WHERE originator_id = {mark}", (lead_id if postgres else lead_id.hex,)
    parts, params = [], []
    for op, bound in ((">=", lo), ("<", hi)):
        if bound is not None:
            parts.append(f"originator_id {op} {mark}")
            params.append(UUID(hex=bound.ljust(32, "0")) if postgres else bound)
    return (f" WHERE {' AND '.join(parts)}" if parts else ""), tuple(params)


@contextmanager
def _sqlite(source: Source, lead_id: UUID | None, lo: str | None, hi: str | None,
            batch: int) -> Iterator[tuple[dict[str, tuple[int, str]], Iterator[Sequence[Row]]]]:
    conn = sqlite3.connect(source.location, timeout=30, isolation_level=None)
    where, params = _where(lead_id, lo, hi, postgres=False)
    try:
        conn.execute("BEGIN")  # one snapshot for the heads and the events
        heads = {oid: (int(v), h) for oid, v, h in conn.execute(
            f"SELECT originator_id, version, hash FROM {HEADS_TABLE}{where}", params)}
        cursor = conn.execute(
            f"SELECT originator_id, originator_version, CAST(topic AS BLOB), state "
            f"FROM {source.table}{where} ORDER BY originator_id, originator_version", params)

        def batches() -> Iterator[Sequence[Row]]:
            while rows := cursor.fetchmany(batch):
                yield rows

        yield heads, batches()
    finally:
        conn.close()


@contextmanager
def _postgres(source: Source, lead_id: UUID | None, lo: str | None, hi: str | None,
              batch: int) -> Iterator[tuple[dict[str, tuple[int, str]], Iterator[Sequence[Row]]]]:
    import psycopg

    where, params = _where(lead_id, lo, hi, postgres=True)
    table = f'"{source.schema}"."{source.table}"'
    with psycopg.connect(source.location) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        heads = {oid.replace("-", ""): (int(v), h) for oid, v, h in conn.execute(
            f'SELECT originator_id::text, version, hash FROM "{source.schema}".{HEADS_TABLE}'
            f"{where}", params)}
        with conn.cursor(name="lc_verify", binary=True) as cursor:
            cursor.itersize = batch
            # Ids as 32 hex digits, the same text as on SQLite and in the heads above.
            cursor.execute(
                "SELECT replace(originator_id::text, '-', ''), originator_version, "
                f"convert_to(topic, 'UTF8'), state FROM {table}{where} "
                "ORDER BY originator_id, originator_version", params)

            def batches() -> Iterator[Sequence[Row]]:
                while rows := cursor.fetchmany(batch):
                    yield rows

            yield heads, batches()
        conn.rollback()
