"""A lead's history and its state at past moments, on real SQLite and PostgreSQL.

The story is recorded in three batches at known recorded times, one of them carrying a
touchpoint that arrived late (it happened between two earlier ones), so business time
and recorded time tell different things.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from click.testing import CliRunner

from lifecycle.application import LeadLifecycle
from lifecycle.audit import as_of, history
from lifecycle.cli import _register, cli
from lifecycle.errors import LeadNotFound
from tests.integration.audit_story import ICP, T0, Clock, act, open_app, touch

pytestmark = pytest.mark.integration

EMAIL = "ada@analytical.example.com"
R1 = datetime(2024, 3, 10, 10, 0, tzinfo=UTC)
R2 = R1 + timedelta(days=1)
R3 = R1 + timedelta(days=2)
H = timedelta(hours=1)


@pytest.fixture
def app(database_url: str) -> Iterator[LeadLifecycle]:
    clock = Clock(R1)
    app = open_app(database_url, clock)
    app.record_batch([touch("c", "form_submit", T0, EMAIL, profile={**ICP, "name": "Ada"}),
                      touch("d", "demo_requested", T0 + H, EMAIL)])
    clock.now = R2
    app.record_batch([touch("late", "content_download", T0 + H / 2, EMAIL),
                      act("acc", "accept", T0 + 2 * H, EMAIL)])
    clock.now = R3
    app.record_batch([act("lose", "lose", T0 + 72 * H, EMAIL, reason="no_budget",
                          text="budget frozen")])
    yield app
    app.close()


def lead_id(app: LeadLifecycle) -> UUID:
    return app.find_lead(EMAIL)


def test_history_lists_every_event_with_cause_and_change(app: LeadLifecycle) -> None:
    data = history(app, lead_id(app))
    rows = data["history"]
    assert [r["version"] for r in rows] == list(range(1, len(rows) + 1))
    assert data["events"] == len(rows) == len(app.lead_events(lead_id(app)))
    first = rows[0]
    assert first["event"] == "Captured"
    assert first["occurred_at"] == T0.isoformat()
    assert first["recorded_at"] == R1.isoformat()
    assert first["cause"] == {"source": "website", "actor": "website", "type": "touchpoint",
                              "id": "c"}
    graded = next(r for r in rows if r["event"] == "Graded")
    assert graded["change"]["grade"] == [None, "warm"]
    assert graded["change"]["total"][0] == 0.0
    assert graded["change"]["total"][1] > 0
    mql = next(r for r in rows if r["event"] == "MarketingQualified")
    assert mql["change"]["stage"] == ["nurturing", "mql"]
    assert mql["cause"]["id"] == "d"
    late = next(r for r in rows if r["cause"]["id"] == "late")
    assert late["occurred_at"] == (T0 + H / 2).isoformat()
    assert late["recorded_at"] == R2.isoformat()
    accepted = next(r for r in rows if r["event"] == "SalesAccepted")
    assert accepted["cause"] == {"source": "sales", "actor": "sales:bob", "type": "action",
                                 "id": "acc"}
    assert accepted["change"] == {"stage": ["mql", "sql"]}
    lost = rows[-1]
    assert lost["event"] == "Lost"
    assert lost["change"]["stage"] == ["sql", "lost"]
    assert lost["detail"]["reason"] == "no_budget"
    assert lost["detail"]["text"] == "budget frozen"


def test_as_of_recorded_time_is_what_the_engine_knew(app: LeadLifecycle) -> None:
    lid = lead_id(app)
    seen = as_of(app, lid, R1 + H)["recorded"]
    first_batch = sum(1 for e in app.lead_events(lid) if e.timestamp == R1)
    stored = app.get_lead(lid, version=first_batch)
    assert seen["exists"]
    assert seen["events"] == first_batch == seen["version"]
    assert (seen["stage"], seen["grade"], seen["total_score"]) == (
        stored.stage, stored.grade, round(stored.total_score, 4))
    assert seen["stage"] == "mql"
    assert seen["profile"]["name"] == "Ada"
    assert as_of(app, lid, R1 - H)["recorded"] == {
        "basis": "recorded", "at": (R1 - H).isoformat(), "exists": False, "events": 0}
    assert as_of(app, lid, R3)["recorded"]["stage"] == "lost"


def test_as_of_business_time_includes_what_arrived_late(app: LeadLifecycle) -> None:
    lid = lead_id(app)
    at = T0 + 45 * timedelta(minutes=1)  # after the late touch happened, before the demo
    view = as_of(app, lid, at)
    business, recorded = view["business"], view["recorded"]
    assert not recorded["exists"]  # nothing was recorded in March 4th's morning
    assert business["exists"]
    assert business["stage"] == "nurturing"
    # form_submit (10) decayed 45 min + content_download (8) decayed 15 min.
    assert 17.9 < business["behaviour"] < 18.0
    later = as_of(app, lid, T0 + 2.5 * H)["business"]
    assert later["stage"] == "sql"  # accepted at T0+2h (recorded a day later)
    assert as_of(app, lid, T0 + 2.5 * H)["recorded"]["exists"] is False
    assert as_of(app, lid, T0 - H)["business"]["exists"] is False
    assert as_of(app, lid, T0 + 100 * H)["business"]["stage"] == "lost"


def test_cli_history_and_as_of(app: LeadLifecycle) -> None:
    _register()
    env = {"LIFECYCLE_DATABASE_URL": app.settings.database_url, "COLUMNS": "200"}
    runner = CliRunner()
    result = runner.invoke(cli, ["audit", "history", EMAIL, "--json"], env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == history(app, lead_id(app))
    result = runner.invoke(cli, ["audit", "history", EMAIL], env=env)
    assert result.exit_code == 0
    assert "MarketingQualified" in result.output
    result = runner.invoke(cli, ["audit", "as-of", EMAIL, (R1 + H).isoformat(), "--json"],
                           env=env)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["recorded"]["stage"] == "mql"
    assert data["business"]["stage"] == "lost"
    result = runner.invoke(cli, ["audit", "as-of", EMAIL, "2024-03-04"], env=env)
    assert result.exit_code == 0
    assert "business time" in result.output
    with pytest.raises(LeadNotFound):
        history(app, UUID(int=7))
