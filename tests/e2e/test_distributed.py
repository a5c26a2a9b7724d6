"""Distributed mode end to end: publish → Kafka → Faust workers → PostgreSQL.

The expected answer is always the embedded engine's, computed in the test from the same
JSONL on SQLite: the distributed run must produce the same lead events and the same
projection rows (recorded times aside), also after a worker is SIGKILLed mid-stream.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import pytest

from demo import generate
from lifecycle.application import LeadLifecycle
from lifecycle.ingest import RejectWriter, ingest_lines, read_lines
from lifecycle.projections import build_runner
from lifecycle.settings import Settings
from tests.e2e.conftest import Cluster
from tests.harness.workers import consistently_keyed as keyed_alike

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# Projection tables and the columns to compare (recorded times differ by nature).
COMPARED = {
    "lc_leads": "lead_id, template, channel, source, captured_at, cohort, industry, country, "
                "employees",
    "lc_transitions": "lead_id, version, occurred_at, from_stage, to_stage, kind, reason, "
                      "competitor, amount, currency, actor",
    "lc_grades": "lead_id, version, occurred_at, grade, previous, total, fit, behaviour, bant, "
                 "trigger_name",
    "lc_touches": "lead_id, version, occurred_at, kind, channel, source, points, anchored",
    "lc_sales_touches": "lead_id, version, occurred_at, event, actor",
    "lc_nurture": "lead_id, version, occurred_at, track, step, content",
    "lc_losses": "lead_id, version, occurred_at, month, kind, stage, reason, competitor, amount, "
                 "currency, taxonomy_version",
    "lc_scoring": "lead_id, version, occurred_at, event, fit, behaviour, behaviour_at, budget, "
                  "authority, need, timeline",
}


def _norm(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    def cell(v: Any) -> Any:
        return round(v, 6) if isinstance(v, float) else v

    return sorted((tuple(cell(v) for v in r) for r in rows), key=repr)


def consistently_keyed(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The inputs of the people whose every input carries the same partition key
    (:func:`tests.harness.workers.consistently_keyed`): the README says a person split
    over two keys may be applied in another order; this test checks everything else."""
    kept = keyed_alike(items)
    assert len(kept) > 0.8 * len(items)
    return kept


def write_jsonl(path: Path, items: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(i) + "\n" for i in items), encoding="utf-8")
    return path


def embedded_expected(jsonl: Path, tmp: Path) -> dict[str, Any]:
    """The embedded engine's events and projection rows for the same input."""
    db = tmp / "expected.db"
    app = LeadLifecycle(Settings(database_url=f"sqlite:///{db}"))
    runner = build_runner(app)
    with jsonl.open("rb") as stream, RejectWriter(tmp / "expected.rejects") as rejects:
        summary = ingest_lines(app, read_lines(stream), rejects, batch_size=500)
    runner.run()
    runner.store.close()
    app.close()
    conn = sqlite3.connect(db)
    tables = {t: _norm(conn.execute(f"SELECT {cols} FROM {t}").fetchall())
              for t, cols in COMPARED.items()}
    events = _norm(conn.execute(
        "SELECT originator_id, originator_version, topic FROM stored_events "
        "WHERE topic LIKE 'lifecycle.aggregates.lead:%'").fetchall())
    conn.close()
    return {"tables": tables, "events": events, "summary": summary.as_dict()}


def distributed_state(cluster: Cluster) -> dict[str, Any]:
    tables = {t: _norm(cluster.query(f"SELECT {cols} FROM {t}")) for t, cols in COMPARED.items()}
    events = _norm([
        (r[0].replace("-", ""), r[1], r[2]) for r in cluster.query(
            "SELECT originator_id::text, originator_version, topic FROM lifecycle_events "
            "WHERE topic LIKE 'lifecycle.aggregates.lead:%%'")
    ])
    return {"tables": tables, "events": events}


def lifecycle_cli(cluster: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lifecycle", *args], env=cluster.env,
                          cwd=cluster.logs, capture_output=True, text=True, timeout=300,
                          check=False)


def publish(cluster: Cluster, jsonl: Path) -> None:
    created = lifecycle_cli(cluster, "topics", "create")
    assert created.returncode == 0, created.stderr
    result = lifecycle_cli(cluster, "publish", "--json", str(jsonl))
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["rejected"] == 0
    assert summary["published"] == summary["received"]


