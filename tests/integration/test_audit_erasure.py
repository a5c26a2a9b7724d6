"""Erasure by crypto-shredding, on real SQLite and PostgreSQL.

Personal data (email, name, phone, free text) never reaches a table in plaintext; after
``lifecycle erase`` the lead's key is gone, history and reports still work with the
personal fields shown as erased, funnel counts are unchanged, and the lead takes no more
input. The search covers every table of the database (events, chain heads, keys, all
``lc_*`` projection tables) and the ``lead-events`` envelopes the relay publishes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from click.testing import CliRunner

from lifecycle.aggregates.lead import Lead
from lifecycle.aggregates.values import ERASED
from lifecycle.application import LeadLifecycle, Outcome
from lifecycle.audit import history, verify
from lifecycle.cli import _register, cli
from lifecycle.contracts import SalesAction, Touchpoint
from lifecycle.errors import ErasureIncomplete, LeadErased
from lifecycle.policies import run_policies
from lifecycle.privacy import KEYS_TABLE
from lifecycle.projections import ProjectionStore, build_runner
from lifecycle.projections.tables import all_projections
from lifecycle.reports import build_report
from lifecycle.settings import Settings, persistence_env
from streams.relay import envelope
from tests.integration.audit_story import (
    T0,
    Person,
    RawEvents,
    act,
    open_app,
    people,
    story,
    touch,
)

pytestmark = pytest.mark.integration

PERSONS = people(3)
ADA = PERSONS[1]  # captured, MQL, SQL, a note, lost with free text


def secrets_of(p: Person) -> list[str]:
    return [p.email, p.name, p.phone, p.note, p.loss_text]


@pytest.fixture
def app(database_url: str) -> Iterator[LeadLifecycle]:
    app = open_app(database_url)
    app.record_batch(story(PERSONS))
    runner = build_runner(app)
    runner.run()
    runner.store.close()
    yield app
    app.close()


def published(app: LeadLifecycle) -> str:
    """Every ``lead-events`` envelope the relay would publish, as text."""
    out = []
    for n in app.recorder.select_notifications(1, 10_000):
        env = envelope(n, app.fast_mapper.public_state(n))
        if env is not None:
            out.append(env[1].decode())
    return "\n".join(out)


def funnel(app: LeadLifecycle) -> dict[str, object]:
    store = ProjectionStore(app.settings.database_url)
    try:
        return build_report("funnel", store, app.templates, app.scoring, at=T0)
    finally:
        store.close()


def test_personal_data_is_never_stored_in_plaintext(app: LeadLifecycle) -> None:
    raw = RawEvents(app).all_text()
    stream = published(app)
    for person in PERSONS:
        for secret in secrets_of(person):
            assert secret not in raw
            assert secret not in stream
    # ... yet the engine reads it back.
    lead = app.get_lead(app.find_lead(ADA.email))
    assert (lead.email, lead.profile["name"], lead.profile["phone"]) == (
        ADA.email, ADA.name, ADA.phone)
    texts = [r["detail"].get("text") for r in history(app, lead.id)["history"]]
    assert ADA.note in texts
    assert ADA.loss_text in texts


def test_erase_shreds_the_lead_and_keeps_the_funnel(app: LeadLifecycle, tmp_path: Path) -> None:
    url = app.settings.database_url
    lead_id = app.find_lead(ADA.email)
    raw = RawEvents(app)
    key = raw.execute(f"SELECT key FROM {KEYS_TABLE} WHERE lead_id = ?", (lead_id.hex,))[0][0]
    before = funnel(app)
    events_before = len(raw.states(lead_id))

    _register()
    result = CliRunner().invoke(cli, ["erase", ADA.email, "--yes", "--actor", "dpo:eve",
                                      "--request-id", "gdpr-17"],
                                env={"LIFECYCLE_DATABASE_URL": url})
    assert result.exit_code == 0, result.output
    assert f"erased lead {lead_id}" in result.output

    # The key is gone, one Erased event was added, the chains still verify.
    assert raw.execute(f"SELECT key FROM {KEYS_TABLE} WHERE lead_id = ?", (lead_id.hex,)) == []
    states = raw.states(lead_id)
    assert len(states) == events_before + 1
    assert states[-1][1].endswith("Lead.Erased")
    assert verify(app).ok

    # Reports and counts: unchanged.
    assert funnel(app) == before

    # History and the rebuilt lead: personal fields read as erased; others' still read.
    fresh = open_app(url)
    try:
        lead = fresh.get_lead(lead_id)
        assert lead.erased
        assert lead.email == ERASED
        assert lead.keys == (f"email:{ERASED}",)
        assert lead.profile["name"] == ERASED
        assert lead.profile["phone"] == ERASED
        assert lead.profile["industry"] == "software"
        rows = history(fresh, lead_id)["history"]
        assert rows[-1]["event"] == "Erased"
        assert rows[-1]["cause"] == {"source": "privacy", "actor": "dpo:eve",
                                     "type": "erasure", "id": "gdpr-17"}
        texts = {r["event"]: r["detail"].get("text") for r in rows}
        assert texts["NoteAdded"] == ERASED
        assert texts["Lost"] == ERASED
        other = fresh.get_lead(fresh.find_lead(PERSONS[0].email))
        assert other.profile["name"] == PERSONS[0].name

        # No trace left: tables, published envelopes, and the key itself.
        everything = RawEvents(fresh).all_text() + published(fresh)
        for secret in secrets_of(ADA):
            assert secret not in everything
        assert holding(bytes(key), raw_bytes(url)) == []

        # An erased lead takes no more input, and policies pass over it.
        later = touch("after", "page_view", T0 + timedelta(days=30), ADA.email)
        [res] = fresh.record_batch([later])
        assert res.outcome is Outcome.REJECTED
        assert res.code == LeadErased.code
        run_policies(fresh, at=T0 + timedelta(days=400))
        assert fresh.get_lead(lead_id).version == events_before + 1
    finally:
        fresh.close()


def test_erasing_twice_reports_it_and_deletes_the_key_again(app: LeadLifecycle) -> None:
    lead_id = app.find_lead(ADA.email)
    assert app.erase(lead_id, actor="dpo", cause="erasure:1") is True
    assert app.erase(lead_id, actor="dpo", cause="erasure:2") is False
    events = app.lead_events(lead_id)
    assert [type(e).__name__ for e in events].count("Erased") == 1
    assert isinstance(events[-1], Lead.Erased)


# -- erasure is complete: every personal field, every table, every page ---------------------
#
# A second story puts personal data everywhere an input can carry it: an external id that
# is an email, form properties (nested, in lists, under names that say "email", "name",
# "phone", "address" in any case, and an email under a name that says nothing), and every
# free-text field of sales actions (accept and skip reasons, recycle, loss, reopen, note,
# disqualification texts). After ``erase`` none of it — nor the lead's key — may be found
# in any table, any published envelope, or the raw bytes of the database (PostgreSQL pages
# through pageinspect, including TOAST, indexes and the planner's statistics; SQLite's
# file with its -wal, -journal and -shm files).


@dataclass(frozen=True)
class Subject:
    i: int

    def __getattr__(self, name: str) -> str:
        # Every other field: a distinct, greppable value (none is part of another).
        if name.startswith("_"):
            raise AttributeError(name)
        return f"Zq{name.capitalize()}{self.i}X"

    @property
    def email(self) -> str:
        return f"zelda.quux{self.i}@hyrule{self.i}.example.com"

    @property
    def external_id(self) -> str:
        return f"Zelda.Crm{self.i}@crm{self.i}.example.org"  # a CRM that keys by email

    @property
    def alias(self) -> str:
        return f"zq.alias{self.i}@mail{self.i}.example.net"

    def secrets(self) -> list[str]:
        return [self.email, self.external_id, self.external_id.lower(), self.alias,
                self.name, self.phone, self.form_name, self.street, self.street2,
                self.phone2, self.accept_text, self.skip_text, self.recycle_text,
                self.loss_text, self.reopen_text, self.note, self.dq_text, self.win_text,
                self.secret_number]


SUBJECTS = [Subject(i) for i in range(3)]
ERASED_SUBJECTS = SUBJECTS[:2]  # one disqualified, one won; the third is the control
COMPETITOR = "Rival Compilers Inc"
"""Business data, kept readable on purpose (the loss report groups by it)."""


def subject_story(s: Subject) -> list[Touchpoint | SalesAction]:
    t = T0 + timedelta(days=s.i)

    def at(hours: int) -> datetime:
        return t + timedelta(hours=hours)

    keyed = {"external_id": s.external_id}
    items: list[Touchpoint | SalesAction] = [
        touch(f"zc{s.i}", "page_view", at(0), s.email, external_id=s.external_id,
              profile={"name": s.name, "phone": s.phone, "company": "Hyrule Ltd"},
              properties={
                  "form": {"Email_Address": s.email, "FullName": s.form_name, "utm": "spring"},
                  "Home ADDRESS": {"street": s.street, "zip": 12345},
                  "answers": [{"contact_phone": s.phone2}, {"seats": 5}],
                  "contact": s.alias,  # an email under a name that says nothing
                  "nickname": s.secret_number,
                  "campaign": "spring-24", "visits": 12345678901234}),
        Touchpoint.model_validate({
            "touchpoint_id": f"zp{s.i}", "source": "website", "channel": "seo",
            "kind": "page_view", "occurred_at": at(1).isoformat(), **keyed,
            "properties": {"billingAddress": s.street2, "campaign": "spring-24"}}),
        act(f"za{s.i}", "accept", at(2), s.email, skip_reason=s.accept_text),
        act(f"zv{s.i}", "advance", at(3), s.email, stage="proposal", skip_reason=s.skip_text),
        act(f"zr{s.i}", "recycle", at(4), s.email, reason="decision_postponed",
            text=s.recycle_text),
        act(f"zb{s.i}", "accept", at(5), s.email, skip_reason=s.accept_text),
        act(f"zl{s.i}", "lose", at(6), s.email, reason="competitor_won",
            competitor=COMPETITOR, text=s.loss_text),
        act(f"zo{s.i}", "reopen", at(7), s.email, text=s.reopen_text),
        act(f"zn{s.i}", "note", at(8), s.email, text=s.note),
    ]
    if s.i % 2 == 0:
        items.append(act(f"zd{s.i}", "disqualify", at(9), s.email, reason="invalid_lead",
                         text=s.dq_text))
    else:
        items.append(act(f"zw{s.i}", "win", at(9), s.email, skip_reason=s.win_text,
                         amount=5000.0, currency="EUR"))
    return items


def raw_bytes(url: str) -> dict[str, bytes]:
    """The database as stored bytes, by file or relation: SQLite's files; every
    PostgreSQL page (read through pageinspect, as a superuser could) of the public
    tables, their indexes and TOAST relations, and of the planner's statistics
    (``pg_statistic``, where ANALYZE copies sample column values)."""
    env = persistence_env(url)
    if env["PERSISTENCE_MODULE"].endswith("sqlite"):
        path = env["SQLITE_DBNAME"]
        files = [Path(path + suffix) for suffix in ("", "-wal", "-journal", "-shm")]
        return {f.name: f.read_bytes() for f in files if f.exists()}
    out: dict[str, bytes] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pageinspect")
        relations = conn.execute(
            "SELECT c.oid::regclass::text, pg_relation_size(c.oid) "
            "  / current_setting('block_size')::int FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE (n.nspname IN ('public', 'pg_toast') AND c.relkind IN ('r', 'i', 't', 'm')) "
            "   OR c.oid = 'pg_catalog.pg_statistic'::regclass").fetchall()
        assert any(name == KEYS_TABLE for name, _ in relations)
        for name, blocks in relations:
            out[name] = b"".join(bytes(page) for (page,) in conn.execute(
                "SELECT get_raw_page(%s, 'main', b::int) FROM generate_series(0, %s - 1) b",
                (name, blocks)))
    return out


def holding(needle: str | bytes, pages: dict[str, bytes]) -> list[str]:
    """The files or relations whose bytes contain ``needle``."""
    raw = needle.encode() if isinstance(needle, str) else needle
    return [name for name, data in pages.items() if raw in data]


def analyze(url: str) -> None:
    """What autovacuum does sooner or later: sample every table into the statistics."""
    if not url.startswith("sqlite"):
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("ANALYZE")


@pytest.fixture
def subjects_app(database_url: str) -> Iterator[LeadLifecycle]:
    app = open_app(database_url)
    items = [item for s in SUBJECTS for item in subject_story(s)]
    results = app.record_batch(items)
    assert [r.outcome for r in results] == [Outcome.ACCEPTED] * len(items), results
    runner = build_runner(app)
    runner.run()
    runner.store.close()
    analyze(database_url)
    yield app
    app.close()


def projection_rows(app: LeadLifecycle) -> dict[str, list[tuple[object, ...]]]:
    raw = RawEvents(app)
    return {table.name: raw.execute(f"SELECT * FROM {table.name} ORDER BY "
                                    f"{', '.join(table.primary_key)}")
            for p in all_projections(app.scoring.behaviour.half_life_days)
            for table in p.tables}


def key_of(raw: RawEvents, lead_id: UUID) -> bytes:
    [(key,)] = raw.execute(f"SELECT key FROM {KEYS_TABLE} WHERE lead_id = ?", (lead_id.hex,))
    return bytes(key)


def test_no_personal_field_is_stored_in_plaintext(subjects_app: LeadLifecycle) -> None:
    app = subjects_app
    url = app.settings.database_url
    tables, stream, pages = RawEvents(app).all_text(), published(app), raw_bytes(url)
    # The search does see plaintext: the competitor is stored readable on purpose.
    assert COMPETITOR in tables
    assert holding(COMPETITOR, pages)
    for s in SUBJECTS:
        for secret in s.secrets():
            assert secret not in tables, secret
            assert secret not in stream, secret
            assert holding(secret, pages) == [], secret
    # ... and yet the engine reads every field back.
    s = SUBJECTS[2]
    lead = app.get_lead(app.find_lead(s.external_id))
    assert (lead.email, lead.external_id) == (s.email, s.external_id)
    assert lead.keys == (f"external:{s.external_id}", f"email:{s.email}")
    first = next(e for e in app.lead_events(lead.id) if isinstance(e, Lead.TouchpointRecorded))
    assert first.properties == subject_story(s)[0].properties
    details = [r["detail"] for r in history(app, lead.id)["history"]]
    texts = {d.get("text") for d in details} | {d.get("skip_reason") for d in details}
    assert {s.recycle_text, s.loss_text, s.reopen_text, s.note, s.skip_text,
            s.dq_text} <= texts
    mql = next(e for e in app.lead_events(lead.id) if isinstance(e, Lead.MarketingQualified))
    assert mql.rule == f"sales override: {s.accept_text}"


def assert_erased(app: LeadLifecycle, s: Subject, lead_id: UUID) -> None:
    """What the erased lead reads as, and what its old keys find."""
    url = app.settings.database_url
    lead = app.get_lead(lead_id)
    assert lead.erased
    assert (lead.email, lead.external_id) == (ERASED, ERASED)
    assert lead.keys == (f"external:{ERASED}", f"email:{ERASED}")
    events = app.lead_events(lead_id)
    first = next(e for e in events if isinstance(e, Lead.TouchpointRecorded))
    assert first.properties == {
        "form": {"Email_Address": ERASED, "FullName": ERASED, "utm": "spring"},
        "Home ADDRESS": ERASED, "answers": [{"contact_phone": ERASED}, {"seats": 5}],
        "contact": ERASED, "nickname": ERASED,
        "campaign": "spring-24", "visits": 12345678901234}
    shown = CliRunner().invoke(cli, ["lead", "show", str(lead_id), "--json"],
                               env={"LIFECYCLE_DATABASE_URL": url})
    assert shown.exit_code == 0, shown.output
    audit = CliRunner().invoke(cli, ["audit", "history", str(lead_id), "--json"],
                               env={"LIFECYCLE_DATABASE_URL": url})
    assert audit.exit_code == 0, audit.output
    for secret in s.secrets():
        assert secret not in shown.output + audit.output, secret
    # A lookup by an old key says the lead was erased; so does new input.
    for old in (s.email, s.external_id, f"external:{s.external_id}"):
        with pytest.raises(LeadErased, match=str(lead_id)):
            app.find_lead(old)
    looked_up = CliRunner().invoke(cli, ["lead", "show", s.external_id],
                                   env={"LIFECYCLE_DATABASE_URL": url})
    assert looked_up.exit_code != 0
    assert "erased" in str(looked_up.exception) + looked_up.output
    late = [Touchpoint.model_validate({
        "touchpoint_id": f"late-{s.i}-{n}", "source": "website", "channel": "seo",
        "kind": "page_view", "occurred_at": (T0 + timedelta(days=40)).isoformat(),
        **keyed}) for n, keyed in enumerate(
            ({"external_id": s.external_id}, {"email": s.email},
             {"email": s.email, "external_id": s.external_id}))]
    results = app.record_batch(late)
    assert [r.code for r in results] == [LeadErased.code] * 3


def test_erase_leaves_no_plaintext_and_no_key_in_any_page(subjects_app: LeadLifecycle) -> None:
    app = subjects_app
    url = app.settings.database_url
    raw = RawEvents(app)
    ids = [app.find_lead(s.email) for s in SUBJECTS]
    keys = [key_of(raw, lead_id) for lead_id in ids]
    pages = raw_bytes(url)
    assert all(holding(key, pages) for key in keys)  # the search finds keys where they are

    _register()
    for s in ERASED_SUBJECTS:
        result = CliRunner().invoke(cli, ["erase", s.external_id, "--yes"],
                                    env={"LIFECYCLE_DATABASE_URL": url})
        assert result.exit_code == 0, result.output
    assert verify(app).ok

    fresh = open_app(url)
    try:
        runner = build_runner(fresh)
        runner.run()
        before_rebuild = projection_rows(fresh)
        runner.rebuild()  # projections only copy: a rebuild gives the same rows
        runner.store.close()
        assert projection_rows(fresh) == before_rebuild
        tables = RawEvents(fresh).all_text()
        pages = raw_bytes(url)  # statistics as ANALYZE left them before the erasure
        everything = tables + published(fresh)
        for s, key in zip(ERASED_SUBJECTS, keys, strict=False):
            assert holding(key, pages) == []
            for secret in s.secrets():
                assert secret not in everything, secret
                assert holding(secret, pages) == [], secret
        assert holding(keys[2], pages)  # the control lead keeps its key

        for s, lead_id in zip(ERASED_SUBJECTS, ids, strict=False):
            assert_erased(fresh, s, lead_id)
        # The control lead is untouched.
        other = fresh.get_lead(fresh.find_lead(SUBJECTS[2].external_id))
        assert other.profile["name"] == SUBJECTS[2].name
    finally:
        fresh.close()


def test_an_older_transaction_makes_erase_say_it_is_incomplete_until_it_ends(
    app: LeadLifecycle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A transaction that began before the erasure (PostgreSQL: its snapshot or xid
    keeps the deleted row; SQLite: a reader keeps the write-ahead log) must not let
    erase claim the key is gone while a copy remains; erase again finishes the job."""
    import lifecycle.adapters.protocol

    monkeypatch.setattr(lifecycle.adapters.protocol, "ERASE_WAIT", 0.5)
    url = app.settings.database_url
    raw = RawEvents(app)
    lead_id = app.find_lead(ADA.email)
    key = key_of(raw, lead_id)
    with raw.connect() as older:
        if raw.sqlite:
            older.execute("BEGIN")
            older.execute(f"SELECT count(*) FROM {KEYS_TABLE}").fetchall()
        else:
            older.autocommit = False
            older.execute("CREATE TEMPORARY TABLE held (x INT)")
            older.execute("INSERT INTO held VALUES (1)")  # an xid older than the erasure
        with pytest.raises(ErasureIncomplete, match="run erase again"):
            app.erase(lead_id, actor="dpo", cause="erasure:1")
        if raw.sqlite:
            older.execute("ROLLBACK")
        else:
            older.rollback()
    monkeypatch.setattr(lifecycle.adapters.protocol, "ERASE_WAIT", 30.0)
    assert app.erase(lead_id, actor="dpo", cause="erasure:2") is False
    assert holding(key, raw_bytes(url)) == []
    assert app.get_lead(lead_id).erased


