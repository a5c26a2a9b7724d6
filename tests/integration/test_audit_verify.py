"""Tamper evidence on real SQLite and PostgreSQL: rows edited, deleted, reordered or
renamed straight in the database are found by ``audit verify``, which names the first
broken link of each aggregate; an untouched store verifies clean (exit status 0).

Against an anchor (``audit anchor FILE``) it also finds what someone who knows the chain
scheme hides by recomputing chains and heads after deleting, truncating or editing
events, or by deleting a whole lead with its head, index entries and projection rows;
an altered anchor file, or one checked with the wrong key, is exit status 2.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from uuid import UUID

import pytest
from click.testing import CliRunner

from lifecycle.anchor import load
from lifecycle.application import LeadLifecycle
from lifecycle.audit import verify
from lifecycle.chain import HASH_LEN
from lifecycle.cli import _register, cli
from lifecycle.errors import AnchorInvalid
from lifecycle.projections import build_runner
from tests.integration.audit_story import T0, RawEvents, open_app, people, story, touch
from tests.integration.tamper import Tamper

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


def run_cli(url: str, *args: str, **env: str) -> tuple[int, str]:
    _register()
    result = CliRunner().invoke(cli, list(args), env={"LIFECYCLE_DATABASE_URL": url, **env})
    return result.exit_code, result.output


def build_runner_and_run(app: LeadLifecycle) -> None:
    runner = build_runner(app)
    try:
        runner.run()
    finally:
        runner.store.close()


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


# -- anchors and cross-checks: a tamperer who rewrites chains and heads ----------------


def anchored(app: LeadLifecycle, tmp_path: Path, *, key: str | None = None) -> Path:
    """Anchors the store through the CLI, as an auditor would."""
    path = tmp_path / f"anchor-{len(list(tmp_path.iterdir()))}.json"
    code, out = run_cli(app.settings.database_url, "audit", "anchor", str(path),
                        **({"LIFECYCLE_AUDIT_KEY": key} if key else {}))
    assert code == 0, out
    assert path.exists()
    return path


def against(app: LeadLifecycle, path: Path, *, key: str | None = None,
            workers: int = 1) -> dict[str, tuple[int | None, str]]:
    report = verify(app, anchor=load(path, key), batch_size=7, workers=workers)
    return {b["aggregate_id"]: (b["version"], b["problem"]) for b in report.as_dict()["broken"]}


def key_entries_of(tamper: Tamper, lead: UUID) -> list[str]:
    return [oid for oid, topic in tamper.aggregates() if topic.endswith("LeadKey.Registered")
            and f'"lead_id":"{lead}"'.encode() in tamper.events(oid)[0][3]]


def test_anchor_finds_a_deleted_last_event_with_its_head_rewritten(
        app: LeadLifecycle, tmp_path: Path) -> None:
    """The finding: delete a lead's last event, copy the new last hash into the head."""
    path = anchored(app, tmp_path)
    tamper, lead = Tamper(app), lead_of(app, 1)
    *rest, last = tamper.events(lead.hex)
    tamper.delete_event(lead.hex, last[1])
    tamper.set_head(lead.hex, rest[-1][1], rest[-1][3][:HASH_LEN].decode())
    assert against(app, path) == {str(lead): (last[1], "anchor_truncated")}
    code, out = run_cli(app.settings.database_url, "audit", "verify", "--anchor", str(path))
    assert code == 1
    assert str(lead) in out
    assert "anchor_truncated" in out


def test_whole_lead_deleted_with_its_head_and_projection_rows(
        app: LeadLifecycle, tmp_path: Path) -> None:
    """The finding: a lead's events, head row and projection rows deleted. Its key index
    entry still names it (no anchor needed); with its index entries gone too, the anchor
    names it."""
    build_runner_and_run(app)
    path = anchored(app, tmp_path)
    tamper, lead = Tamper(app), lead_of(app, 2)
    saved = tamper.snapshot()
    tamper.delete_aggregate(lead.hex)
    assert tamper.delete_projection_rows(lead) > 0
    assert problems(app) == {str(lead): (None, "lead_missing")}
    code, out = run_cli(app.settings.database_url, "audit", "verify")
    assert code == 1
    assert str(lead) in out
    assert against(app, path) == {str(lead): (None, "vanished")}
    # Every trace in the store: only the anchor remembers the lead.
    tamper.restore(saved)
    entries = key_entries_of(tamper, lead)
    assert entries
    tamper.delete_aggregate(lead.hex)
    for entry in entries:
        tamper.delete_aggregate(entry)
    assert problems(app) == {}
    found = against(app, path)
    assert found[str(lead)] == (None, "vanished")
    assert {found[str(UUID(hex=e))] for e in entries} == {(None, "vanished")}
    code, out = run_cli(app.settings.database_url, "audit", "verify", "--anchor", str(path),
                        "--json")
    assert code == 1
    data = json.loads(out)
    details = " ".join(b["detail"] for b in data["broken"])
    assert f"the key index entry of lead {lead}" in details


