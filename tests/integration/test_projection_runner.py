"""The embedded runner's own machinery, on SQLite and PostgreSQL.

Its read path (own SQL instead of ``select_notifications``), its overlapped batches
(the next batch read while the previous one is written), the secondary indexes a
rebuild drops and builds again, and the binary COPY that falls back to text.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from demo import generate
from lifecycle.adapters import notification_reader
from lifecycle.application import LeadLifecycle
from lifecycle.contracts import parse_inbound
from lifecycle.projections import ProjectionRunner, ProjectionStore, build_runner
from lifecycle.projections.tables import TOUCHES
from lifecycle.settings import Settings

pytestmark = pytest.mark.integration


@pytest.fixture
def app(database_url: str) -> Iterator[LeadLifecycle]:
    app = LeadLifecycle(Settings(database_url=database_url))
    items = [parse_inbound(i) for i in generate(leads=60, days=60, seed=3)]
    for start in range(0, len(items), 200):
        app.record_batch(items[start:start + 200])
    yield app
    app.close()


def _tables(runner: ProjectionRunner) -> dict[str, list[tuple[Any, ...]]]:
    return {t.name: sorted(runner.store.query(f"SELECT * FROM {t.name}"), key=repr)
            for p in runner.projections for t in p.tables}


def _indexes(store: ProjectionStore) -> set[str]:
    if store.url.startswith("sqlite"):
        rows = store.query("SELECT name FROM sqlite_master WHERE type = 'index'")
    else:
        rows = store.query("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")
    return {str(r[0]) for r in rows if str(r[0]).startswith("lc_")}


def test_the_reader_reads_what_select_notifications_gives(app: LeadLifecycle) -> None:
    read = notification_reader(app.recorder)
    for start, limit in ((1, 50), (37, 400), (10**9, 10)):
        expected = [(n.id, str(n.originator_id), n.originator_version, n.topic, n.state)
                    for n in app.recorder.select_notifications(start, limit)]
        assert [tuple(r) for r in read(start, limit)] == expected


def test_overlapped_batches_give_the_rows_of_one_batch(app: LeadLifecycle,
                                                       database_url: str) -> None:
    one = build_runner(app, ProjectionStore(database_url), batch_size=10**6)
    one.run()
    expected = _tables(one)
    head = one.head()
    small = build_runner(app, one.store, batch_size=97)
    progress: list[int] = []
    assert small.rebuild(on_progress=progress.append) == head
    assert _tables(small) == expected
    assert sum(progress) == head
    assert all(s.position == head and not s.lag for s in small.status())
    indexes = _indexes(small.store)
    assert {f"{t.name}_ix{i}" for p in small.projections for t in p.tables
            for i in range(len(t.indexes))} <= indexes
    one.store.close()


def test_a_reset_during_a_run_is_caught_up(app: LeadLifecycle, database_url: str) -> None:
    runner = build_runner(app, ProjectionStore(database_url), batch_size=10**6)
    runner.run()
    expected = _tables(runner)
    runner = build_runner(app, runner.store, batch_size=113)
    for p in runner.projections:
        runner.store.reset(p)
    other = ProjectionStore(database_url)
    funnel = next(p for p in runner.projections if p.name == "funnel")
    calls: list[int] = []

    def reset_once(n: int) -> None:  # another process rebuilding funnel meanwhile
        calls.append(n)
        if len(calls) == 2:
            other.reset(funnel)

    runner.run(on_progress=reset_once)
    other.close()
    assert _tables(runner) == expected
    assert all(not s.lag for s in runner.status())
    runner.store.close()


def test_a_value_binary_copy_cannot_take_goes_in_as_text(pg_database_url: str) -> None:
    store = ProjectionStore(pg_database_url)
    store.ensure([])
    with store.transaction() as cur:
        for statement in TOUCHES.ddl():
            cur.execute(statement)
    sample = {"TEXT": "page_view", "BIGINT": 1, "DOUBLE PRECISION": 1.5}

    def row(lead: str, occurred_at: object) -> tuple[Any, ...]:
        values: dict[str, Any] = {name: sample[sql_type] for name, sql_type in TOUCHES.columns}
        values.update(lead_id=lead, occurred_at=occurred_at)
        return tuple(values[name] for name in TOUCHES.column_names)

    rows = [row(f"lead-{i}", 1.5) for i in range(100)]
    rows.append(row("lead-x", "2.5"))  # text where a number goes: not for the binary format
    store.write({TOUCHES.name: rows}, {TOUCHES.name: TOUCHES}, {"p": (7, 1)}, direct=True)
    assert store.query(f"SELECT COUNT(*), SUM(occurred_at) FROM {TOUCHES.name}") == [(101, 152.5)]
    assert store.positions() == {"p": (7, 1)}
    store.close()