def processed_offsets(cluster: Cluster) -> int:
    """How many touchpoint messages the workers have committed (per tracking records)."""
    prefix = cluster.env["LIFECYCLE_TOPIC_PREFIX"] + "touchpoints:%"
    rows = cluster.query("SELECT notification_id FROM lifecycle_tracking "
                         "WHERE application_name LIKE %s", (prefix,))
    return sum(int(r[0]) + 1 for r in rows)


def wait_for_same_answers(cluster: Cluster, expected: dict[str, Any], total: int) -> None:
    cluster.wait_until(lambda: processed_offsets(cluster) == total, timeout=240,
                       what=f"all {total} touchpoints to be processed")
    want = {t: len(rows) for t, rows in expected["tables"].items()}

    def counts() -> dict[str, int]:
        return {t: int(cluster.query(f"SELECT COUNT(*) FROM {t}")[0][0]) for t in COMPARED}

    try:
        cluster.wait_until(lambda: counts() == want, timeout=120,
                           what=f"projection row counts {want}")
    except AssertionError as e:
        raise AssertionError(f"{e}\nactual counts: {counts()}") from None


def assert_same(expected: dict[str, Any], actual: dict[str, Any]) -> None:
    assert actual["events"] == expected["events"]
    for table in COMPARED:
        assert actual["tables"][table] == expected["tables"][table], table


def test_publish_and_workers_give_the_embedded_answers(cluster: Cluster, tmp_path: Path) -> None:
    items = consistently_keyed(generate(leads=120, days=60, seed=11))
    jsonl = write_jsonl(tmp_path / "in.jsonl", items)
    expected = embedded_expected(jsonl, tmp_path)
    assert expected["summary"]["accepted"] > 0
    publish(cluster, jsonl)
    cluster.start_worker()
    cluster.start_worker()  # two workers share the partitions
    wait_for_same_answers(cluster, expected, total=len(items))
    assert_same(expected, distributed_state(cluster))