def test_anchor_finds_an_edit_hidden_by_recomputed_chain_and_head(
        app: LeadLifecycle, tmp_path: Path) -> None:
    path = anchored(app, tmp_path)
    tamper, lead = Tamper(app), lead_of(app, 0)
    _, version, _, state, _ = tamper.events(lead.hex)[2]
    tamper.set_state_of(lead.hex, version, state.replace(b'"occurred_at":"2024',
                                                         b'"occurred_at":"2023'))
    tamper.reseal(lead.hex)
    assert problems(app) == {}  # chains and heads alone cannot see it
    # The anchor holds each history's last hash: the break is where it held the lead.
    last = len(tamper.events(lead.hex))
    assert version < last
    assert against(app, path) == {str(lead): (last, "anchor_mismatch")}


def test_anchor_finds_several_events_truncated_and_resealed(
        app: LeadLifecycle, tmp_path: Path) -> None:
    path = anchored(app, tmp_path)
    tamper, lead = Tamper(app), lead_of(app, 3)
    events = tamper.events(lead.hex)
    for _, version, _, _, _ in events[-3:]:
        tamper.delete_event(lead.hex, version)
    tamper.reseal(lead.hex)
    assert problems(app) == {}
    assert against(app, path) == {str(lead): (len(events) - 2, "anchor_truncated")}


def test_a_deleted_middle_event_renumbered_and_resealed(
        app: LeadLifecycle, tmp_path: Path) -> None:
    path = anchored(app, tmp_path)
    tamper, lead = Tamper(app), lead_of(app, 1)
    anchored_at = len(tamper.events(lead.hex))
    tamper.delete_event(lead.hex, 4)
    tamper.reseal(lead.hex)  # v5.. become v4..: a contiguous, consistent history
    assert problems(app) == {}
    # One event short of the anchored version: the first missing one is reported.
    assert against(app, path) == {str(lead): (anchored_at, "anchor_truncated")}


def test_deleted_key_index_entry_is_found_without_an_anchor(
        app: LeadLifecycle, tmp_path: Path) -> None:
    path = anchored(app, tmp_path)
    tamper, lead = Tamper(app), lead_of(app, 0)
    (entry,) = key_entries_of(tamper, lead)
    tamper.delete_aggregate(entry)
    assert problems(app) == {str(lead): (None, "keys_unindexed")}
    found = against(app, path)
    assert found[str(UUID(hex=entry))] == (None, "vanished")
    code, out = run_cli(app.settings.database_url, "audit", "verify", "--json")
    assert code == 1
    assert json.loads(out)["broken"][0]["problem"] == "keys_unindexed"


def test_reordered_notification_log_is_found(app: LeadLifecycle) -> None:
    tamper, lead = Tamper(app), lead_of(app, 2)
    tamper.swap_nids(lead.hex, 2, 3)
    assert problems(app) == {str(lead): (3, "notification_order")}


def test_events_after_the_anchor_verify_by_their_chains(
        app: LeadLifecycle, tmp_path: Path) -> None:
    """New leads and new events of anchored leads are fine; erasure too (it deletes a
    key, not events); an edit after the anchor is still a chain break."""
    path = anchored(app, tmp_path)
    later = people(6)
    app.record_batch(story(later[4:], first=4))
    app.record_batch([touch("late-1", "page_view", T0 + timedelta(days=30), later[0].email)])
    app.erase(lead_of(app, 1), actor="dpo", cause="erasure:1")
    assert against(app, path) == {}
    code, out = run_cli(app.settings.database_url, "audit", "verify", "--anchor", str(path))
    assert code == 0, out
    assert "holds what the anchor holds" in out
    tamper, fresh = Tamper(app), app.find_lead(later[5].email)
    _, version, _, state, _ = tamper.events(fresh.hex)[1]
    tamper.set_state_of(fresh.hex, version, state[:-1] + b" }")
    assert against(app, path) == {str(fresh): (version, "hash_mismatch")}


