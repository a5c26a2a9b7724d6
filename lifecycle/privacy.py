"""Personal data: encrypted per lead, erasable by deleting the lead's key.

Crypto-shredding: the personal fields of events — email, the email in lead keys,
profile name and phone, free text — are stored encrypted (AES-256-GCM) with a key of
their own lead, kept in ``lc_subject_keys`` in the same database. Erasing a lead
deletes its key: every copy of those fields (the event store, a backup of it, the
``lead-events`` topic) becomes unreadable at once, and decoding shows
:data:`~lifecycle.aggregates.lead.ERASED` instead. Nothing else is encrypted, so
projections, reports and the funnel keep working, and lead ids (uuid5 of a key) stay
as pseudonyms.

A field value is stored as ``"enc:v1:" + base64(nonce || ciphertext)``; a key
``email:ada@acme.com`` keeps its kind (``email:enc:v1:…``). The lead id is the
associated data, so a ciphertext copied to another lead does not decrypt.
"""

from __future__ import annotations

import base64
import functools
import os
import sqlite3
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Any, Protocol
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from lifecycle.aggregates.lead import ERASED, PERSONAL_PROFILE_FIELDS, Lead
from lifecycle.aggregates.lead_key import LeadKey
from lifecycle.schema import create_tables, use_wal
from lifecycle.settings import persistence_env

__all__ = ["KEYS_TABLE", "PREFIX", "FieldSpec", "KeyRing", "PersonalData", "SubjectKeys"]

KEYS_TABLE = "lc_subject_keys"
KEY_TTL = 60.0
"""Seconds a process trusts a cached key: an erasure made elsewhere is honoured here
within that time (a deleted key stays deleted for good)."""
PREFIX = "enc:v1:"
_EMAIL = "email:"

TEXT, KEYS, KEY, PROFILE = 1, 2, 3, 4

FieldSpec = tuple[str | None, tuple[tuple[str, int], ...]]
"""Which attribute names the lead (None: the event's originator) and the personal
fields of an event class with their kind."""

SPECS: dict[type, FieldSpec] = {
    Lead.Captured: (None, (("email", TEXT), ("keys", KEYS), ("profile", PROFILE))),
    Lead.TouchpointRecorded: (None, (("profile", PROFILE),)),
    Lead.NoteAdded: (None, (("text", TEXT),)),
    Lead.Lost: (None, (("text", TEXT),)),
    Lead.Disqualified: (None, (("text", TEXT),)),
    Lead.Recycled: (None, (("text", TEXT),)),
    Lead.Reopened: (None, (("text", TEXT),)),
    LeadKey.Registered: ("lead_id", (("key", KEY),)),
}


_UNKNOWN: Any = object()


class KeyRing(Protocol):
    def cipher(self, lead_id: UUID, /) -> AESGCM | None:
        """The lead's cipher; None when it has no key (erased)."""


class SubjectKeys:
    """The per-lead keys, with an in-memory cache (a deleted key stays deleted)."""

    def __init__(self, database_url: str, *, cache_size: int = 100_000) -> None:
        env = persistence_env(database_url)
        self.dialect = "sqlite" if env["PERSISTENCE_MODULE"].endswith("sqlite") else "postgres"
        self._url = database_url
        self._path = env.get("SQLITE_DBNAME", "")
        self._conn: Any = None
        # lead → (cipher, trusted until) or None: no key (erased, for good)
        self._cache: OrderedDict[UUID, tuple[AESGCM, float] | None] = OrderedDict()
        self._cache_size = max(cache_size, 1000)

    def _connection(self) -> Any:
        if self._conn is None:
            conn: Any
            if self.dialect == "sqlite":
                conn = sqlite3.connect(self._path, timeout=30, isolation_level=None,
                                       check_same_thread=False)
                use_wal(conn)
                # A deleted key must not linger in free pages of the file.
                conn.execute("PRAGMA secure_delete=ON")
                create_tables(conn, "sqlite", [
                    f"CREATE TABLE IF NOT EXISTS {KEYS_TABLE} (lead_id TEXT PRIMARY KEY, "
                    "key BLOB NOT NULL, created_at DOUBLE PRECISION NOT NULL)"])
            else:
                import psycopg

                conn = psycopg.connect(self._url, autocommit=True)
                create_tables(conn, "postgres", [
                    f"CREATE TABLE IF NOT EXISTS {KEYS_TABLE} (lead_id TEXT PRIMARY KEY, "
                    "key BYTEA NOT NULL, created_at DOUBLE PRECISION NOT NULL)"])
            self._conn = conn
        return self._conn

    def _sql(self, statement: str) -> str:
        return statement.replace("?", "%s") if self.dialect == "postgres" else statement

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _remember(self, lead_id: UUID, cipher: AESGCM | None) -> None:
        self._cache[lead_id] = None if cipher is None else (cipher, time.monotonic() + KEY_TTL)
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def _fetch(self, lead_ids: Sequence[UUID]) -> dict[UUID, bytes]:
        found: dict[UUID, bytes] = {}
        conn = self._connection()
        for i in range(0, len(lead_ids), 500):
            chunk = [lid.hex for lid in lead_ids[i:i + 500]]
            marks = ", ".join("?" * len(chunk))
            rows = conn.execute(
                self._sql(f"SELECT lead_id, key FROM {KEYS_TABLE} WHERE lead_id IN ({marks})"),
                chunk).fetchall()
            found.update({UUID(hex=lid): bytes(key) for lid, key in rows})
        return found

    def cipher(self, lead_id: UUID) -> AESGCM | None:
        """The lead's cipher; None when it has no key (erased)."""
        entry = self._cache.get(lead_id, _UNKNOWN)
        if entry is None:
            return None
        if entry is not _UNKNOWN and entry[1] > time.monotonic():
            cached: AESGCM = entry[0]
            return cached
        key = self._fetch([lead_id]).get(lead_id)
        cipher = None if key is None else AESGCM(key)
        self._remember(lead_id, cipher)
        return cipher

    def ensure(self, lead_ids: Iterable[UUID]) -> None:
        """Makes sure each lead has a key, creating (and committing) missing ones."""
        now = time.monotonic()
        missing = [lid for lid in dict.fromkeys(lead_ids)
                   if (entry := self._cache.get(lid)) is None or entry[1] <= now]
        if not missing:
            return
        found = self._fetch(missing)
        new = {lid: AESGCM.generate_key(256) for lid in missing if lid not in found}
        if new:
            created = time.time()
            statement = self._sql(f"INSERT INTO {KEYS_TABLE} (lead_id, key, created_at) "
                                  "VALUES (?, ?, ?) ON CONFLICT (lead_id) DO NOTHING")
            rows = [(lid.hex, key, created) for lid, key in new.items()]
            conn = self._connection()
            if self.dialect == "sqlite":
                conn.execute("BEGIN IMMEDIATE")
                try:
                    inserted = conn.executemany(statement, rows).rowcount
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            else:
                with conn.transaction(), conn.cursor() as cur:
                    cur.executemany(statement, rows)
                    inserted = cur.rowcount
            if inserted == len(rows):
                found.update(new)
            else:  # another writer created some of them first: its keys win
                found.update(self._fetch(list(new)))
        for lid, key in found.items():
            self._remember(lid, AESGCM(key))

    def delete(self, lead_id: UUID) -> bool:
        """Deletes the lead's key (irreversibly). Returns whether there was one."""
        conn = self._connection()
        cur = conn.execute(self._sql(f"DELETE FROM {KEYS_TABLE} WHERE lead_id = ?"),
                           (lead_id.hex,))
        deleted = bool(cur.rowcount)
        if self.dialect == "sqlite":
            # Old versions of the page would otherwise stay in the write-ahead log.
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._remember(lead_id, None)
        return deleted


