"""A projection that cannot write an event's rows records the fault and carries on.

Poison events are stored through the engine with the contract bypassed (``model_copy``
skips validation), as an older contract, a bug or a direct write could have stored
them: a NUL in ``source`` or ``actor`` (PostgreSQL text cannot hold it), an employee
count beyond BIGINT (neither database takes it). Before, the projection write failed
and every later run failed at the same batch: projections stuck at position 0 for
every lead. Now such an event is left out of the projection that cannot take it and
recorded in ``lc_projection_faults``; everything else is projected, the position
reaches the head, ``projections status`` shows the faults, a rebuild tries them again.
Both the embedded runner and the distributed projector (the same handlers) are tried.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from lifecycle.adapters import transient_errors
from lifecycle.adapters.postgres.projections import PostgresProjections
from lifecycle.adapters.sqlite.projections import SQLiteProjections
from lifecycle.application import LeadLifecycle
from lifecycle.contracts import Profile, Touchpoint
from lifecycle.projections import (
    EventRecord,
    Projection,
    ProjectionStore,
    TableSpec,
    all_projections,
    build_runner,
)
from lifecycle.settings import Settings
from streams.projector import project_partitions
from streams.relay import Relay
from tests.cli.test_cli import run as cli
from tests.support import ICP, T0, action, hours, touchpoint

pytestmark = pytest.mark.integration

NUL_SOURCE = "web\x00site"
HUGE = 2**63 + 1  # beyond BIGINT and SQLite INTEGER, within what orjson stores (u64)


@dataclass(frozen=True)
class Poison:
    """How to make an input the contract would not let through, and which projections
    cannot take the event it leads to on each database."""

    name: str
    make: Any  # (index) -> Touchpoint | SalesAction
    refused_by: dict[str, list[str]]  # dialect -> the projection of each faulted event


def _nul_source(i: int) -> Touchpoint:
    return touchpoint(f"poison-src-{i}", email=f"p{i}@acme.com", at=T0 + hours(i)).model_copy(
        update={"source": NUL_SOURCE})


def _huge_employees(i: int) -> Touchpoint:
    tp = touchpoint(f"poison-emp-{i}", email=f"e{i}@acme.com", at=T0 + hours(i))
    profile = Profile.model_validate(ICP).model_copy(update={"employees": HUGE})
    return tp.model_copy(update={"profile": profile})


POISONS = [
    # A NUL in source, the first touchpoint of a lead: Captured (the lead row's source),
    # TouchpointRecorded (the touch row's source) and StageAdvanced to nurturing (the
    # transition's actor, which is the source) carry it.
    Poison("nul-source", _nul_source,
           {"postgres": ["funnel", "activity", "funnel"], "sqlite": []}),
    Poison("huge-employees", _huge_employees,
           {"postgres": ["funnel"], "sqlite": ["funnel"]}),
]


def _dialect(url: str) -> str:
    return "postgres" if url.startswith("postgres") else "sqlite"


def _inputs(rng: random.Random, good: int, poison: int) -> tuple[list[Any], list[Poison]]:
    """``good`` touchpoints of a few leads with ``poison`` hostile inputs at random places."""
    items: list[Any] = [
        touchpoint(f"ok-{i}", email=f"g{i % 7}@acme.com", at=T0 + hours(i),
                   profile=ICP if i < 7 else None)
        for i in range(good)]
    chosen = []
    for n in range(poison):
        kind = POISONS[n % len(POISONS)]
        chosen.append(kind)
        items.insert(rng.randrange(len(items) + 1), kind.make(n))
    return items, chosen


def _count(store: ProjectionStore, table: str) -> int:
    return int(store.query(f"SELECT COUNT(*) FROM {table}")[0][0])


def _faults(store: ProjectionStore) -> list[tuple[str, str]]:
    rows = store.query("SELECT projection, reason FROM lc_projection_faults")
    return sorted((str(p), str(r)) for p, r in rows)


def _expected_faults(chosen: list[Poison], dialect: str) -> list[str]:
    return sorted(name for p in chosen for name in p.refused_by[dialect])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_embedded_runner_records_poison_events_and_projects_the_rest(
        database_url: str, seed: int) -> None:
    rng = random.Random(seed)
    items, chosen = _inputs(rng, good=40 + 10 * seed, poison=2 + seed)
    app = LeadLifecycle(Settings(database_url=database_url))
    results = app.record_batch(items)
    assert all(r.outcome.value == "accepted" for r in results), results
    runner = build_runner(app, batch_size=rng.choice([4, 16, 5000]))
    try:
        runner.run()  # raised before; every later run raised again
        dialect = _dialect(database_url)
        want = _expected_faults(chosen, dialect)
        faults = _faults(runner.store)
        assert [p for p, _ in faults] == want
        for _, reason in faults:
            assert reason
            assert "\x00" not in reason
        # Every other event is projected and every projection is at the head.
        head = runner.head()
        assert all(s.position == head and s.lag == 0 for s in runner.status())
        refused_touches = sum(1 for p in chosen if "activity" in p.refused_by[dialect])
        assert _count(runner.store, "lc_touches") == len(items) - refused_touches
        refused_leads = sum(1 for p in chosen if "funnel" in p.refused_by[dialect])
        leads = len({app.find_lead(i.email) for i in items})
        assert _count(runner.store, "lc_leads") == leads - refused_leads
        status = {s.name: s for s in runner.status()}
        for name in ("funnel", "activity", "losses"):
            assert status[name].faults == want.count(name)
            assert len(status[name].latest_faults) == min(want.count(name), 3)
        # Later events go on being projected.
        app.record(touchpoint("after", email="g1@acme.com", at=T0 + hours(500)))
        runner.run()
        assert _count(runner.store, "lc_touches") == len(items) + 1 - refused_touches
        # A rebuild clears the faults and tries those events again (still refused).
        runner.rebuild()
        assert [p for p, _ in _faults(runner.store)] == want
        assert _count(runner.store, "lc_touches") == len(items) + 1 - refused_touches
    finally:
        runner.store.close()
        app.close()


def test_a_nul_in_an_actor_faults_the_projections_that_store_it(database_url: str) -> None:
    app = LeadLifecycle(Settings(database_url=database_url))
    app.record(touchpoint("t-1", email="ann@acme.com", profile=ICP))
    note = action("a-1", "note", email="ann@acme.com", at=T0 + hours(1), text="call")
    assert app.record(note.model_copy(update={"actor": "sam\x00"})).outcome.value == "accepted"
    app.record(action("a-2", "note", email="ann@acme.com", at=T0 + hours(2), text="hi"))
    runner = build_runner(app)
    try:
        runner.run()
        faults = [p for p, _ in _faults(runner.store)]
        if _dialect(database_url) == "postgres":
            assert faults, "a NUL actor cannot be stored in PostgreSQL text"
            assert set(faults) <= {"funnel", "activity", "losses"}
        else:
            assert faults == []
        assert all(s.lag == 0 for s in runner.status())
        assert _count(runner.store, "lc_sales_touches") >= 1  # the note after it
    finally:
        runner.store.close()
        app.close()


class _Boom(Exception):
    pass


def _picky(record: EventRecord) -> Iterable[tuple[str, tuple[Any, ...]]]:
    if record.data.get("cause_id", "").startswith("touchpoint:boom"):
        raise _Boom(f"cannot handle {record.data['cause_id']}\x00")
    yield "t_picky", (record.lead_id, record.version)


PICKY = Projection("picky", 1, (TableSpec("t_picky", (("lead_id", "TEXT"),
                                                       ("version", "BIGINT")),
                                          ("lead_id", "version")),),
                   {"TouchpointRecorded": _picky})


def test_a_handler_that_raises_faults_its_projection_only(database_url: str) -> None:
    app = LeadLifecycle(Settings(database_url=database_url))
    ids = [f"{'boom' if i % 5 == 2 else 'ok'}-{i}" for i in range(23)]
    app.record_batch([touchpoint(t, email="ann@acme.com", at=T0 + hours(i))
                      for i, t in enumerate(ids)])
    store = ProjectionStore(database_url)
    projections = [*all_projections(30.0), PICKY]
    runner = build_runner(app, store, projections=projections, batch_size=6)
    try:
        runner.run()
        faults = _faults(store)
        booms = sum(1 for t in ids if t.startswith("boom"))
        assert [p for p, _ in faults] == ["picky"] * booms
        assert all(r.startswith("_Boom: cannot handle touchpoint:boom-") for _, r in faults)
        assert all("\x00" not in r for _, r in faults)
        assert _count(store, "t_picky") == len(ids) - booms
        assert _count(store, "lc_touches") == len(ids)  # other projections: every event
    finally:
        store.close()
        app.close()


def test_the_distributed_projector_records_faults_and_flows_on(database_url: str) -> None:
    """The Faust projector's code path (envelopes from the relay), on both databases,
    with an envelope that is not JSON at all among them."""
    rng = random.Random(7)
    items, chosen = _inputs(rng, good=30, poison=4)
    app = LeadLifecycle(Settings(database_url=database_url))
    app.record_batch(items)
    store = ProjectionStore(database_url)
    relay = Relay(app, store, payload=app.mapper.public_state)  # type: ignore[attr-defined]
    envelopes, _ = relay.pending(10_000)
    values = [value for _, value in envelopes]
    values.insert(5, b"{not an envelope")
    messages = list(enumerate(values))
    projections = all_projections(app.scoring.behaviour.half_life_days)
    store.ensure(projections)
    try:
        for start in range(0, len(messages), 9):  # several batches, as the agent takes them
            project_partitions(store, projections, "lead-events",
                               {0: sorted(messages[start:start + 9])})
        dialect = _dialect(database_url)
        got = [p for p, _ in _faults(store)]
        want = sorted([*_expected_faults(chosen, dialect), "activity", "dimensions", "funnel",
                       "losses"])
        assert got == want  # the unreadable envelope: a fault of every projection
        refused_touches = sum(1 for p in chosen if "activity" in p.refused_by[dialect])
        assert _count(store, "lc_touches") == len(items) - refused_touches
        positions = store.positions()
        assert positions["kafka:lead-events:0"][0] == max(o for o, _ in messages)
        # Redelivered (a rebalance): nothing twice, faults not doubled.
        project_partitions(store, projections, "lead-events", {0: sorted(messages)})
        assert [p for p, _ in _faults(store)] == want
        assert _count(store, "lc_touches") == len(items) - refused_touches
    finally:
        store.close()
        app.close()


def test_projections_status_shows_fault_counts_and_reasons(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'lifecycle.db'}"
    app = LeadLifecycle(Settings(database_url=url))
    app.record_batch([_huge_employees(0), touchpoint("ok", email="b@acme.com")])
    app.close()
    shown = cli(["projections", "status", "--json"], cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    data = {d["name"]: d for d in json.loads(shown.stdout)}
    assert data["funnel"]["faults"] == 0  # status does not project
    assert cli(["report", "funnel", "--json"], cwd=tmp_path).returncode == 0  # projects
    data = {d["name"]: d for d in json.loads(cli(["projections", "status", "--json"],
                                                 cwd=tmp_path).stdout)}
    assert data["funnel"]["faults"] == 1
    assert data["funnel"]["lag"] == 0
    (fault,) = data["funnel"]["latest_faults"]
    assert fault["event_type"] == "Captured"
    assert "OverflowError" in fault["reason"]
    assert data["activity"]["faults"] == 0
    text = cli(["projections", "status"], cwd=tmp_path)
    assert "funnel: 1 event(s) left out" in text.stdout
    assert "projections rebuild" in text.stdout
    rebuilt = cli(["projections", "rebuild"], cwd=tmp_path)  # tries it again: still refused
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "funnel: 1 event(s) still left out" in rebuilt.stdout
    assert "activity" not in rebuilt.stdout.split("events/s)")[1]


def test_database_errors_are_not_an_events_fault() -> None:
    """A lost connection, a lock or a serialization failure must stop the batch (to be
    tried again), never be recorded against an event."""
    import sqlite3

    import psycopg

    for backend in (SQLiteProjections, PostgresProjections):
        refused = backend.data_errors
        for transient in (psycopg.OperationalError("connection lost"),
                          psycopg.errors.SerializationFailure("conflict"),
                          psycopg.errors.LockNotAvailable("lock"),
                          psycopg.InterfaceError("closed"),
                          sqlite3.OperationalError("database is locked"),
                          OSError("disk full")):
            assert not isinstance(transient, refused), transient
            assert isinstance(transient, transient_errors())
    assert isinstance(orjson.JSONDecodeError("x", "", 0), PostgresProjections.data_errors)


def _events_table(url: str) -> str:
    return "lifecycle_events" if _dialect(url) == "postgres" else "stored_events"


@pytest.mark.parametrize("garbage", [b"\x00not an event", b"", b"{\"half\": "])
def test_a_stored_event_altered_into_garbage_is_a_fault_for_runner_relay_and_projector(
        database_url: str, garbage: bytes) -> None:
    """A row of the event store edited into bytes nothing can decode (tampering, a bad
    restore): the embedded runner, the relay and the distributed projector each record
    it and go on, instead of stopping at it forever."""
    app = LeadLifecycle(Settings(database_url=database_url))
    app.record_batch([touchpoint(f"t-{i}", email=f"x{i % 3}@acme.com", at=T0 + hours(i))
                      for i in range(12)])
    lead = app.find_lead("x1@acme.com")
    store = ProjectionStore(database_url)
    table = _events_table(database_url)
    key = str(lead) if _dialect(database_url) == "postgres" else lead.hex
    store.query(f"SELECT 1 FROM {table} LIMIT 0")  # connection first
    with store.transaction() as cur:
        cur.execute(store.sql(f"UPDATE {table} SET state = ? WHERE originator_id = ? "
                              "AND originator_version = 2"), (garbage, key))
        assert cur.rowcount == 1
    projections = all_projections(app.scoring.behaviour.half_life_days)
    handling = sorted(p.name for p in projections if "TouchpointRecorded" in p.handlers)
    try:
        runner = build_runner(app, store)
        runner.run()
        faults = store.query("SELECT projection, lead_id, version FROM lc_projection_faults")
        assert sorted(faults) == [(name, str(lead), 2) for name in handling]
        assert all(s.lag == 0 for s in runner.status())
        assert _count(store, "lc_touches") == 11

        relay = Relay(app, store, payload=app.mapper.public_state)  # type: ignore[attr-defined]
        envelopes, position = relay.pending(10_000)  # raised before: the relay stopped here
        assert position == runner.head()
        bad = [orjson.loads(v) for _, v in envelopes if orjson.loads(v)["payload"] is None]
        assert [(b["lead_id"], b["version"]) for b in bad] == [(str(lead), 2)]
        assert "could not read" in bad[0]["error"]

        other = ProjectionStore(database_url)  # the projector's tables: fresh ones
        for p in projections:
            other.reset(p)
        with other.transaction() as cur:
            cur.execute("DELETE FROM lc_projection_faults")
        project_partitions(other, projections, "lead-events",
                           {0: list(enumerate(v for _, v in envelopes))})
        faults = other.query("SELECT projection, lead_id, version FROM lc_projection_faults")
        assert sorted(faults) == sorted((p.name, str(lead), 2) for p in projections)
        assert _count(other, "lc_touches") == 11
        other.close()
    finally:
        store.close()
        app.close()
