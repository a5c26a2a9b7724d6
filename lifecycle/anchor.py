"""Audit anchors: a checkpoint of the whole event store, kept outside the database.

The hash chains (:mod:`lifecycle.chain`) are not keyed, so someone who can write to the
database can delete or edit events and recompute the chains and heads to match. An
anchor records every aggregate's version and chain hash at one moment; the hash at
version *n* covers every byte of v1..vn, so no rewrite of the stored rows can reproduce
it. ``lifecycle audit verify --anchor FILE`` holds the store to it: any event the anchor
covers that was edited, deleted or truncated, or a history that vanished, is named.

The file (JSON, UTF-8)::

    {"format": "lifecycle-audit-anchor", "version": 1,
     "created_at": "2026-12-01T05:00:00+00:00",
     "store": {"backend": "sqlite", "max_notification_id": 1234,
               "aggregates": 210, "events": 1234},
     "root": {"algorithm": "sha256" | "hmac-sha256", "key_id": null | "<16 hex>",
              "value": "<64 hex>"},
     "aggregates": [["<id: 32 hex>", "lead" | "key" | "other", <version>,
                     "<chain hash at that version>", "<lead id of a key entry>" | null],
                    ...]}

``root.value`` is sha256 — HMAC-SHA256 keyed with ``LIFECYCLE_AUDIT_KEY`` when it is set
— of the canonical text :func:`canonical_lines` builds from ``created_at``,
``store.max_notification_id``, ``store.aggregates``, ``store.events`` and the aggregate
lines sorted by id. ``key_id`` names the key (an HMAC of a fixed text under it), so a
wrong key is told apart from an altered file. Without a key the root only shows that
the file is whole; keep unkeyed anchors on write-once storage, or set the key.
"""

from __future__ import annotations

import errno
import hashlib
import hmac
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from lifecycle.chain import KEY_KIND, LEAD_KIND, OTHER_KIND
from lifecycle.errors import AnchorInvalid

__all__ = [
    "FORMAT",
    "VERSION",
    "Anchor",
    "AnchorLine",
    "canonical_lines",
    "check_key",
    "load",
    "seal",
    "write",
]

FORMAT = "lifecycle-audit-anchor"
VERSION = 1
MIN_KEY_LENGTH = 16

AnchorLine = tuple[str, str, int, str, str | None]
"""One aggregate: id (32 hex digits), kind, version, chain hash at that version, and for
a key index entry the lead it names."""


@dataclass(frozen=True)
class Anchor:
    """A checkpoint of the event store (see the module docstring for the file)."""

    created_at: str
    backend: str
    max_notification_id: int
    events: int
    lines: tuple[AnchorLine, ...]
    algorithm: str = "sha256"
    key_id: str | None = None
    root: str = ""

    @property
    def aggregates(self) -> int:
        return len(self.lines)

    def heads(self, only: str | None = None) -> dict[str, tuple[int, str]]:
        """Aggregate id → (version, hash), of every aggregate or of one."""
        return {oid: (version, digest) for oid, _, version, digest, _ in self.lines
                if only is None or oid == only}

    def summary(self) -> dict[str, Any]:
        return {"created_at": self.created_at, "backend": self.backend,
                "max_notification_id": self.max_notification_id,
                "aggregates": self.aggregates, "events": self.events,
                "root": {"algorithm": self.algorithm, "key_id": self.key_id,
                         "value": self.root}}


def canonical_lines(created_at: str, max_notification_id: int, events: int,
                    lines: Iterable[AnchorLine]) -> Iterator[bytes]:
    """The text the root is computed over, line by line (``lines`` sorted by id)."""
    ordered = sorted(lines)
    yield f"{FORMAT} {VERSION}\n".encode()
    yield f"created_at {created_at}\n".encode()
    yield f"max_notification_id {max_notification_id}\n".encode()
    yield f"aggregates {len(ordered)}\n".encode()
    yield f"events {events}\n".encode()
    for oid, kind, version, digest, lead in ordered:
        yield f"{oid} {kind} {version} {digest} {lead or '-'}\n".encode()


def check_key(key: str | None) -> None:
    """Raises :class:`AnchorInvalid` when ``key`` is set but too short to key anchors."""
    _key_bytes(key)


def _key_bytes(key: str | None) -> bytes | None:
    if key is None:
        return None
    if len(key) < MIN_KEY_LENGTH:
        raise AnchorInvalid(
            f"LIFECYCLE_AUDIT_KEY is {len(key)} characters long; use at least "
            f"{MIN_KEY_LENGTH} random ones (e.g. the output of `openssl rand -hex 32`)")
    return key.encode("utf-8")


def _key_id(key: bytes) -> str:
    return hmac.new(key, b"lifecycle-audit-anchor key id", hashlib.sha256).hexdigest()[:16]


def _root(anchor: Anchor, key: bytes | None) -> str:
    digest: Any = hmac.new(key, digestmod=hashlib.sha256) if key is not None else (
        hashlib.sha256())
    for line in canonical_lines(anchor.created_at, anchor.max_notification_id,
                                anchor.events, anchor.lines):
        digest.update(line)
    return str(digest.hexdigest())


def seal(anchor: Anchor, key: str | None) -> Anchor:
    """The anchor with its root (keyed when ``key`` is given)."""
    raw = _key_bytes(key)
    unsealed = Anchor(anchor.created_at, anchor.backend, anchor.max_notification_id,
                      anchor.events, tuple(sorted(anchor.lines)))
    if raw is None:
        return Anchor(**{**vars(unsealed), "root": _root(unsealed, None)})
    return Anchor(**{**vars(unsealed), "algorithm": "hmac-sha256", "key_id": _key_id(raw),
                     "root": _root(unsealed, raw)})


