"""How lead events are turned into stored bytes and back.

eventsourcing's default mapper goes through ``json`` with a hook per datetime and
UUID, which costs more than the rest of the hot path together. This mapper encodes the
event's attributes with orjson (datetimes and UUIDs natively) and, on the way back,
restores datetimes, UUIDs and tuples from the event class's declared field types, so a
decoded event equals the one that was stored. Upcasting by ``class_version`` works as
in eventsourcing.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Mapper, MapperDeserialisationError, StoredEvent, Transcoder
from eventsourcing.utils import get_topic, resolve_topic

__all__ = ["FastMapper", "OrjsonTranscoder"]

_DT, _UUID, _TUPLE = 1, 2, 3
_BASE_FIELDS = {"originator_id", "originator_version"}


class OrjsonTranscoder(Transcoder):
    """Plain JSON values, datetimes and UUIDs (as strings) via orjson."""

    def encode(self, obj: Any) -> bytes:
        return orjson.dumps(obj)

    def decode(self, data: bytes) -> Any:
        return orjson.loads(data)


def _kinds(cls: type) -> dict[str, int]:
    kinds: dict[str, int] = {}
    if not dataclasses.is_dataclass(cls):
        return kinds
    for f in dataclasses.fields(cls):
        t = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
        if "datetime" in t:
            kinds[f.name] = _DT
        elif t.startswith("UUID"):
            kinds[f.name] = _UUID
        elif t.startswith("tuple"):
            kinds[f.name] = _TUPLE
    return kinds


class FastMapper(Mapper[UUID]):
    """Domain event ⇄ stored event with orjson and declared-type restoration."""

    def __init__(self, transcoder: Transcoder | None = None) -> None:
        super().__init__(transcoder=transcoder or OrjsonTranscoder())
        self._topics: dict[type, str] = {}
        self._classes: dict[str, tuple[type, dict[str, int]]] = {}

    def _topic(self, cls: type) -> str:
        topic = self._topics.get(cls)
        if topic is None:
            topic = self._topics[cls] = get_topic(cls)
        return topic

    def _class(self, topic: str) -> tuple[type, dict[str, int]]:
        entry = self._classes.get(topic)
        if entry is None:
            cls = resolve_topic(topic)
            entry = self._classes[topic] = (cls, _kinds(cls))
        return entry

    def encode_state(self, domain_event: DomainEventProtocol[UUID]) -> bytes:
        state = {k: v for k, v in vars(domain_event).items() if k not in _BASE_FIELDS}
        class_version = getattr(type(domain_event), "class_version", 1)
        if class_version > 1:
            state["class_version"] = class_version
        return self.transcoder.encode(state)

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        state = self.encode_state(domain_event)
        if self.compressor:
            state = self.compressor.compress(state)
        if self.cipher:
            state = self.cipher.encrypt(state)
        return StoredEvent(
            originator_id=domain_event.originator_id,
            originator_version=domain_event.originator_version,
            topic=self._topic(type(domain_event)),
            state=state,
        )

    def decode_state(self, stored_event: StoredEvent) -> dict[str, Any]:
        state = stored_event.state
        if self.cipher:
            state = self.cipher.decrypt(state)
        if self.compressor:
            state = self.compressor.decompress(state)
        decoded: dict[str, Any] = self.transcoder.decode(state)
        return decoded

    def public_state(self, stored_event: StoredEvent) -> dict[str, Any]:
        """The stored state as published outside the engine (the ``lead-events`` topic).

        Never decrypts: personal fields stay exactly as stored, so publishing an event
        cannot leak what erasure must be able to shred.
        """
        state = stored_event.state
        if self.compressor:
            state = self.compressor.decompress(state)
        decoded: dict[str, Any] = self.transcoder.decode(state)
        return decoded

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        cls, kinds = self._class(stored_event.topic)
        try:
            state = self.decode_state(stored_event)
        except Exception as e:
            raise MapperDeserialisationError(
                f"cannot decode event {stored_event.topic} of {stored_event.originator_id} "
                f"v{stored_event.originator_version}: {e}"
            ) from e
        class_version = getattr(cls, "class_version", 1)
        from_version = state.pop("class_version", 1)
        while from_version < class_version:
            getattr(cls, f"upcast_v{from_version}_v{from_version + 1}")(state)
            from_version += 1
        for name, kind in kinds.items():
            value = state.get(name)
            if value is None:
                continue
            if kind == _DT and isinstance(value, str):
                state[name] = datetime.fromisoformat(value)
            elif kind == _UUID and isinstance(value, str):
                state[name] = UUID(value)
            elif kind == _TUPLE and isinstance(value, list):
                state[name] = tuple(value)
        oid = stored_event.originator_id
        state["originator_id"] = oid if isinstance(oid, UUID) else UUID(str(oid))
        state["originator_version"] = stored_event.originator_version
        event = object.__new__(cls)
        object.__setattr__(event, "__dict__", state)
        return event  # type: ignore[no-any-return]
