"""How lead events are turned into stored bytes and back.

eventsourcing's default mapper goes through ``json`` with a hook per datetime and
UUID, which costs more than the rest of the hot path together. This mapper encodes the
event's attributes with orjson (datetimes and UUIDs natively) and, on the way back,
restores datetimes, UUIDs and tuples from the event class's declared field types, so a
decoded event equals the one that was stored. Upcasting by ``class_version`` works as
in eventsourcing.

Stored states are hash-chained per aggregate (:mod:`lifecycle.chain`): ``to_stored_events``
prefixes each body with its link, ``decode_state`` strips it. With a field cipher
(:class:`lifecycle.privacy.PersonalData`), personal fields are encrypted in the body and
decrypted by ``to_domain_event`` only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, Protocol, TypeVar
from uuid import UUID

import orjson
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Mapper, MapperDeserialisationError, StoredEvent, Transcoder
from eventsourcing.utils import get_topic, resolve_topic

from lifecycle.chain import GENESIS, HASH_LEN, is_chained, link

__all__ = ["FastMapper", "FieldCipher", "OrjsonTranscoder", "new_frozen", "state_decoder"]

_DT, _UUID, _TUPLE = 1, 2, 3
_BASE_FIELDS = {"originator_id", "originator_version"}
_HEADS_LIMIT = 200_000
_T = TypeVar("_T")


class FieldCipher(Protocol):
    """Encrypts the personal fields of an event's state, and decrypts them."""

    def spec(self, cls: type, /) -> Any | None:
        """What to encrypt in events of ``cls``; None: nothing."""

    def encrypt(self, spec: Any, event: Any, state: dict[str, Any], /) -> None: ...

    def decrypt(self, spec: Any, originator_id: UUID, state: dict[str, Any], /) -> None: ...


def new_frozen(cls: type[_T], fields: dict[str, Any]) -> _T:
    """An instance of the frozen dataclass ``cls`` with exactly ``fields``, without
    running its generated ``__init__`` (which sets each field through
    ``object.__setattr__``): for the stored events, notifications and recordings made
    per event on the write path. The result equals, hashes and pickles like one made
    by ``cls(**fields)``; ``fields`` must name every field, in declaration order."""
    obj = object.__new__(cls)
    object.__setattr__(obj, "__dict__", fields)
    return obj


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


def state_decoder(mapper: Mapper[Any]) -> Callable[[bytes], dict[str, Any]]:
    """The stored state → attributes function of an application's mapper: what its
    ``decode_state`` gives for a stored event of that state (the chain's link stripped,
    decrypted, decompressed, transcoded), from the bytes alone — the runner reads no
    more of a stored event — without a stored event made up around them.

    Personal fields stay as stored (encrypted), as in ``decode_state``.
    """
    cipher, compressor, transcode = mapper.cipher, mapper.compressor, mapper.transcoder.decode
    if cipher is None and compressor is None:
        def plain(state: bytes) -> dict[str, Any]:
            # Chained states start with their link (64 hex digits), older ones with "{"
            # (is_chained, inline: this runs for every event a projection reads).
            data: dict[str, Any] = transcode(state[HASH_LEN:] if state[:1] != b"{" else state)
            return data

        return plain

    def decode(state: bytes) -> dict[str, Any]:
        if state[:1] != b"{":  # is_chained, inline
            state = state[HASH_LEN:]
        if cipher is not None:
            state = cipher.decrypt(state)
        if compressor is not None:
            state = compressor.decompress(state)
        data: dict[str, Any] = transcode(state)
        return data

    return decode



