"""Tamper evidence: every stored event is chained to the previous event of its aggregate.

A stored event's state is ``H || body``: ``body`` is the event's JSON (personal fields
already encrypted) and ``H`` is 64 hex characters of
``sha256(H_prev || topic || "\\n" || body)``, where ``H_prev`` is the hash of the
previous event of the same aggregate (64 ``"0"`` for version 1). Hashing the topic
too means an event cannot be turned into another class (``Lost`` → ``Disqualified``)
in place. Editing, deleting or reordering a stored event breaks the chain of its
aggregate at that point.

A chain alone cannot show that an aggregate's *latest* events were deleted, so every
insert also writes each aggregate's head (version and hash) to ``lc_chain_heads`` in
the same transaction (the storage adapter's recorder, :mod:`lifecycle.adapters`);
:func:`check_rows` compares each chain's end with its head, and checks that an
aggregate's events sit in the notification log in the order of their versions.

The hash is not keyed: someone who can write to the database and knows this scheme
can recompute a whole chain and its head. That is what anchors are for
(:mod:`lifecycle.anchor`): every aggregate's version and hash, kept outside the
database; :func:`check_rows` holds each history to its anchored hash, which no
rewrite of the stored rows can reproduce.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from lifecycle.adapters.protocol import HEADS_TABLE, ChainRow, EventRecorder

__all__ = [
    "GENESIS",
    "HASH_LEN",
    "HEADS_TABLE",
    "KEY_KIND",
    "LEAD_KIND",
    "OTHER_KIND",
    "Anchored",
    "Break",
    "End",
    "Row",
    "check_rows",
    "heads_of",
    "is_chained",
    "link",
    "previous_hashes",
]

HASH_LEN = 64
GENESIS = b"0" * HASH_LEN
"""The previous hash of an aggregate's first event."""

_sha256 = hashlib.sha256

Row = ChainRow
"""A raw stored event as :func:`check_rows` reads it: originator id (text), version,
topic (UTF-8 bytes), stored state, notification id."""


def link(prev: bytes, topic: bytes, body: bytes) -> bytes:
    """The hash (64 ASCII hex bytes) of an event whose predecessor's hash is ``prev``."""
    return _sha256(b"%b%b\n%b" % (prev, topic, body)).hexdigest().encode()


def is_chained(state: bytes) -> bool:
    """Whether a stored state starts with a hash (events written before chaining did
    not: they start with the JSON body's ``{``)."""
    return state[:1] != b"{"


def previous_hashes(
    events: Sequence[Any],
    known: Mapping[UUID, tuple[int, bytes]],
    recorder: EventRecorder,
) -> dict[UUID, bytes]:
    """The hash each aggregate's first event in ``events`` must chain to.

    Args:
        events: domain events about to be stored, in order.
        known: the latest (version, hash) seen per aggregate, from decoding and saving.
        recorder: where to read an aggregate's stored head when ``known`` has not got it.
    """
    prev: dict[UUID, bytes] = {}
    for event in events:
        oid = event.originator_id
        if oid in prev:
            continue
        version = event.originator_version
        if version == 1:
            prev[oid] = GENESIS
            continue
        head = known.get(oid)
        if head is not None and head[0] == version - 1:
            prev[oid] = head[1]
            continue
        stored = recorder.select_events(oid, lte=version - 1, desc=True, limit=1)
        # No stored predecessor (or one written before chaining): chain from genesis;
        # verification reports the gap or the unchained event.
        state = stored[0].state if stored else b""
        prev[oid] = state[:HASH_LEN] if stored and is_chained(state) else GENESIS
    return prev


def heads_of(stored_events: Sequence[StoredEvent]) -> list[tuple[Any, int, str]]:
    """Each aggregate's new head (id, version, hash) after ``stored_events``, sorted by
    id: what the adapters write to the heads table with the events."""
    last: dict[Any, StoredEvent] = {}
    for s in stored_events:
        last[s.originator_id] = s
    # Sorted, so concurrent writers lock head rows in one order (no deadlocks). By
    # UUID.int, the order UUIDs compare in, without a Python-level __lt__ per comparison.
    return [(oid, s.originator_version, s.state[:HASH_LEN].decode("ascii"))
            for oid, s in sorted(last.items(), key=_id_order)]


def _id_order(item: tuple[Any, StoredEvent]) -> Any:
    oid = item[0]
    return oid.int if isinstance(oid, UUID) else oid


# -- verification -------------------------------------------------------------------------

