"""The messages between a worker and its engine (:mod:`streams.engine`).

Frozen dataclasses, pickled over a :func:`multiprocessing.Pipe` when the engine runs in
a child process, and handed over as they are when it runs in the worker's own process.
One exchange:

- worker → engine: a request, :class:`IngestRequest` or :class:`PoliciesRequest`
  (:class:`Stop` ends the child);
- engine → worker, while an ingest runs: :class:`DeadLetters` to send before the commit;
  the worker answers :class:`LettersSent` or :class:`LettersFailed` (the child waits);
- engine → worker, at the end: :class:`Done` with the result (:class:`IngestCounts` for
  an ingest, the policies' counts for a policy run) or :class:`Failed`.

A starting child says :class:`Ready` once its engine is built (or :class:`Failed`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

__all__ = [
    "Batches",
    "DeadLetters",
    "Done",
    "EngineReply",
    "EngineRequest",
    "Failed",
    "IngestCounts",
    "IngestRequest",
    "Letters",
    "LettersFailed",
    "LettersSent",
    "PoliciesRequest",
    "Ready",
    "Stop",
]

Batches = Mapping[int, Sequence[tuple[int, bytes | None, bytes | None]]]
"""Per ``touchpoints`` partition, its messages in offset order: (offset, key, value)."""
Letters = list[tuple[bytes, bytes]]
"""Dead letters: (key, value) for the ``touchpoints-dlq`` topic."""


class IngestCounts(NamedTuple):
    """What an ingest did with a batch's messages (accepted + duplicate + rejected +
    skipped = the messages of the batch)."""

    accepted: int
    duplicate: int
    rejected: int
    skipped: int  # at or below a partition's stored offset: processed before


# -- worker → engine ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IngestRequest:
    """Record a batch (one or more partitions) in one transaction; answers
    :class:`IngestCounts` after the commit."""

    batches: Batches


@dataclass(frozen=True, slots=True)
class PoliciesRequest:
    """Run the decay and nurture policies as of ``at``; answers their counts."""

    at: datetime


@dataclass(frozen=True, slots=True)
class Stop:
    """End the engine process (the worker drained its batches)."""


EngineRequest = IngestRequest | PoliciesRequest


# -- engine → worker ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ready:
    """The child built its engine and takes requests."""


@dataclass(frozen=True, slots=True)
class Done:
    """The request's result."""

    result: Any


@dataclass(frozen=True, slots=True)
class Failed:
    """The request (or the start) failed in the engine: the error's type name, message
    and traceback (the exception itself may not pickle)."""

    kind: str
    message: str
    trace: str


# -- dead letters, during an ingest: engine → worker, and the worker's answer ------------


@dataclass(frozen=True, slots=True)
class DeadLetters:
    """Send these before the batch commits, then answer."""

    letters: Letters


@dataclass(frozen=True, slots=True)
class LettersSent:
    """The worker's answer to :class:`DeadLetters`: the broker has them."""


@dataclass(frozen=True, slots=True)
class LettersFailed:
    """The worker's answer to :class:`DeadLetters`: they were not sent (the batch is
    then not committed)."""

    reason: str


EngineReply = Ready | DeadLetters | Done | Failed
