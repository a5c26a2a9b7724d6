"""The projection benchmark's naive baseline: eventsourcing's own ProjectionRunner
(a subscription, one tracked view write per event) writing the same rows."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing import projection as es_projection
from eventsourcing.persistence import (
    ApplicationRecorder,
    ListenNotifySubscription,
    ProcessRecorder,
    Subscription,
    Tracking,
)
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteTrackingRecorder
from eventsourcing.utils import get_topic

from lifecycle.adapters import notification_reader
from lifecycle.adapters.sqlite.events import ChainedSQLiteRecorder
from lifecycle.application import LeadLifecycle
from lifecycle.projections import EventRecord, Projection, ProjectionStore, all_projections
from lifecycle.projections.runner import LEAD_TOPIC_PREFIX
from lifecycle.settings import Settings, persistence_env

__all__ = ["run_baseline"]

URL_KEY = "BENCH_DATABASE_URL"
"""The env key that tells the baseline's views which database they write to."""



def _plain(value: Any) -> Any:
    """A domain event attribute as its stored JSON value."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


class _Insert:
    """One table's ``INSERT … ON CONFLICT DO NOTHING`` for a placeholder style."""

    def __init__(self, store: ProjectionStore, projections: Sequence[Projection]) -> None:
        self.statements: dict[str, str] = {}
        for p in projections:
            for t in p.tables:
                cols = ", ".join(t.column_names)
                marks = ", ".join("?" * len(t.columns))
                self.statements[t.name] = store.sql(
                    f"INSERT INTO {t.name} ({cols}) VALUES ({marks}) "
                    f"ON CONFLICT ({', '.join(t.primary_key)}) DO NOTHING")


class PostgresRowsView(PostgresTrackingRecorder):
    """The baseline's materialised view on PostgreSQL: rows and tracking, one transaction."""

    inserts: ClassVar[dict[str, str]] = {}

    def insert_rows(self, rows: list[tuple[str, tuple[Any, ...]]], tracking: Tracking) -> None:
        with self.datastore.transaction(commit=True) as curs:
            for table, values in rows:
                curs.execute(self.inserts[table], values)
            self._insert_tracking(curs, tracking)


class SQLiteRowsView(SQLiteTrackingRecorder):
    """The baseline's materialised view on SQLite: rows and tracking, one transaction."""

    inserts: ClassVar[dict[str, str]] = {}

    def insert_rows(self, rows: list[tuple[str, tuple[Any, ...]]], tracking: Tracking) -> None:
        with self.datastore.transaction(commit=True) as c:
            for table, values in rows:
                c.execute(self.inserts[table], values)
            self._insert_tracking(c, tracking)


class PollingSubscription(ListenNotifySubscription[ApplicationRecorder]):
    """eventsourcing's pulling subscription, woken every 50 ms instead of by NOTIFY."""

    def __init__(self, recorder: ApplicationRecorder, gt: int | None = None,
                 topics: Sequence[str] = ()) -> None:
        super().__init__(recorder=recorder, gt=gt, topics=topics)
        self._poll_thread = threading.Thread(target=self._poll, daemon=True)
        self._poll_thread.start()

    def _poll(self) -> None:
        while not self._has_been_stopped:
            time.sleep(0.05)
            self._has_been_notified.set()

    def __exit__(self, *args: object, **kwargs: Any) -> None:
        try:
            super().__exit__(*args, **kwargs)
        finally:
            self._poll_thread.join()


class PollingSQLiteRecorder(ChainedSQLiteRecorder):
    """The engine's SQLite recorder with a ``subscribe()`` (eventsourcing's has none)."""

    def subscribe(self, gt: int | None = None,
                  topics: Sequence[str] = ()) -> Subscription[ApplicationRecorder]:
        return PollingSubscription(self, gt=gt, topics=topics)


class BaselineSource(LeadLifecycle):
    """The engine's application as eventsourcing's ProjectionRunner constructs it."""

    name = LeadLifecycle.name  # eventsourcing names tables (and tracking) after it

    def __init__(self, env: Any = None) -> None:
        super().__init__(Settings(database_url=str((env or {})[URL_KEY])))

    def construct_recorder(self) -> ProcessRecorder:
        recorder = super().construct_recorder()
        if isinstance(recorder, SQLiteApplicationRecorder):
            return PollingSQLiteRecorder(recorder.datastore)
        return recorder


