"""Touchpoints from Kafka partitions into the event store, exactly once.

:class:`PartitionIngest` turns a batch of messages from one or more ``touchpoints``
partitions into lead events, saved in one transaction *together with each partition's
last offset* (eventsourcing tracking records ``<topic>:<partition>``). A restarted worker
starts from those offsets; messages at or below them are skipped. Rejected messages are
handed to the dead-letter callback before the transaction commits, so a crash can repeat
a dead letter (at least once, with a stable key) but never lose one.

Synchronous and transport-neutral: the worker's engine (:mod:`streams.engine`) calls it
with what the ingest agent consumed.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import orjson
from eventsourcing.persistence import Tracking

from lifecycle.application import INTERNAL_ERROR, LeadLifecycle, Outcome, Result
from lifecycle.contracts import SalesAction, Touchpoint, parse_inbound_json
from lifecycle.errors import InputRejected
from streams.protocol import IngestCounts

__all__ = ["DeadLetter", "Message", "PartitionIngest", "dead_letter"]


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
    ) -> IngestCounts:
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
            return IngestCounts(0, 0, 0, skipped)
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
        return IngestCounts(accepted, duplicate, len(letters), skipped)
