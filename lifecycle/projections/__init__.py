"""Projections: read models kept current from the event store's notification log."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from lifecycle.persistence import state_decoder
from lifecycle.projections.base import EventRecord, Projection, Row, TableSpec
from lifecycle.projections.runner import ProjectionRunner, ProjectionStatus
from lifecycle.projections.store import ProjectionStore
from lifecycle.projections.tables import all_projections

if TYPE_CHECKING:
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
    "state_decoder",
]


def build_runner(app: LeadLifecycle, store: ProjectionStore | None = None,
                 *, batch_size: int = 5000,
                 projections: Sequence[Projection] | None = None) -> ProjectionRunner:
    """The embedded runner for an application, on its own database by default (with
    the engine's projections unless ``projections`` are given)."""
    return ProjectionRunner(
        app.recorder,
        store or ProjectionStore(app.settings.database_url),
        all_projections(app.scoring.behaviour.half_life_days) if projections is None
        else projections,
        decode_state=state_decoder(app.mapper),
        batch_size=batch_size,
    )

