"""The projection side of the storage adapters, on a real SQLite file and a real PostgreSQL.

What the backend-free projection code relies on from every adapter: the notification
log read in batches from any start, rows and positions written in one transaction (a
failing write leaves neither), the errors of a refused value told apart from the
database's, faults recorded with the rows, and leadership that one holder at a time has
and that a holder gives up when it closes or dies.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from eventsourcing.compressor import ZlibCompressor

from lifecycle.adapters import leadership_for, notification_reader, projection_backend_for
from lifecycle.application import LeadLifecycle
from lifecycle.persistence import FastMapper
from lifecycle.projections import Projection, ProjectionStore, TableSpec, state_decoder
from lifecycle.projections.faults import Fault
from lifecycle.settings import Settings
from tests.support import T0, touchpoint

pytestmark = pytest.mark.integration

ROWS = TableSpec("lc_adapter_rows", (("lead_id", "TEXT"), ("version", "BIGINT"),
                                     ("score", "DOUBLE PRECISION")), ("lead_id", "version"))
MORE = TableSpec("lc_adapter_more", (("lead_id", "TEXT"), ("n", "BIGINT")), ("lead_id",))
PROJECTION = Projection("adapter", 1, (ROWS, MORE))
TABLES = {t.name: t for t in PROJECTION.tables}
KEY = 0x1EAD_7E57


@pytest.fixture
def app(database_url: str) -> Iterator[LeadLifecycle]:
    app = LeadLifecycle(Settings(database_url=database_url))
    app.record_batch([touchpoint(f"tp-{i}", at=T0 + timedelta(minutes=i),
                                 email=f"lead{i % 7}@acme.com") for i in range(40)])
    yield app
    app.close()


@pytest.fixture
def store(database_url: str) -> Iterator[ProjectionStore]:
    store = ProjectionStore(database_url)
    store.ensure([PROJECTION])
    yield store
    store.close()


def _rows(n: int, *, lead: str = "lead") -> list[tuple[Any, ...]]:
    # 100 rows or more: PostgreSQL's bulk path (COPY) as well as plain INSERTs.
    return [(f"{lead}-{i}", i, i / 2) for i in range(n)]


def _count(store: ProjectionStore, table: TableSpec) -> int:
    return int(store.query(f"SELECT COUNT(*) FROM {table.name}")[0][0])


# -- the notification log -----------------------------------------------------------------


def test_the_log_is_read_in_batches_from_any_start(app: LeadLifecycle) -> None:
    read = notification_reader(app.recorder)
    everything = [(n.id, str(n.originator_id), n.originator_version, n.topic, n.state)
                  for n in app.recorder.select_notifications(1, 10**6)]
    assert len(everything) > 40
    batches: list[list[tuple[Any, ...]]] = []
    start = 1
    while batch := [tuple(r) for r in read(start, 7)]:
        assert len(batch) <= 7
        batches.append(batch)
        start = batch[-1][0] + 1
    assert [r for b in batches for r in b] == everything
    middle = everything[len(everything) // 2][0]
    assert [tuple(r) for r in read(middle, 10**6)] == [r for r in everything if r[0] >= middle]
    assert list(read(everything[-1][0] + 1, 10)) == []
    assert all(isinstance(r[4], bytes) for r in everything)


def test_state_decoder_decodes_as_the_mapper_does(app: LeadLifecycle) -> None:
    stored = app.recorder.select_notifications(1, 10**6)
    mapper = app.mapper
    assert isinstance(mapper, FastMapper)
    decode = state_decoder(mapper)
    for n in stored:
        assert decode(n.state) == mapper.decode_state(n)
    compressing = FastMapper()
    compressing.compressor = ZlibCompressor()
    events = [mapper.to_domain_event(n) for n in stored if n.originator_version == 1]
    recoded, _ = compressing.to_stored_events(events, {})
    decode = state_decoder(compressing)
    for s in recoded:
        assert decode(s.state) == compressing.decode_state(s)


# -- rows and positions ---------------------------------------------------------------------


@pytest.mark.parametrize("direct", [False, True])
def test_rows_and_positions_are_written_in_one_transaction(store: ProjectionStore,
                                                           direct: bool) -> None:
    store.write({ROWS.name: _rows(150), MORE.name: [("a", 1)]}, TABLES, {"adapter": (9, 1)},
                direct=direct)
    assert _count(store, ROWS) == 150
    assert store.query(f"SELECT lead_id, n FROM {MORE.name}") == [("a", 1)]
    assert store.positions() == {"adapter": (9, 1)}
    # Written again (not direct): rows already there are left alone, the position moves.
    store.write({ROWS.name: _rows(160)}, TABLES, {"adapter": (12, 1)})
    assert _count(store, ROWS) == 160
    assert store.positions() == {"adapter": (12, 1)}


def test_a_failing_write_leaves_neither_rows_nor_positions(store: ProjectionStore) -> None:
    missing = TableSpec("lc_adapter_missing", (("lead_id", "TEXT"),), ("lead_id",))
    with pytest.raises(Exception):  # noqa: B017, PT011 - the backend's own error
        store.write({ROWS.name: _rows(150), missing.name: [("x",)]},
                    {**TABLES, missing.name: missing}, {"adapter": (5, 1)})
    assert _count(store, ROWS) == 0
    assert store.positions() == {}


def test_a_direct_write_of_a_row_already_there_raises_an_integrity_error_or_skips_it(
        store: ProjectionStore) -> None:
    store.write({ROWS.name: _rows(100)}, TABLES, {"adapter": (1, 1)})
    try:
        store.write({ROWS.name: _rows(120)}, TABLES, {"adapter": (2, 1)}, direct=True)
    except store.integrity_errors:
        assert store.positions() == {"adapter": (1, 1)}  # rolled back: the runner redoes it
        store.write({ROWS.name: _rows(120)}, TABLES, {"adapter": (2, 1)})
    assert _count(store, ROWS) == 120
    assert store.positions() == {"adapter": (2, 1)}


def test_a_refused_value_is_a_data_error_and_isolated_into_a_fault(store: ProjectionStore
                                                                   ) -> None:
    good = _rows(120)
    bad = ("bad-lead", 2**70, 0.5)  # beyond BIGINT, and beyond SQLite's integers
    with pytest.raises(store.data_errors):
        store.write({ROWS.name: [*good, bad]}, TABLES, {"adapter": (3, 1)})
    assert _count(store, ROWS) == 0
    assert store.positions() == {}

    units = [(Fault("adapter", str(row[0]), int(row[1]) % 2**62, 1, "Test"),
              [(ROWS.name, row)]) for row in [*good, bad]]
    refused = store.write_isolating(units, TABLES, {"adapter": (3, 1)})
    assert [f.lead_id for f in refused] == ["bad-lead"]
    assert refused[0].reason  # the database's words, or the client's
    assert _count(store, ROWS) == 120
    assert store.positions() == {"adapter": (3, 1)}
    count, latest, when = store.faults()["adapter"]
    assert count == 1
    assert latest[0].lead_id == "bad-lead"
    assert when is not None


def test_faults_are_recorded_with_the_rows_once(store: ProjectionStore) -> None:
    fault = Fault("adapter", "lead-x", 4, 17, "Captured", "ValueError: nope")
    store.write({ROWS.name: _rows(3)}, TABLES, {"adapter": (17, 1)}, faults=[fault])
    store.write({}, TABLES, {"adapter": (18, 1)}, faults=[fault])  # redelivered
    count, latest, _ = store.faults()["adapter"]
    assert (count, latest) == (1, [fault])
    store.reset(PROJECTION)  # a rebuild tries the faulted events again
    assert store.faults() == {}
    assert store.positions() == {}
    assert _count(store, ROWS) == 0


def test_a_backend_sorts_text_by_its_bytes(store: ProjectionStore) -> None:
    names = ["b", "B", "a", "_", "Z", "é"]
    store.write({MORE.name: [(n, i) for i, n in enumerate(names)]}, TABLES, {})
    order = store.backend.byte_order("lead_id", "TEXT")
    got = [r[0] for r in store.query(f"SELECT lead_id FROM {MORE.name} ORDER BY {order}")]
    assert got == sorted(names, key=lambda s: s.encode())


# -- leadership -------------------------------------------------------------------------------


def test_leadership_is_exclusive_and_released_on_close(database_url: str) -> None:
    first, second = leadership_for(database_url, KEY), leadership_for(database_url, KEY)
    other = leadership_for(database_url, KEY + 1)
    try:
        assert first.is_leader()
        assert first.is_leader()  # held, and asked again
        assert not second.is_leader()
        assert other.is_leader()  # another lease is another lock
        first.close()
        assert second.is_leader()
        assert not first.is_leader()
        second.close()
        assert first.is_leader()
    finally:
        for lease in (first, second, other):
            lease.close()


_CHILD = """
import sys, time
from lifecycle.adapters import leadership_for
lease = leadership_for(sys.argv[1], int(sys.argv[2]))
print(lease.is_leader(), flush=True)
if sys.argv[3] == "hold":
    sys.stdin.readline()
"""


def test_leadership_is_exclusive_between_processes_and_lost_when_the_holder_dies(
        database_url: str) -> None:
    def child(mode: str) -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, "-c", _CHILD, database_url, str(KEY), mode],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    lease = leadership_for(database_url, KEY)
    try:
        with child("hold") as holder:
            assert holder.stdout is not None
            assert holder.stdout.readline().strip() == "True"
            assert not lease.is_leader()
            holder.kill()  # dies holding it: no close
        # PostgreSQL ends the dead client's session as soon as it sees the socket closed.
        deadline = time.monotonic() + 10
        while not lease.is_leader():
            assert time.monotonic() < deadline, "the dead holder's lease was never released"
            time.sleep(0.05)
        with child("ask") as late:
            out, _ = late.communicate(timeout=60)
        assert out.strip() == "False"
    finally:
        lease.close()


def test_an_unsupported_url_is_a_config_error() -> None:
    from lifecycle.errors import ConfigError

    with pytest.raises(ConfigError):
        projection_backend_for("mysql://nobody@nowhere/db")
    with pytest.raises(ConfigError):
        leadership_for("mysql://nobody@nowhere/db", KEY)
