"""LeadKey: the index entry that maps one lead key (external id or email) to its lead.

Two systems that know the same person by different keys (a CRM by its id, a webinar
platform by email) reach one lead: the first input that carries both keys registers
both. The entry's id is derived from the key (uuid5), so a lookup is a get by id and
a race to register a key is settled by the event store's uniqueness.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

__all__ = ["LeadKey", "key_index_id", "lead_id_for"]

_INDEX_NS = uuid5(NAMESPACE_URL, "https://lead-lifecycle.dev/ns/lead-key")
_LEAD_NS = uuid5(NAMESPACE_URL, "https://lead-lifecycle.dev/ns/lead")


def key_index_id(key: str) -> UUID:
    """The id of the index entry for ``key`` (``external:…`` or ``email:…``)."""
    return uuid5(_INDEX_NS, key)


def lead_id_for(key: str) -> UUID:
    """The id a lead gets when it is first captured under ``key``."""
    return uuid5(_LEAD_NS, key)


class LeadKey(Aggregate):
    """Index entry: ``key`` belongs to ``lead_id``."""

    if TYPE_CHECKING:
        key: str
        lead_id: UUID

    class Registered(Aggregate.Created):
        key: str
        lead_id: UUID

        def apply(self, aggregate: Any) -> None:
            aggregate.key = self.key
            aggregate.lead_id = self.lead_id

    @classmethod
    def register(cls, key: str, lead_id: UUID, *, recorded_at: datetime) -> LeadKey:
        return cls._create(cls.Registered, id=key_index_id(key), timestamp=recorded_at,
                           key=key, lead_id=lead_id)
