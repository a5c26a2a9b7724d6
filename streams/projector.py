"""The projector: ``lead-events`` envelopes → the projection tables.

The same projection handlers as the embedded runner's; rows are keyed by (lead id,
version) and written with ``ON CONFLICT DO NOTHING``, and each partition's offset is
stored in the rows' transaction, so a redelivered envelope changes nothing.
:class:`Projector` is what the projector agent calls (on a thread of its own).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import orjson

from lifecycle.projections import EventRecord, Projection, ProjectionStore, TableSpec
from lifecycle.projections.faults import Fault, project_event, reason_of, units_of

__all__ = ["EnvelopeBatches", "Projector", "project_partitions", "record_of"]

log = logging.getLogger("lifecycle.worker")

EnvelopeBatches = Mapping[int, Sequence[tuple[int, bytes]]]
"""Per ``lead-events`` partition, its envelopes in offset order: (offset, value)."""


def record_of(offset: int, value: bytes) -> EventRecord:
    body = orjson.loads(value)
    if body.get("payload") is None:
        raise ValueError(body.get("error") or "an envelope without a payload")
    return EventRecord(position=offset, lead_id=body["lead_id"], version=int(body["version"]),
                       type=body["type"], data=body["payload"])


def _identity(value: bytes, place: str, offset: int) -> tuple[str, int, str]:
    """(lead id, version, type) of an envelope that cannot be projected; for one that
    is not an envelope at all, its place (``kafka:<topic>:<partition>``) and offset."""
    try:
        body = orjson.loads(value)
        return str(body["lead_id"]), int(body["version"]), str(body.get("type") or "")
    except Exception:
        return place, offset, ""


def project_partitions(
    store: ProjectionStore,
    projections: Sequence[Projection],
    topic: str,
    batches: Mapping[int, Sequence[tuple[int, bytes]]],
) -> int:
    """Applies ``lead-events`` envelopes (offset, value) of one or more partitions to the
    projections, idempotently: one transaction holds every partition's rows and each
    partition's offset. Returns rows written.

    Partitions are taken in order, so two workers briefly projecting the same partitions
    (a rebalance) take their row locks in the same order.
    """
    tables: dict[str, TableSpec] = {t.name: t for p in projections for t in p.tables}
    rows: dict[str, list[tuple[Any, ...]]] = {name: [] for name in tables}
    positions: dict[str, tuple[int, int]] = {}
    # An envelope a projection cannot turn into rows, or whose rows the database
    # refuses, is recorded as that projection's fault and left out: one event must not
    # stop every partition (the same rules as the embedded runner's).
    faults: list[Fault] = []
    records: list[EventRecord] = []
    targets = [(p.name, p.rows) for p in projections]
    for partition, messages in sorted(batches.items()):
        for offset, value in messages:
            try:
                record = record_of(offset, value)
            except Exception as e:  # no event to project, ever: a fault of each projection
                reason = reason_of(e)
                lead, version, kind = _identity(value, f"kafka:{topic}:{partition}", offset)
                faults.extend(Fault(p.name, lead, version, offset, kind, reason)
                              for p in projections)
                continue
            records.append(record)
            project_event(record, targets, rows, faults)
        if messages:
            positions[f"kafka:{topic}:{partition}"] = (messages[-1][0], 1)
    try:
        store.write(rows, tables, positions, faults=faults)
    except store.data_errors:
        units = units_of(((r, targets) for r in records), faults)
        refused = store.write_isolating(units, tables, positions, faults=faults)
        refused_rows = sum(len(unit_rows) for fault, unit_rows in units if fault in
                           {replace(f, reason="") for f in refused})
        return sum(len(v) for v in rows.values()) - refused_rows
    return sum(len(v) for v in rows.values())


class Projector:
    """Projects batches of envelopes into the worker's projection tables.

    Args:
        store: the projection tables (created if missing).
        projections: the projections to maintain.
        topic: the ``lead-events`` topic (its offsets are stored as
            ``kafka:<topic>:<partition>``).
    """

    def __init__(self, store: ProjectionStore, projections: Sequence[Projection],
                 topic: str) -> None:
        self.store = store
        self.projections = projections
        self.topic = topic
        store.ensure(projections)

    def project(self, batches: EnvelopeBatches) -> int:
        """Every partition's envelopes in one transaction (rows idempotent, offsets with
        them): fewer, larger writes than one per partition. Returns envelopes taken."""
        for attempt in range(5):
            try:
                project_partitions(self.store, self.projections, self.topic, batches)
                break
            except self.store.backend.conflict_errors as e:
                # Another worker writing the same rows (during a rebalance): the
                # transaction rolled back; writing again is idempotent.
                if attempt == 4:
                    raise
                log.warning("projection write conflicted, retrying (%s)", e)
                time.sleep(0.05 * (attempt + 1))
        return sum(len(m) for m in batches.values())
