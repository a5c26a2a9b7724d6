"""Distributed mode, transport-neutral: what the Faust agents call.

Three synchronous pieces, each exactly-once or idempotent on its own terms:

- :class:`PartitionIngest` — a batch of messages from one or more ``touchpoints``
  partitions becomes lead events, saved in one transaction *together with each
  partition's last offset* (eventsourcing tracking records ``<topic>:<partition>``). A
  restarted worker starts from those offsets; messages at or below them are skipped.
  Rejected messages are handed to the dead-letter callback before the transaction
  commits, so a crash can repeat a dead letter (at least once, with a stable key) but
  never lose one.
- :class:`Relay` — the event store's notification log → ``lead-events`` envelopes, at
  least once, each with the stable id ``<lead id>:<version>``; its position is stored
  after the broker acknowledged the sends.
- :func:`project_envelopes` (:func:`project_partitions` for several partitions in one
  transaction) — ``lead-events`` envelopes → the same projection handlers as embedded
  mode, rows keyed by (lead id, version) and written with ``ON CONFLICT DO NOTHING``, so
  a redelivered envelope changes nothing.
"""

from __future__ import annotations

import base64
import contextlib
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import orjson
from eventsourcing.persistence import Notification, Tracking

from lifecycle.application import INTERNAL_ERROR, LeadLifecycle, Outcome, Result
from lifecycle.contracts import SalesAction, Touchpoint, parse_inbound_json
from lifecycle.errors import InputRejected
from lifecycle.projections import EventRecord, Projection, ProjectionStore, TableSpec
from lifecycle.projections.faults import (
    Fault,
    project_event,
    reason_of,
    transient_errors,
    units_of,
)
from lifecycle.projections.runner import LEAD_TOPIC_PREFIX, notification_reader
from lifecycle.settings import Settings

__all__ = [
    "DeadLetter",
    "Message",
    "PartitionIngest",
    "Relay",
    "ensure_topics",
    "envelope",
    "project_envelopes",
    "project_partitions",
]


@dataclass(frozen=True, slots=True)
class Message:
    """A consumed Kafka message, as far as the engine cares."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A rejected message: its reason and the original bytes."""

    key: bytes
    value: bytes


def dead_letter(topic: str, message: Message, *, code: str, reason: str,
                input_id: str | None = None) -> DeadLetter:
    raw = message.value or b""
    try:
        original: dict[str, str] = {"text": raw.decode("utf-8")}
    except UnicodeDecodeError:
        original = {"base64": base64.b64encode(raw).decode("ascii")}
    body = {
        "code": code, "reason": reason, "input_id": input_id,
        "source": {"topic": topic, "partition": message.partition, "offset": message.offset,
                   "key": message.key.decode("utf-8", "replace") if message.key else None},
        "original": original,
    }
    return DeadLetter(key=f"{topic}:{message.partition}:{message.offset}".encode(),
                      value=orjson.dumps(body))


class PartitionIngest:
    """Turns batches of ``touchpoints`` messages into lead events, exactly once.

    A batch may hold several partitions' messages: they are recorded in one
    transaction, with one tracking record per partition (its last offset).
    """

    def __init__(self, app: LeadLifecycle, topic: str) -> None:
        self.app = app
        self.topic = topic

    def tracking_name(self, partition: int) -> str:
        return f"{self.topic}:{partition}"

    def position(self, partition: int) -> int | None:
        """The last offset of ``partition`` whose events are in the database."""
        return self.app.process_recorder.max_tracking_id(self.tracking_name(partition))

    def process(
        self,
        batches: Mapping[int, Sequence[Message]],
        send_dead_letters: Callable[[list[DeadLetter]], None],
    ) -> tuple[int, int, int, int]:
        """Records the messages of one or more partitions (each in offset order).

        Returns:
            Counts (accepted, duplicate, rejected, skipped as already processed).
        """
        early: list[tuple[Message, DeadLetter]] = []  # rejected before the engine saw them
        items: list[Touchpoint | SalesAction] = []
        origin: list[Message] = []
        trackings: list[Tracking] = []
        limits = self.app.settings.limits
        skipped = 0
        for partition, messages in sorted(batches.items()):
            done = self.position(partition)
            fresh = [m for m in messages if done is None or m.offset > done]
            skipped += len(messages) - len(fresh)
            if not fresh:
                continue
            for m in fresh:
                try:
                    if m.value is None:
                        raise InputRejected("empty message (no value)")
                    item = parse_inbound_json(m.value, limits=limits)
                except InputRejected as e:
                    early.append((m, dead_letter(self.topic, m, code=e.code, reason=str(e))))
                    continue
                except Exception as e:  # a message must never block its partition
                    early.append((m, dead_letter(
                        self.topic, m, code=INTERNAL_ERROR,
                        reason=f"reading it failed ({type(e).__name__}: {e})")))
                    continue
                items.append(item)
                origin.append(m)
            trackings.append(Tracking(notification_id=fresh[-1].offset,
                                      application_name=self.tracking_name(partition)))
        if not trackings:
            return 0, 0, 0, skipped
        letters: list[DeadLetter] = []

        def before_commit(results: list[Result]) -> None:
            # Called again with the final results when the batch had to be stored in
            # parts: the letters are then sent again (at least once, stable keys).
            late = [(m, dead_letter(self.topic, m, code=r.code or "rejected",
                                    reason=r.reason or "", input_id=r.input_id))
                    for m, r in zip(origin, results, strict=True)
                    if r.outcome is Outcome.REJECTED]
            # in the order they were consumed, whichever step rejected them
            letters[:] = [d for _, d in sorted(early + late,
                                               key=lambda x: (x[0].partition, x[0].offset))]
            if letters:
                send_dead_letters(list(letters))

        results = self.app.record_batch(items, tracking=trackings, before_commit=before_commit)
        accepted = sum(1 for r in results if r.outcome is Outcome.ACCEPTED)
        duplicate = sum(1 for r in results if r.outcome is Outcome.DUPLICATE)
        return accepted, duplicate, len(letters), skipped


