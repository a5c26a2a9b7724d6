"""The distributed mode's Kafka topics (kafka-python's admin client)."""

from __future__ import annotations

import contextlib
import warnings

from lifecycle.settings import Settings

with warnings.catch_warnings():
    # kafka-python 3.0 reads its protocol files with a deprecated importlib API.
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

__all__ = ["ensure_topics"]


def ensure_topics(settings: Settings) -> list[str]:
    """Creates the three topics if they do not exist; returns the ones it created.

    Topics are created with their final partition count: adding partitions later moves
    keys (and one lead's inputs) to other partitions.
    """
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap,
                             client_id="lifecycle-admin", request_timeout_ms=30_000)
    try:
        existing = set(admin.list_topics())
        wanted = [settings.touchpoints_topic, settings.events_topic, settings.dlq_topic]
        missing = [t for t in wanted if t not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # another worker was first
                admin.create_topics([
                    NewTopic(name=t, num_partitions=settings.partitions,
                             replication_factor=settings.replication) for t in missing
                ])
        return missing
    finally:
        admin.close()
