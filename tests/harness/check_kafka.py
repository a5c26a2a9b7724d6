"""Self-check of the Kafka test harness: what the test broker supports.

Run from the repository root (full run ~3.5 minutes on 2 cores, --quick ~40 s;
everything on 127.0.0.1, every subprocess is stopped at the end)::

    .venv/bin/python -m tests.harness.check_kafka            # full run
    .venv/bin/python -m tests.harness.check_kafka --quick    # smaller, no two-worker test

It starts a broker with :func:`tests.harness.kafka.kafka_broker` (or uses
``$LIFECYCLE_TEST_KAFKA_BOOTSTRAP``) and checks kafka-python admin/producer/
consumer behaviour, idempotence, transactions, offsets, and real Faust worker
subprocesses (group join time, two workers sharing partitions, table
recovery, throughput). Every result is printed as one line:

* ``PASS``/``FAIL`` - something the distributed mode relies on;
* ``QUIRK`` - a known deviation of the broker from Apache Kafka (see
  ``KAFKA_NOTES.md``); ``QUIRK-GONE`` if it no longer shows;
* ``INFO`` - a measurement.

The exit code is 1 if any ``FAIL`` was printed. The same file is also the
Faust application module of the worker subprocesses (``faust-worker`` mode).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    # Run as a path (as the Faust worker subprocesses are): sys.path[0] is this
    # directory, where kafka.py would shadow kafka-python. Put the repository
    # root there instead so that `tests.harness` is importable.
    sys.path[0] = str(Path(__file__).resolve().parents[2])

from tests.harness.kafka import free_port, kafka_broker, pdeathsig_preexec

with warnings.catch_warnings():  # see the same block in tests/harness/kafka.py
    warnings.filterwarnings(
        "ignore", r"\w+ is deprecated\. Use files\(\) instead", DeprecationWarning
    )
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.admin import NewPartitions, NewTopic

THIS_FILE = Path(__file__).resolve()
WORKER_STOP_TIMEOUT = 20.0


# --------------------------------------------------------------------------- #
# Faust settings that work with the Tansu broker (recorded in KAFKA_NOTES.md). #
# --------------------------------------------------------------------------- #
def faust_settings(datadir: Path, web_port: int) -> dict[str, Any]:
    """Keyword arguments for ``faust.App`` used by the checked workers."""
    return {
        "store": "memory://",  # no rocksdb
        "datadir": str(datadir),  # default is ./<app-id>-data in the cwd
        "topic_replication_factor": 1,  # single broker
        "topic_partitions": 4,  # default for tables/changelogs/internal topics
        "consumer_auto_offset_reset": "earliest",
        # Tansu holds a JoinGroup for about session_timeout/2: Faust's default
        # (60 s) means a ~30 s join. 6 s -> ~3 s join, 2 s -> ~1 s join.
        "broker_session_timeout": 6.0,
        "broker_heartbeat_interval": 0.5,
        "broker_rebalance_timeout": 20.0,
        "broker_commit_interval": 0.5,
        # web_enabled=False is overridden by the `worker` CLI (it binds
        # 0.0.0.0:6066 unless --without-web is passed): pass --without-web AND
        # keep bind/port private in case someone forgets.
        "web_enabled": False,
        "web_bind": "127.0.0.1",
        "web_host": "127.0.0.1",
        "web_port": web_port,
    }


def patch_faust_fetch_max_wait(fetch_max_wait_ms: int) -> None:
    """Lower the ``fetch_max_wait_ms=1500`` that Faust hard-codes for aiokafka.

    Tansu does not answer a parked aiokafka Fetch as soon as new records
    arrive, so each Faust hop took ~0.75 s with 1500 ms, ~0.05 s with 100 ms.
    Test-only knob: patches Faust's consumer factory.
    """
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    original = AIOKafkaConsumerThread._create_worker_consumer

    def create(self: AIOKafkaConsumerThread, transport: Any) -> Any:
        consumer = original(self, transport)
        consumer._fetch_max_wait_ms = fetch_max_wait_ms  # read in AIOKafkaConsumer.start()
        return consumer

    AIOKafkaConsumerThread._create_worker_consumer = create  # type: ignore[method-assign]


# --------------------------------------------------------------------------- #
# Worker mode: this module is the Faust app of the worker subprocesses.        #
# --------------------------------------------------------------------------- #
def run_faust_worker(ns: argparse.Namespace) -> None:
    """Build the Faust app described by *ns* and run ``faust worker`` in-process."""
    import faust

    if ns.fetch_max_wait_ms:
        patch_faust_fetch_max_wait(ns.fetch_max_wait_ms)
    out = Path(ns.out)
    pid = os.getpid()
    settings = faust_settings(Path(ns.datadir), free_port())
    settings["broker_session_timeout"] = ns.session_timeout
    if ns.producer_linger:
        settings["producer_linger"] = ns.producer_linger
    if ns.producer_max_batch_size:
        settings["producer_max_batch_size"] = ns.producer_max_batch_size
    app = faust.App(ns.app_id, broker=f"kafka://{ns.bootstrap}", **settings)
    topic = app.topic(
        ns.topic,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=ns.partitions,
    )

    def emit(line: str) -> None:
        with out.open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")

    if ns.mode == "events":

        async def process(stream: faust.StreamT[bytes]) -> None:
            async for event in stream.events():
                msg = event.message
                value = event.value.decode() if isinstance(event.value, bytes) else ""
                emit(f"{pid} {msg.partition} {msg.offset} {time.time():.6f} {value}")

    elif ns.mode == "take":

        async def process(stream: faust.StreamT[bytes]) -> None:
            async for values in stream.take(1000, within=0.2):
                emit(f"{pid} batch {len(values)} {time.time():.6f}")

    elif ns.mode == "forward":  # re-publish every value to <topic>-fwd
        sink = app.topic(
            f"{ns.topic}-fwd",
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
            partitions=ns.partitions,
        )

        async def process(stream: faust.StreamT[bytes]) -> None:
            done = 0
            async for value in stream:
                await sink.send(value=value)
                done += 1
                if done % 500 == 0:
                    emit(f"{pid} fwd {done} {time.time():.6f}")

    else:  # "table": count per key; a value "probe" reports the current count
        counts = app.Table("counts", default=int, partitions=ns.partitions)

        async def process(stream: faust.StreamT[bytes]) -> None:
            async for event in stream.events():
                key = event.key.decode() if isinstance(event.key, bytes) else str(event.key)
                if event.value == b"probe":
                    emit(f"{pid} probe {key} {counts[key]}")
                else:
                    counts[key] += 1
                    emit(f"{pid} inc {key} {counts[key]}")

    app.agent(topic, name=f"{ns.app_id}-agent")(process)
    sys.argv = [str(THIS_FILE), "worker", "--loglevel", "info", "--without-web"]
    app.main()


# --------------------------------------------------------------------------- #
# Reporting                                                                    #
# --------------------------------------------------------------------------- #
@dataclass
class Report:
    lines: list[tuple[str, str, str]] = field(default_factory=list)

    def add(self, status: str, name: str, detail: str = "") -> None:
        self.lines.append((status, name, detail))
        print(f"{status:<10} {name}: {detail}", flush=True)

    def check(self, ok: bool, name: str, detail: str = "") -> bool:
        self.add("PASS" if ok else "FAIL", name, detail)
        return ok

    def quirk(self, present: bool, name: str, detail: str, intermittent: bool = False) -> None:
        if present:
            self.add("QUIRK", name, detail)
        elif intermittent:
            self.add("INFO", name, f"not seen this run (intermittent): {detail}")
        else:
            self.add("QUIRK-GONE", name, detail)

    def info(self, name: str, detail: str) -> None:
        self.add("INFO", name, detail)

    @property
    def failed(self) -> bool:
        return any(status == "FAIL" for status, _, _ in self.lines)


def guarded(report: Report, name: str, fn: Callable[[], None]) -> None:
    """Run one section; an unexpected exception becomes a FAIL line."""
    try:
        fn()
    except Exception as exc:
        report.add("FAIL", name, f"unexpected {type(exc).__name__}: {exc}"[:800])


# --------------------------------------------------------------------------- #
# Helpers                                                                      #
# --------------------------------------------------------------------------- #
def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def admin_client(bootstrap: str) -> Any:
    return KafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=10_000, bootstrap_timeout_ms=10_000
    )


def create_topic(bootstrap: str, name: str, partitions: int) -> None:
    admin = admin_client(bootstrap)
    try:
        admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        admin.close()


def consume_all(bootstrap: str, topic: str, partitions: int, **config: Any) -> list[Any]:
    """Read every record of *topic* (manual assignment, no group), bounded in time."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=3000,
        enable_auto_commit=False,
        **config,
    )
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
        return list(consumer)
    finally:
        consumer.close()


