"""The global index of recorded inputs: the lead each id went to, and what it said.

A ``touchpoint_id`` / ``action_id`` names one input for good, whatever lead it is for.
Every accepted input gets a row in :data:`INPUTS_TABLE` — its cause (``touchpoint:ID``
or ``action:ID``), its lead, and its content sealed with the lead's key — written by
the process recorder in the transaction of the input's events
(:mod:`lifecycle.adapters`), so the index and the event store never disagree, across
batches, processes and restarts. A batch reads the rows of all its inputs in one
query per 500 ids. A redelivery is compared with its row: the same content is
``duplicate``; other content, or another lead, is :class:`~lifecycle.errors.IdConflict`,
naming the fields that differ.

Content is the validated, normalised input (times in UTC, email in lower case, keys
in any order; a null field, an empty ``profile`` or empty ``properties`` are absent) as
canonical JSON. It is stored encrypted (AES-256-GCM) with the lead's personal-data key
(:mod:`lifecycle.privacy`), the lead id and the cause as associated data, because it
holds the person's email, name and phone, and digests would not do: an unkeyed digest
of a low-entropy email gives it back to a dictionary of candidates. Erasing the lead
deletes the key, and with it every readable trace of its inputs here. A redelivery of
an erased lead's input cannot be compared any more; with the same keys it counts as
``duplicate`` (nothing is written either way, and a reject would copy the person's
data into a reject file or dead-letter topic).

Cost, measured with ``bench/ingest.py --touchpoints 20000`` alternating with the
engine before the index (2 cores shared with other work, load average 3-6): 10-20 %
more CPU per new input on SQLite and on PostgreSQL — the index row's insert, the
canonical JSON and one AES-GCM call, the batch's index query. One BLAKE2b digest per
field instead (to name differing fields without keeping the content) cost more than
the sealing. A redelivery no longer needs its lead: re-ingesting the same file with
empty caches took a fifth of the CPU it took before the index.

Stores written before this index have no rows for their inputs; their redeliveries
are still recognised on the lead by its ``seen`` causes (:class:`~lifecycle.aggregates.lead.Lead`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID

import orjson
from cryptography.exceptions import InvalidTag

from lifecycle.adapters.protocol import INPUTS_TABLE

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from lifecycle.contracts import SalesAction, Touchpoint

__all__ = [
    "INPUTS_TABLE",
    "Recorded",
    "cause_of",
    "content",
    "differing",
    "id_field_of",
    "open_content",
    "seal_content",
]

_VERSION = b"\x01"
_dumps = orjson.dumps
_SORTED = orjson.OPT_SORT_KEYS


@dataclass(frozen=True, slots=True)
class Recorded:
    """What is known of an input id: its lead, and its content — sealed as stored, or
    plain (canonical JSON) when it was accepted earlier in the batch being recorded."""

    lead_id: UUID
    sealed: bytes | None = None
    plain: bytes | None = None


def id_field_of(item: Touchpoint | SalesAction) -> str:
    return "touchpoint_id" if "touchpoint_id" in item.__dict__ else "action_id"


def cause_of(item: Touchpoint | SalesAction) -> str:
    """The cause its events carry (and its key in the index): ``touchpoint:ID`` /
    ``action:ID``; touchpoint and action ids are separate namespaces."""
    fields = item.__dict__
    if "touchpoint_id" in fields:
        return f"touchpoint:{fields['touchpoint_id']}"
    return f"action:{fields['action_id']}"


def content(item: Touchpoint | SalesAction) -> bytes:
    """The input's content (the id itself left out) as canonical JSON: one key per
    field, ``profile`` fields as ``profile.NAME``, keys sorted at every level."""
    # A pydantic model's validated fields are its __dict__; comprehensions, as this
    # runs for every input recorded.
    out = {k: v for k, v in item.__dict__.items() if v is not None}
    out.pop("touchpoint_id" if "touchpoint_id" in out else "action_id", None)
    profile = out.pop("profile", None)
    if profile is not None:
        out.update({f"profile.{k}": v for k, v in profile.__dict__.items() if v is not None})
    if out.get("properties") == {}:
        del out["properties"]
    return _dumps(out, option=_SORTED)


def seal_content(
    cipher: AESGCM, lead_id: UUID, cause: str, plain: bytes, nonce: bytes | None = None
) -> bytes:
    """Stored form: a version byte, a random 12-byte nonce (``nonce``: one taken from a
    batch's random block, saving a system call per row), the ciphertext of ``plain``."""
    if nonce is None:
        nonce = os.urandom(12)
    return _VERSION + nonce + cipher.encrypt(nonce, plain, _aad(lead_id, cause))


def open_content(cipher: AESGCM, lead_id: UUID, cause: str, sealed: bytes) -> bytes | None:
    """The canonical JSON of a stored row; None when it does not decrypt (altered, or
    copied from another row)."""
    if sealed[:1] != _VERSION:
        return None
    try:
        return cipher.decrypt(sealed[1:13], sealed[13:], _aad(lead_id, cause))
    except InvalidTag:
        return None


def _aad(lead_id: UUID, cause: str) -> bytes:
    return lead_id.bytes + cause.encode()


def differing(a: bytes, b: bytes) -> tuple[str, ...]:
    """The fields whose values differ between two canonical contents, or that only one
    has, sorted; within ``properties``, the property (``properties.NAME``)."""
    left, right = orjson.loads(a), orjson.loads(b)
    out = []
    for name in sorted(left.keys() | right.keys()):
        x, y = left.get(name), right.get(name)
        if _same(x, y):
            continue
        if name == "properties" and isinstance(x, dict) and isinstance(y, dict):
            out += [f"{name}.{k}" for k in sorted(x.keys() | y.keys())
                    if not _same(x.get(k), y.get(k))]
        else:
            out.append(name)
    return tuple(out)


def _same(x: Any, y: Any) -> bool:
    # As canonical JSON, not ==: 1 and 1.0 (or True and 1) are different content.
    return _dumps(x, option=_SORTED) == _dumps(y, option=_SORTED)
