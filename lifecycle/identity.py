"""Which lead an input or a user's key names: the key index, with a cache in front.

Keys are spelled by :class:`~lifecycle.aggregates.values.Key`; each registered key is
a :class:`~lifecycle.aggregates.lead_key.LeadKey` aggregate whose id is derived from the
key, so a lookup is a get by id. The inputs of a batch see the keys registered by the
inputs before them (the batch's own map) before anything is saved.
"""

from __future__ import annotations

import unicodedata
from collections import OrderedDict
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from lifecycle.aggregates.lead import Lead
from lifecycle.aggregates.lead_key import LeadKey
from lifecycle.aggregates.values import Key, key_index_id
from lifecycle.contracts import normalized_email
from lifecycle.errors import IdentityConflict, LeadErased, LeadNotFound

if TYPE_CHECKING:
    from eventsourcing.application import Repository

    from lifecycle.handling import Batch
    from lifecycle.privacy import SubjectKeys

__all__ = ["LRU", "KeyIndex", "LeadFinding", "lookup_candidates"]


class LRU(OrderedDict[Any, Any]):
    """A bounded mapping that forgets the least recently used entry first."""

    def __init__(self, maxsize: int) -> None:
        super().__init__()
        self.maxsize = maxsize

    def get_recent(self, key: Any) -> Any:
        value = self.get(key)
        if value is not None:
            self.move_to_end(key)
        return value

    def put(self, key: Any, value: Any) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.maxsize:
            self.popitem(last=False)


class KeyIndex:
    """Finds leads by key and registers new keys.

    Args:
        repository: the application's repository (key index entries are aggregates).
        cache: the process's key → lead cache (shared with the application's prefetch).
        conflict: what an input whose keys name two leads gets: ``reject`` raises
            IdentityConflict; ``first_key`` goes by its first key that names a lead.
    """

    def __init__(
        self, repository: Repository[UUID], cache: LRU,
        conflict: Literal["reject", "first_key"] | str,
    ) -> None:
        self.repository = repository
        self.cache = cache
        self.strict = conflict == "reject"

    def lookup(self, key: str, batch: Batch | None = None) -> UUID | None:
        """The lead ``key`` names; None: none."""
        if batch is not None and key in batch.keys:
            return batch.keys[key]
        lead_id: UUID | None = self.cache.get_recent(key)
        if lead_id is not None:
            return lead_id
        try:
            entry: Any = self.repository.get(key_index_id(key))
        except AggregateNotFoundError:
            return None
        if not isinstance(entry, LeadKey):
            raise RuntimeError(f"the key index entry of {key!r} is not a LeadKey")
        self.cache.put(key, entry.lead_id)
        return entry.lead_id

    def resolve(
        self, keys: tuple[str, ...], batch: Batch, *, strict: bool = True
    ) -> UUID | None:
        """The lead of the first key that has one (external id before email).

        Raises:
            IdentityConflict: ``strict``, the settings say ``reject``, and another key
                belongs to another lead.
        """
        found: UUID | None = None
        first = ""
        for key in keys:
            lead_id = self.lookup(key, batch)
            if lead_id is None:
                continue
            if found is None:
                found, first = lead_id, key
                if not strict or not self.strict:
                    break
            elif lead_id != found:
                raise IdentityConflict(leads={Key(first).field: found, Key(key).field: lead_id})
        return found

    def register(
        self, keys: Iterable[str], lead_id: UUID, batch: Batch, recorded_at: datetime
    ) -> None:
        """Registers ``keys`` for ``lead_id`` in the batch (saved with it)."""
        for key in keys:
            entry = LeadKey.register(key, lead_id, recorded_at=recorded_at)
            batch.aggregates[entry.id] = entry
            batch.new_keys.append(key)
            batch.keys[key] = lead_id
            self.cache.put(key, lead_id)


class LeadFinding:
    """The application's reading of leads: by key, by id, their events.

    A part of :class:`~lifecycle.application.LeadLifecycle` (which it is mixed into),
    kept here beside the key index it reads.
    """

    if TYPE_CHECKING:  # the application's
        repository: Repository[UUID]
        identity: KeyIndex
        subject_keys: SubjectKeys

    def find_lead(self, key: str, *, erased_ok: bool = False) -> UUID:
        """The id of the lead known by ``key`` (an external id, an email or a lead id).

        Args:
            key: the key; ``external:…`` / ``email:…`` name its kind.
            erased_ok: return an erased lead found by a key of its (the key index
                finds it by the key's uuid5, without the key's text).

        Raises:
            LeadNotFound: no lead is known by that key.
            LeadErased: the lead known by that key was erased (unless ``erased_ok``);
                it is still found by its lead id.
        """
        key = key.strip()
        for candidate in lookup_candidates(key):
            lead_id = self.identity.lookup(candidate)
            if lead_id is not None:
                # Only a lead without a key can be erased: the others are not loaded
                # (audit verify looks up leads whose events may not decode).
                if not erased_ok and self.subject_keys.cipher(lead_id) is None and (
                        (lead := self._get_lead(lead_id)) is not None and lead.erased):
                    raise LeadErased(
                        f"the lead known by that key, {lead_id}, was erased: its personal "
                        "data is gone; its history is still shown by its lead id")
                return lead_id
        try:
            lead_id = UUID(key)
        except ValueError:
            raise LeadNotFound(key) from None
        if self._get_lead(lead_id) is None:
            raise LeadNotFound(key)
        return lead_id

    def get_lead(self, lead_id: UUID, *, version: int | None = None) -> Lead:
        """A copy of the lead from the event store (optionally at ``version``).

        Raises:
            LeadNotFound: no such lead.
        """
        lead = self._get_lead(lead_id, version=version)
        if lead is None:
            raise LeadNotFound(str(lead_id))
        return lead

    def _get_lead(self, lead_id: UUID, *, version: int | None = None) -> Lead | None:
        try:
            lead: Any = self.repository.get(lead_id, version=version)
        except AggregateNotFoundError:
            return None
        return lead if isinstance(lead, Lead) else None

    def lead_events(self, lead_id: UUID) -> list[Lead.Event]:
        """Every stored event of a lead, in order."""
        return [e for e in self.repository.event_store.get(lead_id) if isinstance(e, Lead.Event)]


def lookup_candidates(text: str) -> list[Key]:
    """The keys a user's ``text`` may mean, most likely first, normalized as the
    contract records them: ``email:…`` / ``external:…`` say which; a bare value is an
    external id, or an email first when it holds an ``@`` (an external id may look
    like an email)."""
    key = Key.parse(text)
    if key is not None:
        return [_email(key.value) if key.kind == "email" else _external(key.value)]
    return [_email(text), _external(text)] if "@" in text else [_external(text)]


def _email(address: str) -> Key:
    # The form the contract records (NFC, Unicode domain, lower case): the punycode or
    # decomposed spelling of a recorded address finds its lead too.
    return Key.email(normalized_email(address) or address.lower())


def _external(external_id: str) -> Key:
    # In NFC, as the contract records it: a decomposed "café" finds the lead too.
    return Key.external(unicodedata.normalize("NFC", external_id))