LEAD_KIND, KEY_KIND, OTHER_KIND = "lead", "key", "other"
_KIND_OF_FIRST = {b"Lead.Captured": LEAD_KIND, b"LeadKey.Registered": KEY_KIND}
"""An aggregate's kind by the class of its first event (the topic's part after ``:``,
which stays the same when a module moves)."""

_decoder = json.JSONDecoder()


@dataclass(frozen=True, slots=True)
class Break:
    """The first broken link of one aggregate's chain, or a cross-check it fails.

    Attributes:
        originator_id: the aggregate (a lead or a key index entry), as stored.
        version: the version where the chain breaks (None: the whole history).
        problem: ``hash_mismatch`` (an event was edited, or one before it removed or
            moved), ``version_gap`` (events are missing), ``missing_first_event``,
            ``truncated`` (the head says there were more events), ``head_mismatch``,
            ``beyond_head`` (events after the recorded head), ``no_head``,
            ``events_missing`` (a head but no events at all), ``notification_order``
            (its events' positions in the notification log do not follow its
            versions); against an anchor: ``anchor_mismatch`` (the history up to the
            anchored version is not the one anchored), ``anchor_truncated``,
            ``vanished`` (anchored, now without any event), ``before_anchor`` (an
            event the anchor does not cover sits in the part of the log it covers);
            across aggregates: ``lead_missing`` (a key index entry names a lead that
            has no events), ``keys_unindexed`` (fewer index entries name the lead than
            it was captured with).
        detail: a sentence for people.
    """

    originator_id: str
    version: int | None
    problem: str
    detail: str


@dataclass
class Anchored:
    """What an anchor says about the aggregates a check reads.

    Attributes:
        heads: originator id (32 hex digits) → (version, hash) at anchoring time;
            consumed by :func:`check_rows` (left over: aggregates that vanished).
        max_notification_id: the notification log's last id when the anchor was taken.
        created_at: when the anchor was taken (ISO 8601), for messages.
    """

    heads: dict[str, tuple[int, str]]
    max_notification_id: int
    created_at: str


End = tuple[str, int, bytes, str, "str | int | None", bool]
"""The end of one aggregate's history as :func:`check_rows` read it: originator id, the
last version read, the hash of the chain up to it, kind (``lead``, ``key``, ``other``),
for a key index entry the lead it names (32 hex digits) and for a lead the number of
keys it was captured with, and whether the chain is broken."""


def _first_event_facts(topic: bytes, body: bytes) -> tuple[str, str | int | None]:
    """The kind of an aggregate and what its first event says about the key index,
    read from the raw bytes (the rest of the event is never parsed)."""
    kind = _KIND_OF_FIRST.get(topic[topic.rfind(b":") + 1:], OTHER_KIND)
    if kind == KEY_KIND:
        # Plain JSON of a LeadKey.Registered; "lead_id":" cannot occur inside a string
        # value there (its quotes would be escaped).
        at = body.find(b'"lead_id":"')
        if at >= 0:
            return kind, body[at + 11:at + 47].replace(b"-", b"").decode("ascii", "replace")
        return kind, None
    if kind == LEAD_KIND:
        at = body.find(b'"keys":[')
        if at >= 0:
            try:
                keys, _ = _decoder.raw_decode(body[at + 7:].decode("utf-8"))
            except ValueError:
                return kind, 1
            return kind, max(len(keys), 1) if isinstance(keys, list) else 1
        return kind, 1
    return kind, None