def test_workers_joining_and_leaving_mid_stream_give_the_embedded_answers(
        cluster: Cluster, tmp_path: Path) -> None:
    """Two rebalances while touchpoints keep arriving: a second worker joins, then the
    first stops (SIGTERM, a clean shutdown that leaves the group)."""
    items = consistently_keyed(generate(leads=300, days=90, seed=7))
    expected = embedded_expected(write_jsonl(tmp_path / "in.jsonl", items), tmp_path)
    cluster.env["LIFECYCLE_WORKER_BATCH"] = "20"  # many small transactions
    size = -(-len(items) // 8)
    chunks = [write_jsonl(tmp_path / f"in{n}.jsonl", items[n * size:(n + 1) * size])
              for n in range(8)]
    publish(cluster, chunks[0])
    first = cluster.start_worker()
    cluster.wait_until(lambda: processed_offsets(cluster) > 0, timeout=180,
                       what="the first worker to make progress")
    cluster.start_worker(loglevel="info")
    waiting = list(chunks[1:])
    while not cluster.assigned_touchpoints(1):  # keep the stream flowing while it joins
        assert waiting, f"the second worker got no partitions\n{cluster.logs_tail()}"
        publish(cluster, waiting.pop(0))
    assert waiting, "the second worker must join while inputs still arrive"
    publish(cluster, waiting.pop(0))
    assert cluster.stop(first) == 0  # its partitions move to the second worker
    for chunk in waiting:
        publish(cluster, chunk)
    wait_for_same_answers(cluster, expected, total=len(items))
    actual = distributed_state(cluster)
    assert_same(expected, actual)
    recorded = [e for e in actual["events"] if e[2].endswith("TouchpointRecorded")]
    assert len(recorded) == len(set(recorded))


def test_sigkilled_worker_loses_and_duplicates_nothing(cluster: Cluster, tmp_path: Path) -> None:
    items = consistently_keyed(generate(leads=300, days=90, seed=5))
    jsonl = write_jsonl(tmp_path / "in.jsonl", items)
    expected = embedded_expected(jsonl, tmp_path)
    cluster.env["LIFECYCLE_WORKER_BATCH"] = "25"  # many small transactions to land inside
    publish(cluster, jsonl)
    first = cluster.start_worker()
    cluster.wait_until(lambda: processed_offsets(cluster) > 0, timeout=180,
                       what="the first worker to make progress")
    engine = cluster.kill(first)
    if sys.platform.startswith("linux"):
        assert engine, "a worker runs its engine in a child process by default"
    done_at_kill = processed_offsets(cluster)
    assert 0 < done_at_kill < len(items), "the kill must land in the middle of the stream"
    cluster.start_worker()
    wait_for_same_answers(cluster, expected, total=len(items))
    actual = distributed_state(cluster)
    assert_same(expected, actual)
    recorded = [e for e in actual["events"] if e[2].endswith("TouchpointRecorded")]
    assert len(recorded) == len(set(recorded))


def test_malformed_messages_go_to_the_dlq_and_the_partition_flows_on(
    cluster: Cluster, tmp_path: Path
) -> None:
    env = cluster.env
    prefix = env["LIFECYCLE_TOPIC_PREFIX"]
    assert lifecycle_cli(cluster, "topics", "create").returncode == 0
    good = {"touchpoint_id": "ok-1", "occurred_at": "2026-03-01T10:00:00+00:00",
            "source": "web", "channel": "seo", "kind": "form_submit",
            "external_id": "lead-a", "email": "ann@acme-industries.com",
            "profile": {"industry": "software", "employees": 300, "title": "CTO",
                        "country": "DE"}}
    later = {**good, "touchpoint_id": "ok-2", "occurred_at": "2026-03-02T10:00:00+00:00",
             "kind": "page_view"}
    del later["profile"]
    bad: list[tuple[bytes, str]] = [
        (b"this is not json", "schema"),
        (json.dumps({**good, "touchpoint_id": "bad-1", "channel": 42}).encode(), "schema"),
        (json.dumps({"action_id": "a-1", "occurred_at": "2026-03-01T11:00:00+00:00",
                     "actor": "sam", "action": "accept", "external_id": "nobody"}).encode(),
         "unknown_lead"),
        (json.dumps({"action_id": "a-2", "occurred_at": "2026-03-01T12:00:00+00:00",
                     "actor": "sam", "action": "win", "external_id": "lead-a"}).encode(),
         "illegal_transition"),
        # once, each of these stopped the partition (OverflowError) or, stored, crashed
        # the projector (PostgreSQL text cannot hold NUL)
        (json.dumps({**good, "touchpoint_id": "bad-2",
                     "occurred_at": "9999-12-31T23:00:00-05:00"}).encode(), "schema"),
        (json.dumps({**good, "touchpoint_id": "bad-3", "source": "web\u0000site"}).encode(),
         "schema"),
    ]
    producer = KafkaProducer(bootstrap_servers=env["LIFECYCLE_KAFKA_BOOTSTRAP"], acks="all")
    topic = f"{prefix}touchpoints"
    producer.send(topic, key=b"external:lead-a", value=json.dumps(good).encode())
    for value, _ in bad:
        producer.send(topic, key=b"external:lead-a", value=value)
    producer.send(topic, key=b"external:lead-a", value=json.dumps(later).encode())
    producer.flush()
    producer.close()
    cluster.start_worker()
    cluster.wait_until(lambda: processed_offsets(cluster) == 2 + len(bad), timeout=180,
                       what=f"all {2 + len(bad)} messages to be processed")
    touches = cluster.query("SELECT COUNT(*) FROM lifecycle_events "
                            "WHERE topic LIKE %s", ("%TouchpointRecorded",))
    assert touches[0][0] == 2  # both good messages, around the bad ones, were recorded

    consumer = KafkaConsumer(bootstrap_servers=env["LIFECYCLE_KAFKA_BOOTSTRAP"],
                             group_id=None, enable_auto_commit=False,
                             consumer_timeout_ms=5000)
    dlq = f"{prefix}touchpoints-dlq"
    parts = [TopicPartition(dlq, p) for p in consumer.partitions_for_topic(dlq) or ()]
    consumer.assign(parts)
    consumer.seek_to_beginning(*parts)
    letters: list[dict[str, Any]] = []
    deadline = time.monotonic() + 60
    while len(letters) < len(bad) and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=1000).values():
            letters.extend(json.loads(r.value) for r in records)
    consumer.close()
    assert sorted(letter["code"] for letter in letters) == sorted(code for _, code in bad)
    originals = {letter["original"].get("text") for letter in letters}
    assert originals == {value.decode() for value, _ in bad}
    for letter in letters:
        assert letter["reason"]
        assert letter["source"]["topic"] == topic