def test_verify_one_lead_against_an_anchor(app: LeadLifecycle, tmp_path: Path) -> None:
    path = anchored(app, tmp_path)
    tamper, lead = Tamper(app), lead_of(app, 3)
    *_, last = tamper.events(lead.hex)
    tamper.delete_event(lead.hex, last[1])
    tamper.reseal(lead.hex)
    url = app.settings.database_url
    assert run_cli(url, "audit", "verify", "--lead", people(4)[0].email, "--anchor",
                   str(path))[0] == 0
    code, out = run_cli(url, "audit", "verify", "--lead", people(4)[3].email, "--anchor",
                        str(path))
    assert code == 1
    assert "anchor_truncated" in out


def test_parallel_verify_against_an_anchor_finds_the_same(
        app: LeadLifecycle, tmp_path: Path) -> None:
    path = anchored(app, tmp_path)
    tamper = Tamper(app)
    for n in (0, 2):
        lead = lead_of(app, n)
        tamper.delete_event(lead.hex, 2)
        tamper.reseal(lead.hex)
    single = against(app, path)
    assert len(single) == 2
    assert against(app, path, workers=3) == single


def test_anchor_file_is_keyed_and_checked(app: LeadLifecycle, tmp_path: Path) -> None:
    """An altered anchor, a wrong or missing key: exit status 2, nothing verified."""
    url, key = app.settings.database_url, "k" * 12 + "-secret-key"
    plain, keyed = anchored(app, tmp_path), anchored(app, tmp_path, key=key)
    assert json.loads(keyed.read_text())["root"]["algorithm"] == "hmac-sha256"
    assert run_cli(url, "audit", "verify", "--anchor", str(keyed),
                   LIFECYCLE_AUDIT_KEY=key)[0] == 0
    cases = {
        "wrong key": (keyed, "another key", "x" * 20),
        "no key": (keyed, "set LIFECYCLE_AUDIT_KEY", None),
        "key set, anchor unkeyed": (plain, "not keyed", key),
        "short key": (keyed, "at least", "short"),
    }
    for name, (path, message, given) in cases.items():
        code, out = run_cli(url, "audit", "verify", "--anchor", str(path),
                            **({"LIFECYCLE_AUDIT_KEY": given} if given else {}))
        assert (code, message in out) == (2, True), (name, out)
    # Edits of the file: a hash, a version, the log position, a line dropped, the root.
    text = keyed.read_text()
    data = json.loads(text)
    line = data["aggregates"][0]
    edits = {
        "hash": text.replace(line[3], "0" * 64),
        "version": text.replace(f'"{line[1]}", {line[2]},', f'"{line[1]}", {line[2] - 1},'),
        "log": text.replace(f'"max_notification_id": {data["store"]["max_notification_id"]}',
                            '"max_notification_id": 1'),
        "root": text.replace(data["root"]["value"], "f" * 64),
        "not json": text[:-20],
        "a line dropped": text.replace(json.dumps(line) + ",\n", ""),
    }
    for name, edited in edits.items():
        assert edited != text, name
        path = tmp_path / f"edited-{name.replace(' ', '-')}.json"
        path.write_text(edited)
        code, out = run_cli(url, "audit", "verify", "--anchor", str(path),
                            LIFECYCLE_AUDIT_KEY=key)
        assert code == 2, (name, out)
        assert "error:" in out
        with pytest.raises(AnchorInvalid):
            load(path, key)


def test_anchor_refuses_a_broken_store_and_an_existing_file(
        app: LeadLifecycle, tmp_path: Path) -> None:
    url = app.settings.database_url
    path = anchored(app, tmp_path)
    before = path.read_bytes()
    code, out = run_cli(url, "audit", "anchor", str(path))
    assert code == 2
    assert "never overwritten" in out
    assert path.read_bytes() == before
    raw, lead = RawEvents(app), lead_of(app, 1)
    raw.delete(lead, 2)
    code, out = run_cli(url, "audit", "anchor", str(tmp_path / "new.json"))
    assert code == 1
    assert "version_gap" in out
    assert not (tmp_path / "new.json").exists()


def test_anchor_to_stdout_is_the_same_document(app: LeadLifecycle, tmp_path: Path) -> None:
    code, out = run_cli(app.settings.database_url, "audit", "anchor", "-")
    assert code == 0
    data = json.loads(out[:out.rindex("}") + 1])
    assert data["format"] == "lifecycle-audit-anchor"
    assert data["store"]["aggregates"] == 8
    path = tmp_path / "stdout.json"
    path.write_text(out[:out.rindex("}") + 1])
    assert against(app, path) == {}
