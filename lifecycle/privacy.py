"""Personal data: encrypted per lead, erasable by deleting the lead's key.

Crypto-shredding: the personal fields of events are stored encrypted (AES-256-GCM) with
a key of their own lead, kept in ``lc_subject_keys`` in the same database. Erasing a
lead deletes its key: every copy of those fields (the event store, a backup of it, the
``lead-events`` topic) becomes unreadable at once, and decoding shows
:data:`~lifecycle.aggregates.lead.ERASED` instead.

Personal fields: the email; the external id and every lead key, of either kind (an
external id may be an email, or a CRM id that points at the person); the profile's name
and phone; an email a later touchpoint made known; free text (notes, loss,
disqualification, recycle, reopen and reinstatement texts, skip reasons, the reason of a
sales override or of a qualify action); and the touchpoint and sales-action properties
that are personal (:class:`PersonalProperties`: by name, by default every property whose
name contains ``email``, ``name``, ``phone`` or ``address`` at any depth, and every
string that holds an ``@``). Nothing else is encrypted, so projections, reports and the funnel
keep working; lead ids and key index ids (uuid5 of a key) stay as pseudonyms. A
competitor's name is business data the loss report groups by, and stays readable.

A field value is stored as ``"enc:v1:" + base64(nonce || ciphertext)``; a key
``email:ada@acme.com`` keeps its kind (``email:enc:v1:…``); a personal property value,
of any JSON type, as ``"enc:j1:" + …`` of its JSON. The lead id is the associated data,
so a ciphertext copied to another lead does not decrypt.

Deleting a key is physical, not only logical (the storage adapter's key store,
:class:`~lifecycle.adapters.protocol.KeyStore`): on SQLite the key connection deletes with
``secure_delete`` and truncates the write-ahead log; on PostgreSQL the row is deleted
and the key table rewritten (``VACUUM FULL``: a plain ``VACUUM`` was measured to leave
deleted keys readable in the pages' free space), and the key column is kept out of the
planner's statistics (``ANALYZE`` would otherwise copy key values into ``pg_statistic``).
What is not covered: copies outside the database's live files — PostgreSQL's WAL
segments until they are recycled, WAL archives and backups, freed disk blocks.
"""

from __future__ import annotations

import base64
import functools
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any, Protocol
from uuid import UUID

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from lifecycle.adapters import adapter_for
from lifecycle.adapters.protocol import ERASE_WAIT, KEYS_TABLE, KeyStore
from lifecycle.aggregates.values import ERASED, PERSONAL_PROFILE_FIELDS
from lifecycle.errors import ErasureIncomplete

__all__ = [
    "DEFAULT_PERSONAL_PROPERTIES",
    "ERASE_WAIT",
    "JSON_PREFIX",
    "KEYS_TABLE",
    "PREFIX",
    "FieldSpec",
    "KeyRing",
    "PersonalData",
    "PersonalProperties",
    "SubjectKeys",
]

KEY_TTL = 60.0
"""Seconds a process trusts a cached key: an erasure made elsewhere is honoured here
within that time (a deleted key stays deleted for good)."""
PREFIX = "enc:v1:"
JSON_PREFIX = "enc:j1:"
_MARK = "enc:"
_OVERRIDE = "sales override: "
"""How the Lead writes a MarketingQualified rule forced by a salesperson; the reason
after it is free text."""
DEFAULT_PERSONAL_PROPERTIES = ("email", "name", "phone", "address")

TEXT, KEYS, KEY, PROFILE, PROPERTIES, OVERRIDE = 1, 2, 3, 4, 5, 6

FieldSpec = tuple[str | None, tuple[tuple[str, int], ...]]
"""Which attribute names the lead (None: the event's originator) and the personal
fields of an event class with their kind."""

_KINDS = {"text": TEXT, "keys": KEYS, "key": KEY, "profile": PROFILE,
          "properties": PROPERTIES, "override": OVERRIDE}


