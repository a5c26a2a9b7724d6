"""``audit projections`` on real SQLite and PostgreSQL: a projection behind the event
store — never run, stuck at position 0 (the NUL finding left PostgreSQL projections
there), lagging, or set back — is drift, never "no drift"; so are empty projections
while the store has events, in either mode."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from lifecycle.application import LeadLifecycle
from lifecycle.cli import _register, cli
from lifecycle.projections import ProjectionStore, all_projections, build_runner
from lifecycle.projections.drift import check_drift
from lifecycle.settings import Settings
from tests.integration.audit_story import open_app, people, story

pytestmark = pytest.mark.integration

NAMES = {p.name for p in all_projections(14.0)}


@pytest.fixture
def app(database_url: str) -> Iterator[LeadLifecycle]:
    app = open_app(database_url)
    app.record_batch(story(people(4)))
    yield app
    app.close()


def run_projections(app: LeadLifecycle) -> None:
    runner = build_runner(app)
    try:
        runner.run()
    finally:
        runner.store.close()


def drift_cli(url: str, *args: str) -> tuple[int, str]:
    _register()
    result = CliRunner().invoke(cli, ["audit", "projections", *args],
                                env={"LIFECYCLE_DATABASE_URL": url})
    return result.exit_code, result.output


def test_projections_never_run_are_behind(app: LeadLifecycle) -> None:
    """The finding: events stored, projections at position 0 with empty tables."""
    head = app.recorder.max_notification_id()
    assert head
    data = check_drift(app)
    assert not data["ok"]
    assert data["head"] == head
    assert {b["name"] for b in data["behind"]} == NAMES
    assert {(b["position"], b["lag"]) for b in data["behind"]} == {(0, head)}
    code, out = drift_cli(app.settings.database_url)
    assert code == 1
    assert "no drift" not in out
    assert "behind the event store" in out
    code, out = drift_cli(app.settings.database_url, "--json")
    assert code == 1
    assert json.loads(out)["ok"] is False


def test_caught_up_projections_have_no_drift(app: LeadLifecycle) -> None:
    run_projections(app)
    data = check_drift(app)
    assert data["ok"], data["behind"]
    assert data["behind"] == []
    code, out = drift_cli(app.settings.database_url)
    assert code == 0, out
    assert "no drift" in out


def test_events_the_projector_has_not_applied_are_drift(app: LeadLifecycle) -> None:
    run_projections(app)
    before = app.recorder.max_notification_id() or 0
    app.record_batch(story(people(6))[-12:])  # later events, projections not advanced
    head = app.recorder.max_notification_id() or 0
    assert head > before
    data = check_drift(app)
    assert not data["ok"]
    assert {(b["name"], b["position"], b["lag"]) for b in data["behind"]} == {
        (name, before, head - before) for name in NAMES}
    # A lag the auditor allows is not reported; one beyond it is.
    assert check_drift(app, max_lag=head - before)["ok"]
    assert not check_drift(app, max_lag=head - before - 1)["ok"]
    url = app.settings.database_url
    assert drift_cli(url, "--max-lag", str(head - before))[0] == 0
    assert drift_cli(url, "--max-lag", str(head - before - 1))[0] == 1


@pytest.mark.parametrize("position", [0, 5])
def test_a_position_set_back_is_drift(app: LeadLifecycle, position: int) -> None:
    run_projections(app)
    store = ProjectionStore(app.settings.database_url)
    name = sorted(NAMES)[0]
    try:
        with store.transaction() as cur:
            cur.execute(store.sql("UPDATE lc_projection_positions SET position = ? "
                                  "WHERE name = ?"), (position, name))
        data = check_drift(app, store)
    finally:
        store.close()
    assert not data["ok"]
    assert [b["name"] for b in data["behind"]] == [name]
    assert data["behind"][0]["position"] == position


def test_empty_projections_in_distributed_mode_are_drift(app: LeadLifecycle) -> None:
    """Projectors track Kafka offsets there: the rows are compared with the whole store."""
    url = app.settings.database_url
    distributed = LeadLifecycle(Settings(database_url=url, mode="distributed"))
    try:
        data = check_drift(distributed)
        assert not data["ok"]
        assert data["differences"] > 0
        assert sum(t["missing"] for t in data["tables"]) == data["differences"]
        run_projections(app)
        assert check_drift(distributed)["ok"]
    finally:
        distributed.close()
