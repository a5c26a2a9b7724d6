"""Projections: read models kept current from the event store's notification log."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

from lifecycle.projections.base import EventRecord, Projection, Row, TableSpec
from lifecycle.projections.runner import ProjectionRunner, ProjectionStatus, to_record
from lifecycle.projections.store import ProjectionStore
from lifecycle.projections.tables import all_projections

if TYPE_CHECKING:
    from eventsourcing.persistence import StoredEvent

    from lifecycle.application import LeadLifecycle

__all__ = [
    "EventRecord",
    "Projection",
    "ProjectionRunner",
    "ProjectionStatus",
    "ProjectionStore",
    "Row",
    "TableSpec",
    "all_projections",
    "build_runner",
    "to_record",
]


def build_runner(app: LeadLifecycle, store: ProjectionStore | None = None,
                 *, batch_size: int = 5000,
                 projections: Sequence[Projection] | None = None) -> ProjectionRunner:
    """The embedded runner for an application, on its own database by default (with
    the engine's projections unless ``projections`` are given)."""
    decode = app.fast_mapper.decode_state  # reads nothing of a stored event but its state

    def decode_state(state: bytes) -> dict[str, Any]:
        return decode(cast("StoredEvent", _State(state)))

    return ProjectionRunner(
        app.recorder,
        store or ProjectionStore(app.settings.database_url),
        all_projections(app.scoring.behaviour.half_life_days) if projections is None
        else projections,
        decode_state=decode_state,
        batch_size=batch_size,
    )


class _State:
    """A stored event's state alone (what the mapper decodes)."""

    __slots__ = ("state",)

    def __init__(self, state: bytes) -> None:
        self.state = state
