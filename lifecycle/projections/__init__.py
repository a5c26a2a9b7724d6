"""Projections: read models kept current from the event store's notification log."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lifecycle.projections.base import EventRecord, Projection, Row, TableSpec
from lifecycle.projections.runner import ProjectionRunner, ProjectionStatus, to_record
from lifecycle.projections.store import ProjectionStore
from lifecycle.projections.tables import all_projections

if TYPE_CHECKING:
    from eventsourcing.persistence import Notification

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
                 *, batch_size: int = 5000) -> ProjectionRunner:
    """The embedded runner for an application, on its own database by default."""
    mapper = app.mapper

    def decode(notification: Notification) -> dict[str, Any]:
        data: dict[str, Any] = mapper.decode_state(notification)  # type: ignore[attr-defined]
        return data

    return ProjectionRunner(
        app.recorder,
        store or ProjectionStore(app.settings.database_url),
        all_projections(app.scoring.behaviour.half_life_days),
        decode=decode,
        batch_size=batch_size,
    )