def check_rows(  # noqa: PLR0915 - one loop, its state in locals: the hot path of verify
    batches: Iterable[Sequence[Row]],
    heads: dict[str, tuple[int, str]] | None = None,
    *,
    anchored: Anchored | None = None,
    ends: list[End] | None = None,
) -> Iterator[Break]:
    """Recomputes the chains of raw rows ordered by (originator id, version).

    Yields each aggregate's first broken link as it is found: one break per aggregate.

    Args:
        batches: rows (originator id, version, topic, state, notification id).
        heads: originator id → (version, hash) from the heads table, when given;
            consumed: heads left over at the end belong to aggregates without any event.
        anchored: an anchor to hold the histories to; its ``heads`` are consumed too.
        ends: where to append each aggregate's :data:`End` (for anchors and the
            cross-checks of :mod:`lifecycle.integrity`).
    """
    anchor_heads = anchored.heads if anchored is not None else None
    floor = anchored.max_notification_id if anchored is not None else -1
    taken = f" taken {anchored.created_at}" if anchored is not None else ""
    cur: str | None = None
    expected = 1
    prev = GENESIS
    broken = True
    last_nid = 0
    kind: str = OTHER_KIND
    ref: str | int | None = None
    at = 0  # the version the anchor holds for this aggregate (0: none)
    at_hash = b""

    def end() -> Break | None:
        assert cur is not None
        problem = None
        if not broken and heads is not None:
            problem = _check_head(cur, expected - 1, prev, heads)
        if heads is not None:
            heads.pop(cur, None)
        if anchor_heads is not None:
            anchor_heads.pop(cur, None)
            if problem is None and not broken and at > expected - 1:
                problem = Break(cur, expected, "anchor_truncated",
                                f"the anchor{taken} holds v1..v{at}, but the history ends "
                                f"at v{expected - 1}: events it covers were deleted")
        if ends is not None:
            ends.append((cur, expected - 1, prev, kind, ref, broken or problem is not None))
        return problem

    for rows in batches:
        for oid, version, topic, state, nid in rows:
            if oid != cur:
                if cur is not None and (problem := end()) is not None:
                    yield problem
                cur, expected, prev, broken, last_nid = oid, 1, GENESIS, False, 0
                kind, ref, at, at_hash = OTHER_KIND, None, 0, b""
                if anchor_heads is not None and (held := anchor_heads.get(oid)) is not None:
                    at, at_hash = held[0], held[1].encode("ascii")
            elif broken:
                continue
            if version != expected:
                broken = True
                if expected == 1:
                    yield Break(oid, version, "missing_first_event",
                                f"history starts at v{version}: v1..v{version - 1} are missing")
                else:
                    yield Break(oid, version, "version_gap",
                                f"v{version} follows v{expected - 1}: "
                                f"v{expected}..v{version - 1} are missing")
                continue
            body = state[HASH_LEN:]
            if version == 1:
                kind, ref = _first_event_facts(topic, body)
            digest = _sha256(b"%b%b\n%b" % (prev, topic, body)).hexdigest().encode()
            if state[:HASH_LEN] != digest:
                broken = True
                yield Break(oid, version, "hash_mismatch",
                            f"v{version} does not match its hash: it was edited, or an "
                            "event before it was changed, removed or moved")
                continue
            if nid <= last_nid:
                broken = True
                yield Break(oid, version, "notification_order",
                            f"v{version} sits at notification {nid}, before v{version - 1} "
                            f"(at {last_nid}): the notification log was reordered")
                continue
            if version == at and digest != at_hash:
                broken = True
                yield Break(oid, version, "anchor_mismatch",
                            f"v1..v{version} are not the events the anchor{taken} holds: "
                            "an event up to it was edited, replaced or removed (and the "
                            "chain recomputed)")
                continue
            if version == at + 1 and nid <= floor:
                broken = True
                yield Break(oid, version, "before_anchor",
                            f"v{version} is not in the anchor{taken}, yet sits at "
                            f"notification {nid}, inside the part of the log it covers "
                            f"(up to {floor}): it was inserted afterwards")
                continue
            prev = digest
            last_nid = nid
            expected += 1
    if cur is not None and (problem := end()) is not None:
        yield problem
    for oid, (version, _) in sorted((heads or {}).items()):
        if anchor_heads is not None:
            anchor_heads.pop(oid, None)
        yield Break(oid, None, "events_missing",
                    f"its head says v{version}, but none of its events is stored")
    for oid, (version, _) in sorted((anchor_heads or {}).items()):
        yield Break(oid, None, "vanished",
                    f"the anchor{taken} holds v1..v{version}, but none of its events "
                    "(nor its head) is stored: the whole history was deleted")


def _check_head(oid: str, last: int, digest: bytes, heads: dict[str, tuple[int, str]]
                ) -> Break | None:
    head = heads.get(oid)
    if head is None:
        return Break(oid, None, "no_head",
                     f"no head was recorded for its {last} events (written before heads "
                     "existed, or the head row was deleted)")
    version, expected = head
    if version > last:
        return Break(oid, last + 1, "truncated",
                     f"its head says v{version}, but the history ends at v{last}: the "
                     "latest events were deleted")
    if version < last:
        return Break(oid, version + 1, "beyond_head",
                     f"v{version + 1}..v{last} come after the recorded head v{version}")
    if expected.encode("ascii") != digest:
        return Break(oid, last, "head_mismatch",
                     f"v{last} is not the event the head recorded")
    return None