class FastMapper(Mapper[UUID]):
    """Domain event ⇄ stored event with orjson and declared-type restoration."""

    def __init__(
        self, transcoder: Transcoder | None = None, *, personal: FieldCipher | None = None
    ) -> None:
        super().__init__(transcoder=transcoder or OrjsonTranscoder())
        self.personal = personal
        self.heads: dict[UUID, tuple[int, bytes]] = {}
        """The latest (version, hash) this mapper decoded or stored, per aggregate."""
        self._topics: dict[type, str] = {}
        self._decode: Callable[[bytes], dict[str, Any]] | None = None
        self._topic_bytes: dict[str, bytes] = {}
        self._classes: dict[str, tuple[type, dict[str, int]]] = {}
        # Per event class: class version, and the field cipher with its spec for the
        # class (a spec is taken to depend on the class only).
        self._encoding: dict[type, tuple[int, FieldCipher | None, Any]] = {}

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
        cls = type(domain_event)
        personal = self.personal
        encoding = self._encoding.get(cls)
        if encoding is None or encoding[1] is not personal:
            spec = personal.spec(cls) if personal is not None else None
            encoding = self._encoding[cls] = (getattr(cls, "class_version", 1), personal, spec)
        # A copy minus the two base fields (same order as the event's attributes): a
        # C-level copy costs a fraction of filtering every key in a comprehension.
        state = dict(vars(domain_event))
        state.pop("originator_id", None)
        state.pop("originator_version", None)
        class_version, _, spec = encoding
        if class_version > 1:
            state["class_version"] = class_version
        if spec is not None and personal is not None:
            personal.encrypt(spec, domain_event, state)
        return self.transcoder.encode(state)

    def to_stored_events(
        self, domain_events: Iterable[DomainEventProtocol[UUID]], prev: Mapping[UUID, bytes]
    ) -> tuple[list[StoredEvent], dict[UUID, tuple[int, bytes]]]:
        """Stored events, each chained to the previous event of its aggregate.

        Args:
            domain_events: events in order (an aggregate's versions consecutive).
            prev: the hash each aggregate's first event here follows; version 1 may be
                left out (it follows ``GENESIS``).

        Returns:
            The stored events, and each aggregate's new head (version, hash), to be
            remembered (:meth:`remember`) once they are committed.

        Raises:
            ValueError: an event after version 1 whose predecessor's hash is not given.
        """
        heads: dict[UUID, tuple[int, bytes]] = {}
        stored = []
        # Locals: this loop runs for every event written.
        encode, compressor, cipher = self.encode_state, self.compressor, self.cipher
        topics, topic_bytes = self._topics, self._topic_bytes
        new, set_dict = object.__new__, object.__setattr__
        for event in domain_events:
            oid, version = event.originator_id, event.originator_version
            head = heads.get(oid)
            before = head[1] if head is not None else prev.get(oid)
            if before is None:
                if version != 1:
                    raise ValueError(f"no previous hash given for {oid} v{version}")
                before = GENESIS
            topic = topics.get(type(event)) or self._topic(type(event))
            tb = topic_bytes.get(topic)
            if tb is None:
                tb = topic_bytes[topic] = topic.encode()
            body = encode(event)
            if compressor:
                body = compressor.compress(body)
            if cipher:
                body = cipher.encrypt(body)
            digest = link(before, tb, body)
            heads[oid] = (version, digest)
            record = new(StoredEvent)  # as new_frozen() does, inline
            set_dict(record, "__dict__", {"originator_id": oid, "originator_version": version,
                                          "topic": topic, "state": digest + body})
            stored.append(record)
        return stored, heads

    def remember(self, heads: Mapping[UUID, tuple[int, bytes]]) -> None:
        """Records committed aggregate heads (the next save chains to them)."""
        if len(self.heads) > _HEADS_LIMIT:
            self.heads.clear()
        self.heads.update(heads)

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        """One event, chained to the last one this mapper stored or decoded of its
        aggregate (outside the application, which chains whole batches)."""
        oid = domain_event.originator_id
        known = self.heads.get(oid)
        prev = {oid: known[1]} if known and known[0] == domain_event.originator_version - 1 else {}
        stored, heads = self.to_stored_events([domain_event], prev)
        self.remember(heads)
        return stored[0]

    def decode_state(self, stored_event: StoredEvent) -> dict[str, Any]:
        decode = self._decode
        if decode is None:  # built at the first decode: cipher and compressor are set by then
            decode = self._decode = state_decoder(self)
        return decode(stored_event.state)

    def public_state(self, stored_event: StoredEvent) -> dict[str, Any]:
        """The stored state as published outside the engine (the ``lead-events`` topic).

        Never decrypts: personal fields stay exactly as stored, so publishing an event
        cannot leak what erasure must be able to shred.
        """
        state = stored_event.state
        if is_chained(state):
            state = state[HASH_LEN:]
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
        oid = stored_event.originator_id
        oid = oid if isinstance(oid, UUID) else UUID(str(oid))
        personal = self.personal
        if personal is not None:
            spec = personal.spec(cls)
            if spec is not None:
                try:
                    personal.decrypt(spec, oid, state)
                except ValueError as e:
                    raise MapperDeserialisationError(str(e)) from e
        raw = stored_event.state
        if is_chained(raw):
            heads = self.heads
            if len(heads) > _HEADS_LIMIT:
                heads.clear()
            heads[oid] = (stored_event.originator_version, raw[:HASH_LEN])
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
        state["originator_id"] = oid
        state["originator_version"] = stored_event.originator_version
        event: Any = object.__new__(cls)
        object.__setattr__(event, "__dict__", state)
        return event  # type: ignore[no-any-return]
