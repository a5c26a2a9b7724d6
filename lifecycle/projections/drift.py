"""Drift check: are the projections behind the event store, and do their rows equal a
rebuild?

Two findings, each drift:

- **behind**: a projection's position is below the store's last notification id (by
  more than ``max_lag``) — it is stuck or lagging, and reports read from it miss events.
  A projection at position 0 while the store has events (never run, or stuck on its
  first batch) is the extreme case; it is never "no drift".
- **differences**: each projection is rebuilt from the event store up to the position
  the live projection has reached, into a scratch SQLite file, and every table is
  compared row by row on its primary key. A difference means the live rows were
  edited, lost or written by other code — or that a handler changed without its
  projection's version (``projections status`` shows versions).

In distributed mode the projectors track Kafka offsets, not notification ids, so the
projections are rebuilt to the store's head: rows they have not written yet (behind)
show as missing.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lifecycle.adapters import notification_reader
from lifecycle.persistence import state_decoder
from lifecycle.projections.base import EventRecord, Projection, TableSpec
from lifecycle.projections.runner import LEAD_TOPIC_PREFIX
from lifecycle.projections.store import ProjectionStore
from lifecycle.projections.tables import all_projections

if TYPE_CHECKING:
    from lifecycle.application import LeadLifecycle

__all__ = ["check_drift"]


def check_drift(app: LeadLifecycle, live: ProjectionStore | None = None, *,
                limit: int = 20, batch_size: int = 5000, max_lag: int = 0) -> dict[str, Any]:
    """Compares the live projections with the event store: positions and rows.

    Args:
        app: the application whose event store is the source of truth.
        live: the live projection store (default: the application's database).
        limit: at most this many example rows per table and kind of difference.
        max_lag: notifications a projection may be behind the store's head without
            being reported (a busy store: the runner follows shortly).

    Returns:
        ``ok``, the store's ``head``, each projection's position, lag and version,
        ``behind`` (the projections more than ``max_lag`` behind), and per table the
        counts of rows ``missing`` from the live table, ``unexpected`` in it and
        ``changed``, with examples.
    """
    projections = all_projections(app.scoring.behaviour.half_life_days)
    own = live is None
    live = live or ProjectionStore(app.settings.database_url)
    try:
        live.ensure(projections)
        stored = live.positions()
        head = app.recorder.max_notification_id() or 0
        by_offsets = app.settings.mode == "distributed"
        # Distributed: rows come from Kafka offsets; compare with everything stored.
        positions = {p.name: head if by_offsets else stored.get(p.name, (0, p.version))[0]
                     for p in projections}
        status = [{"name": p.name, "position": None if by_offsets else positions[p.name],
                   "head": head,
                   "lag": None if by_offsets else max(head - positions[p.name], 0),
                   "version": p.version,
                   "stored_version": stored[p.name][1] if p.name in stored else None}
                  for p in projections]
        behind = [] if by_offsets else [
            {"name": name, "position": pos, "head": head, "lag": head - pos,
             "detail": _behind(pos, head)}
            for name, pos in positions.items() if head - pos > max_lag]
        with tempfile.TemporaryDirectory(prefix="lc-drift-") as tmp:
            scratch = ProjectionStore(f"sqlite:///{Path(tmp) / 'rebuilt.db'}")
            try:
                _rebuild(app, scratch, projections, positions, batch_size)
                tables = [_compare(live, scratch, t, limit)
                          for p in projections for t in p.tables]
            finally:
                scratch.close()
    finally:
        if own:
            live.close()
    differences = sum(t["missing"] + t["unexpected"] + t["changed"] for t in tables)
    return {"ok": differences == 0 and not behind, "differences": differences, "head": head,
            "behind": behind, "projections": status, "tables": tables}


def _behind(position: int, head: int) -> str:
    if position == 0:
        return (f"has applied no event of the {head} stored: it never ran, or it is stuck "
                "on its first batch (projections status; the projector's log)")
    return (f"has applied events up to {position} of {head}: {head - position} are not in its "
            "tables (run projections, or look for a stuck projector)")


def _rebuild(app: LeadLifecycle, scratch: ProjectionStore, projections: Sequence[Projection],
             positions: dict[str, int], batch_size: int) -> None:
    scratch.ensure(projections)
    tables = {t.name: t for p in projections for t in p.tables}
    read, decode = notification_reader(app.recorder), state_decoder(app.mapper)
    prefix = LEAD_TOPIC_PREFIX
    stop = max(positions.values(), default=0)
    start = 1
    while start <= stop:
        notifications = [n for n in read(start, batch_size) if n[0] <= stop]
        if not notifications:
            break
        rows: dict[str, list[tuple[Any, ...]]] = {name: [] for name in tables}
        for n_id, lead_id, version, topic, state in notifications:
            if not topic.startswith(prefix):
                continue
            record = EventRecord(n_id, lead_id, version, topic[len(prefix):], decode(state))
            for p in projections:
                if n_id <= positions[p.name]:
                    for table, values in p.rows(record):
                        rows[table].append(values)
        scratch.write(rows, tables, {})
        start = notifications[-1][0] + 1


def _ordered(store: ProjectionStore, table: TableSpec) -> list[tuple[Any, ...]]:
    # By bytes on every backend: the live and the rebuilt rows are compared in order.
    types = dict(table.columns)
    order = ", ".join(store.backend.byte_order(c, types[c]) for c in table.primary_key)
    return store.query(f"SELECT {', '.join(table.column_names)} FROM {table.name} "
                       f"ORDER BY {order}")


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)
    return bool(a == b)


def _compare(live: ProjectionStore, rebuilt: ProjectionStore, table: TableSpec,
             limit: int) -> dict[str, Any]:
    names = table.column_names
    key_at = [names.index(c) for c in table.primary_key]
    live_rows = {tuple(r[i] for i in key_at): r for r in _ordered(live, table)}
    new_rows = {tuple(r[i] for i in key_at): r for r in _ordered(rebuilt, table)}
    out: dict[str, Any] = {"table": table.name, "live_rows": len(live_rows),
                           "rebuilt_rows": len(new_rows), "missing": 0, "unexpected": 0,
                           "changed": 0, "examples": []}
    examples: list[dict[str, Any]] = out["examples"]

    def note(kind: str, key: tuple[Any, ...], **detail: Any) -> None:
        out[kind] += 1
        if sum(1 for e in examples if e["kind"] == kind) < limit:
            examples.append({"kind": kind, "key": dict(zip(table.primary_key, key,
                                                            strict=True)), **detail})

    for key, row in new_rows.items():
        had = live_rows.get(key)
        if had is None:
            note("missing", key, rebuilt=dict(zip(names, row, strict=True)))
            continue
        diff = {n: {"live": x, "rebuilt": y}
                for n, x, y in zip(names, had, row, strict=True) if not _same(x, y)}
        if diff:
            note("changed", key, columns=diff)
    for key, row in live_rows.items():
        if key not in new_rows:
            note("unexpected", key, live=dict(zip(names, row, strict=True)))
    return out
