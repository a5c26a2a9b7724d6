"""Batch ingestion of JSONL input: validate, record, and account for every line.

Each non-blank line is one input. It is either recorded (``accepted``), recognised as
a redelivery (``duplicate``), or ``rejected`` — and then written to the reject file
with its line number, reason and original text. ``accepted + duplicate + rejected =
received`` holds for every run; blank lines are not inputs and are not counted. The
summary also counts what the accepted inputs say about the data: kinds the scoring file
does not list, profile values that match nothing in it, and new leads left
disqualified, unscored or not contactable (:mod:`lifecycle.ingest_quality`).

The reject file is appended to, never overwritten: a second ingest in the same folder
keeps the first one's rejects (each record names its ``run``), and a path that scripts
know in advance beats a new name per run. Its records are in input order. A line that is
not UTF-8 is kept byte for byte (``original_b64``, with ``invalid_utf8: true``), as
nothing may be lost by decoding it. A line longer than any input may be is not read into
memory: it is rejected with its size and its first bytes (``truncated: true``).
"""

from __future__ import annotations

import base64
import errno
import itertools
import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from lifecycle.application import LeadLifecycle, Outcome
from lifecycle.contracts import DEFAULT_LIMITS, SalesAction, Touchpoint, parse_inbound_json
from lifecycle.errors import InputRejected, InvalidInput
from lifecycle.ingest_quality import NewLeads, QualityTally
from lifecycle.retry import record_batch_retrying

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ["IngestSummary", "OversizedLine", "RejectWriter", "ingest_lines", "read_lines",
           "same_file"]

HEAD_BYTES = 4096
"""How much of an oversized line its reject keeps: enough to recognise the input."""


@dataclass(frozen=True, slots=True)
class OversizedLine:
    """A line longer than any input may be: its first bytes, its size and the limit."""

    head: bytes
    size: int
    limit: int

    @property
    def reason(self) -> str:
        return f"an input may have at most {self.limit} bytes, this line has {self.size}"


@dataclass
class IngestSummary:
    """The accounting of one ingest run, and what its accepted inputs say about the
    data (:mod:`lifecycle.ingest_quality`)."""

    received: int = 0
    accepted: int = 0
    duplicate: int = 0
    rejected: int = 0
    unknown_kinds: dict[str, int] = field(default_factory=dict)
    """Touchpoints by kind the scoring file does not list (recorded with 0 points)."""
    unmatched: dict[str, dict[str, int]] = field(default_factory=dict)
    """Touchpoints by dimension (industry, title, country) and value that matched
    nothing in the scoring file (scored 0)."""
    new_leads: NewLeads = field(default_factory=NewLeads)

    def as_dict(self) -> dict[str, int]:
        """The accounting: received, accepted, duplicate, rejected."""
        return {"received": self.received, "accepted": self.accepted,
                "duplicate": self.duplicate, "rejected": self.rejected}

    def as_json(self) -> dict[str, Any]:
        """The accounting, then the counts of unknown kinds and unmatched values (most
        frequent first), the new leads and the warning (None without one)."""
        return {**self.as_dict(),
                "unknown_kinds": dict(_by_count(self.unknown_kinds)),
                "unmatched": {d: dict(_by_count(v)) for d, v in sorted(self.unmatched.items())},
                "new_leads": asdict(self.new_leads), "warning": self.new_leads.warning}

    @property
    def balanced(self) -> bool:
        return self.accepted + self.duplicate + self.rejected == self.received


def _by_count(counts: dict[str, int]) -> list[tuple[str, int]]:
    return sorted(counts.items(), key=lambda vc: (-vc[1], vc[0]))


