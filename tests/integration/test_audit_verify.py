"""Tamper evidence on real SQLite and PostgreSQL: rows edited, deleted, reordered or
renamed straight in the database are found by ``audit verify``, which names the first
broken link of each aggregate; an untouched store verifies clean (exit status 0)."""

from __future__ import annotations

from collections.abc import Iterator
from uuid import UUID

import pytest
from click.testing import CliRunner

from lifecycle.application import LeadLifecycle
from lifecycle.audit import verify
from lifecycle.chain import HASH_LEN
from lifecycle.cli import _register, cli
from tests.integration.audit_story import RawEvents, open_app, people, story

pytestmark = pytest.mark.integration


@pytest.fixture
def app(database_url: str) -> Iterator[LeadLifecycle]:
    app = open_app(database_url)
    app.record_batch(story(people(4)))
    yield app
    app.close()


def lead_of(app: LeadLifecycle, n: int = 0) -> UUID:
    return app.find_lead(people(4)[n].email)


def problems(app: LeadLifecycle) -> dict[str, tuple[int | None, str]]:
    report = verify(app, batch_size=7)  # small batches: chains span fetches
    return {b["aggregate_id"]: (b["version"], b["problem"]) for b in report.as_dict()["broken"]}


def run_cli(url: str, *args: str) -> tuple[int, str]:
    _register()
    result = CliRunner().invoke(cli, list(args), env={"LIFECYCLE_DATABASE_URL": url})
    return result.exit_code, result.output


def test_untouched_store_verifies_clean(app: LeadLifecycle) -> None:
    report = verify(app, batch_size=5)
    assert report.ok
    # 4 leads + 4 key index entries; every stored event was read once.
    assert report.aggregates == 8
    assert report.events == len(RawEvents(app).execute(
        f"SELECT 1 FROM {RawEvents(app).table}"))
    code, out = run_cli(app.settings.database_url, "audit", "verify")
    assert code == 0, out
    assert "every chain is intact" in out


def test_edited_byte_is_a_hash_mismatch_at_that_version(app: LeadLifecycle) -> None:
    raw, lead = RawEvents(app), lead_of(app)
    version, _, state = [r for r in raw.states(lead) if r[1].endswith("TouchpointRecorded")][1]
    body = state[HASH_LEN:].replace(b'"channel":"seo"', b'"channel":"sea"')  # one byte
    assert body != state[HASH_LEN:]
    raw.set_state(lead, version, state[:HASH_LEN] + body)
    assert problems(app) == {str(lead): (version, "hash_mismatch")}
    code, out = run_cli(app.settings.database_url, "audit", "verify", "--json")
    assert code == 1
    assert '"problem": "hash_mismatch"' in out


def test_deleted_middle_event_is_a_version_gap(app: LeadLifecycle) -> None:
    raw, lead = RawEvents(app), lead_of(app, 1)
    raw.delete(lead, 3)
    assert problems(app) == {str(lead): (4, "version_gap")}


def test_swapped_states_break_at_the_first_of_them(app: LeadLifecycle) -> None:
    raw, lead = RawEvents(app), lead_of(app, 2)
    rows = raw.states(lead)
    (v2, _, s2), (v3, _, s3) = rows[1], rows[2]
    raw.set_state(lead, v2, s3)
    raw.set_state(lead, v3, s2)
    assert problems(app) == {str(lead): (v2, "hash_mismatch")}


def test_deleted_latest_event_is_found_by_the_head(app: LeadLifecycle) -> None:
    raw, lead = RawEvents(app), lead_of(app, 3)
    last = raw.states(lead)[-1][0]
    raw.delete(lead, last)
    assert problems(app) == {str(lead): (last, "truncated")}


def test_deleted_first_event_and_renamed_event_class(app: LeadLifecycle) -> None:
    raw = RawEvents(app)
    first, second = lead_of(app, 0), lead_of(app, 1)
    raw.delete(first, 1)
    version, topic, _ = next(r for r in raw.states(second) if r[1].endswith("Lead.Lost"))
    raw.set_topic(second, version, topic.replace("Lead.Lost", "Lead.Disqualified"))
    assert problems(app) == {str(first): (2, "missing_first_event"),
                             str(second): (version, "hash_mismatch")}


def test_a_whole_history_deleted_is_reported_from_its_head(app: LeadLifecycle) -> None:
    raw, lead = RawEvents(app), lead_of(app, 0)
    for version, _, _ in raw.states(lead):
        raw.delete(lead, version)
    assert problems(app) == {str(lead): (None, "events_missing")}


def test_verify_one_lead(app: LeadLifecycle) -> None:
    raw, tampered, clean = RawEvents(app), lead_of(app, 0), lead_of(app, 1)
    version, _, state = raw.states(tampered)[1]
    raw.set_state(tampered, version, state[:-2] + b" }")
    one = verify(app, lead_id=clean)
    assert one.ok
    assert one.aggregates == 1
    assert one.events == len(raw.states(clean))
    assert not verify(app, lead_id=tampered).ok
    url = app.settings.database_url
    assert run_cli(url, "audit", "verify", "--lead", people(4)[1].email)[0] == 0
    code, out = run_cli(url, "audit", "verify", "--lead", people(4)[0].email)
    assert code == 1
    assert "hash_mismatch" in out


def test_later_saves_keep_chaining_after_a_restart(database_url: str) -> None:
    """A new process continues each chain from the stored head (read back on load)."""
    first = open_app(database_url)
    items = story(people(3))
    first.record_batch(items[:5])
    first.close()
    second = open_app(database_url)
    second.record_batch(items[5:])
    assert verify(second).ok
    second.close()


def test_parallel_verify_finds_the_same_breaks(app: LeadLifecycle) -> None:
    raw, lead = RawEvents(app), lead_of(app, 2)
    raw.delete(lead, 2)
    single = verify(app, workers=1)
    split = verify(app, workers=3)
    assert split.as_dict()["broken"] == single.as_dict()["broken"]
    assert (split.aggregates, split.events) == (single.aggregates, single.events)
    assert [b.problem for b in split.breaks] == ["version_gap"]