def envelope(notification: Notification, payload: dict[str, Any] | None, *,
             error: str | None = None) -> tuple[bytes, bytes] | None:
    """The ``lead-events`` key and value of a lead event (None for other aggregates).

    The value is ``{"event_id", "lead_id", "version", "type", "schema_version",
    "occurred_at", "recorded_at", "payload"}``; ``payload`` is the stored event state,
    with personal fields as stored (encrypted where the engine encrypts them). A stored
    event that could not be read has ``"payload": null`` and ``"error"``: the reason
    (the projectors record it as a fault; the relay does not stop on it).
    """
    topic = notification.topic
    if not topic.startswith(LEAD_TOPIC_PREFIX):
        return None
    lead_id = str(notification.originator_id)
    if payload is None:
        body: dict[str, Any] = {
            "event_id": f"{lead_id}:{notification.originator_version}", "lead_id": lead_id,
            "version": notification.originator_version, "type": topic[len(LEAD_TOPIC_PREFIX):],
            "payload": None, "error": error or "unreadable",
        }
        return lead_id.encode(), orjson.dumps(body)
    body = {
        "event_id": f"{lead_id}:{notification.originator_version}",
        "lead_id": lead_id,
        "version": notification.originator_version,
        "type": topic[len(LEAD_TOPIC_PREFIX):],
        "schema_version": payload.get("class_version", 1),
        "occurred_at": payload.get("occurred_at"),
        "recorded_at": payload.get("timestamp"),
        "payload": payload,
    }
    return lead_id.encode(), orjson.dumps(body)


class Relay:
    """Publishes the notification log to ``lead-events``, at least once."""

    name = "relay:lead-events"

    def __init__(self, app: LeadLifecycle, store: ProjectionStore,
                 payload: Callable[[Notification], dict[str, Any]]) -> None:
        self.app = app
        self.store = store
        self.payload = payload
        # The log as plain tuples (own SQL): select_notifications' dict rows and UUIDs
        # cost more than the envelopes.
        self._read = notification_reader(app.recorder)
        store.ensure(())

    def position(self) -> int:
        return self.store.positions().get(self.name, (0, 1))[0]

    def pending(self, limit: int) -> tuple[list[tuple[bytes, bytes]], int | None]:
        """The next envelopes to publish and the position they lead to."""
        start = self.position() + 1
        rows = self._read(start, limit)
        if not rows:
            return [], None
        out = []
        for n_id, originator_id, version, topic, state in rows:
            if not topic.startswith(LEAD_TOPIC_PREFIX):
                continue  # not a lead event: no envelope (as envelope() says)
            n = Notification(id=n_id, originator_id=originator_id,
                             originator_version=version, topic=topic, state=state)
            try:
                payload = self.payload(n)
            except transient_errors():
                raise
            except Exception as e:  # unreadable (altered?) bytes: a fault, not a stop
                env = envelope(n, None, error=f"the relay could not read it: {reason_of(e)}")
            else:
                env = envelope(n, payload)
            if env is not None:
                out.append(env)
        return out, rows[-1][0]

    def acknowledge(self, position: int) -> None:
        """Stores the position once every envelope up to it was acknowledged."""
        with self.store.transaction() as cur:
            self.store._set_positions(cur, {self.name: (position, 1)})


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


def project_envelopes(
    store: ProjectionStore,
    projections: Sequence[Projection],
    topic: str,
    partition: int,
    messages: Sequence[tuple[int, bytes]],
) -> int:
    """Applies ``lead-events`` envelopes (offset, value) to the projections, idempotently,
    and stores the partition's offset in the same transaction. Returns rows written."""
    return project_partitions(store, projections, topic, {partition: messages})


def project_partitions(
    store: ProjectionStore,
    projections: Sequence[Projection],
    topic: str,
    batches: Mapping[int, Sequence[tuple[int, bytes]]],
) -> int:
    """:func:`project_envelopes` for several partitions at once: one transaction holds
    every partition's rows and each partition's offset. Returns rows written.

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


def ensure_topics(settings: Settings) -> list[str]:
    """Creates the three topics if they do not exist; returns the ones it created."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        from kafka import KafkaAdminClient
        from kafka.admin import NewTopic
        from kafka.errors import TopicAlreadyExistsError

    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap,
                             client_id="lifecycle-admin", request_timeout_ms=30_000)
    try:
        existing = set(admin.list_topics())
        wanted = [settings.touchpoints_topic, settings.events_topic, settings.dlq_topic]
        missing = [t for t in wanted if t not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # another worker was first
                admin.create_topics([
                    NewTopic(name=t, num_partitions=settings.partitions,
                             replication_factor=settings.replication) for t in missing
                ])
        return missing
    finally:
        admin.close()
