"""Erasure by crypto-shredding, on real SQLite and PostgreSQL.

Personal data (email, name, phone, free text) never reaches a table in plaintext; after
``lifecycle erase`` the lead's key is gone, history and reports still work with the
personal fields shown as erased, funnel counts are unchanged, and the lead takes no more
input. The search covers every table of the database (events, chain heads, keys, all
``lc_*`` projection tables) and the ``lead-events`` envelopes the relay publishes.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from lifecycle.aggregates.lead import ERASED, Lead
from lifecycle.application import LeadLifecycle, Outcome
from lifecycle.audit import history, verify
from lifecycle.cli import _register, cli
from lifecycle.distributed import envelope
from lifecycle.errors import LeadErased
from lifecycle.policies import run_policies
from lifecycle.privacy import KEYS_TABLE
from lifecycle.projections import ProjectionStore, build_runner
from lifecycle.reports import build_report
from tests.integration.audit_story import T0, Person, RawEvents, open_app, people, story, touch

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
        if raw.sqlite:
            files = [Path(raw.path), Path(f"{raw.path}-wal")]
            data = b"".join(f.read_bytes() for f in files if f.exists())
            assert bytes(key) not in data

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
