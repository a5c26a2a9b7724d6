"""A distributed worker's engine: in a process of its own, or in the worker's process.

A worker's Faust agents, relay and projector run on one event loop in one Python
process, and so does, by default, nothing else: the engine — turning touchpoints into
lead events, and the decay and nurture policies — runs in a child process
(``LIFECYCLE_WORKER_ENGINE=process``). Python runs one thread at a time per process,
and the engine is as much CPU as the rest of the worker together, so in the worker's
own process (``thread``) the two take turns on one core; as a child process the
engine has a core of its own. (Kafka Streams gets the same from ``num.stream.threads``.)

Nothing about exactly-once changes: the child records each batch with its partitions'
offsets in one transaction (:class:`streams.ingest.PartitionIngest`) and
answers only after the commit; the agent acknowledges the batch's messages after that
answer. Dead letters still leave before the commit: the child hands them to the
worker, which sends them and waits for the broker's acknowledgement before telling the
child to go on. If the worker dies, so does the child (a closed pipe, and on Linux the
kernel's parent-death signal), and an unfinished transaction rolls back.

The messages, over a :func:`multiprocessing.Pipe` (pickled), are the typed ones of
:mod:`streams.protocol`.
"""

from __future__ import annotations

import abc
import contextlib
import ctypes
import ctypes.util
import gc
import logging
import multiprocessing
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from datetime import datetime
from multiprocessing.connection import Connection
from typing import Any, overload

from eventsourcing.persistence import IntegrityError

from lifecycle.application import build_application
from lifecycle.errors import EngineError
from lifecycle.policies import run_policies
from lifecycle.projections import ProjectionStore
from lifecycle.settings import Settings
from streams.ingest import Message, PartitionIngest
from streams.protocol import (
    Batches,
    DeadLetters,
    Done,
    EngineReply,
    EngineRequest,
    Failed,
    IngestCounts,
    IngestRequest,
    Letters,
    LettersFailed,
    LettersSent,
    PoliciesRequest,
    Ready,
    Stop,
)

__all__ = [
    "Engine",
    "EngineHandler",
    "EngineProcess",
    "LocalEngine",
    "start_engine",
    "tune_gc",
]

log = logging.getLogger("lifecycle.worker")


class EngineHandler:
    """Carries out requests against a :class:`~lifecycle.application.LeadLifecycle`.

    Args:
        settings: the worker's settings (PostgreSQL).
        send_dead_letters: sends dead letters and returns once the broker has them;
            raises if it could not (the batch is then not committed).
    """

    def __init__(self, settings: Settings, send_dead_letters: Callable[[Letters], None]) -> None:
        self.settings = settings
        self.app = build_application(settings)
        self.ingest = PartitionIngest(self.app, settings.touchpoints_topic)
        self.send_dead_letters = send_dead_letters
        self._store: ProjectionStore | None = None

    def handle(self, request: EngineRequest) -> Any:
        """Carries out ``request``; its result (see :mod:`streams.protocol`)."""
        if isinstance(request, IngestRequest):
            return self.ingest_batches(request.batches)
        if isinstance(request, PoliciesRequest):
            return self.run_policies(request.at)
        raise EngineError(f"unknown engine request {type(request).__name__!r}")

    def ingest_batches(self, batches: Batches) -> IngestCounts:
        """Records a batch; returns (accepted, duplicate, rejected, skipped)."""
        messages = {p: [Message(p, offset, key, value) for offset, key, value in items]
                    for p, items in batches.items()}
        for attempt in range(5):
            try:
                return self.ingest.process(messages, lambda letters: self.send_dead_letters(
                    [(d.key, d.value) for d in letters]))
            except IntegrityError as e:
                # Another worker wrote one of the leads meanwhile (a rebalance): nothing
                # was saved and the leads were evicted from the cache; again is safe.
                if attempt == 4:
                    raise
                log.warning("concurrent write, retrying (%s)", e)
                time.sleep(0.05 * (attempt + 1))
        raise AssertionError("unreachable")  # pragma: no cover

    def run_policies(self, at: datetime) -> dict[str, Any]:
        if self._store is None:
            self._store = ProjectionStore(self.settings.database_url)
        return run_policies(self.app, at=at, store=self._store, embedded=False)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
        self.app.close()


class Engine(abc.ABC):
    """What a worker calls: :meth:`call` blocks the calling thread until the answer.

    The typed entry points :meth:`ingest` and :meth:`policies` are how the worker
    uses it; :meth:`call` takes any request of :mod:`streams.protocol`.
    """

    @overload
    def call(self, request: IngestRequest) -> IngestCounts: ...
    @overload
    def call(self, request: PoliciesRequest) -> dict[str, Any]: ...

    def call(self, request: EngineRequest) -> Any:
        return self._call(request)

    def ingest(self, batches: Batches) -> IngestCounts:
        """Records a batch (one or more partitions) in one transaction."""
        return self.call(IngestRequest(batches))

    def policies(self, at: datetime) -> dict[str, Any]:
        """Runs the decay and nurture policies as of ``at``."""
        return self.call(PoliciesRequest(at))

    @abc.abstractmethod
    def _call(self, request: EngineRequest) -> Any: ...

    @abc.abstractmethod
    def close(self) -> None: ...