class PersonalData:
    """Encrypts and decrypts the personal fields of events (the mapper's field cipher)."""

    def __init__(self, keys: KeyRing) -> None:
        self.keys = keys

    @staticmethod
    def spec(event_class: type) -> FieldSpec | None:
        return SPECS.get(event_class)

    def subjects(self, events: Iterable[Any]) -> set[UUID]:
        """The leads whose keys are needed to store ``events``."""
        out: set[UUID] = set()
        specs = SPECS
        for event in events:
            spec = specs.get(type(event))
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
        seal = None
        for name, kind in spec[1]:
            value = state.get(name)
            if not value:
                continue
            if seal is None:
                cipher = self.keys.cipher(lead_id)
                if cipher is None:
                    raise LookupError(
                        f"lead {lead_id} has no key: its personal data cannot be stored "
                        "(erased leads take no input; otherwise lc_subject_keys lost a row)")
                seal = functools.partial(_seal, cipher, lead_id.bytes)
            state[name] = _transform(value, kind, seal)

    def decrypt(self, spec: FieldSpec, originator_id: UUID, state: dict[str, Any]) -> None:
        """Restores the personal fields in ``state`` (decoded JSON) in place; fields of an
        erased lead become :data:`ERASED`."""
        subject = state.get(spec[0]) if spec[0] is not None else originator_id
        lead_id = subject if isinstance(subject, UUID) else UUID(str(subject))
        unseal = None
        for name, kind in spec[1]:
            value = state.get(name)
            if not value:
                continue
            if unseal is None:
                unseal = functools.partial(_open, self.keys.cipher(lead_id), lead_id.bytes)
            state[name] = _transform(value, kind, unseal)


def _transform(value: Any, kind: int, fn: Any) -> Any:
    if kind == TEXT:
        return fn(value)
    if kind == KEY:
        return _EMAIL + fn(value[len(_EMAIL):]) if value.startswith(_EMAIL) else value
    if kind == KEYS:
        return [_EMAIL + fn(k[len(_EMAIL):]) if k.startswith(_EMAIL) else k for k in value]
    return {k: fn(v) if k in PERSONAL_PROFILE_FIELDS and isinstance(v, str) else v
            for k, v in value.items()}


def _seal(cipher: AESGCM, aad: bytes, text: str) -> str:
    nonce = os.urandom(12)
    return PREFIX + base64.b64encode(nonce + cipher.encrypt(nonce, text.encode(), aad)).decode()


def _open(cipher: AESGCM | None, aad: bytes, text: str) -> str:
    if not text.startswith(PREFIX):
        return text  # written before encryption
    if cipher is None:
        return ERASED
    raw = base64.b64decode(text[len(PREFIX):])
    try:
        return cipher.decrypt(raw[:12], raw[12:], aad).decode()
    except InvalidTag:
        raise ValueError(f"a personal field of lead {UUID(bytes=aad)} does not decrypt: "
                         "it was altered or copied from another lead") from None
