"""Publisher SDK for backend systems: validated touchpoints and sales actions to Kafka.

    from streams.client import TouchpointPublisher

    with TouchpointPublisher("kafka-1:9092") as publisher:
        publisher.publish({"touchpoint_id": "web-123", ...})   # validated, keyed by lead

Every input is validated against the contract *before* it is sent, so a bad input is
an :class:`~lifecycle.errors.InvalidInput` in the caller's hands, not a dead letter
later; a message Kafka does not take is a :class:`~lifecycle.errors.PublishError`.
Messages are keyed by the lead key (external id, else email), so one lead's inputs
stay in one partition and in order. The producer is idempotent (``acks=all``,
``enable_idempotence``): a retried send is not written twice.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any

from lifecycle.contracts import SalesAction, Touchpoint, parse_inbound
from lifecycle.errors import PublishError
from lifecycle.handling import keys_of

with warnings.catch_warnings():
    # kafka-python 3.0 reads its protocol files with a deprecated importlib API.
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    from kafka import KafkaProducer
    from kafka.errors import KafkaError
    from kafka.partitioner import DefaultPartitioner, murmur2

__all__ = ["KeyHashPartitioner", "TouchpointPublisher", "encode_input"]


class KeyHashPartitioner(DefaultPartitioner):  # type: ignore[misc]
    """kafka-python's default partitioner — murmur2 of the key, as the Java client, so a
    key lands where any Kafka client puts it — remembering each key's hash.

    The hash is pure Python and cost about as much as the rest of a send; inputs and
    events come in runs per lead, so a bounded memory of recent keys saves most of it.
    """

    def __init__(self, maxsize: int = 100_000) -> None:
        super().__init__()
        self._hashes: dict[bytes, int] = {}
        self._maxsize = maxsize

    def partition(self, topic: str, key: Any, serialized_key: bytes | None, value: Any,
                  serialized_value: bytes | None, cluster: Any) -> int:
        if serialized_key is None or topic not in cluster.topics():
            return int(super().partition(topic, key, serialized_key, value, serialized_value,
                                         cluster))
        all_partitions = sorted(cluster.partitions_for_topic(topic))
        return int(all_partitions[self.choose(serialized_key, len(all_partitions))])

    def choose(self, key: bytes, partitions: int) -> int:
        """The index, among a topic's partitions in order, that ``key`` goes to."""
        h = self._hashes.get(key)
        if h is None:
            if len(self._hashes) >= self._maxsize:
                self._hashes.clear()
            h = self._hashes[key] = murmur2(key) & 0x7FFFFFFF
        return h % partitions


def encode_input(item: Touchpoint | SalesAction) -> tuple[bytes, bytes]:
    """The Kafka key (the lead key) and value (compact JSON) of a validated input."""
    key = keys_of(item)[0].encode("utf-8")
    return key, item.model_dump_json(exclude_none=True).encode("utf-8")


class TouchpointPublisher:
    """Validates and publishes inputs to the engine's ``touchpoints`` topic."""

    def __init__(
        self,
        bootstrap_servers: str | list[str],
        *,
        topic: str = "lifecycle.touchpoints",
        client_id: str = "lifecycle-publisher",
        linger_ms: int = 5,
        request_timeout_ms: int = 30_000,
        **producer_config: Any,
    ) -> None:
        self.topic = topic
        try:
            self._producer = KafkaProducer(
                bootstrap_servers=bootstrap_servers,
                client_id=client_id,
                acks="all",
                enable_idempotence=True,
                linger_ms=linger_ms,
                batch_size=256 * 1024,
                request_timeout_ms=request_timeout_ms,
                **{"partitioner": KeyHashPartitioner(), **producer_config},
            )
        except KafkaError as e:
            raise PublishError(f"cannot connect to Kafka at {bootstrap_servers}: {e}") from e
        self._pending: list[Any] = []

    def publish(self, data: Mapping[str, Any] | Touchpoint | SalesAction) -> None:
        """Validates one input and queues it for sending.

        Raises:
            InvalidInput: it does not match the contract (nothing is sent).
            PublishError: the producer refused it at once (e.g. buffer full, closed).
        """
        item = data if isinstance(data, Touchpoint | SalesAction) else parse_inbound(dict(data))
        key, value = encode_input(item)
        try:
            self._pending.append(self._producer.send(self.topic, key=key, value=value))
        except KafkaError as e:
            raise PublishError(f"cannot send {item.input_id!r} to {self.topic}: {e}") from e

    def publish_many(self, items: Iterable[Mapping[str, Any] | Touchpoint | SalesAction]) -> int:
        """Publishes many inputs and waits until the broker has them all."""
        n = 0
        for item in items:
            self.publish(item)
            n += 1
        self.flush()
        return n

    def flush(self, timeout: float | None = 60.0) -> None:
        """Waits until every queued message is acknowledged.

        Raises:
            PublishError: a message could not be delivered; says how many failed.
        """
        try:
            self._producer.flush(timeout=timeout)
        except KafkaError as e:
            raise PublishError(f"flush to {self.topic} failed: {e}") from e
        failures = []
        for future in self._pending:
            if future.failed():
                failures.append(future.exception)
        self._pending.clear()
        if failures:
            raise PublishError(f"{len(failures)} message(s) were not delivered to "
                               f"{self.topic}; first error: {failures[0]}")

    def close(self) -> None:
        self.flush()
        self._producer.close()

    def __enter__(self) -> TouchpointPublisher:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            self.close()
        else:
            self._producer.close()
