"""The lead domain's value objects: loss reasons, lead keys, and what erasure leaves.

Values, not entities: immutable, compared by value, free of storage and of the input
contract (which imports its loss reasons from here).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, NamedTuple
from uuid import NAMESPACE_URL, UUID, uuid5

__all__ = [
    "ERASED",
    "LOSS_REASONS",
    "PERSONAL_PROFILE_FIELDS",
    "REASON_TAXONOMY_VERSION",
    "Key",
    "LossReason",
    "Touch",
    "key_index_id",
    "lead_id_for",
]

ERASED = "(erased)"
"""What a personal field reads as once its lead was erased (not "[erased]": terminal
renderers would take that for markup)."""

PERSONAL_PROFILE_FIELDS = ("name", "phone")
"""Profile fields that identify the person (encrypted, erasable)."""

REASON_TAXONOMY_VERSION = 1
"""Version of :class:`LossReason`; carried in every event that names a reason."""


class LossReason(StrEnum):
    """Why a lead was lost, disqualified or recycled (taxonomy version 1)."""

    NEED_MISMATCH = "need_mismatch"
    COMPETITOR_WON = "competitor_won"
    NO_BUDGET = "no_budget"
    DECISION_POSTPONED = "decision_postponed"
    NO_RESPONSE = "no_response"
    INVALID_LEAD = "invalid_lead"
    OTHER = "other"


LOSS_REASONS: tuple[str, ...] = tuple(r.value for r in LossReason)

_INDEX_NS = uuid5(NAMESPACE_URL, "https://lead-lifecycle.dev/ns/lead-key")
_LEAD_NS = uuid5(NAMESPACE_URL, "https://lead-lifecycle.dev/ns/lead")


def key_index_id(key: str) -> UUID:
    """The id of the key index entry for ``key`` (``external:…`` or ``email:…``)."""
    return uuid5(_INDEX_NS, key)


def lead_id_for(key: str) -> UUID:
    """The id a lead gets when it is first captured under ``key``."""
    return uuid5(_LEAD_NS, key)


class Key(str):
    """A lead key: ``external:<id>`` (a system's own id) or ``email:<address>``.

    A ``str`` itself, spelled as events and the key index store it, so a key is used
    as a dictionary key, compared and stored like the plain string it was before;
    this class is the one place that spells the scheme. Values are taken as the
    contract normalized them (:mod:`lifecycle.identity` normalizes what a user types).
    """

    __slots__ = ()

    KINDS = {"external": "external_id", "email": "email"}
    """Kind of key → the input field it comes from."""

    @classmethod
    def external(cls, external_id: str) -> Key:
        return cls("external:" + external_id)

    @classmethod
    def email(cls, address: str) -> Key:
        return cls("email:" + address)

    @staticmethod
    def of(external_id: str | None, email: str | None) -> tuple[str, ...]:
        """An input's keys, external id first: a system's own id beats an email.

        Plain strings spelled as keys (``Key(k)`` has their parts): this runs for
        every input, and a dict looks plain strings up faster than a subclass's.
        """
        if external_id:
            if email:
                return "external:" + external_id, "email:" + email
            return ("external:" + external_id,)
        return ("email:" + email,) if email else ()

    @classmethod
    def parse(cls, text: str) -> Key | None:
        """``text`` as a key if it names a known kind (``email:…``), else None."""
        kind, sep, _ = text.partition(":")
        return cls(text) if sep and kind in cls.KINDS else None

    @property
    def kind(self) -> str:
        """``external`` or ``email``."""
        return self.partition(":")[0]

    @property
    def value(self) -> str:
        return self.partition(":")[2]

    @property
    def field(self) -> str:
        """The input field the key comes from (``external_id``, ``email``)."""
        return self.KINDS.get(self.kind, self.kind)

    @property
    def index_id(self) -> UUID:
        """The id of this key's entry in the key index."""
        return key_index_id(self)

    @property
    def lead_id(self) -> UUID:
        """The id of a lead first captured under this key."""
        return lead_id_for(self)


class Touch(NamedTuple):
    """What a touchpoint tells the lead: the facts of one contact, without identity.

    A named tuple, not a dataclass: one is made per touchpoint on the ingest path
    (there by ``tuple.__new__``, as its generated ``__new__`` costs more).
    """

    touchpoint_id: str
    occurred_at: datetime
    source: str
    channel: str
    kind: str
    profile: dict[str, Any] | None = None
    """The profile fields given (None values left out); None: no profile."""
    properties: dict[str, Any] | None = None
    email: str | None = None
    """The email the touchpoint was sent with (normalized by the contract), if any: a
    lead first known by another key learns its email from it."""