class RejectWriter:
    """Appends one JSON object per rejected line: run, line, code, reason, original text.

    Each record is written (line-buffered) when it is known, so a crash loses none that
    was reported; a record cut short by a crash is closed off before the next run's.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self.run = datetime.now(UTC).isoformat(timespec="microseconds")
        self._file: IO[str] | None = None

    def __enter__(self) -> RejectWriter:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            # Name the file in the way ("File exists" named it without saying why).
            blocker = next((p for p in self.path.parents if p.exists()), None)
            if blocker is None or blocker.is_dir():
                raise
            raise NotADirectoryError(errno.ENOTDIR, "is not a folder", str(blocker)) from None
        cut_short = False
        if self.path.exists() and self.path.stat().st_size:
            with self.path.open("rb") as existing:
                existing.seek(-1, 2)
                cut_short = existing.read(1) != b"\n"
        self._file = self.path.open("a", encoding="utf-8", buffering=1)
        if cut_short:
            self._file.write("\n")
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._file is not None:
            self._file.close()

    def write(self, line: int, code: str, reason: str,
              original: str | bytes | OversizedLine, input_id: str | None = None) -> None:
        """Writes one record; ``original`` as bytes when it is not UTF-8."""
        assert self._file is not None, "use RejectWriter as a context manager"
        record: dict[str, object] = {"run": self.run, "line": line, "input_id": input_id,
                                     "code": code, "reason": reason}
        if isinstance(original, OversizedLine):
            record["truncated"], record["size"] = True, original.size
            original = original.head
        if isinstance(original, bytes):
            try:
                record["original"] = original.decode("utf-8")
            except UnicodeDecodeError:
                # Readable where it can be, exact in original_b64.
                record["original"] = original.decode("utf-8", "backslashreplace")
                record["original_b64"] = base64.b64encode(original).decode("ascii")
                record["invalid_utf8"] = True
        else:
            record["original"] = original
        text = json.dumps(record, ensure_ascii=False)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate somewhere: escape, never fail
            text = json.dumps(record)
        # One record per line for every reader: NEL and the Unicode line separators end
        # a line for some (Python's splitlines, editors), so they go escaped, as JSON
        # allows; they can only stand inside strings here.
        self._file.write(text.translate(_LINE_BREAKS) + "\n")
        self.count += 1


_LINE_BREAKS = {0x85: "\\u0085", 0x2028: "\\u2028", 0x2029: "\\u2029"}


def same_file(source: Path | IO[bytes], rejects: Path) -> bool:
    """Whether the reject file is the input itself (by any path, link, or as stdin).

    Rejects appended to the file being read would be read again, rejected again and
    appended again, without end (900 MB in 10 seconds).
    """
    try:
        target = rejects.stat()
        here = source.stat() if isinstance(source, Path) else os.fstat(source.fileno())
    except (OSError, ValueError, AttributeError):  # no such file yet; stdin closed
        return False
    return (here.st_dev, here.st_ino) == (target.st_dev, target.st_ino)


def read_lines(
    stream: IO[bytes], *, max_bytes: int = DEFAULT_LIMITS.max_input_bytes,
) -> Iterator[tuple[int, str | bytes | OversizedLine, int]]:
    """Yields (line number, text, bytes consumed) for every line.

    The text is ``""`` for a blank line (only JSON's blanks: spaces, tabs, line breaks),
    the line's bytes (without its line break) when they are not UTF-8 — nothing is
    replaced, so the reject keeps them exactly — and an :class:`OversizedLine` for a line
    of more than ``max_bytes`` (the largest input), which is never held in memory whole.
    """
    # The line break (up to two bytes) and one byte more than an input may have.
    cap = max_bytes + 3
    for number in itertools.count(1):
        raw = stream.readline(cap)
        if not raw:
            return
        if len(raw) == cap and not raw.endswith(b"\n"):
            oversized, consumed = _skip_rest(stream, raw, max_bytes)
            yield number, oversized, consumed
            continue
        body = raw.rstrip(b"\r\n")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            yield number, body, len(raw)
            continue
        # A byte-order mark some editors write: at the start of any line, as files
        # concatenated from such exports have one at the start of each part.
        text = text.removeprefix("\ufeff")
        yield number, (text if text.strip(" \t\r\n") else ""), len(raw)


def _skip_rest(stream: IO[bytes], first: bytes, limit: int) -> tuple[OversizedLine, int]:
    """Reads an oversized line's rest in bounded chunks, keeping only its head; returns
    it with the bytes consumed."""
    consumed, last = len(first), first
    while not last.endswith(b"\n"):
        last = stream.readline(1 << 20)
        if not last:
            break
        consumed += len(last)
    head = first[:HEAD_BYTES]
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.reason == "unexpected end of data":  # a character cut by the head's end
            head = head[:e.start]
    size = consumed - (len(last) - len(last.rstrip(b"\r\n")))
    return OversizedLine(head, size, limit), consumed


def ingest_lines(
    app: LeadLifecycle,
    lines: Iterable[tuple[int, str | bytes | OversizedLine, int]],
    rejects: RejectWriter,
    *,
    batch_size: int,
    on_progress: Callable[[int], None] | None = None,
    after_batch: Callable[[], None] | None = None,
) -> IngestSummary:
    """Validates, records and accounts for every line.

    Args:
        app: the engine.
        lines: (line number, text, bytes) as from :func:`read_lines`.
        rejects: where rejected lines go.
        batch_size: inputs saved per transaction.
        on_progress: called with the bytes consumed after each batch.
        after_batch: called after each saved batch (e.g. to advance projections).
    """
    summary = IngestSummary()
    tally = QualityTally(app.scoring, app.templates.default)
    limits = app.settings.limits
    # Every input of the batch in line order: parsed, or the reason it was rejected. The
    # rejects are written at the batch's end, in this order, whatever rejected them.
    pending: list[tuple[int, str | bytes | OversizedLine,
                        Touchpoint | SalesAction | InputRejected]] = []
    consumed = 0

    def flush() -> None:
        nonlocal consumed
        if pending:
            items = [item for _, _, item in pending if not isinstance(item, InputRejected)]
            # Retried (from the store) when another process wrote the same leads meanwhile.
            results = iter(record_batch_retrying(app, items) if items else ())
            for number, text, item in pending:
                if isinstance(item, InputRejected):
                    summary.rejected += 1
                    rejects.write(number, item.code, str(item), text)
                    continue
                result = next(results)
                if result.outcome is Outcome.ACCEPTED:
                    summary.accepted += 1
                    tally.note(item, result)
                elif result.outcome is Outcome.DUPLICATE:
                    summary.duplicate += 1
                else:
                    summary.rejected += 1
                    rejects.write(number, result.code or "rejected", result.reason or "",
                                  text, result.input_id)
            pending.clear()
            if after_batch is not None and items:
                after_batch()
        if on_progress is not None:
            on_progress(consumed)
            consumed = 0

    for number, text, size in lines:
        consumed += size
        if not text:
            continue
        summary.received += 1
        parsed: Touchpoint | SalesAction | InputRejected
        if isinstance(text, OversizedLine):
            parsed = InvalidInput(text.reason)
        else:
            try:
                parsed = parse_inbound_json(text, limits=limits)
            except InputRejected as e:
                parsed = e
        pending.append((number, text, parsed))
        if len(pending) >= batch_size:
            flush()
    flush()
    summary.unknown_kinds = dict(tally.unknown_kinds)
    summary.unmatched = {d: dict(values) for d, values in tally.unmatched.items()}
    summary.new_leads = tally.new_leads()
    return summary
