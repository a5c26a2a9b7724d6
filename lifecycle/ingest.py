"""Batch ingestion of JSONL input: validate, record, and account for every line.

Each non-blank line is one input. It is either recorded (``accepted``), recognised as
a redelivery (``duplicate``), or ``rejected`` — and then written to the reject file
with its line number, reason and original text. ``accepted + duplicate + rejected =
received`` holds for every run; blank lines are not inputs and are not counted.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
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
    """Appends one JSON object per rejected line: line, code, reason, original text."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self._file: IO[str] | None = None

    def __enter__(self) -> RejectWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("w", encoding="utf-8")
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._file is not None:
            self._file.close()

    def write(self, line: int, code: str, reason: str, original: str,
              input_id: str | None = None) -> None:
        assert self._file is not None, "use RejectWriter as a context manager"
        record = {"line": line, "input_id": input_id, "code": code, "reason": reason,
                  "original": original}
        self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.count += 1


def read_lines(stream: IO[bytes]) -> Iterator[tuple[int, str, int]]:
    """Yields (line number, text, bytes consumed) for every non-blank line."""
    for number, raw in enumerate(stream, start=1):
        text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        if text.strip():
            yield number, text, len(raw)
        else:
            yield number, "", len(raw)


def ingest_lines(
    app: LeadLifecycle,
    lines: Iterable[tuple[int, str, int]],
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
    pending: list[tuple[int, str, Touchpoint | SalesAction]] = []
    consumed = 0

    def flush() -> None:
        nonlocal consumed
        if pending:
            # Retried (from the store) when another process wrote the same leads meanwhile.
            results = record_batch_retrying(app, [item for _, _, item in pending])
            for (number, text, _), result in zip(pending, results, strict=True):
                if result.outcome is Outcome.ACCEPTED:
                    summary.accepted += 1
                elif result.outcome is Outcome.DUPLICATE:
                    summary.duplicate += 1
                else:
                    summary.rejected += 1
                    rejects.write(number, result.code or "rejected", result.reason or "",
                                  text, result.input_id)
            pending.clear()
            if after_batch is not None:
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
            item = parse_inbound_json(text)
        except InputRejected as e:
            summary.rejected += 1
            rejects.write(number, e.code, str(e), text)
            continue
        pending.append((number, text, item))
        if len(pending) >= batch_size:
            flush()
    flush()
    return summary
