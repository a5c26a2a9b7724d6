"""Models in the store: saved with their hash, listed, shown, activated, moved.

Table ``lifecycle_models`` in the event store's database (through the storage adapter's
:class:`~lifecycle.adapters.protocol.ModelStore`): ``model_id``, ``content_hash``,
``created_at``, ``stored_at``, ``artifact`` (the canonical bytes), ``active``. At most
one model is active. Loading recomputes the hash of the stored bytes and refuses them
(:class:`~.artifact.ModelTampered`) when it is not the stored one or the id's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from lifecycle.scoring.learned.artifact import Artifact
from lifecycle.scoring.learned.model import Model

if TYPE_CHECKING:
    from lifecycle.application import LeadLifecycle

__all__ = ["ModelRegistry", "StoredModel"]


@dataclass(frozen=True, slots=True)
class StoredModel:
    model_id: str
    content_hash: str
    created_at: datetime
    stored_at: datetime
    active: bool
    metrics: dict[str, Any]


class ModelRegistry:
    def __init__(self, app: LeadLifecycle) -> None:
        raise NotImplementedError  # contract: filled in by the store/CLI branch

    def save(self, artifact: Artifact) -> str:
        """Stores the artifact (idempotent); returns its model id."""
        raise NotImplementedError

    def import_bytes(self, data: bytes) -> str:
        """Stores an exported artifact after checking it; returns its model id."""
        raise NotImplementedError

    def export_bytes(self, model_id: str) -> bytes:
        """The stored, verified bytes (what ``import_bytes`` takes)."""
        raise NotImplementedError

    def load(self, model_id: str) -> Model:
        """The verified model. Raises ModelTampered, or LookupError (unknown id)."""
        raise NotImplementedError

    def list(self) -> list[StoredModel]:
        raise NotImplementedError

    def activate(self, model_id: str | None) -> None:
        """Makes the model the active one (None: no model is active)."""
        raise NotImplementedError

    def active(self) -> Model | None:
        raise NotImplementedError
