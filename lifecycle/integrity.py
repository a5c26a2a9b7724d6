"""Reading the raw events table to verify its hash chains, in one process or several.

Rows are read straight from the events table in (aggregate, version) order, in batches,
together with the chain heads and the largest notification id in the same snapshot (the
storage adapter's :meth:`~lifecycle.adapters.protocol.EventStorage.read_chains`), and
checked by :func:`lifecycle.chain.check_rows` without decoding any event. A large table
is split by aggregate id into ranges checked by parallel processes: every aggregate lies
in one range, and each range is one consistent read.

A whole-store scan also cross-checks the aggregates against each other
(:func:`cross_check`): every key index entry names a lead that has events, and every
lead has at least as many index entries as the keys it was captured with — so a lead
deleted with its head row, or an index entry deleted with its own, is still found.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from uuid import UUID

from lifecycle.adapters import adapter_for
from lifecycle.chain import (
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
    """Where the events are: the database's URL and the events table's name (plain
    values: a parallel scan sends it to other processes)."""

    url: str
    table: str


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
    read = adapter_for(source.url).read_chains(source.table, lead_id=lead_id, lo=lo, hi=hi,
                                               batch_size=batch_size)
    with read as (heads, top, batches):
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
