"""What-if replays and the projection drift check, on real SQLite and PostgreSQL.

Replaying the history under the configuration it was recorded with reproduces the live
funnel exactly (erased lead and policy runs included); a stricter MQL rule shrinks it
and turns the sales hand-offs it removes into counted rejections; the live store is
only read. The drift check finds rows edited, deleted or added in the live projections.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from importlib import resources
from pathlib import Path

import pytest
from click.testing import CliRunner

from lifecycle.application import LeadLifecycle
from lifecycle.cli import _register, cli
from lifecycle.policies import run_policies
from lifecycle.projections import ProjectionStore, build_runner
from lifecycle.projections.drift import check_drift
from lifecycle.templates import load_templates
from lifecycle.whatif import funnel_figures, what_if
from tests.integration.audit_story import T0, RawEvents, open_app, people, story

pytestmark = pytest.mark.integration

PERSONS = people(6)


@pytest.fixture
def app(database_url: str) -> Iterator[LeadLifecycle]:
    app = open_app(database_url)
    app.record_batch(story(PERSONS))
    app.erase(app.find_lead(PERSONS[4].email), actor="dpo", cause="erasure:1")
    run_policies(app, at=T0 + timedelta(days=60))  # decay regrades, nurture steps
    yield app
    app.close()


def snapshot(app: LeadLifecycle) -> list[tuple[object, ...]]:
    raw = RawEvents(app)
    return raw.execute(f"SELECT originator_id, originator_version, topic, state FROM {raw.table}"
                       " ORDER BY originator_id, originator_version")


def strict_templates(tmp_path: Path) -> Path:
    """The built-in templates with an MQL rule nobody meets."""
    folder = tmp_path / "strict"
    folder.mkdir(parents=True)
    for entry in resources.files("lifecycle.templates").iterdir():
        if entry.name.endswith(".toml"):
            replace = {"min_behaviour": "min_behaviour = 100000",
                       "instant_kinds": "instant_kinds = []"}
            lines = [replace.get(line.partition(" ")[0], line)
                     for line in entry.read_text(encoding="utf-8").splitlines()]
            (folder / entry.name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def test_same_configuration_reproduces_the_live_funnel(app: LeadLifecycle) -> None:
    live = ProjectionStore(app.settings.database_url)
    try:
        build_runner(app, live).run()
        expected = funnel_figures(live)
    finally:
        live.close()
    before = snapshot(app)
    result = what_if(app)
    assert result["current"] == expected
    assert result["what_if"] == expected
    assert expected["mql"] == 6
    assert expected["sql"] == 6
    assert expected["won"] == 2
    assert result["replay"]["rejected"] == 0
    assert result["replay"]["erased_leads"] == 1
    assert result["replay"]["policy_runs"] >= 1
    assert result["replay"]["sales_actions"] == sum(
        1 for i in story(PERSONS) if hasattr(i, "action_id"))
    assert snapshot(app) == before


def test_stricter_mql_rule_shrinks_the_funnel(app: LeadLifecycle, tmp_path: Path) -> None:
    before = snapshot(app)
    templates = load_templates(strict_templates(tmp_path))
    result = what_if(app, templates=templates, workdir=tmp_path)
    assert result["current"]["mql"] == 6
    assert result["what_if"]["mql"] == 0
    assert result["what_if"]["won"] == 0
    replay = result["replay"]
    # No lead is an MQL: every accept, and every advance, win and loss after it, is now
    # illegal; only the notes stay legal.
    assert replay["rejected_by_reason"] == {"accept: illegal_transition": 6,
                                            "advance: illegal_transition": 2,
                                            "win: illegal_transition": 2,
                                            "lose: illegal_transition": 2}
    assert replay["rejected"] == replay["sales_actions"] - len(PERSONS)
    assert snapshot(app) == before

    _register()
    folder = strict_templates(tmp_path / "cli")
    out = CliRunner().invoke(cli, ["whatif", "--templates", str(folder), "--json"],
                             env={"LIFECYCLE_DATABASE_URL": app.settings.database_url})
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["current"]["mql"] == 6
    assert data["what_if"]["mql"] == 0


def test_drift_check_finds_edited_projection_rows(app: LeadLifecycle) -> None:
    url = app.settings.database_url
    live = ProjectionStore(url)
    try:
        build_runner(app, live).run()
        clean = check_drift(app, live)
        assert clean["ok"]
        assert clean["differences"] == 0
        assert {t["table"] for t in clean["tables"]} >= {"lc_leads", "lc_transitions"}
        lead = app.find_lead(PERSONS[0].email)
        with live.transaction() as cur:
            cur.execute(live.sql("UPDATE lc_transitions SET to_stage = 'won' "
                                 "WHERE lead_id = ? AND to_stage = 'sql'"), (str(lead),))
            cur.execute(live.sql("DELETE FROM lc_leads WHERE lead_id = ?"), (str(lead),))
            cur.execute(live.sql("INSERT INTO lc_losses (lead_id, version, occurred_at, month, "
                                 "kind, stage, reason) VALUES (?, 99, 0, '2024-03', 'lost', "
                                 "'sql', 'no_budget')"), (str(lead),))
        drift = check_drift(app, live)
    finally:
        live.close()
    tables = {t["table"]: t for t in drift["tables"]}
    assert not drift["ok"]
    assert drift["differences"] == 3
    assert tables["lc_transitions"]["changed"] == 1
    changed = tables["lc_transitions"]["examples"][0]
    assert changed["columns"] == {"to_stage": {"live": "won", "rebuilt": "sql"}}
    assert tables["lc_leads"]["missing"] == 1
    assert tables["lc_losses"]["unexpected"] == 1

    _register()
    result = CliRunner().invoke(cli, ["audit", "projections", "--json"],
                                env={"LIFECYCLE_DATABASE_URL": url})
    assert result.exit_code == 1
    assert json.loads(result.output)["differences"] == 3