class _Specs(dict[type, "FieldSpec | None"]):
    """Field specs by event class, read once from what the class declares:
    ``personal_fields`` (name, kind) and ``personal_subject`` (the attribute naming the
    person; None: the event's originator). A plain dict lookup after the first."""

    def __missing__(self, cls: type) -> FieldSpec | None:
        fields = getattr(cls, "personal_fields", ())
        spec = self[cls] = (getattr(cls, "personal_subject", None), tuple(
            (name, _KINDS[kind]) for name, kind in fields)) if fields else None
        return spec


SPECS = _Specs()


_UNKNOWN: Any = object()


class KeyRing(Protocol):
    def cipher(self, lead_id: UUID, /) -> AESGCM | None:
        """The lead's cipher; None when it has no key (erased)."""


class SubjectKeys:
    """The per-lead keys, with an in-memory cache (a deleted key stays deleted), over the
    database's key store (:meth:`~lifecycle.adapters.protocol.EventStorage.key_store`)."""

    def __init__(self, database_url: str, *, cache_size: int = 100_000) -> None:
        self._store: KeyStore = adapter_for(database_url).key_store()
        # lead → (cipher, trusted until) or None: no key (erased, for good)
        self._cache: OrderedDict[UUID, tuple[AESGCM, float] | None] = OrderedDict()
        self._cache_size = max(cache_size, 1000)

    def close(self) -> None:
        self._store.close()

    def _remember(self, lead_id: UUID, cipher: AESGCM | None) -> None:
        self._cache[lead_id] = None if cipher is None else (cipher, time.monotonic() + KEY_TTL)
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def cipher(self, lead_id: UUID) -> AESGCM | None:
        """The lead's cipher; None when it has no key (erased)."""
        entry = self._cache.get(lead_id, _UNKNOWN)
        if entry is None:
            return None
        if entry is not _UNKNOWN and entry[1] > time.monotonic():
            cached: AESGCM = entry[0]
            return cached
        key = self._store.fetch([lead_id]).get(lead_id)
        cipher = None if key is None else AESGCM(key)
        self._remember(lead_id, cipher)
        return cipher

    def prefetch(self, lead_ids: Iterable[UUID]) -> None:
        """Reads the keys of many leads in a few queries (one per 500 ids), so that
        decrypting their events asks the database nothing more: one query per lead cost
        more than half of naming 1,000 leads on PostgreSQL. Creates no key; a lead found
        without one is asked for again when its events are decrypted."""
        now = time.monotonic()
        wanted = [lid for lid in dict.fromkeys(lead_ids)
                  if (entry := self._cache.get(lid, _UNKNOWN)) is _UNKNOWN
                  or (entry is not None and entry[1] <= now)]
        if wanted:
            for lid, key in self._store.fetch(wanted).items():
                self._remember(lid, AESGCM(key))

    def ensure(self, lead_ids: Iterable[UUID]) -> None:
        """Makes sure each lead has a key, creating (and committing) missing ones."""
        now = time.monotonic()
        missing = [lid for lid in dict.fromkeys(lead_ids)
                   if (entry := self._cache.get(lid)) is None or entry[1] <= now]
        if not missing:
            return
        found = self._store.fetch(missing)
        new = {lid: AESGCM.generate_key(256) for lid in missing if lid not in found}
        if new:
            if self._store.insert(new, time.time()):
                found.update(new)
            else:  # another writer created some of them first: its keys win
                found.update(self._store.fetch(list(new)))
        for lid, key in found.items():
            self._remember(lid, AESGCM(key))

    def delete(self, lead_id: UUID) -> bool:
        """Deletes the lead's key, irreversibly and physically (see the module's
        docstring for what that covers). Returns whether there was one.

        Raises:
            ErasureIncomplete: the key is deleted, but an old copy of it may remain
                (SQLite: readers kept the write-ahead log from being truncated;
                PostgreSQL: older transactions kept its row in the table's pages, see
                ``ERASE_WAIT``); running it again finishes the job.
        """
        try:
            deleted = self._store.delete(lead_id)
        except ErasureIncomplete:
            self._remember(lead_id, None)
            raise
        self._remember(lead_id, None)
        return deleted


