"""LeadKey: the index entry that maps one lead key (external id or email) to its lead.

Two systems that know the same person by different keys (a CRM by its id, a webinar
platform by email) reach one lead: the first input that carries both keys registers
both. The entry's id is derived from the key (uuid5), so a lookup is a get by id and
a race to register a key is settled by the event store's uniqueness.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID

from eventsourcing.domain import Aggregate

from lifecycle.aggregates.values import key_index_id

__all__ = ["LeadKey"]


class LeadKey(Aggregate):
    """Index entry: ``key`` belongs to ``lead_id``."""

    if TYPE_CHECKING:
        key: str
        lead_id: UUID

    class Registered(Aggregate.Created):
        # The key is personal (an email, a CRM id); the person is the lead it names.
        personal_fields: ClassVar[tuple[tuple[str, str], ...]] = (("key", "key"),)
        personal_subject: ClassVar[str | None] = "lead_id"

        key: str
        lead_id: UUID

        def apply(self, aggregate: Any) -> None:
            aggregate.key = self.key
            aggregate.lead_id = self.lead_id

    @classmethod
    def register(cls, key: str, lead_id: UUID, *, recorded_at: datetime) -> LeadKey:
        return cls._create(cls.Registered, id=key_index_id(key), timestamp=recorded_at,
                           key=key, lead_id=lead_id)
