"""Several writers on one database: real OS processes, then two engines in one process.

Each ``lifecycle ingest`` process must finish with exact counts (accepted + duplicate +
rejected = received), and the store must hold every input once, however the writers'
batches interleave on shared leads and whether or not the database existed before
they started (schema creation races too). Every test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from lifecycle.aggregates.lead import Lead
from lifecycle.application import LeadLifecycle
from lifecycle.contracts import Touchpoint
from lifecycle.ingest import RejectWriter, ingest_lines
from lifecycle.projections import build_runner
from lifecycle.settings import Settings
from tests.harness.postgres import fresh_database
from tests.support import T0, action_data, counts, touchpoint_data

pytestmark = pytest.mark.integration

REPO = Path(__file__).parents[2]


def _env(database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIFECYCLE_")}
    env.update({"LIFECYCLE_DATABASE_URL": database_url, "PYTHONPATH": str(REPO), **extra})
    return env


def _start(args: list[str], *, cwd: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "lifecycle", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _inputs(writer: int, rng: random.Random, *, shared: list[dict[str, Any]],
            leads: int, count: int) -> list[dict[str, Any]]:
    """Touchpoints of this writer on leads every writer touches, the inputs all writers
    send (redeliveries across processes), and sales actions no lead accepts."""
    items: list[dict[str, Any]] = []
    for i in range(count):
        lead = rng.randrange(leads)
        items.append(touchpoint_data(
            f"w{writer}-{i}", rng.choice(["page_view", "email_open", "content_download"]),
            at=T0 + timedelta(minutes=rng.randrange(100_000)), email=f"lead{lead}@acme.com"))
    items += shared
    items.append(action_data(f"w{writer}-nobody", "note", email="nobody@nowhere.org",
                             text="who?"))
    rng.shuffle(items)
    return items


def _touchpoints_in_store(database_url: str, leads: int) -> Counter[str]:
    """How many times each touchpoint id was recorded, over every lead."""
    app = LeadLifecycle(Settings(database_url=database_url))
    try:
        recorded: Counter[str] = Counter()
        for n in range(leads):
            lead_id = app.find_lead(f"lead{n}@acme.com")
            recorded.update(e.cause_id.removeprefix("touchpoint:")
                            for e in app.lead_events(lead_id)
                            if isinstance(e, Lead.TouchpointRecorded))
        return recorded
    finally:
        app.close()


@pytest.mark.parametrize("writers", [3])
def test_concurrent_ingest_processes_on_a_fresh_database_all_finish_with_exact_counts(
    database_url: str, tmp_path: Path, writers: int
) -> None:
    rng = random.Random(9)
    leads = 25  # few leads, many writes each: the writers' batches collide on them
    shared = [touchpoint_data(f"shared-{i}", "webinar_attended",
                              at=T0 + timedelta(hours=i), email=f"lead{i % leads}@acme.com")
              for i in range(40)]
    files = []
    for w in range(writers):
        path = tmp_path / f"w{w}.jsonl"
        items = _inputs(w, rng, shared=shared, leads=leads, count=300)
        path.write_text("".join(json.dumps(i) + "\n" for i in items), encoding="utf-8")
        files.append((path, items))
    # Small batches: many transactions, so the writers interleave many times.
    env = _env(database_url, LIFECYCLE_BATCH_SIZE="20")
    procs = [_start(["ingest", str(path), "--json"], cwd=tmp_path, env=env)
             for path, _ in files]
    outputs = [p.communicate(timeout=300) for p in procs]

    totals: Counter[str] = Counter()
    for proc, (out, err), (_, items) in zip(procs, outputs, files, strict=True):
        assert "Traceback" not in err, err
        assert proc.returncode == 1, err  # each rejected its unknown-lead action
        summary = json.loads(out)
        assert summary["received"] == len(items)
        assert summary["accepted"] + summary["duplicate"] + summary["rejected"] == len(items)
        assert summary["rejected"] == 1
        totals.update(counts(summary))
    # Each shared input is accepted by exactly one writer, a duplicate for the others.
    own = sum(len(items) - len(shared) - 1 for _, items in files)
    assert totals["accepted"] == own + len(shared)
    assert totals["duplicate"] == len(shared) * (writers - 1)
    recorded = _touchpoints_in_store(database_url, leads)
    assert set(recorded.values()) == {1}
    assert len(recorded) == own + len(shared)


@pytest.fixture
def fresh_urls(database_url: str, request: pytest.FixtureRequest,
               tmp_path: Path) -> Iterator[list[str]]:
    """Three more empty databases of the same backend as ``database_url``."""
    if database_url.startswith("sqlite"):
        yield [f"sqlite:///{tmp_path / f'fresh{i}.db'}" for i in range(3)]
        return
    base: str = request.getfixturevalue("postgres_url")
    with fresh_database(base) as a, fresh_database(base) as b, fresh_database(base) as c:
        yield [a, b, c]


def test_processes_starting_together_on_an_empty_database_create_the_schema_once(
    fresh_urls: list[str], tmp_path: Path
) -> None:
    """Every table (event store, chain heads, subject keys, projections) is created by
    whichever process comes first; the others wait for it and then use the tables."""
    line = json.dumps(touchpoint_data("only", email="first@acme.com")) + "\n"
    (tmp_path / "one.jsonl").write_text(line, encoding="utf-8")
    for url in fresh_urls:
        env = _env(url)
        procs = [_start(["ingest", "one.jsonl", "--json", "--rejects", f"r{i}.jsonl"],
                        cwd=tmp_path, env=env) for i in range(4)]
        procs += [_start(["projections", "status", "--json"], cwd=tmp_path, env=env)
                  for _ in range(2)]
        results = [(p, *p.communicate(timeout=180)) for p in procs]
        for proc, _, err in results:
            assert "Traceback" not in err, err
            assert proc.returncode == 0, err
        summaries = [json.loads(out) for proc, out, _ in results[:4]]
        assert sorted(s["accepted"] for s in summaries) == [0, 0, 0, 1]
        assert sorted(s["duplicate"] for s in summaries) == [0, 1, 1, 1]


def _create_schema(url: str, barrier: Any, results: Any) -> None:
    """In a child process: open the engine on ``url`` the moment every sibling is ready,
    creating (or finding) every table, and record a touchpoint on a lead of its own."""
    try:
        barrier.wait(timeout=60)
        app = LeadLifecycle(Settings(database_url=url))
        try:
            runner = build_runner(app)
            try:
                runner.run()  # the projection tables
                result = app.record(Touchpoint.model_validate(
                    touchpoint_data(f"tp-{os.getpid()}", email=f"p{os.getpid()}@acme.com")))
                runner.run()
            finally:
                runner.store.close()
        finally:
            app.close()
        results.put(result.outcome.value)
    except BaseException as e:  # reported to the test, which fails on it
        results.put(f"{type(e).__name__}: {e}")


def test_engines_opening_an_empty_database_at_the_same_instant_all_work(
    fresh_urls: list[str],
) -> None:
    """Processes released together by a barrier (no interpreter start-up between them)
    race for every piece of schema creation; each must get a working engine."""
    context = multiprocessing.get_context("spawn")
    for url in fresh_urls:
        n = 6
        barrier, results = context.Barrier(n), context.Queue()
        procs = [context.Process(target=_create_schema, args=(url, barrier, results))
                 for _ in range(n)]
        for proc in procs:
            proc.start()
        outcomes = sorted(results.get(timeout=180) for _ in procs)
        for proc in procs:
            proc.join(timeout=60)
        assert outcomes == ["accepted"] * n, outcomes


def _lines(items: list[dict[str, Any]]) -> list[tuple[int, str, int]]:
    return [(n, json.dumps(item), 1) for n, item in enumerate(items, start=1)]


def test_ingest_retries_a_batch_when_another_writer_changed_its_leads_meanwhile(
    database_url: str, tmp_path: Path
) -> None:
    """Deterministic interleaving: engine A caches leads, engine B writes to them, then A
    ingests more. A's first save conflicts; the batch is retried from the store and
    every input is accounted for exactly once, with nothing lost and nothing twice."""
    settings = Settings(database_url=database_url)
    a, b = LeadLifecycle(settings), LeadLifecycle(settings)
    try:
        emails = [f"p{i}@acme.com" for i in range(6)]
        first = [touchpoint_data(f"a0-{i}", email=e) for i, e in enumerate(emails)]
        with RejectWriter(tmp_path / "r0.jsonl") as rejects:
            assert ingest_lines(a, _lines(first), rejects, batch_size=100).accepted == 6
        # B writes to half of the leads A has in its cache; A does not know.
        with RejectWriter(tmp_path / "r1.jsonl") as rejects:
            b_items = [touchpoint_data(f"b-{i}", "email_open", email=e,
                                       at=T0 + timedelta(hours=1)) for i, e in
                       enumerate(emails[::2])]
            assert ingest_lines(b, _lines(b_items), rejects, batch_size=100).accepted == 3
        # A's batch: its own new inputs, one of B's inputs again, and a bad action.
        a_items = [touchpoint_data(f"a1-{i}", "content_download", email=e,
                                   at=T0 + timedelta(hours=2)) for i, e in enumerate(emails)]
        a_items += [b_items[0], action_data("a-bad", "win", email=emails[1])]
        with RejectWriter(tmp_path / "r2.jsonl") as rejects:
            summary = ingest_lines(a, _lines(a_items), rejects, batch_size=100)
        assert summary.as_dict() == {"received": 8, "accepted": 6, "duplicate": 1,
                                     "rejected": 1}
        recorded: Counter[str] = Counter()
        for e in emails:
            recorded.update(ev.cause_id for ev in b.lead_events(b.find_lead(e))
                            if isinstance(ev, Lead.TouchpointRecorded))
        assert set(recorded.values()) == {1}
        assert len(recorded) == 6 + 3 + 6
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize("existing", [False, True])
def test_ingest_waits_while_another_process_holds_the_sqlite_database(
    tmp_path: Path, existing: bool
) -> None:
    """Another program holding SQLite's write lock for a while (a backup, a long
    transaction) delays an ingest; it does not end it, on an engine database or on a
    file that has never been one."""
    path = tmp_path / "lifecycle.db"
    url = f"sqlite:///{path}"
    items = [touchpoint_data(f"tp-{i}", email=f"p{i % 7}@acme.com") for i in range(50)]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(i) + "\n" for i in items),
                                       encoding="utf-8")
    if existing:
        first = subprocess.run([sys.executable, "-m", "lifecycle", "projections", "status"],
                               cwd=tmp_path, env=_env(url), capture_output=True, text=True,
                               timeout=120, check=False)
        assert first.returncode == 0, first.stderr
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        proc = _start(["ingest", "in.jsonl", "--json"], cwd=tmp_path, env=_env(url))
        time.sleep(3)  # the ingest has started and met the lock by now
        assert proc.poll() is None, proc.communicate()
        holder.execute("COMMIT")
    finally:
        holder.close()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert counts(json.loads(out)) == {"received": 50, "accepted": 50, "duplicate": 0,
                                       "rejected": 0}