class LocalEngine(Engine):
    """The engine in the worker's own process (``LIFECYCLE_WORKER_ENGINE=thread``)."""

    def __init__(self, settings: Settings, send_dead_letters: Callable[[Letters], None]) -> None:
        self.handler = EngineHandler(settings, send_dead_letters)

    def _call(self, request: EngineRequest) -> Any:
        return self.handler.handle(request)

    def close(self) -> None:
        self.handler.close()


class EngineProcess(Engine):
    """The engine in a child process; :meth:`call` blocks the calling thread only.

    Create it from a thread that lives as long as the worker (the event loop's): on
    Linux the child's parent-death signal fires when the thread that started it ends.
    """

    def __init__(self, settings: Settings, send_dead_letters: Callable[[Letters], None]) -> None:
        ctx = multiprocessing.get_context("spawn")  # no fork of a threaded event loop
        self._conn, child_conn = ctx.Pipe()
        self._send_dead_letters = send_dead_letters
        self._lock = threading.Lock()
        self._process = ctx.Process(
            target=_child_main, name="lifecycle-engine", daemon=True,
            args=(settings.model_dump(), child_conn, logging.getLogger().level))
        self._process.start()
        child_conn.close()
        self._ready = False

    def _call(self, request: EngineRequest) -> Any:
        with self._lock:
            if not self._ready:
                self._expect_ready()
            self._send(request)
            while True:
                reply = self._recv()
                if isinstance(reply, DeadLetters):
                    try:
                        self._send_dead_letters(reply.letters)
                    except BaseException as e:  # answered either way: the child waits
                        self._send(LettersFailed(f"{type(e).__name__}: {e}"))
                        if not isinstance(e, Exception):
                            raise
                    else:
                        self._send(LettersSent())
                elif isinstance(reply, Done):
                    return reply.result
                elif isinstance(reply, Failed):
                    raise EngineError(f"engine: {reply.kind}: {reply.message}\n{reply.trace}")
                else:
                    raise EngineError(f"engine: unexpected reply {type(reply).__name__}")

    def _expect_ready(self) -> None:
        reply = self._recv()
        if isinstance(reply, Failed):
            raise EngineError(f"engine did not start: {reply.kind}: {reply.message}\n"
                              f"{reply.trace}")
        if not isinstance(reply, Ready):
            raise EngineError(f"engine: unexpected reply {type(reply).__name__}")
        self._ready = True

    def _send(self, message: EngineRequest | LettersSent | LettersFailed | Stop) -> None:
        try:
            self._conn.send(message)
        except (OSError, ValueError):
            raise self._gone() from None

    def _recv(self) -> EngineReply:
        try:
            reply: EngineReply = self._conn.recv()
        except (EOFError, OSError):
            raise self._gone() from None
        return reply

    def _gone(self) -> EngineError:
        self._process.join(1.0)
        return EngineError(f"the engine process is gone (exit code {self._process.exitcode})")

    def close(self) -> None:
        with self._lock:
            with contextlib.suppress(OSError, ValueError):  # already closed
                self._conn.send(Stop())
            self._process.join(10.0)
            if self._process.is_alive():
                self._process.kill()
                self._process.join(5.0)
            self._conn.close()


def tune_gc() -> None:
    """Fewer collections of the young generation, and none of what start-up built.

    In a worker every Kafka message and every event becomes a handful of short-lived
    objects, so the collector's default (a young collection every 700 allocations)
    ran thousands of times a second, and each older collection walked the long-lived
    objects of Faust and the engine. Start-up's objects are moved out of the
    collector's sight (``gc.freeze``) and the young generation is collected every
    50,000 allocations; cycles are still collected.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


def start_engine(settings: Settings, send_dead_letters: Callable[[Letters], None]) -> Engine:
    """The engine ``settings.worker_engine`` asks for."""
    if settings.worker_engine == "process":
        return EngineProcess(settings, send_dead_letters)
    return LocalEngine(settings, send_dead_letters)


# -- the child process ---------------------------------------------------------------------


def _die_with_parent() -> None:
    """Linux: the kernel kills this process when the worker dies (even by SIGKILL)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:  # pragma: no cover - no libc: the closed pipe still ends the child
        pass


def _child_main(fields: dict[str, Any], conn: Connection, level: int) -> None:
    _die_with_parent()
    # The worker stops this process (Stop once its batches drained), or its death
    # does: a Ctrl-C or a SIGTERM sent to the whole process group (systemd, a shell's
    # job control) must not end the engine under the worker's in-flight batch.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(level=level, format="[%(asctime)s] [%(process)d] [%(levelname)s] "
                        "engine: %(message)s")

    def send_dead_letters(letters: Letters) -> None:
        conn.send(DeadLetters(letters))
        answer = conn.recv()
        if not isinstance(answer, LettersSent):
            reason = answer.reason if isinstance(answer, LettersFailed) else repr(answer)
            raise EngineError(f"dead letters were not sent: {reason}")

    def failed(e: Exception) -> Failed:
        return Failed(type(e).__name__, str(e), traceback.format_exc())

    try:
        handler = EngineHandler(Settings(**fields), send_dead_letters)
    except Exception as e:
        conn.send(failed(e))
        return
    tune_gc()
    try:
        conn.send(Ready())
        while True:
            try:
                request = conn.recv()
            except (EOFError, OSError):
                return  # the worker is gone
            if isinstance(request, Stop):
                return
            try:
                result = handler.handle(request)
            except Exception as e:
                conn.send(failed(e))
            else:
                conn.send(Done(result))
    finally:
        handler.close()
