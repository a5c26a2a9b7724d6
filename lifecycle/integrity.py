"""Reading the raw events table to verify its hash chains, in one process or several.

Rows are read straight from the events table in (aggregate, version) order, in batches
(a server-side cursor on PostgreSQL), together with the chain heads and the largest
notification id in the same snapshot, and checked by :func:`lifecycle.chain.check_rows`
without decoding any event. A large table is split by aggregate id into ranges checked
by parallel processes: every aggregate lies in one range, and each range is one
consistent read.

A whole-store scan also cross-checks the aggregates against each other
(:func:`cross_check`): every key index entry names a lead that has events, and every
lead has at least as many index entries as the keys it was captured with — so a lead
deleted with its head row, or an index entry deleted with its own, is still found.
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

from lifecycle.chain import (
    HEADS_TABLE,
    KEY_KIND,
    LEAD_KIND,
    Anchored,
    Break,
    End,
    Row,
    check_rows,
)

__all__ = ["Source", "Tally", "cross_check", "scan", "scan_parallel"]


@dataclass(frozen=True)
class Source:
    """Where the events are: ``sqlite`` (a file path) or ``postgres`` (a URL)."""

    dialect: str
    location: str
    table: str
    schema: str = "public"


@dataclass
class Tally:
    """What a scan read: aggregates, events, the notification id up to which it read
    every event (its snapshot's largest), and each aggregate's
    :data:`~lifecycle.chain.End` (when asked for)."""

    aggregates: int = 0
    events: int = 0
    max_notification_id: int = 0
    ends: list[End] | None = None

    def add(self, other: Tally) -> None:
        self.aggregates += other.aggregates
        self.events += other.events
        # Parallel ranges read different snapshots: every event is read only up to the
        # earliest one's end.
        self.max_notification_id = min(self.max_notification_id, other.max_notification_id)
        if self.ends is not None and other.ends is not None:
            self.ends.extend(other.ends)


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
         hi: str | None = None, batch_size: int = 20_000, anchored: Anchored | None = None,
         ends: bool = False) -> tuple[list[Break], Tally]:
    """Checks the chains of one lead, of the aggregates whose id (32 hex digits) is in
    ``[lo, hi)``, or of every aggregate.

    Args:
        anchored: an anchor to hold the histories to, already narrowed to the same
            lead or range (its heads are consumed).
        ends: keep every aggregate's end in the tally (for anchors and cross-checks).
    """
    tally = Tally(ends=[] if ends else None)
    reader = _sqlite if source.dialect == "sqlite" else _postgres
    with reader(source, lead_id, lo, hi, batch_size) as (heads, top, batches):
        tally.max_notification_id = top
        breaks = list(check_rows(_counted(batches, tally), heads, anchored=anchored,
                                 ends=tally.ends))
    return breaks, tally


def _in_range(oid: str, lo: str, hi: str | None) -> bool:
    return oid >= lo and (hi is None or oid < hi)


def _scan_range(source: Source, lo: str, hi: str | None, batch_size: int,
                anchored: Anchored | None, ends: bool) -> tuple[list[Break], Tally]:
    return scan(source, lo=lo, hi=hi, batch_size=batch_size, anchored=anchored, ends=ends)


def scan_parallel(source: Source, workers: int, *, batch_size: int = 20_000,
                  anchored: Anchored | None = None, ends: bool = False
                  ) -> tuple[list[Break], Tally]:
    """:func:`scan` of every aggregate, split into ``workers`` id ranges."""
    bounds = [f"{256 * i // workers:02x}" for i in range(workers)]
    ranges = list(zip(bounds, [*bounds[1:], None], strict=True))
    breaks: list[Break] = []
    tally = Tally(ends=[] if ends else None, max_notification_id=2**63)
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        futures = []
        for lo, hi in ranges:
            part_anchor = None if anchored is None else Anchored(
                {oid: head for oid, head in anchored.heads.items() if _in_range(oid, lo, hi)},
                anchored.max_notification_id, anchored.created_at)
            futures.append(pool.submit(_scan_range, source, lo, hi, batch_size, part_anchor,
                                       ends))
        for future in futures:
            found, part = future.result()
            breaks.extend(found)
            tally.add(part)
    return breaks, tally


def cross_check(ends: list[End], breaks: list[Break]) -> list[Break]:
    """Checks the key index against the leads (a whole-store scan's ends).

    A key index entry must name a lead that has events; a lead needs at least as many
    index entries as the keys it was captured with (keys are encrypted, so they are
    counted, not compared). Aggregates that already have a break are not reported again.

    Returns:
        The new breaks, sorted by aggregate.
    """
    reported = {b.originator_id for b in breaks}
    present = {oid for oid, *_ in ends}
    indexed: dict[str, list[str]] = {}
    for oid, _, _, kind, ref, _ in ends:
        if kind == KEY_KIND and isinstance(ref, str):
            indexed.setdefault(ref, []).append(oid)
    found: list[Break] = []
    for lead, entries in indexed.items():
        if lead not in present and lead not in reported:
            reported.add(lead)
            found.append(Break(
                lead, None, "lead_missing",
                f"key index entr{'y' if len(entries) == 1 else 'ies'} "
                f"{', '.join(sorted(entries))} name{'s' if len(entries) == 1 else ''} this "
                "lead, but none of its events and no head is stored: the whole lead was "
                "deleted"))
    for oid, _, _, kind, ref, _ in ends:
        if kind == LEAD_KIND and isinstance(ref, int) and oid not in reported:
            have = len(indexed.get(oid, ()))
            if have < ref:
                found.append(Break(
                    oid, None, "keys_unindexed",
                    f"it was captured with {ref} key(s), but {have} key index entr"
                    f"{'y names' if have == 1 else 'ies name'} it: an index entry was "
                    "deleted (with its head)"))
    return sorted(found, key=lambda b: b.originator_id)


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


Read = tuple[dict[str, tuple[int, str]], int, Iterator[Sequence[Row]]]
"""The heads, the largest notification id and the rows, from one snapshot."""


@contextmanager
def _sqlite(source: Source, lead_id: UUID | None, lo: str | None, hi: str | None,
            batch: int) -> Iterator[Read]:
    conn = sqlite3.connect(source.location, timeout=30, isolation_level=None)
    where, params = _where(lead_id, lo, hi, postgres=False)
    try:
        conn.execute("BEGIN")  # one snapshot for the heads and the events
        heads = {oid: (int(v), h) for oid, v, h in conn.execute(
            f"SELECT originator_id, version, hash FROM {HEADS_TABLE}{where}", params)}
        top = conn.execute(f"SELECT MAX(rowid) FROM {source.table}").fetchone()[0] or 0
        # The rowid is the notification id on SQLite.
        cursor = conn.execute(
            f"SELECT originator_id, originator_version, CAST(topic AS BLOB), state, rowid "
            f"FROM {source.table}{where} ORDER BY originator_id, originator_version", params)

        def batches() -> Iterator[Sequence[Row]]:
            while rows := cursor.fetchmany(batch):
                yield rows

        yield heads, int(top), batches()
    finally:
        conn.close()


@contextmanager
def _postgres(source: Source, lead_id: UUID | None, lo: str | None, hi: str | None,
              batch: int) -> Iterator[Read]:
    import psycopg

    where, params = _where(lead_id, lo, hi, postgres=True)
    table = f'"{source.schema}"."{source.table}"'
    with psycopg.connect(source.location) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        heads = {oid.replace("-", ""): (int(v), h) for oid, v, h in conn.execute(
            f'SELECT originator_id::text, version, hash FROM "{source.schema}".{HEADS_TABLE}'
            f"{where}", params)}
        top_row = conn.execute(f"SELECT MAX(notification_id) FROM {table}").fetchone()
        top = int(top_row[0]) if top_row and top_row[0] is not None else 0
        with conn.cursor(name="lc_verify", binary=True) as cursor:
            cursor.itersize = batch
            # Ids as 32 hex digits, the same text as on SQLite and in the heads above.
            cursor.execute(
                "SELECT replace(originator_id::text, '-', ''), originator_version, "
                f"convert_to(topic, 'UTF8'), state, notification_id FROM {table}{where} "
                "ORDER BY originator_id, originator_version", params)

            def batches() -> Iterator[Sequence[Row]]:
                while rows := cursor.fetchmany(batch):
                    yield rows

            yield heads, top, batches()
        conn.rollback()
