"""What one worker process keeps, and the calls its agents and timers make.

A :class:`Worker` puts the parts together: the engine (:mod:`streams.engine`, in a
child process by default) that records touchpoints and runs the policies, the
projector (:mod:`streams.projector`), the relay (:mod:`streams.relay`) with the
producer it publishes through (:mod:`streams.producer`), and the leadership
(:mod:`streams.leadership`) that lets one worker at a time relay and run the policies.
Each blocking call runs on a thread of its own concern — the engine, the projections,
the relay — so the event loop keeps consuming meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, TypeVar

from lifecycle.adapters import adapter_for
from lifecycle.application import LeadLifecycle, build_application
from lifecycle.errors import ConfigError
from lifecycle.projections import ProjectionStore, all_projections
from lifecycle.settings import Settings
from streams.engine import start_engine
from streams.leadership import Leadership
from streams.producer import Producer
from streams.projector import EnvelopeBatches, Projector
from streams.protocol import Batches, IngestCounts, Letters
from streams.relay import Relay

__all__ = ["Worker"]

log = logging.getLogger("lifecycle.worker")
T = TypeVar("T")


class Worker:
    """The state one worker process keeps: engine, stores, producer, executors.

    Create it on the worker's event loop (the producer sends on that loop).
    """

    def __init__(self, settings: Settings) -> None:
        if not adapter_for(settings).shared:
            raise ConfigError("a distributed worker needs PostgreSQL: set "
                              "LIFECYCLE_DATABASE_URL=postgresql://…")
        self.settings = settings
        self.producer = Producer(settings.kafka_bootstrap, asyncio.get_running_loop())
        # The engine writes (in a child process by default); this process reads the
        # notification log for the relay.
        self.engine = start_engine(settings, self.send_dead_letters)
        self.app: LeadLifecycle = build_application(settings)
        projections = all_projections(self.app.scoring.behaviour.half_life_days)
        self.projection_store = ProjectionStore(settings.database_url)
        self.projector = Projector(self.projection_store, projections, settings.events_topic)
        self.relay_store = ProjectionStore(settings.database_url)
        mapper = self.app.mapper
        self.relay = Relay(self.app, self.relay_store, payload=mapper.public_state)  # type: ignore[attr-defined]
        self.leadership = Leadership(settings.database_url)
        # One thread per concern: calls to the engine (ingest, policies), projections,
        # relay.
        self.engine_thread = ThreadPoolExecutor(1, thread_name_prefix="engine")
        self.projection_thread = ThreadPoolExecutor(1, thread_name_prefix="projection")
        self.relay_thread = ThreadPoolExecutor(1, thread_name_prefix="relay")
        self.counts: Counter[str] = Counter()

    async def run(self, pool: ThreadPoolExecutor, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)

    # -- the agents' calls ----------------------------------------------------------------

    async def ingest(self, batches: Batches) -> IngestCounts:
        """Records a batch of ``touchpoints`` messages (one transaction, offsets with it)."""
        return await self.run(self.engine_thread, self.engine.ingest, batches)

    async def project(self, batches: EnvelopeBatches) -> int:
        """Projects a batch of ``lead-events`` envelopes; returns how many."""
        return await self.run(self.projection_thread, self.projector.project, batches)

    def send_dead_letters(self, letters: Letters) -> None:
        """The engine's dead letters, sent before its batch commits (from its thread)."""
        self.producer.publish_from_thread(self.settings.dlq_topic, letters)

    # -- the leader's rounds --------------------------------------------------------------

    def relay_pending(self, limit: int = 5000) -> tuple[list[tuple[bytes, bytes]], int | None]:
        """The next envelopes to relay and the position they lead to (leader only)."""
        if not self.leadership.is_leader():
            return [], None
        return self.relay.pending(limit)

    async def relay_once(self) -> int:
        """One relay round: publish the next envelopes, then store their position."""
        envelopes, position = await self.run(self.relay_thread, self.relay_pending)
        if position is None:
            return 0
        await self.producer.publish(self.settings.events_topic, envelopes)
        await self.run(self.relay_thread, self.relay.acknowledge, position)
        self.counts["relayed"] += len(envelopes)
        return len(envelopes)

    async def policies(self) -> None:
        """The policy timer's call: :meth:`run_policies` on the engine's thread."""
        await self.run(self.engine_thread, self.run_policies)

    def run_policies(self) -> None:
        """The decay and nurture policies, now (leader only; on the engine's thread)."""
        if not self.leadership.is_leader():
            return
        result = self.engine.policies(datetime.now(UTC))
        log.info("policies: %s", result)

    # -- stopping -------------------------------------------------------------------------

    async def shutdown(self) -> None:
        """Stops the producer, then (off the event loop: the engine process may take a
        moment to stop) the executors, the engine and the stores."""
        await self.producer.stop()
        await asyncio.get_running_loop().run_in_executor(None, self.close)

    def close(self) -> None:
        for pool in (self.engine_thread, self.projection_thread, self.relay_thread):
            pool.shutdown(wait=True)
        self.engine.close()
        self.leadership.close()
        self.projection_store.close()
        self.relay_store.close()
        self.app.close()