def wait_for(
    predicate: Callable[[], bool],
    timeout: float,
    interval: float = 0.05,
    workers: Sequence[Worker] = (),
) -> bool:
    """Poll *predicate* until true or *timeout*; give up early if a worker died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        if any(w.proc.poll() is not None for w in workers):
            break
        time.sleep(interval)
    return predicate()


def read_lines(path: Path) -> list[list[str]]:
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    complete = text[: text.rfind("\n") + 1]  # a worker may be mid-write
    return [line.split(" ") for line in complete.splitlines() if line]


_FAUST_LOG_TS_LEN = len("[2026-01-01 00:00:00,000]")


def faust_log_time(log: Path, needle: str) -> float | None:
    """Wall-clock time of the first Faust log line containing *needle*."""
    if not log.exists():
        return None
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        if needle in line and line.startswith("["):
            stamp = line[1 : _FAUST_LOG_TS_LEN - 1]
            with contextlib.suppress(ValueError):
                return dt.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()
    return None


def log_tail(path: Path, lines: int = 25) -> str:
    if not path.exists():
        return "<no log>"
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


@dataclass
class Worker:
    """A Faust worker subprocess (this file in ``faust-worker`` mode)."""

    proc: subprocess.Popen[bytes]
    log: Path
    started: float  # time.time() at spawn

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> float:
        """SIGTERM, wait, SIGKILL if needed; returns the seconds it took."""
        t0 = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=WORKER_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=WORKER_STOP_TIMEOUT)
        return time.monotonic() - t0


@contextlib.contextmanager
def faust_worker(
    bootstrap: str,
    workdir: Path,
    *,
    app_id: str,
    topic: str,
    out: Path,
    mode: str,
    partitions: int = 4,
    session_timeout: float = 6.0,
    producer_linger: float = 0.0,
    producer_max_batch_size: int = 0,
    fetch_max_wait_ms: int = 0,
) -> Iterator[Worker]:
    log = workdir / f"{app_id}-{uuid.uuid4().hex[:6]}.log"
    datadir = workdir / f"data-{uuid.uuid4().hex[:6]}"
    cmd = [
        sys.executable,
        str(THIS_FILE),
        "faust-worker",
        f"--bootstrap={bootstrap}",
        f"--app-id={app_id}",
        f"--topic={topic}",
        f"--partitions={partitions}",
        f"--out={out}",
        f"--mode={mode}",
        f"--datadir={datadir}",
        f"--session-timeout={session_timeout}",
        f"--producer-linger={producer_linger}",
        f"--producer-max-batch-size={producer_max_batch_size}",
        f"--fetch-max-wait-ms={fetch_max_wait_ms}",
    ]
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=fh,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            preexec_fn=pdeathsig_preexec(),  # noqa: PLW1509
        )
    worker = Worker(proc=proc, log=log, started=time.time())
    try:
        yield worker
    finally:
        worker.stop()


def processed_by(out: Path, pid: int | None = None) -> list[list[str]]:
    return [row for row in read_lines(out) if pid is None or row[0] == str(pid)]


# --------------------------------------------------------------------------- #
# 1. Admin                                                                     #
# --------------------------------------------------------------------------- #
def check_admin(report: Report, bootstrap: str) -> None:
    admin = admin_client(bootstrap)
    try:
        names = {n: unique(f"adm{n}") for n in (1, 4, 8)}
        admin.create_topics([NewTopic(name, n, 1) for n, name in names.items()])
        listed = set(admin.list_topics())
        report.check(
            set(names.values()) <= listed, "admin.create_topics+list_topics", f"{sorted(listed)}"
        )
        described = {t["name"]: len(t["partitions"]) for t in admin.describe_topics()}
        report.check(
            all(described.get(name) == n for n, name in names.items()),
            "admin.describe_topics partition counts",
            str({name: described.get(name) for name in names.values()}),
        )
        try:
            admin.create_topics([NewTopic(names[4], 4, 1)])
            report.check(False, "create existing topic", "no error raised")
        except Exception as exc:
            report.check(
                type(exc).__name__ == "TopicAlreadyExistsError",
                "create existing topic raises",
                type(exc).__name__,
            )
        try:
            admin.create_partitions({names[1]: NewPartitions(total_count=2)})
            report.quirk(False, "admin.create_partitions", "worked")
        except Exception as exc:
            report.quirk(True, "admin.create_partitions", f"{type(exc).__name__}: {exc}"[:200])
        cluster = admin.describe_cluster()
        report.info("admin.describe_cluster", json.dumps(cluster, default=str))
        admin.delete_topics([names[8]])
        report.check(names[8] not in set(admin.list_topics()), "admin.delete_topics", names[8])
        try:
            admin.describe_groups(["no-such-group"])
            report.quirk(False, "admin.describe_groups", "worked")
        except Exception as exc:
            report.quirk(True, "admin.describe_groups", f"{type(exc).__name__}: {exc}"[:200])
    finally:
        admin.close()


# --------------------------------------------------------------------------- #
# 2. Idempotent producer, duplicate batches, transactions                      #
# --------------------------------------------------------------------------- #
def check_idempotent_producer(report: Report, bootstrap: str) -> None:
    topic = unique("idem")
    create_topic(bootstrap, topic, 4)
    producer = KafkaProducer(
        bootstrap_servers=bootstrap, enable_idempotence=True, acks="all", max_block_ms=10_000
    )
    try:
        futures = [producer.send(topic, value=b"v%d" % i) for i in range(1000)]
        producer.flush(timeout=30)
        metas = [f.get(timeout=10) for f in futures]
        manager = getattr(producer, "_transaction_manager", None)
        pid_epoch = getattr(manager, "producer_id_and_epoch", None)
    finally:
        producer.close(timeout=10)
    per_partition: dict[int, list[int]] = defaultdict(list)
    for meta in metas:
        per_partition[meta.partition].append(meta.offset)
    contiguous = all(sorted(o) == list(range(len(o))) for o in per_partition.values())
    report.check(
        contiguous and pid_epoch is not None and getattr(pid_epoch, "producer_id", -1) >= 0,
        "KafkaProducer(enable_idempotence=True, acks='all')",
        f"1000 sends ok, producer id/epoch {pid_epoch}, offsets contiguous per partition",
    )
    values = [m.value for m in consume_all(bootstrap, topic, 4)]
    report.check(
        len(values) == 1000 and len(set(values)) == 1000,
        "idempotent records read back",
        f"{len(values)} records, {len(set(values))} distinct",
    )
    check_duplicate_batch(report, bootstrap)


def check_duplicate_batch(report: Report, bootstrap: str) -> None:
    """Send the same idempotent batch twice with raw protocol requests.

    Uses kafka-python internals (admin._manager, MemoryRecordsBuilder), so an
    API change there makes this an INFO line rather than a FAIL.
    """
    try:
        from kafka.protocol.producer import InitProducerIdRequest, ProduceRequest
        from kafka.record.memory_records import MemoryRecordsBuilder
    except ImportError as exc:
        report.info("duplicate batch dedupe", f"skipped, kafka-python internals moved: {exc}")
        return
    topic = unique("dup")
    create_topic(bootstrap, topic, 1)
    admin = admin_client(bootstrap)
    try:
        manager = admin._manager

        async def send(request: Any) -> Any:
            return await manager.send(request)

        init = manager.run(
            send, InitProducerIdRequest(transactional_id=None, transaction_timeout_ms=60_000)
        )

        def batch(seq: int) -> bytes:
            builder = MemoryRecordsBuilder(magic=2, compression_type=0, batch_size=1 << 16)
            builder.set_producer_state(init.producer_id, init.producer_epoch, seq, False)
            for i in range(3):
                builder.append(int(time.time() * 1000), None, b"s%d-%d" % (seq, i))
            builder.close()
            data: bytes = builder.buffer()
            return data

        def produce(data: bytes) -> int:
            topic_data = ProduceRequest.TopicProduceData
            request = ProduceRequest(
                transactional_id=None,
                acks=-1,
                timeout_ms=5000,
                topic_data=[
                    topic_data(
                        name=topic,
                        partition_data=[topic_data.PartitionProduceData(index=0, records=data)],
                    )
                ],
            )
            response = manager.run(send, request)
            code: int = response.responses[0].partition_responses[0].error_code
            return code

        first = batch(0)
        codes = [produce(first), produce(first), produce(batch(3)), produce(batch(10))]
    except Exception as exc:
        report.info("duplicate batch dedupe", f"could not run: {type(exc).__name__}: {exc}")
        return
    finally:
        admin.close()
    stored = [m.value for m in consume_all(bootstrap, topic, 1)]
    report.check(
        codes[:3] == [0, 46, 0] and len(stored) == 6,
        "broker dedupes a re-sent idempotent batch",
        f"error codes first/dup/next/gap={codes} (46=DUPLICATE_SEQUENCE_NUMBER, "
        f"45=OUT_OF_ORDER_SEQUENCE_NUMBER); {len(stored)} records stored",
    )


def check_transactions(report: Report, bootstrap: str) -> None:
    topic = unique("txn")
    create_topic(bootstrap, topic, 1)
    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        transactional_id=unique("txid"),
        max_block_ms=10_000,
        request_timeout_ms=10_000,
    )
    try:
        producer.init_transactions()
        producer.begin_transaction()
        producer.send(topic, b"committed-1")
        producer.commit_transaction()
        producer.begin_transaction()
        producer.send(topic, b"aborted")
        producer.flush(timeout=10)
        producer.abort_transaction()
        producer.begin_transaction()
        producer.send(topic, b"committed-2")
        producer.commit_transaction()
    finally:
        producer.close(timeout=10)
    report.check(True, "transactional producer API", "init/begin/commit/abort all accepted")
    seen = [m.value for m in consume_all(bootstrap, topic, 1, isolation_level="read_committed")]
    report.quirk(
        b"aborted" in seen,
        "read_committed consumer sees aborted records",
        f"read_committed saw {seen}: no exactly-once (Faust processing_guarantee="
        "'exactly_once' is unsound here)",
    )


# --------------------------------------------------------------------------- #
# 3. Offsets: ListOffsets, commits, consumer-group join time                   #
# --------------------------------------------------------------------------- #
def check_offsets(report: Report, bootstrap: str) -> None:
    topic = unique("offs")
    create_topic(bootstrap, topic, 1)
    tp = TopicPartition(topic, 0)
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=50)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        for _ in range(3):
            futures = [producer.send(topic, b"x") for _ in range(10)]
            producer.flush(timeout=10)
            last = max(f.get(timeout=10).offset for f in futures)
        end = consumer.end_offsets([tp])[tp]
    finally:
        producer.close(timeout=10)
        consumer.close()
    report.quirk(
        end != last + 1,
        "ListOffsets(latest) after multi-record batches",
        f"log end offset should be {last + 1}, broker says {end} "
        "(= base offset of the last batch + 1); Fetch high watermark is right",
    )
    group = unique("grp")
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=3000,
    )
    try:
        consumer.assign([tp])
        records = list(consumer)
        consumer.commit()
        committed = consumer.committed(tp)
        highwater = consumer.highwater(tp)
    finally:
        consumer.close()
    report.check(
        len(records) == 30 and committed == 30 and highwater == 30,
        "consume + commit + committed() (manual assignment)",
        f"{len(records)} records, committed={committed}, fetch highwater={highwater}",
    )
    admin = admin_client(bootstrap)
    try:
        offsets = admin.list_group_offsets({group: None})
    finally:
        admin.close()
    report.check(str(offsets).count("30") >= 1, "admin.list_group_offsets", str(offsets)[:300])
    latest = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=unique("latest"),
        auto_offset_reset="latest",
        session_timeout_ms=2000,
        heartbeat_interval_ms=500,
        consumer_timeout_ms=4000,
    )
    try:
        latest.subscribe([topic])
        old = len(list(latest))
    finally:
        latest.close()
    report.quirk(
        old > 0,
        "new group with auto_offset_reset='latest' re-reads old records",
        f"got {old} already-written records (the tail of the last batch), expected 0",
    )


def measure_group_join(report: Report, bootstrap: str, session_timeouts: Sequence[int]) -> None:
    topic = unique("join")
    create_topic(bootstrap, topic, 2)
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    for i in range(4):
        producer.send(topic, b"j%d" % i, partition=i % 2)
    producer.flush(timeout=10)
    producer.close(timeout=10)
    for session_ms in session_timeouts:
        consumer = KafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=unique("join"),
            auto_offset_reset="earliest",
            session_timeout_ms=session_ms,
            heartbeat_interval_ms=max(session_ms // 4, 100),
            consumer_timeout_ms=session_ms + 15_000,
        )
        try:
            t0 = time.monotonic()
            consumer.subscribe([topic])
            got_first = next(iter(consumer), None) is not None
            elapsed = time.monotonic() - t0
        finally:
            consumer.close()
        report.info(
            f"kafka-python group join, session_timeout_ms={session_ms}",
            f"first record after {elapsed:.2f}s (got={got_first})",
        )


# --------------------------------------------------------------------------- #
# 4. Faust workers                                                             #
# --------------------------------------------------------------------------- #
def produce_round(bootstrap: str, topic: str, tag: str, count: int, partitions: int = 4) -> float:
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    try:
        t0 = time.monotonic()
        for i in range(count):
            producer.send(topic, value=f"{tag}-{i}".encode(), partition=i % partitions)
        producer.flush(timeout=60)
        return time.monotonic() - t0
    finally:
        producer.close(timeout=10)


def values_seen(out: Path, tag: str) -> list[list[str]]:
    return [row for row in read_lines(out) if len(row) >= 5 and row[4].startswith(f"{tag}-")]


def check_faust_single(
    report: Report, bootstrap: str, workdir: Path, session: float, fetch_max_wait_ms: int = 0
) -> None:
    label = f"session_timeout={session:g}s"
    if fetch_max_wait_ms:
        label += f", fetch_max_wait_ms={fetch_max_wait_ms} (patched)"
    topic = unique("fsingle")
    create_topic(bootstrap, topic, 4)
    produce_round(bootstrap, topic, "pre", 40)
    out = workdir / f"{topic}.out"
    app_id = unique("single")
    with faust_worker(
        bootstrap,
        workdir,
        app_id=app_id,
        topic=topic,
        out=out,
        mode="events",
        session_timeout=session,
        fetch_max_wait_ms=fetch_max_wait_ms,
    ) as worker:
        ok = wait_for(lambda: len(values_seen(out, "pre")) >= 40, 60, workers=[worker])
        rows = values_seen(out, "pre")
        first = min((float(r[3]) for r in rows), default=float("nan"))
        joining = faust_log_time(worker.log, "(Re-)joining group")
        joined = faust_log_time(worker.log, "Joined group")
        ready = faust_log_time(worker.log, "[^Worker]: Ready")
        if not report.check(
            ok and len({(r[1], r[2]) for r in rows}) == 40,
            f"Faust worker consumes 4-partition topic ({label})",
            f"{len(rows)} events, partitions {sorted({r[1] for r in rows})}",
        ):
            print(log_tail(worker.log))
            return
        report.info(
            f"Faust single worker timings ({label})",
            f"spawn->first message {first - worker.started:.2f}s; "
            f"spawn->JoinGroup sent {_delta(worker.started, joining)}; "
            f"JoinGroup->joined {_delta(joining, joined)}; "
            f"joined->first message {_delta(joined, first)}; "
            f"spawn->Ready {_delta(worker.started, ready)}",
        )
        latencies = measure_live_latency(bootstrap, topic, out, worker)
        report.check(
            len(latencies) == 8,
            f"Faust worker processes live messages ({label})",
            f"send->processed latency median {statistics.median(latencies or [0]) * 1000:.0f}ms "
            f"max {max(latencies or [0]) * 1000:.0f}ms over {len(latencies)} messages",
        )
        report.info("Faust worker SIGTERM shutdown", f"{worker.stop():.2f}s")


def measure_live_latency(bootstrap: str, topic: str, out: Path, worker: Worker) -> list[float]:
    """Send 8 messages one at a time to a running worker; per-message latency (s)."""
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    sent: dict[str, float] = {}
    try:
        for i in range(8):
            value = f"live-{i}"
            sent[value] = time.time()
            producer.send(topic, value=value.encode(), partition=i % 4)
            producer.flush(timeout=10)

            def seen(value: str = value) -> bool:
                return any(r[4] == value for r in values_seen(out, "live"))

            wait_for(seen, 10, 0.002, [worker])
    finally:
        producer.close(timeout=10)
    done = {r[4]: float(r[3]) for r in values_seen(out, "live")}
    return [done[v] - t for v, t in sent.items() if v in done]


def _delta(start: float | None, end: float | None) -> str:
    if start is None or end is None:
        return "?"
    return f"{end - start:.2f}s"


def check_faust_two_workers(report: Report, bootstrap: str, workdir: Path) -> None:
    topic = unique("ftwo")
    create_topic(bootstrap, topic, 4)
    out = workdir / f"{topic}.out"
    app_id = unique("two")
    kwargs: dict[str, Any] = {"app_id": app_id, "topic": topic, "out": out, "mode": "events"}
    with faust_worker(bootstrap, workdir, **kwargs) as first:
        produce_round(bootstrap, topic, "warm", 4)
        if not report.check(
            wait_for(lambda: len(values_seen(out, "warm")) >= 4, 60, workers=[first]),
            "two workers: first worker up",
            "",
        ):
            print(log_tail(first.log))
            return
        with faust_worker(bootstrap, workdir, **kwargs) as second:
            rounds = 0

            def second_processing() -> bool:
                nonlocal rounds
                rounds += 1
                produce_round(bootstrap, topic, f"probe{rounds}", 4)
                time.sleep(0.5)
                return bool(processed_by(out, second.pid))

            ok = wait_for(second_processing, 60, interval=0, workers=[first, second])
            took = time.time() - second.started
            if not report.check(
                ok, "two workers: second worker gets partitions", f"{took:.1f}s after spawn"
            ):
                print(log_tail(first.log), "\n----\n", log_tail(second.log))
                return
            time.sleep(1.0)
            produce_round(bootstrap, topic, "shared", 200)
            wait_for(lambda: len(values_seen(out, "shared")) >= 200, 30, workers=[first, second])
            rows = values_seen(out, "shared")
            parts = {
                pid: sorted({r[1] for r in rows if r[0] == str(pid)})
                for pid in (first.pid, second.pid)
            }
            dupes = sum(c - 1 for c in Counter(r[4] for r in rows).values() if c > 1)
            report.check(
                len({r[4] for r in rows}) == 200
                and all(parts.values())
                and not set(parts[first.pid]) & set(parts[second.pid]),
                "two workers share the 4 partitions",
                f"partitions by pid {parts}, {len(rows)} processed, {dupes} duplicates",
            )
            stop_took = second.stop()
        produce_round(bootstrap, topic, "after", 40)
        t0 = time.time()
        ok = wait_for(
            lambda: len({r[4] for r in values_seen(out, "after")}) >= 40, 60, workers=[first]
        )
        rows = values_seen(out, "after")
        report.check(
            ok and {r[0] for r in rows} == {str(first.pid)},
            "two workers: survivor takes all partitions back after the other stops",
            f"second stopped in {stop_took:.1f}s; all 40 processed {time.time() - t0:.1f}s later "
            f"by {sorted({r[0] for r in rows})}",
        )


def check_faust_table_recovery(
    report: Report,
    bootstrap: str,
    workdir: Path,
    producer_linger: float,
    producer_max_batch_size: int = 0,
) -> None:
    """Count per key in a Table, restart the app, check the recovered counts.

    Multi-record changelog batches (more of them with ``producer_linger`` > 0)
    are where Tansu's ListOffsets answer, which Faust recovery uses as the
    changelog highwater, goes wrong. ``producer_max_batch_size=1`` forces one
    record per batch (the workaround).
    """
    label = f"producer_linger={producer_linger:g}"
    if producer_max_batch_size:
        label += f", producer_max_batch_size={producer_max_batch_size}"
    topic = unique("ftable")
    create_topic(bootstrap, topic, 4)
    out = workdir / f"{topic}.out"
    app_id = unique("table")
    keys = [f"k{i}" for i in range(8)]
    increments = 50
    kwargs: dict[str, Any] = {
        "app_id": app_id,
        "topic": topic,
        "out": out,
        "mode": "table",
        "producer_linger": producer_linger,
        "producer_max_batch_size": producer_max_batch_size,
    }
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=20)
    try:
        for _ in range(increments):
            for key in keys:
                producer.send(topic, key=key.encode(), value=b"inc")
        producer.flush(timeout=30)
        with faust_worker(bootstrap, workdir, **kwargs) as first:
            total = increments * len(keys)
            ok = wait_for(
                lambda: len([r for r in read_lines(out) if r[1] == "inc"]) >= total,
                90,
                workers=[first],
            )
            time.sleep(1.5)  # let the changelog producer and offset commit flush
            first.stop()
        if not report.check(ok, f"Faust table worker processed increments ({label})", str(total)):
            print(log_tail(first.log))
            return
        changelog = f"{app_id}-counts-changelog"
        records = consume_all(bootstrap, changelog, 4)
        admin_consumer = KafkaConsumer(bootstrap_servers=bootstrap)
        try:
            tps = [TopicPartition(changelog, p) for p in range(4)]
            listed_end = sum(admin_consumer.end_offsets(tps).values())
        finally:
            admin_consumer.close()
        report.info(
            f"Faust table changelog ({label})",
            f"{len(records)} changelog records, ListOffsets end offsets sum {listed_end}",
        )
        with faust_worker(bootstrap, workdir, **kwargs) as second:
            for key in keys:
                producer.send(topic, key=key.encode(), value=b"probe")
            producer.flush(timeout=10)
            ok = wait_for(
                lambda: (
                    len([r for r in processed_by(out, second.pid) if r[1] == "probe"]) >= len(keys)
                ),
                90,
                workers=[second],
            )
            probes = {r[2]: int(r[3]) for r in processed_by(out, second.pid) if r[1] == "probe"}
        expected = dict.fromkeys(keys, increments)
        if not ok:
            report.check(False, f"Faust table recovery ({label})", f"probes answered: {probes}")
            print(log_tail(second.log))
            return
        detail = f"after restart counts={dict(sorted(probes.items()))}, expected {increments} each"
        name = f"Faust table recovery from changelog, memory store ({label})"
        if producer_max_batch_size == 1:
            report.check(probes == expected, name, detail)
        else:  # with linger 0 it depends on whether aiokafka happened to batch
            report.quirk(probes != expected, name, detail, intermittent=not producer_linger)
    finally:
        producer.close(timeout=10)


# --------------------------------------------------------------------------- #
# 5. Throughput                                                                #
# --------------------------------------------------------------------------- #
def check_throughput(report: Report, bootstrap: str, workdir: Path, count: int) -> None:
    for label, config in (
        ("default (acks=1)", {}),
        ("idempotent acks=all", {"enable_idempotence": True, "acks": "all"}),
        ("acks=all linger_ms=5", {"acks": "all", "linger_ms": 5}),
    ):
        topic = unique("tput")
        create_topic(bootstrap, topic, 4)
        producer = KafkaProducer(bootstrap_servers=bootstrap, **config)
        payload = b"x" * 32
        try:
            t0 = time.monotonic()
            for i in range(count):
                producer.send(topic, value=payload, key=b"%d" % (i % 64))
            producer.flush(timeout=120)
            took = time.monotonic() - t0
        finally:
            producer.close(timeout=10)
        report.info(
            f"kafka-python producer {label}",
            f"{count} x {len(payload)}B in {took:.2f}s = {count / took:,.0f} msg/s",
        )
    out = workdir / f"{topic}.out"
    with faust_worker(
        bootstrap, workdir, app_id=unique("tput"), topic=topic, out=out, mode="take"
    ) as worker:

        def consumed() -> int:
            return sum(int(r[2]) for r in read_lines(out))

        ok = wait_for(lambda: consumed() >= count, 180, interval=0.2, workers=[worker])
        rows = read_lines(out)
        stamps = [float(r[3]) for r in rows]
        if not report.check(
            ok, "Faust take(1000, within=0.2) consumed backlog", f"{consumed()}/{count}"
        ):
            print(log_tail(worker.log))
            return
        span = max(stamps) - min(stamps)
        sizes = [int(r[2]) for r in rows]
        report.info(
            "Faust take(1000, within=0.2) consume rate",
            f"{count} msgs: first batch {min(stamps) - worker.started:.2f}s after spawn, "
            f"then {span:.2f}s = {count / max(span, 1e-6):,.0f} msg/s "
            f"({len(sizes)} batches, max {max(sizes)}, median {sorted(sizes)[len(sizes) // 2]})",
        )


def check_faust_forward(
    report: Report, bootstrap: str, workdir: Path, count: int, producer_max_batch_size: int
) -> None:
    """Agent re-publishing each message: cost of producer_max_batch_size=1."""
    label = f"producer_max_batch_size={producer_max_batch_size or 'default'}"
    topic = unique("ffwd")
    create_topic(bootstrap, topic, 4)
    create_topic(bootstrap, f"{topic}-fwd", 4)
    produce_round(bootstrap, topic, "fwd", count)
    out = workdir / f"{topic}.out"
    with faust_worker(
        bootstrap,
        workdir,
        app_id=unique("fwd"),
        topic=topic,
        out=out,
        mode="forward",
        producer_max_batch_size=producer_max_batch_size,
    ) as worker:
        ok = wait_for(
            lambda: any(int(r[2]) >= count for r in read_lines(out)),
            180,
            interval=0.2,
            workers=[worker],
        )
        if not report.check(ok, f"Faust forwarding agent ({label})", f"{count} in"):
            print(log_tail(worker.log))
            return
        stamps = [float(r[3]) for r in read_lines(out)]
        span = max(stamps) - min(stamps)
        forwarded: list[Any] = []
        for _ in range(30):
            forwarded = consume_all(bootstrap, f"{topic}-fwd", 4)
            if len(forwarded) >= count:
                break
    report.info(
        f"Faust forwarding agent rate ({label})",
        f"{count / max(span, 1e-6):,.0f} msg/s through `await topic.send()`; "
        f"{len(forwarded)}/{count} records in the sink topic",
    )


# --------------------------------------------------------------------------- #
# main                                                                         #
# --------------------------------------------------------------------------- #
def run_checks(ns: argparse.Namespace) -> int:
    report = Report()
    t0 = time.monotonic()
    with kafka_broker() as bootstrap, tempfile.TemporaryDirectory(prefix="check-kafka-") as tmp:
        report.info("broker", f"{bootstrap} ready in {time.monotonic() - t0:.2f}s")
        workdir = Path(tmp)
        guarded(report, "admin", lambda: check_admin(report, bootstrap))
        guarded(report, "idempotence", lambda: check_idempotent_producer(report, bootstrap))
        guarded(report, "transactions", lambda: check_transactions(report, bootstrap))
        guarded(report, "offsets", lambda: check_offsets(report, bootstrap))
        joins = [2000] if ns.quick else [2000, 6000, 10000]
        guarded(report, "group join", lambda: measure_group_join(report, bootstrap, joins))
        singles = [(6.0, 0)] if ns.quick else [(2.0, 0), (6.0, 0), (2.0, 100)]
        for session, fetch_wait in singles:

            def single(session: float = session, fetch_wait: int = fetch_wait) -> None:
                check_faust_single(report, bootstrap, workdir, session, fetch_wait)

            guarded(report, "faust single", single)
        if not ns.quick:
            guarded(
                report, "faust two", lambda: check_faust_two_workers(report, bootstrap, workdir)
            )
            for linger, max_batch in ((0.0, 0), (0.2, 0), (0.2, 1)):

                def table(linger: float = linger, max_batch: int = max_batch) -> None:
                    check_faust_table_recovery(report, bootstrap, workdir, linger, max_batch)

                guarded(report, "faust table", table)
        count = 2000 if ns.quick else ns.messages
        if not ns.quick:
            for max_batch in (0, 1):

                def forward(max_batch: int = max_batch) -> None:
                    check_faust_forward(report, bootstrap, workdir, 5000, max_batch)

                guarded(report, "faust forward", forward)
        guarded(report, "throughput", lambda: check_throughput(report, bootstrap, workdir, count))
    report.info("total", f"{time.monotonic() - t0:.1f}s")
    summary = Counter(status for status, _, _ in report.lines)
    print("summary:", ", ".join(f"{k}={v}" for k, v in sorted(summary.items())))
    return 1 if report.failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command")
    check = sub.add_parser("check", help="run the checks (default)")
    for p in (parser, check):
        p.add_argument("--quick", action="store_true", help="smaller run, no two-worker test")
        p.add_argument("--messages", type=int, default=20_000, help="throughput message count")
    worker = sub.add_parser("faust-worker", help="internal: run a Faust worker")
    worker.add_argument("--bootstrap", required=True)
    worker.add_argument("--app-id", required=True)
    worker.add_argument("--topic", required=True)
    worker.add_argument("--partitions", type=int, default=4)
    worker.add_argument("--out", required=True)
    worker.add_argument("--mode", choices=["events", "take", "table", "forward"], default="events")
    worker.add_argument("--datadir", required=True)
    worker.add_argument("--session-timeout", type=float, default=6.0)
    worker.add_argument("--producer-linger", type=float, default=0.0)
    worker.add_argument("--producer-max-batch-size", type=int, default=0)
    worker.add_argument("--fetch-max-wait-ms", type=int, default=0)
    ns = parser.parse_args(argv)
    if ns.command == "faust-worker":
        run_faust_worker(ns)
        return 0
    return run_checks(ns)


if __name__ == "__main__":
    sys.exit(main())
