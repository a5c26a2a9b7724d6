"""The worker's own Kafka producer: relayed envelopes and dead letters.

aiokafka builds record batches in C; kafka-python's pure-Python producer cost the relay
more than reading and encoding the events. Per partition, aiokafka has one request in
flight per broker at a time, so order is kept without the idempotent producer; its
retries may repeat a message, which the relay's stable event ids and the idempotent
projections (and a dead letter's stable key) already allow for. (aiokafka's idempotent
producer asks for a producer id with InitProducerId v0, which the test broker, Tansu,
answers with an error.)
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from streams.client import KeyHashPartitioner

__all__ = ["Producer"]


class Producer:
    """Keyed sends to any topic, started on first use, from the event loop or a thread.

    Args:
        bootstrap: the Kafka bootstrap servers (comma-separated).
        loop: the worker's event loop (:meth:`publish_from_thread` runs sends on it).
    """

    def __init__(self, bootstrap: str, loop: asyncio.AbstractEventLoop) -> None:
        self.bootstrap = bootstrap
        self.loop = loop
        self.partitioner = KeyHashPartitioner()
        self._producer: Any = None

    async def _started(self) -> Any:
        if self._producer is None:
            from aiokafka import AIOKafkaProducer

            producer = AIOKafkaProducer(
                bootstrap_servers=self.bootstrap, acks="all",
                linger_ms=5, client_id="lifecycle-worker", request_timeout_ms=30_000)
            await producer.start()
            self._producer = producer
        return self._producer

    async def publish(self, topic: str, messages: Sequence[tuple[bytes, bytes]]) -> None:
        """Sends keyed messages and waits for every acknowledgement (raises on a failure).

        Each key goes to the partition the Java client (and :class:`KeyHashPartitioner`)
        picks — murmur2 of the key — in record batches built per partition.
        """
        if not messages:
            return
        producer = await self._started()
        partitions = sorted(await producer.partitions_for(topic))
        by_partition: dict[int, list[tuple[bytes, bytes]]] = defaultdict(list)
        choose = self.partitioner.choose
        for key, value in messages:
            by_partition[partitions[choose(key, len(partitions))]].append((key, value))
        futures = []
        for partition, items in by_partition.items():
            batch = producer.create_batch()
            for key, value in items:
                if batch.append(key=key, value=value, timestamp=None) is None:
                    futures.append(await producer.send_batch(batch, topic, partition=partition))
                    batch = producer.create_batch()
                    if batch.append(key=key, value=value, timestamp=None) is None:
                        raise ValueError(f"a message for {topic} does not fit in a batch")
            futures.append(await producer.send_batch(batch, topic, partition=partition))
        await asyncio.gather(*futures)

    def publish_from_thread(self, topic: str, messages: Sequence[tuple[bytes, bytes]]) -> None:
        """:meth:`publish` from a worker thread (blocks that thread, not the event loop)."""
        asyncio.run_coroutine_threadsafe(self.publish(topic, messages), self.loop).result(60)

    async def stop(self) -> None:
        if self._producer is not None:
            producer, self._producer = self._producer, None
            await producer.stop()