def _dump(anchor: Anchor, out: IO[str]) -> None:
    head = {"format": FORMAT, "version": VERSION, "created_at": anchor.created_at,
            "store": {"backend": anchor.backend,
                      "max_notification_id": anchor.max_notification_id,
                      "aggregates": anchor.aggregates, "events": anchor.events},
            "root": {"algorithm": anchor.algorithm, "key_id": anchor.key_id,
                     "value": anchor.root}}
    # One aggregate per line: a large anchor stays readable with line tools (grep a lead).
    out.write(json.dumps(head, indent=1)[:-2] + ',\n "aggregates": [')
    for i, line in enumerate(anchor.lines):
        out.write(("\n  " if i == 0 else ",\n  ") + json.dumps(list(line)))
    out.write("\n ]\n}\n")


def write(anchor: Anchor, path: Path | None, key: str | None) -> Anchor:
    """Seals ``anchor`` and writes it to a new file (never over an existing one: anchors
    are evidence), or to stdout when ``path`` is None.

    Raises:
        AnchorInvalid: the key is too short.
        FileExistsError: ``path`` exists.
    """
    sealed = seal(anchor, key)
    if path is None:
        import sys

        _dump(sealed, sys.stdout)
        sys.stdout.flush()
        return sealed
    if path.exists():
        raise FileExistsError(path)
    # Written beside the target and linked into place: a crash leaves no half anchor,
    # and a file that appeared meanwhile is not overwritten.
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or Path("."))
    except FileNotFoundError:  # named the temporary file, a name the user never gave
        raise FileNotFoundError(errno.ENOENT, "no such folder", str(path.parent)) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            _dump(sealed, out)
            out.flush()
            os.fsync(out.fileno())
        os.link(tmp, path)
    finally:
        os.unlink(tmp)
    return sealed


def load(path: Path, key: str | None) -> Anchor:
    """Reads an anchor file and checks its root.

    Args:
        key: ``LIFECYCLE_AUDIT_KEY``; a keyed anchor needs it, and when it is set an
            unkeyed anchor is refused (anyone can recompute a plain sha256).

    Raises:
        AnchorInvalid: unreadable, not an anchor, altered, or keyed differently.
    """
    raw_key = _key_bytes(key)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as e:
        raise AnchorInvalid(f"cannot read the anchor {path}: {e}") from None
    try:
        if data.get("format") != FORMAT:
            raise AnchorInvalid(f"{path} is not an audit anchor (no \"format\": \"{FORMAT}\")")
        if data.get("version") != VERSION:
            raise AnchorInvalid(f"{path} is an anchor of version {data.get('version')!r}; "
                                f"this engine reads version {VERSION}")
        store, root = data["store"], data["root"]
        lines = tuple(_line(item) for item in data["aggregates"])
        anchor = Anchor(created_at=str(data["created_at"]), backend=str(store["backend"]),
                        max_notification_id=_int(store["max_notification_id"]),
                        events=_int(store["events"]), lines=lines,
                        algorithm=str(root["algorithm"]), key_id=root.get("key_id"),
                        root=str(root["value"]))
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise AnchorInvalid(f"{path} is not a well-formed anchor ({type(e).__name__}: {e}); "
                            "it was damaged or edited") from None
    if anchor.aggregates != _int(store["aggregates"]) or len(set(anchor.heads())) != len(lines):
        raise AnchorInvalid(f"{path} was altered: its aggregate count does not match its lines")
    if sum(line[2] for line in lines) != anchor.events:
        raise AnchorInvalid(f"{path} was altered: its event count does not match its lines")
    if anchor.algorithm == "hmac-sha256":
        if raw_key is None:
            raise AnchorInvalid(f"{path} is keyed (HMAC); set LIFECYCLE_AUDIT_KEY to the key "
                                "it was made with")
        if anchor.key_id != _key_id(raw_key):
            raise AnchorInvalid(f"{path} was made with another key than LIFECYCLE_AUDIT_KEY "
                                f"(key id {anchor.key_id}, yours {_key_id(raw_key)})")
        expected = _root(anchor, raw_key)
    elif anchor.algorithm == "sha256":
        if raw_key is not None:
            raise AnchorInvalid(f"{path} is not keyed, but LIFECYCLE_AUDIT_KEY is set: an "
                                "unkeyed anchor can be rewritten by anyone; verify without "
                                "the key only if you trust where the file was kept")
        expected = _root(anchor, None)
    else:
        raise AnchorInvalid(f"{path}: unknown root algorithm {anchor.algorithm!r}")
    if not hmac.compare_digest(expected, anchor.root):
        raise AnchorInvalid(f"{path} was altered: its root does not match its content "
                            f"({anchor.algorithm})")
    return anchor


def _int(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"not a count: {value!r}")
    return value


def _line(item: Any) -> AnchorLine:
    oid, kind, version, digest, lead = item
    if not (isinstance(oid, str) and len(oid) == 32 and kind in (LEAD_KIND, KEY_KIND, OTHER_KIND)
            and isinstance(digest, str) and len(digest) == 64
            and (lead is None or isinstance(lead, str))):
        raise ValueError(f"not an aggregate line: {item!r}")
    return oid, kind, _int(version), digest, lead
