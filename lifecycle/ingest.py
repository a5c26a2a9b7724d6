"""Batch ingestion of JSONL input: validate, record, and account for every line.

Each non-blank line is one input. It is either recorded (``accepted``), recognised as
a redelivery (``duplicate``), or ``rejected`` — and then written to the reject file
with its line number, reason and original text. ``accepted + duplicate + rejected =
received`` holds for every run; blank lines are not inputs and are not counted.

The reject file is appended to, never overwritten: a second ingest in the same folder
keeps the first one's rejects (each record names its ``run``), and a path that scripts
know in advance beats a new name per run. Its records are in input order. A line that is
not UTF-8 is kept byte for byte (``original_b64``, with ``invalid_utf8: true``), as
nothing may be lost by decoding it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING

from lifecycle.application import LeadLifecycle, Outcome
from lifecycle.contracts import SalesAction, Touchpoint, parse_inbound_json
from lifecycle.errors import InputRejected
from lifecycle.retry import record_batch_retrying

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ["IngestSummary", "RejectWriter", "ingest_lines", "read_lines"]


@dataclass
class IngestSummary:
    """The accounting of one ingest run."""

    received: int = 0
    accepted: int = 0
    duplicate: int = 0
    rejected: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    @property
    def balanced(self) -> bool:
        return self.accepted + self.duplicate + self.rejected == self.received


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
        self.path.parent.mkdir(parents=True, exist_ok=True)
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

    def write(self, line: int, code: str, reason: str, original: str | bytes,
              input_id: str | None = None) -> None:
        """Writes one record; ``original`` as bytes when it is not UTF-8."""
        assert self._file is not None, "use RejectWriter as a context manager"
        record: dict[str, object] = {"run": self.run, "line": line, "input_id": input_id,
                                     "code": code, "reason": reason}
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


def read_lines(stream: IO[bytes]) -> Iterator[tuple[int, str | bytes, int]]:
    """Yields (line number, text, bytes consumed) for every line.

    The text is ``""`` for a blank line, and the line's bytes (without its line break)
    when they are not UTF-8: nothing is replaced, so the reject keeps them exactly.
    """
    for number, raw in enumerate(stream, start=1):
        body = raw.rstrip(b"\r\n")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            yield number, body, len(raw)
            continue
        if number == 1:
            text = text.removeprefix("\ufeff")  # a byte-order mark some editors write
        yield number, (text if text.strip() else ""), len(raw)


def ingest_lines(
    app: LeadLifecycle,
    lines: Iterable[tuple[int, str | bytes, int]],
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
    limits = app.settings.limits
    # Every input of the batch in line order: parsed, or the reason it was rejected. The
    # rejects are written at the batch's end, in this order, whatever rejected them.
    pending: list[tuple[int, str | bytes, Touchpoint | SalesAction | InputRejected]] = []
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
        try:
            parsed: Touchpoint | SalesAction | InputRejected = parse_inbound_json(
                text, limits=limits)
        except InputRejected as e:
            parsed = e
        pending.append((number, text, parsed))
        if len(pending) >= batch_size:
            flush()
    flush()
    return summary
