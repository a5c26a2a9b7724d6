"""The worker's Kafka transport: Faust's aiokafka driver with a shorter fetch wait.

Faust hard-codes ``fetch_max_wait_ms=1500`` for its consumer and has no setting for
it. A broker may hold a Fetch that finds no new records for up to that long, and not
every Kafka-protocol broker answers a held Fetch as soon as records arrive (the test
broker, Tansu, does not: ~0.75 s per hop measured, see ``tests/harness/KAFKA_NOTES.md``).
Each Faust hop of the pipeline (``touchpoints`` → ingest, ``lead-events`` → projector)
then adds up to 1.5 s. Apache Kafka answers a held Fetch as soon as records arrive, so
there the shorter wait only costs a few empty fetches a second while a worker is idle.

Only the wait changes: offsets, commits, group membership and everything exactly-once
(tracking in PostgreSQL) are Faust's and aiokafka's, as before.
"""

from __future__ import annotations

from typing import Any

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka

__all__ = ["FETCH_MAX_WAIT_MS", "App"]

FETCH_MAX_WAIT_MS = 100
"""Longest a broker may hold the workers' Fetch (aiokafka's default is 500)."""


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # AIOKafkaConsumer keeps the argument and hands it to its fetcher in start();
        # Faust passes 1500 and offers no setting. If aiokafka renames the attribute,
        # the consumer keeps Faust's wait: slower, never wrong.
        if hasattr(consumer, "_fetch_max_wait_ms"):
            consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS
        return consumer


class _Consumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> _ConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class _Transport(faust_aiokafka.Transport):
    Consumer = _Consumer


class App(faust.App):
    """``faust.App`` whose consumer transport is :class:`_Transport` (``kafka://`` URLs)."""

    def _new_transport(self) -> Any:
        return _Transport(self.conf.broker_consumer, self)
