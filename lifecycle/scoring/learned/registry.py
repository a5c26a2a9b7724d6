"""Models in the store: saved with their hash, listed, shown, activated, moved.

Table ``lifecycle_models`` in the event store's database (through the storage adapter's
:class:`~lifecycle.adapters.protocol.ModelStore`): ``model_id``, ``content_hash``,
``created_at``, ``stored_at``, ``artifact`` (the canonical bytes), ``active``. At most
one model is active. Loading recomputes the hash of the stored bytes and refuses them
(:class:`~.artifact.ModelTampered`) when it is not the stored one or the id's.

An exported model is its canonical bytes, nothing added: importing them recomputes the
hash, so the same artifact gets the same id in every database, and bytes that are not
exactly an artifact's canonical encoding (edited, re-formatted, truncated) are refused.
An edit that leaves a valid artifact behind gets another id: who imports a model checks
the id it prints (or passes the expected one, ``lifecycle model import --id``).

The artifact and model modules (numpy, LightGBM) are imported when a model is read, not
with this module: asking whether a model is active costs a query, not the libraries.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from lifecycle.errors import ModelTampered

if TYPE_CHECKING:
    from lifecycle.adapters.protocol import ModelStore
    from lifecycle.application import LeadLifecycle
    from lifecycle.scoring.learned.artifact import Artifact
    from lifecycle.scoring.learned.model import Model

__all__ = ["ModelRegistry", "StoredModel"]


@dataclass(frozen=True, slots=True)
class StoredModel:
    model_id: str
    content_hash: str
    created_at: datetime
    stored_at: datetime
    active: bool
    metrics: dict[str, Any]
    """The artifact's metrics, with its ``as_of``, ``first_outcome`` and
    ``last_outcome``; ``{"tampered": why}`` when the stored bytes fail their hash."""


class ModelRegistry:
    """The models of the application's database."""

    def __init__(self, app: LeadLifecycle) -> None:
        self._clock = app.clock
        self._store: ModelStore = app.event_storage.model_store()

    def save(self, artifact: Artifact) -> str:
        """Stores the artifact (idempotent); returns its model id.

        Raises:
            ModelTampered: a model of the same id is stored with another hash (its row
                was altered).
        """
        from lifecycle.scoring.learned.artifact import encode

        return self._put(encode(artifact), artifact.created_at)

    def import_bytes(self, data: bytes) -> str:
        """Stores an exported artifact after checking it; returns its model id.

        Raises:
            ModelTampered: the bytes are no artifact, not its canonical encoding, or no
                model can be built from them.
        """
        from lifecycle.scoring.learned.artifact import content_hash, decode, encode, model_id_of
        from lifecycle.scoring.learned.model import Model

        digest = content_hash(data)
        model_id = model_id_of(digest)
        artifact = decode(data)
        if encode(artifact) != data:
            raise ModelTampered(
                f"the imported file (SHA-256 {digest[:16]}…) is not the canonical encoding "
                "of a model artifact (edited or re-formatted): refused; export the model "
                "again with `lifecycle model export`")
        try:
            Model(artifact, model_id)
        except ModelTampered:
            raise
        except Exception as e:  # LightGBM's own error, a ValueError, ...: not a model
            raise ModelTampered(
                f"the imported file (model {model_id}) holds no usable model "
                f"({type(e).__name__}: {e}): refused") from e
        return self._put(data, artifact.created_at)

    def export_bytes(self, model_id: str) -> bytes:
        """The stored, verified bytes (what ``import_bytes`` takes).

        Raises:
            LookupError: no model of that id is stored.
            ModelTampered: the stored bytes fail their hash.
        """
        data, _ = self._verified(model_id)
        return data

    def load(self, model_id: str) -> Model:
        """The verified model. Raises ModelTampered, or LookupError (unknown id)."""
        from lifecycle.scoring.learned.artifact import decode
        from lifecycle.scoring.learned.model import Model

        data, digest = self._verified(model_id)
        return Model(decode(data, digest), model_id)

    def list(self) -> list[StoredModel]:
        """Every stored model, oldest first (their bytes checked, never loaded)."""
        from lifecycle.scoring.learned.artifact import decode

        out: list[StoredModel] = []
        for model_id, digest, created, stored, active, data in self._store.rows():
            try:
                artifact = decode(_checked(model_id, digest, data), digest)
                metrics = {"as_of": artifact.as_of, "first_outcome": artifact.first_outcome,
                           "last_outcome": artifact.last_outcome, **artifact.metrics}
            except ModelTampered as e:
                metrics = {"tampered": str(e)}
            out.append(StoredModel(model_id, digest, created, stored, active, metrics))
        return out

    def activate(self, model_id: str | None) -> None:
        """Makes the model the active one (None: no model is active).

        Raises:
            LookupError: no model of that id is stored.
            ModelTampered: its stored bytes fail their hash (it stays inactive).
        """
        if model_id is not None:
            self.load(model_id)  # a model that cannot be loaded is never made active
        self._store.activate(model_id)

    def active_id(self) -> str | None:
        """The active model's id (one query; nothing loaded)."""
        return self._store.active_id()

    def active(self) -> Model | None:
        """The active model, verified and loaded (None: no model is active)."""
        model_id = self._store.active_id()
        return None if model_id is None else self.load(model_id)

    def _put(self, data: bytes, created_at: datetime) -> str:
        from lifecycle.scoring.learned.artifact import content_hash, model_id_of

        digest = content_hash(data)
        model_id = model_id_of(digest)
        if not self._store.put(model_id, digest, created_at, self._clock(), data):
            stored = self._store.get(model_id)
            if stored is None or stored[0] != digest:
                raise ModelTampered(
                    f"model {model_id} is stored already with another content hash "
                    f"({stored[0][:16] if stored else 'none'}…, not {digest[:16]}…): its "
                    "stored row was altered; nothing was stored")
        return model_id

    def _verified(self, model_id: str) -> tuple[bytes, str]:
        stored = self._store.get(model_id)
        if stored is None:
            raise LookupError(f"no model {model_id!r} is stored (`lifecycle model list` "
                              "lists them)")
        digest, data = stored
        return _checked(model_id, digest, data), digest


def _checked(model_id: str, stored_hash: str, data: bytes) -> bytes:
    """``data`` when its SHA-256 is the stored hash and the id is that hash's.

    Raises:
        ModelTampered: the bytes, the hash or the id were altered.
    """
    from lifecycle.scoring.learned.artifact import content_hash, model_id_of

    actual = content_hash(data)
    if actual != stored_hash or model_id_of(stored_hash) != model_id:
        raise ModelTampered(
            f"model {model_id} is refused: the SHA-256 of its stored bytes is "
            f"{actual[:16]}…, its stored hash {stored_hash[:16]}… (the id names "
            f"{model_id}…): the stored row was altered. Import the model again from an "
            "exported file, or train a new one")
    return data
