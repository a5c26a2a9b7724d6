"""The global index of recorded inputs: the lead each id went to, and its content digest.

A ``touchpoint_id`` / ``action_id`` names one input for good, whatever lead it is for.
Every accepted input gets a row in :data:`INPUTS_TABLE` — its cause (``touchpoint:ID``
or ``action:ID``), its lead and a digest of its content — written by the process
recorder in the transaction of the input's events (:mod:`lifecycle.recorders`), so the
index and the event store never disagree, across batches, processes and restarts. A
batch reads the rows of all its inputs in one query per 500 ids. A redelivery is
compared with its row: the same content is ``duplicate``; other content, or another
lead, is :class:`~lifecycle.errors.IdConflict`, naming the fields that differ.

Content is the validated, normalised input (times in UTC, email in lower case,
property keys in any order), compared field by field: one digest per top-level field,
and per ``profile`` field. A digest is 8 bytes of BLAKE2b keyed with a key derived
from the lead's personal-data key (:mod:`lifecycle.privacy`), for two reasons: an
unkeyed digest of a low-entropy value (an email, a name) gives the value back to
anyone who tries a dictionary of candidates, and erasure deletes that key, after which
the digests say nothing about the person. A redelivery of an erased lead's input
cannot be compared any more; it is counted ``duplicate`` (nothing is written either
way, and a reject would copy the person's data into a reject file or dead-letter topic).

Stores written before this index have no rows for their inputs; their redeliveries
are still recognised on the lead by its ``seen`` causes (:class:`~lifecycle.aggregates.lead.Lead`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID

import orjson

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from lifecycle.contracts import SalesAction, Touchpoint

__all__ = [
    "INPUTS_TABLE",
    "Recorded",
    "cause_of",
    "content_fields",
    "decode_digest",
    "differing",
    "digest_key",
    "encode_digest",
    "field_digests",
    "id_field_of",
]

INPUTS_TABLE = "lc_inputs"

_VERSION = b"\x01"
_MAC_SIZE = 8
# The plaintext whose encryption under a fixed nonce derives the digest key: AES-GCM's
# output for one fixed message is a pseudo-random function of the key. The nonce is
# never used to encrypt anything stored (stored fields get random nonces), and the
# output is a key, never stored.
_LABEL = b"lifecycle:input-content-digest:1"
_NONCE = bytes(12)
_blake2b = hashlib.blake2b
_dumps = orjson.dumps
_SORTED = orjson.OPT_SORT_KEYS


@dataclass(frozen=True, slots=True)
class Recorded:
    """What is known of an input id: stored (``digest``) or accepted earlier in the
    batch being recorded (``item``)."""

    lead_id: UUID
    digest: bytes | None = None
    item: Touchpoint | SalesAction | None = None


def id_field_of(item: Touchpoint | SalesAction) -> str:
    return "touchpoint_id" if "touchpoint_id" in item.__dict__ else "action_id"


def cause_of(item: Touchpoint | SalesAction) -> str:
    """The cause its events carry (and its key in the index): ``touchpoint:ID`` /
    ``action:ID``; touchpoint and action ids are separate namespaces."""
    if "touchpoint_id" in item.__dict__:
        return f"touchpoint:{item.__dict__['touchpoint_id']}"
    return f"action:{item.__dict__['action_id']}"


def content_fields(item: Touchpoint | SalesAction) -> dict[str, bytes]:
    """The input's content as canonical JSON per field (the id itself left out).

    A field that is null, or an empty ``profile`` or ``properties``, is absent: the
    contract treats them alike.
    """
    out: dict[str, bytes] = {}
    for name, value in item.__dict__.items():  # a pydantic model's fields, validated
        if value is None or name in ("touchpoint_id", "action_id"):
            continue
        if name == "profile":
            for sub, v in value.__dict__.items():
                if v is not None:
                    out[f"profile.{sub}"] = _dumps(v)
        elif value != {}:
            out[name] = _dumps(value, option=_SORTED)
    return out


def digest_key(cipher: AESGCM, lead_id: UUID) -> bytes:
    """The lead's content-digest key, derived from its personal-data cipher."""
    return cipher.encrypt(_NONCE, _LABEL, lead_id.bytes)


def field_digests(key: bytes, fields: Mapping[str, bytes]) -> dict[str, bytes]:
    """Each field's keyed digest; the field name is digested too, so equal values of
    two fields differ."""
    return {name: _blake2b(b"%b\0%b" % (name.encode(), value), key=key,
                           digest_size=_MAC_SIZE).digest()
            for name, value in fields.items()}


def encode_digest(digests: Mapping[str, bytes]) -> bytes:
    """Stored form: a version byte, then per field its name's length, name and digest.

    Field names are the contract's (ASCII identifiers), never values.
    """
    parts = [_VERSION]
    for name in sorted(digests):
        raw = name.encode("ascii")
        parts.append(bytes((len(raw),)) + raw + digests[name])
    return b"".join(parts)


def decode_digest(blob: bytes) -> dict[str, bytes]:
    """The field digests of a stored row.

    Raises:
        ValueError: not a digest this version wrote.
    """
    if blob[:1] != _VERSION:
        raise ValueError(f"unknown input digest version {blob[:1]!r}")
    out: dict[str, bytes] = {}
    i = 1
    while i < len(blob):
        n = blob[i]
        name = blob[i + 1 : i + 1 + n].decode("ascii")
        out[name] = blob[i + 1 + n : i + 1 + n + _MAC_SIZE]
        i += 1 + n + _MAC_SIZE
    return out


def differing(a: Mapping[str, Any], b: Mapping[str, Any]) -> tuple[str, ...]:
    """The fields whose values differ, or that only one side has, sorted."""
    return tuple(sorted(n for n in a.keys() | b.keys() if a.get(n) != b.get(n)))
