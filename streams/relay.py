"""The relay: the event store's notification log → ``lead-events``, at least once.

Each lead event becomes an envelope (:func:`envelope`) with the stable id
``<lead id>:<version>``, so the projectors can ignore one they have already applied.
:class:`Relay` reads the next envelopes and the position they lead to; the worker
publishes them, and only after the broker acknowledged every send is the position
stored (:meth:`Relay.acknowledge`). One worker at a time relays (:mod:`streams.leadership`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from eventsourcing.persistence import Notification

from lifecycle.adapters import notification_reader, transient_errors
from lifecycle.application import LeadLifecycle
from lifecycle.projections import ProjectionStore
from lifecycle.projections.faults import reason_of
from lifecycle.projections.runner import LEAD_TOPIC_PREFIX

__all__ = ["Relay", "envelope"]


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
            self.store.set_positions(cur, {self.name: (position, 1)})