class PersonalProperties:
    """Which touchpoint properties are personal.

    A property is personal when its name contains one of ``words`` (case-insensitive),
    at any depth of nesting; its whole value is encrypted, whatever its type. With
    ``words=None`` every property is personal. Whatever the words, a string holding an
    ``@`` (an email under a name that says nothing) and a property whose name holds one
    are encrypted too.
    """

    def __init__(self, words: Iterable[str] | None = DEFAULT_PERSONAL_PROPERTIES) -> None:
        self.all = words is None
        self.words = tuple(w.strip().lower() for w in words or () if w.strip())

    @classmethod
    def parse(cls, text: str) -> PersonalProperties:
        """From configuration: ``*`` (every property) or comma-separated name parts."""
        return cls(None if text.strip() == "*" else text.split(","))

    def personal(self, name: str) -> bool:
        if self.all:
            return True
        low = name.lower()
        return any(w in low for w in self.words)


def _revealing(text: str) -> bool:
    """A string that must not be stored as it is: it holds an ``@`` (an email, perhaps),
    or it could be taken for a ciphertext when read back."""
    return "@" in text or text.startswith(_MARK)


class PersonalData:
    """Encrypts and decrypts the personal fields of events (the mapper's field cipher)."""

    def __init__(self, keys: KeyRing, properties: PersonalProperties | None = None) -> None:
        self.keys = keys
        self.properties = properties or PersonalProperties()

    @staticmethod
    def spec(event_class: type) -> FieldSpec | None:
        return SPECS[event_class]

    def subjects(self, events: Iterable[Any]) -> set[UUID]:
        """The leads whose keys are needed to store ``events``."""
        out: set[UUID] = set()
        specs = SPECS
        for event in events:
            spec = specs[type(event)]
            if spec is None:
                continue
            attrs = event.__dict__
            for name, _ in spec[1]:
                if attrs.get(name):
                    out.add(event.originator_id if spec[0] is None else attrs[spec[0]])
                    break
        return out

    def encrypt(self, spec: FieldSpec, event: Any, state: dict[str, Any]) -> None:
        """Replaces the personal fields in ``state`` (an event's attributes) in place."""
        lead_id: UUID = event.originator_id if spec[0] is None else getattr(event, spec[0])
        seal: _Fns | None = None
        for name, kind in spec[1]:
            value = state.get(name)
            if not value or (kind == OVERRIDE and not value.startswith(_OVERRIDE)):
                continue
            if seal is None:
                cipher = self.keys.cipher(lead_id)
                if cipher is None:
                    raise LookupError(
                        f"lead {lead_id} has no key: its personal data cannot be stored "
                        "(erased leads take no input; otherwise lc_subject_keys lost a row)")
                seal = (functools.partial(_seal, cipher, lead_id.bytes, PREFIX),
                        functools.partial(_seal_json, cipher, lead_id.bytes))
            state[name] = self._transform(value, kind, seal, sealing=True)

    def decrypt(self, spec: FieldSpec, originator_id: UUID, state: dict[str, Any]) -> None:
        """Restores the personal fields in ``state`` (decoded JSON) in place; fields of an
        erased lead become :data:`ERASED`."""
        subject = state.get(spec[0]) if spec[0] is not None else originator_id
        lead_id = subject if isinstance(subject, UUID) else UUID(str(subject))
        unseal: _Fns | None = None
        for name, kind in spec[1]:
            value = state.get(name)
            if not value:
                continue
            if unseal is None:
                cipher = self.keys.cipher(lead_id)
                unseal = (functools.partial(_open, cipher, lead_id.bytes),
                          functools.partial(_open_json, cipher, lead_id.bytes))
            state[name] = self._transform(value, kind, unseal, sealing=False)

    def _transform(self, value: Any, kind: int, fns: _Fns, *, sealing: bool) -> Any:
        text = fns[0]
        if kind == TEXT:
            return text(value)
        if kind == KEY:
            return _keyed(value, text)
        if kind == KEYS:
            return [_keyed(k, text) for k in value]
        if kind == OVERRIDE:
            return _OVERRIDE + text(value[len(_OVERRIDE):]) if value.startswith(
                _OVERRIDE) else value
        if kind == PROPERTIES:
            return self._seal_tree(value, fns[1]) if sealing else _open_tree(value, fns[1])
        return {k: text(v) if k in PERSONAL_PROFILE_FIELDS and isinstance(v, str) else v
                for k, v in value.items()}

    def _seal_tree(self, value: Any, seal: Callable[[Any], str]) -> Any:
        if isinstance(value, dict):
            personal = self.properties.personal
            out: dict[str, Any] = {}
            for name, item in value.items():
                if _revealing(name):  # the name itself is personal: seal both
                    out[seal(name)] = seal(item)
                elif item is not None and personal(name):
                    out[name] = seal(item)
                else:
                    out[name] = self._seal_tree(item, seal)
            return out
        if isinstance(value, list):
            return [self._seal_tree(item, seal) for item in value]
        if isinstance(value, str) and _revealing(value):
            return seal(value)
        return value


