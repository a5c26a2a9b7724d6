"""Poison through a real worker: no input, and no stored event, stops a partition.

- Inputs that cannot become events (not JSON, invalid UTF-8, a business time beyond
  what UTC can represent, a NUL in a string) go to the dead-letter topic with their
  reason and original bytes, while the good inputs after them on the same partition
  are recorded and projected, and the worker keeps running.
- An event already in the store that a projection cannot write (a NUL in ``source``,
  stored before the contract refused it) is recorded as a projection fault, the
  projector flows on, and a worker stopped and restarted does not crash on it again.
"""

from __future__ import annotations

import base64
import json
import time
import warnings
from pathlib import Path
from typing import Any

import pytest

from lifecycle.application import LeadLifecycle
from lifecycle.settings import Settings
from tests.e2e.conftest import Cluster
from tests.e2e.test_distributed import lifecycle_cli, processed_offsets
from tests.support import touchpoint, touchpoint_data

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

KEY = b"email:ann@acme-industries.com"  # every message on one partition, in order


def _good(n: int) -> bytes:
    data = touchpoint_data(f"good-{n}", email="ann@acme-industries.com",
                           occurred_at=f"2026-03-{n + 1:02d}T10:00:00+00:00")
    return json.dumps(data).encode()


def _poison() -> list[tuple[str, bytes]]:
    base = touchpoint_data("poison", email="ann@acme-industries.com",
                           occurred_at="2026-03-01T10:00:00+00:00")

    def variant(**fields: Any) -> bytes:
        return json.dumps({**base, **fields}).encode()

    return [
        ("not JSON", b"{this is not json"),
        ("invalid UTF-8", variant(touchpoint_id="bad-utf8").replace(b"website", b"caf\xe9")),
        ("a UTC overflow", variant(touchpoint_id="bad-date",
                                   occurred_at="9999-12-31T23:00:00-05:00")),
        ("year 1, positive offset", variant(touchpoint_id="bad-date-1",
                                            occurred_at="0001-01-01T01:00:00+05:00")),
        ("a NUL in source", variant(touchpoint_id="bad-nul", source="web\u0000site")),
        ("a NUL in the email", variant(touchpoint_id="bad-nul-2",
                                       email="ann\u0000@acme-industries.com")),
    ]


def _send(cluster: Cluster, values: list[bytes]) -> None:
    producer = KafkaProducer(bootstrap_servers=cluster.env["LIFECYCLE_KAFKA_BOOTSTRAP"],
                             acks="all")
    topic = cluster.env["LIFECYCLE_TOPIC_PREFIX"] + "touchpoints"
    for value in values:
        producer.send(topic, key=KEY, value=value)
    producer.flush()
    producer.close()


def _dead_letters(cluster: Cluster, expected: int) -> list[dict[str, Any]]:
    env = cluster.env
    consumer = KafkaConsumer(bootstrap_servers=env["LIFECYCLE_KAFKA_BOOTSTRAP"],
                             group_id=None, enable_auto_commit=False,
                             consumer_timeout_ms=5000)
    dlq = env["LIFECYCLE_TOPIC_PREFIX"] + "touchpoints-dlq"
    parts = [TopicPartition(dlq, p) for p in consumer.partitions_for_topic(dlq) or ()]
    consumer.assign(parts)
    consumer.seek_to_beginning(*parts)
    letters: list[dict[str, Any]] = []
    deadline = time.monotonic() + 60
    while len(letters) < expected and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=1000).values():
            letters.extend(json.loads(r.value) for r in records)
    consumer.close()
    return letters


def _touches(cluster: Cluster) -> int:
    return int(cluster.query("SELECT COUNT(*) FROM lc_touches")[0][0])


def test_poison_inputs_go_to_the_dlq_and_the_good_ones_after_them_flow_on(
        cluster: Cluster) -> None:
    assert lifecycle_cli(cluster, "topics", "create").returncode == 0
    poison = _poison()
    values: list[bytes] = []
    for n, (_, bad) in enumerate(poison):  # good, bad, good, bad, ... good
        values += [_good(n), bad]
    values.append(_good(len(poison)))
    goods = len(poison) + 1
    _send(cluster, values)
    worker = cluster.start_worker()
    cluster.wait_until(lambda: processed_offsets(cluster) == len(values), timeout=180,
                       what=f"all {len(values)} messages to be processed")
    cluster.wait_until(lambda: _touches(cluster) == goods, timeout=120,
                       what=f"{goods} touchpoints projected")
    assert worker.poll() is None, cluster.logs_tail()  # still running
    recorded = cluster.query("SELECT COUNT(*) FROM lifecycle_events WHERE topic LIKE %s",
                             ("%TouchpointRecorded",))
    assert recorded[0][0] == goods
    assert cluster.query("SELECT COUNT(*) FROM lc_projection_faults")[0][0] == 0

    letters = _dead_letters(cluster, len(poison))
    offsets = {letter["source"]["offset"]: letter for letter in letters}
    assert sorted(offsets) == [2 * n + 1 for n in range(len(poison))], letters
    for n, (what, bad) in enumerate(poison):
        letter = offsets[2 * n + 1]
        assert letter["code"], what
        assert letter["reason"], what
        original = letter["original"]
        kept = (base64.b64decode(original["base64"]) if "base64" in original
                else original["text"].encode())
        assert kept == bad, what  # byte-exact, whatever the bytes


def test_an_event_the_projections_cannot_write_is_a_fault_not_a_crash_loop(
        cluster: Cluster, tmp_path: Path) -> None:
    assert lifecycle_cli(cluster, "topics", "create").returncode == 0
    _send(cluster, [_good(n) for n in range(3)])
    worker = cluster.start_worker()
    cluster.wait_until(lambda: _touches(cluster) == 3, timeout=180,
                       what="the first touchpoints projected")
    # An event the contract would refuse today, stored as an older contract (or a bug)
    # let it in: the engine with the contract bypassed.
    app = LeadLifecycle(Settings(database_url=cluster.env["LIFECYCLE_DATABASE_URL"]))
    try:
        stored = touchpoint("stored-nul", email="bob@acme-industries.com").model_copy(
            update={"source": "web\x00site"})
        assert app.record(stored).outcome.value == "accepted"
    finally:
        app.close()
    _send(cluster, [_good(n) for n in range(3, 6)])
    cluster.wait_until(lambda: _touches(cluster) == 6, timeout=180,
                       what="the touchpoints after the poison event projected")

    def faulted() -> list[str]:
        return sorted(str(r[0]) for r in cluster.query(
            "SELECT projection FROM lc_projection_faults"))

    cluster.wait_until(lambda: faulted() == ["activity", "funnel", "funnel"], timeout=60,
                       what="the poison event's faults")
    assert worker.poll() is None, cluster.logs_tail()
    assert cluster.stop(worker) == 0
    again = cluster.start_worker()  # restarts do not crash on it either
    _send(cluster, [_good(6)])
    cluster.wait_until(lambda: _touches(cluster) == 7, timeout=180,
                       what="a touchpoint after the restart projected")
    assert again.poll() is None, cluster.logs_tail()
    status = lifecycle_cli(cluster, "projections", "status", "--json")
    assert status.returncode == 0, status.stderr
    counts = {s["name"]: s["faults"] for s in json.loads(status.stdout)}
    assert counts == {"funnel": 2, "activity": 1, "losses": 0, "dimensions": 0}