class BaselineProjection(es_projection.Projection[Any]):
    """The engine's projections the eventsourcing way: one event, one transaction."""

    name = "baseline"
    projections: ClassVar[tuple[Projection, ...]] = ()
    target: ClassVar[int] = 0
    reached: ClassVar[threading.Event] = threading.Event()
    reached_at: ClassVar[float] = 0.0
    processed: ClassVar[int] = 0

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        cls = type(self)
        topic = get_topic(type(domain_event))
        rows: list[tuple[str, tuple[Any, ...]]] = []
        if topic.startswith(LEAD_TOPIC_PREFIX):
            data = {k: _plain(v) for k, v in vars(domain_event).items()
                    if k not in ("originator_id", "originator_version")}
            record = EventRecord(tracking.notification_id, str(domain_event.originator_id),
                                 domain_event.originator_version,
                                 topic[len(LEAD_TOPIC_PREFIX):], data)
            for p in cls.projections:
                rows.extend(p.rows(record))
        self.view.insert_rows(rows, tracking)
        cls.processed += 1
        if tracking.notification_id >= cls.target and not cls.reached.is_set():
            BaselineProjection.reached_at = time.perf_counter()
            cls.reached.set()


def _subset_rows(url: str, projections: Sequence[Projection], keys: set[tuple[str, int]],
                 leads: set[str]) -> dict[str, list[tuple[Any, ...]]]:
    """Every projection row of the events in ``keys`` ((lead id, version) pairs)."""
    store = ProjectionStore(url)
    try:
        out: dict[str, list[tuple[Any, ...]]] = {}
        for p in projections:
            for t in p.tables:
                got = store.query(f"SELECT * FROM {t.name}")
                if "version" in t.column_names:
                    v = t.column_names.index("version")
                    kept = [r for r in got if (str(r[0]), int(r[v])) in keys]
                else:
                    kept = [r for r in got if str(r[0]) in leads]
                out[t.name] = sorted(kept, key=repr)
        return out
    finally:
        store.close()


def run_baseline(url: str, events: int, timeout: float) -> dict[str, Any]:
    """eventsourcing's ProjectionRunner over the first ``events`` notifications."""
    app = LeadLifecycle(Settings(database_url=url))
    try:
        projections = all_projections(app.scoring.behaviour.half_life_days)
        first = list(notification_reader(app.recorder)(1, events))
    finally:
        app.close()
    if not first:
        return {"events": 0, "seconds": 0.0, "events_per_s": 0.0}
    keys = {(lead, version) for _, lead, version, topic, _ in first
            if topic.startswith(LEAD_TOPIC_PREFIX)}
    leads = {lead for lead, _ in keys}
    expected = _subset_rows(url, projections, keys, leads)

    store = ProjectionStore(url)
    for p in projections:
        store.reset(p)  # the same tables, emptied: the baseline writes the same rows
    inserts = _Insert(store, projections).statements
    store.close()
    PostgresRowsView.inserts = SQLiteRowsView.inserts = inserts
    BaselineProjection.projections = tuple(projections)
    BaselineProjection.target = first[-1][0]
    BaselineProjection.reached = threading.Event()
    BaselineProjection.processed = 0
    env = persistence_env(url)
    env[URL_KEY] = url
    view_class: Any = SQLiteRowsView if url.startswith("sqlite") else PostgresRowsView
    gc.collect()
    t0 = time.perf_counter()
    runner: es_projection.ProjectionRunner[Any, Any] = es_projection.ProjectionRunner(
        application_class=BaselineSource, projection_class=BaselineProjection,
        view_class=view_class, env=env)
    with runner:
        deadline = t0 + timeout
        reached = False
        while not reached and not runner.is_interrupted.is_set():  # interrupted: an error
            left = max(deadline - time.perf_counter(), 0.0)
            reached = BaselineProjection.reached.wait(min(0.2, left))
            if time.perf_counter() > deadline:
                break
        stopped_at = time.perf_counter()
        processed = BaselineProjection.processed
    if reached:
        seconds, done = BaselineProjection.reached_at - t0, len(first)
    else:  # too slow for the time allowed: the rate of what it did
        seconds, done = stopped_at - t0, processed
    actual = _subset_rows(url, projections, keys, leads)
    return {"events": done, "seconds": seconds,
            "events_per_s": done / seconds if seconds > 0 else 0.0,
            "complete": reached, "rows_equal": actual == expected if reached else None,
            "rows": sum(len(v) for v in expected.values())}