_Fns = tuple[Callable[[str], str], Callable[[Any], Any]]
"""The text and JSON transforms of one lead (sealing, or opening)."""


def _keyed(key: str, fn: Callable[[str], str]) -> str:
    """A lead key (``email:…``, ``external:…``) with its value transformed, kind kept."""
    kind, sep, value = key.partition(":")
    return f"{kind}:{fn(value)}" if sep else fn(key)


def _open_tree(value: Any, open_json: Callable[[Any], Any]) -> Any:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        plain = {k for k in value if not k.startswith(JSON_PREFIX)}
        for stored, item in value.items():
            name = stored
            if stored.startswith(JSON_PREFIX):
                name = base = str(open_json(stored))
                n = 1
                while name in out or name in plain:  # erased names all read the same
                    n += 1
                    name = f"{base} {n}"
            out[name] = _open_tree(item, open_json)
        return out
    if isinstance(value, list):
        return [_open_tree(item, open_json) for item in value]
    if isinstance(value, str) and value.startswith(JSON_PREFIX):
        return open_json(value)
    return value


def _seal_json(cipher: AESGCM, aad: bytes, value: Any) -> str:
    return _seal(cipher, aad, JSON_PREFIX, orjson.dumps(value).decode())


def _open_json(cipher: AESGCM | None, aad: bytes, text: str) -> Any:
    if cipher is None:
        return ERASED
    return orjson.loads(_decrypt(cipher, aad, text[len(JSON_PREFIX):]))


def _seal(cipher: AESGCM, aad: bytes, prefix: str, text: str) -> str:
    nonce = os.urandom(12)
    return prefix + base64.b64encode(nonce + cipher.encrypt(nonce, text.encode(), aad)).decode()


def _open(cipher: AESGCM | None, aad: bytes, text: str) -> str:
    if not text.startswith(PREFIX):
        return text  # written before encryption
    if cipher is None:
        return ERASED
    return _decrypt(cipher, aad, text[len(PREFIX):]).decode()


def _decrypt(cipher: AESGCM, aad: bytes, encoded: str) -> bytes:
    raw = base64.b64decode(encoded)
    try:
        return cipher.decrypt(raw[:12], raw[12:], aad)
    except InvalidTag:
        raise ValueError(f"a personal field of lead {UUID(bytes=aad)} does not decrypt: "
                         "it was altered or copied from another lead") from None