@pytest.mark.parametrize(("setting", "sealed", "readable"), [
    (None, ["ZqHomeAddr", "ZqTag@x.example"], ["ZqSsn123", "spring-zz"]),
    ("ssn", ["ZqSsn123", "ZqTag@x.example"], ["ZqHomeAddr", "spring-zz"]),  # replaces it
    ("*", ["ZqHomeAddr", "ZqSsn123", "ZqTag@x.example", "spring-zz"], []),
])
def test_personal_properties_follow_the_configuration(
    database_url: str, setting: str | None, sealed: list[str], readable: list[str]
) -> None:
    """By name (default: email, name, phone, address), any '@' string, or all ('*')."""
    settings = (Settings(database_url=database_url) if setting is None else
                Settings(database_url=database_url, personal_properties=setting))
    app = LeadLifecycle(settings)
    try:
        properties: dict[str, Any] = {"home_address": "ZqHomeAddr", "user": {"SSN": "ZqSsn123"},
                                      "tags": ["ZqTag@x.example"], "utm": "spring-zz"}
        [result] = app.record_batch([touch("p1", "page_view", T0, "p@q.example.com",
                                           properties=properties)])
        assert result.outcome is Outcome.ACCEPTED
        assert result.lead_id is not None
        raw = RawEvents(app).all_text()
        assert [s for s in sealed if s in raw] == []
        assert [s for s in readable if s in raw] == readable
        first = next(e for e in app.lead_events(result.lead_id)
                     if isinstance(e, Lead.TouchpointRecorded))
        assert first.properties == properties
    finally:
        app.close()


@pytest.mark.postgres
def test_a_key_table_sampled_by_an_older_version_loses_its_statistics(
    pg_database_url: str,
) -> None:
    """A key table that ANALYZE sampled before keys were kept out of the statistics
    (made by an earlier version): opening the engine drops those samples."""
    with psycopg.connect(pg_database_url, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {KEYS_TABLE} (lead_id TEXT PRIMARY KEY, key BYTEA NOT "
                     "NULL, created_at DOUBLE PRECISION NOT NULL)")
        conn.execute(f"INSERT INTO {KEYS_TABLE} SELECT md5(i::text), sha256(i::text::bytea), "
                     "0 FROM generate_series(1, 300) i")
        conn.execute(f"ANALYZE {KEYS_TABLE}")
        sampled = (f"SELECT count(*) FROM pg_stats WHERE tablename = '{KEYS_TABLE}' "
                   "AND attname = 'key'")
        assert conn.execute(sampled).fetchone() == (1,)
        app = open_app(pg_database_url)
        try:
            app.subject_keys.cipher(uuid4())  # the key store's first use
            conn.execute(f"ANALYZE {KEYS_TABLE}")
            assert conn.execute(sampled).fetchone() == (0,)
        finally:
            app.close()
