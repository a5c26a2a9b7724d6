"""Audit speed: a long lead's history and state as of a moment, and chain verification
over a million stored events — each against a naive baseline in the same run.

Run from the repository root (``./run bench audit`` runs the same)::

    .venv/bin/python bench/audit.py --events 1000000 --lead-events 1000 \\
        [--postgres postgresql://postgres@127.0.0.1:5432/test]

What it does:

1. **history + as-of**: records one lead with ``--lead-events`` events through the
   engine (touchpoints, sales notes), then, in a fresh application each time (nothing
   decoded yet), times :func:`lifecycle.audit.history` and :func:`lifecycle.audit.as_of`
   (both bases) — the median of ``--repeat`` runs, each on a newly opened application
   (wall-clock, and the process's CPU time, which the machine's other load does not
   inflate as much); then both again on an application that already decoded the lead.
   Baselines: history as a naive auditor would get "the state after each event" —
   ``repository.get(id, version=v)`` for every v — and as-of via
   ``repository.get(id, version=n)``.
2. **verify**: fills an events table with ``--events`` chained events — real events
   recorded through the engine, then copied under new aggregate ids (bodies and hashes
   stay valid: a hash covers the previous hash, topic and body, not the id) — and times
   :func:`lifecycle.audit.verify` over all of them. Baseline: the obvious verifier,
   which loads each aggregate through eventsourcing's recorder (``select_events``) and
   parses every event's JSON before hashing it, timed on ``--baseline-events`` events.
   Then an anchor of the whole store is taken and the store verified against it.

Goals (reported, never enforced): history + as-of ≤ 50 ms for a 1,000-event lead;
verify ≥ 100,000 events/s. The last line of the output is one JSON object with every
figure.
"""

from __future__ import annotations

import argparse
import json
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

if __package__ in (None, ""):  # run as a plain script: make ``lifecycle`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lifecycle.anchor import seal
from lifecycle.application import LeadLifecycle
from lifecycle.audit import as_of, history, take_anchor, verify
from lifecycle.chain import GENESIS, HASH_LEN, HEADS_TABLE, link
from lifecycle.contracts import SalesAction, Touchpoint
from lifecycle.settings import Settings

T0 = datetime(2024, 1, 1, tzinfo=UTC)
KINDS = ("page_view", "email_open", "email_click", "content_download", "webinar_attended")
GOAL_MS = 50.0
GOAL_RATE = 100_000.0


def _touch(tid: str, email: str, kind: str, at: datetime, **extra: Any) -> Touchpoint:
    return Touchpoint.model_validate({"touchpoint_id": tid, "source": "web", "channel": "seo",
                                      "kind": kind, "occurred_at": at.isoformat(),
                                      "email": email, **extra})


def _note(aid: str, email: str, at: datetime, text: str) -> SalesAction:
    return SalesAction.model_validate({"action_id": aid, "actor": "sales:bob", "action": "note",
                                       "occurred_at": at.isoformat(), "email": email,
                                       "text": text})


def _profile(i: int) -> dict[str, Any]:
    return {"name": f"Person {i}", "phone": f"+1 555 {i:07d}", "industry": "software",
            "employees": 40 + i % 900, "title": "Head of IT", "country": "US"}


def _median_ms(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


# -- 1. one long lead -------------------------------------------------------------------


def bench_lead(url: str, events: int, repeat: int) -> dict[str, Any]:
    email = "long.history@bench.example.com"
    app = LeadLifecycle(Settings(database_url=url))
    app.record_batch([_touch("c", email, "form_submit", T0, profile=_profile(0))])
    lead_id = app.find_lead(email)
    i = 0
    while app.get_lead(lead_id).version < events:
        batch: list[Touchpoint | SalesAction] = []
        for _ in range(50):
            i += 1
            at = T0 + timedelta(hours=6 * i)
            batch.append(_note(f"n{i}", email, at, f"call {i} with Person 0") if i % 7 == 0
                         else _touch(f"t{i}", email, KINDS[i % len(KINDS)], at))
        app.record_batch(batch)
    app.close()

    def fresh() -> LeadLifecycle:
        return LeadLifecycle(Settings(database_url=url))

    def cold(fn: Callable[[LeadLifecycle], Any]) -> float:
        """Median ms of ``fn`` on a newly opened application (nothing decoded yet);
        opening it (connection pools, table checks) is not timed: it is not audit work."""
        times, cpu = [], []
        for _ in range(repeat):
            a = fresh()
            # Opening connections (the event store pool's, the key table's) is not audit work.
            a.recorder.max_notification_id()
            a.subject_keys.cipher(UUID(int=0))
            try:
                started, started_cpu = time.perf_counter(), time.process_time()
                fn(a)
                times.append((time.perf_counter() - started) * 1000)
                cpu.append((time.process_time() - started_cpu) * 1000)
            finally:
                a.close()
        cpu_ms[fn] = statistics.median(cpu)
        return statistics.median(times)

    cpu_ms: dict[Any, float] = {}

    probe = fresh()
    stored = probe.lead_events(lead_id)
    n = len(stored)
    at = stored[n // 2].occurred_at
    probe.close()
    history_ms = cold(lambda a: history(a, lead_id))
    as_of_ms = cold(lambda a: as_of(a, lead_id, at))
    both = lambda a: (history(a, lead_id), as_of(a, lead_id, at))  # noqa: E731
    both_ms = cold(both)
    app = fresh()
    history(app, lead_id)
    warm_ms = _median_ms(lambda: (history(app, lead_id), as_of(app, lead_id, at)), repeat)
    get_n_ms = _median_ms(lambda: app.get_lead(lead_id, version=n // 2), repeat)
    # Naive: the state after each event, each rebuilt from the start. Quadratic, so it
    # is timed on every 20th version and scaled (each sample stands for 20 versions).
    stride = 20
    started = time.perf_counter()
    for v in range(stride, n + 1, stride):
        app.get_lead(lead_id, version=v)
    naive_ms = (time.perf_counter() - started) * 1000 * stride
    app.close()
    return {"lead_events": n, "history_ms": round(history_ms, 2), "as_of_ms": round(as_of_ms, 2),
            "history_plus_as_of_ms": round(both_ms, 2),
            "history_plus_as_of_cpu_ms": round(cpu_ms[both], 2),
            "history_plus_as_of_again_ms": round(warm_ms, 2),
            "as_of_recorded_via_repository_get_ms": round(get_n_ms, 2),
            "history_naive_ms_estimated": round(naive_ms, 1)}


# -- 2. a million events ---------------------------------------------------------------


def _seed_events(url: str, leads: int) -> None:
    app = LeadLifecycle(Settings(database_url=url))
    items: list[Touchpoint | SalesAction] = []
    for i in range(leads):
        email = f"p{i}@company{i % 211}.example.com"
        t = T0 + timedelta(hours=i)
        items.append(_touch(f"c{i}", email, "form_submit", t, profile=_profile(i)))
        for j in range(1, 9):
            items.append(_touch(f"t{i}-{j}", email, KINDS[(i + j) % len(KINDS)],
                                t + timedelta(hours=9 * j)))
        items.append(_note(f"n{i}", email, t + timedelta(days=4), f"spoke to Person {i}"))
    for k in range(0, len(items), 2000):
        app.record_batch(items[k:k + 2000])
    app.close()


def _copies(rows: list[tuple[str, int, str, bytes]], total: int
            ) -> tuple[list[tuple[str, int, str, bytes]], list[tuple[str, int, str]]]:
    """Rows for ``total`` events: the seed leads under new ids, copy after copy, each
    with copies of its key index entries naming the copy (re-hashed: the entry's body
    names its lead), so the copied store passes verify's key index cross-check."""
    by_id: dict[str, list[tuple[str, int, str, bytes]]] = {}
    for row in rows:
        by_id.setdefault(row[0], []).append(row)
    entries: dict[str, list[str]] = {}  # lead -> its key index entries
    for oid, chain in by_id.items():
        _, _, topic, state = chain[0]
        if topic.endswith("LeadKey.Registered"):
            at = state.index(b'"lead_id":"') + 11
            entries.setdefault(UUID(state[at:at + 36].decode()).hex, []).append(oid)
    out: list[tuple[str, int, str, bytes]] = []
    heads: list[tuple[str, int, str]] = []
    copy = 0
    while len(out) < total - len(rows):
        copy += 1
        for lead, keys in entries.items():
            new_lead = uuid5(NAMESPACE_URL, f"bench:{copy}:{lead}")
            chain = by_id[lead]
            out.extend((new_lead.hex, v, t, s) for _, v, t, s in chain)
            heads.append((new_lead.hex, chain[-1][1], chain[-1][3][:HASH_LEN].decode()))
            for key in keys:
                _, version, topic, state = by_id[key][0]
                old = str(UUID(hex=lead)).encode()
                body = state[HASH_LEN:].replace(old, str(new_lead).encode())
                digest = link(GENESIS, topic.encode(), body)
                new_key = uuid5(NAMESPACE_URL, f"bench:{copy}:{key}").hex
                out.append((new_key, version, topic, digest + body))
                heads.append((new_key, version, digest.decode()))
            if len(out) >= total - len(rows):
                break
    return out, heads


def fill_sqlite(path: str, total: int) -> int:
    conn = sqlite3.connect(path, isolation_level=None)
    rows = conn.execute("SELECT originator_id, originator_version, topic, state "
                        "FROM stored_events ORDER BY originator_id, originator_version").fetchall()
    extra, heads = _copies(rows, total)
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO stored_events (originator_id, originator_version, topic, state)"
                     " VALUES (?, ?, ?, ?)", extra)
    conn.executemany(f"INSERT INTO {HEADS_TABLE} (originator_id, version, hash) "
                     "VALUES (?, ?, ?)", heads)
    conn.execute("COMMIT")
    count = int(conn.execute("SELECT COUNT(*) FROM stored_events").fetchone()[0])
    conn.close()
    return count


def fill_postgres(url: str, total: int) -> int:
    import psycopg

    with psycopg.connect(url) as conn:
        rows = [(str(o).replace("-", ""), v, t, bytes(s)) for o, v, t, s in conn.execute(
            "SELECT originator_id, originator_version, topic, state FROM lifecycle_events "
            "ORDER BY originator_id, originator_version")]
        extra, heads = _copies(rows, total)
        with conn.cursor() as cur:
            with cur.copy("COPY lifecycle_events (originator_id, originator_version, topic, "
                          "state) FROM STDIN") as copy:
                for o, v, t, s in extra:
                    copy.write_row((UUID(o), v, t, s))
            with cur.copy(f"COPY {HEADS_TABLE} (originator_id, version, hash) FROM STDIN"
                          ) as copy:
                for o, v, h in heads:
                    copy.write_row((UUID(o), v, h))
        conn.execute("ANALYZE lifecycle_events")
        row = conn.execute("SELECT COUNT(*) FROM lifecycle_events").fetchone()
        return int(row[0]) if row else 0


def naive_verify(app: LeadLifecycle, limit: int) -> tuple[int, float]:
    """Per aggregate: eventsourcing's select_events, json.loads of every event, hash."""
    started = time.perf_counter()
    recorder = app.recorder
    ids: list[Any] = []
    for n in recorder.select_notifications(1, limit):
        if n.originator_version == 1:
            ids.append(n.originator_id)
    count = 0
    for oid in ids:
        prev = GENESIS
        for stored in recorder.select_events(oid):
            body = stored.state[HASH_LEN:]
            json.loads(body)
            digest = link(prev, stored.topic.encode(), body)
            if digest != stored.state[:HASH_LEN]:
                raise AssertionError(f"broken chain in {oid}")
            prev = digest
            count += 1
    return count, time.perf_counter() - started


def bench_verify(url: str, total: int, baseline: int, postgres: bool) -> dict[str, Any]:
    _seed_events(url, 2500)
    filled = fill_postgres(url, total) if postgres else fill_sqlite(
        url.removeprefix("sqlite:///"), total)
    app = LeadLifecycle(Settings(database_url=url))
    try:
        report = verify(app)
        assert report.ok, report.as_dict()["broken"][:3]
        started = time.perf_counter()
        taken, _ = take_anchor(app)
        assert taken is not None
        anchor = seal(taken, None)
        anchor_seconds = time.perf_counter() - started
        against = verify(app, anchor=anchor)
        assert against.ok, against.as_dict()["broken"][:3]
        count, seconds = naive_verify(app, baseline)
    finally:
        app.close()
    return {"verify_events": report.events, "verify_aggregates": report.aggregates,
            "verify_seconds": round(report.seconds, 2),
            "verify_events_per_s": round(report.events_per_second),
            "anchor_seconds": round(anchor_seconds, 2),
            "verify_anchor_seconds": round(against.seconds, 2),
            "verify_naive_events": count,
            "verify_naive_events_per_s": round(count / seconds) if seconds else None,
            "events_in_table": filled}


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=1_000_000,
                        help="events in the table verify reads (default 1,000,000)")
    parser.add_argument("--lead-events", type=int, default=1000,
                        help="events of the long lead (default 1000)")
    parser.add_argument("--baseline-events", type=int, default=100_000,
                        help="events the naive verifier reads (default 100,000)")
    parser.add_argument("--repeat", type=int, default=9, help="timed runs per figure")
    parser.add_argument("--postgres", metavar="URL",
                        help="also run on a fresh database of this PostgreSQL server")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    result: dict[str, Any] = {"bench": "audit", "python": platform.python_version(),
                              "goal_history_plus_as_of_ms": GOAL_MS,
                              "goal_verify_events_per_s": GOAL_RATE}
    backends: list[tuple[str, Callable[[], Any]]] = [("sqlite", _sqlite_url)]
    if args.postgres:
        backends.append(("postgres", lambda: _postgres_url(args.postgres)))
    for name, make_url in backends:
        with make_url() as url:
            lead = bench_lead(url, args.lead_events, args.repeat)
        print(f"[{name}] lead with {lead['lead_events']} events, nothing cached: history "
              f"{lead['history_ms']} ms, as-of (both bases) {lead['as_of_ms']} ms, both "
              f"{lead['history_plus_as_of_ms']} ms (goal ≤ {GOAL_MS:g}; CPU "
              f"{lead['history_plus_as_of_cpu_ms']} ms); both again, unchanged "
              f"lead {lead['history_plus_as_of_again_ms']} ms; naive history "
              f"(get(version=v) for every v) ≈ {lead['history_naive_ms_estimated']:,.0f} ms",
              flush=True)
        with make_url() as url:
            ver = bench_verify(url, args.events, args.baseline_events, name == "postgres")
        print(f"[{name}] verify: {ver['verify_events']:,} events of "
              f"{ver['verify_aggregates']:,} aggregates in {ver['verify_seconds']} s = "
              f"{ver['verify_events_per_s']:,} events/s (goal ≥ {GOAL_RATE:,.0f}); naive "
              f"verifier {ver['verify_naive_events_per_s']:,} events/s on "
              f"{ver['verify_naive_events']:,} events; anchor taken in "
              f"{ver['anchor_seconds']} s, verify against it {ver['verify_anchor_seconds']} s",
              flush=True)
        result[name] = {**lead, **ver}
    print(json.dumps(result))
    return 0


class _sqlite_url:
    def __enter__(self) -> str:
        self.tmp = tempfile.TemporaryDirectory(prefix="lc-bench-audit-")
        return f"sqlite:///{Path(self.tmp.name) / 'audit.db'}"

    def __exit__(self, *exc: object) -> None:
        self.tmp.cleanup()


class _postgres_url:
    def __init__(self, base: str) -> None:
        from tests.harness.postgres import fresh_database

        self.cm = fresh_database(base)

    def __enter__(self) -> str:
        return self.cm.__enter__()

    def __exit__(self, *exc: Any) -> None:
        self.cm.__exit__(*exc)


if __name__ == "__main__":
    sys.exit(main())
