"""Lists a salesperson acts on, on SQLite and PostgreSQL: each alert and cooling lead
says who it is (name and company, read from the lead; "(erased)" once erased), who owns
it, its stage, grade and age, most urgent first; and every lead exports as a row that
agrees with ``lifecycle lead show``."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lifecycle.application import LeadLifecycle, Outcome
from lifecycle.contracts import SalesAction, Touchpoint
from lifecycle.exporting import COLUMNS
from lifecycle.people import leads_with_events, people_reader
from lifecycle.projections import ProjectionStore, build_runner
from lifecycle.reports import build_report
from lifecycle.scoring import ScoringConfig
from lifecycle.settings import Settings
from lifecycle.templates import TemplateRegistry
from tests.support import ICP, T0, action, touchpoint

pytestmark = pytest.mark.integration

REPO = Path(__file__).parents[2]
NOW = datetime(2024, 6, 1, tzinfo=UTC)

ANN, BO, CY, DEE = "ann@acme.com", "bo@beta.com", "cy@gamma.com", "dee@delta.com"
PEOPLE = {ANN: ("Ann Archer", "Acme Ltd"), BO: ("Bo Berg", "Beta AB"),
          CY: ("Cy Cole", "Gamma GmbH"), DEE: ("Dee Diaz", 'Delta, "Quoted" & Sons')}


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def profile(email: str) -> dict[str, Any]:
    name, company = PEOPLE[email]
    return {**ICP, "name": name, "company": company}


def story() -> list[Touchpoint | SalesAction]:
    """Ann: accepted by Zoe, quoted on day 3, no reply. Bo and Cy: Hot MQLs nobody
    called (Cy is erased later). Dee: a cold lead with a hostile property."""
    return [
        touchpoint("a-1", "demo_requested", email=ANN, profile=profile(ANN), at=day(0)),
        action("a-2", "accept", email=ANN, at=day(1), actor="sales:zoe"),
        action("a-3", "advance", email=ANN, at=day(2)),
        touchpoint("a-4", "quote_sent", email=ANN, at=day(3)),
        touchpoint("b-1", "demo_requested", email=BO, profile=profile(BO), at=day(0.5)),
        touchpoint("c-1", "demo_requested", email=CY, profile=profile(CY), at=day(0.5)),
        touchpoint("d-1", "page_view", email=DEE, profile={"name": PEOPLE[DEE][0],
                   "company": PEOPLE[DEE][1]}, at=day(1),
                   properties={"segment": 'SMB, "EU"\nnorth', "visits": 3}),
        touchpoint("d-2", "page_view", email=DEE, at=day(2),
                   properties={"segment": "later value", "plan": "pro"}),
    ]


@pytest.fixture
def app(database_url: str, templates: TemplateRegistry,
        scoring: ScoringConfig) -> Iterator[LeadLifecycle]:
    app = LeadLifecycle(Settings(database_url=database_url), templates=templates,
                        scoring=scoring, clock=lambda: NOW)
    items = story()
    results = app.record_batch(items)
    assert [r.outcome for r in results] == [Outcome.ACCEPTED] * len(items), results
    app.erase(app.find_lead(CY), actor="privacy:officer", cause="request-1")
    store = ProjectionStore(database_url)
    try:
        build_runner(app, store).run()
    finally:
        store.close()
    try:
        yield app
    finally:
        app.close()


def report(app: LeadLifecycle, name: str, at: datetime) -> dict[str, Any]:
    store = ProjectionStore(app.settings.database_url)
    try:
        return build_report(name, store, app.templates, app.scoring, at=at,
                            people=people_reader(app))
    finally:
        store.close()


def test_alerts_name_each_lead_its_owner_stage_grade_and_age_most_urgent_first(
    app: LeadLifecycle,
) -> None:
    at = day(12)
    data = report(app, "alerts", at)
    ids = {email: str(app.find_lead(email, erased_ok=True)) for email in PEOPLE}

    rows = [(a["rule"], a["lead_id"]) for a in data["alerts"]]
    hot = sorted([ids[BO], ids[CY]])  # opened at the same moment: by lead id
    assert rows == [("hot_not_contacted", hot[0]), ("hot_not_contacted", hot[1]),
                    ("quote_no_reply", ids[ANN])]
    by_id = {a["lead_id"]: a for a in data["alerts"]}
    ann, bo, cy = by_id[ids[ANN]], by_id[ids[BO]], by_id[ids[CY]]
    assert (ann["name"], ann["company"], ann["owner"], ann["stage"], ann["grade"]) == (
        "Ann Archer", "Acme Ltd", "sales:zoe", "discovery", "hot")
    assert ann["in_stage_days"] == 10.0  # in discovery since day 2
    assert ann["open_hours"] == (12 - 10) * 24.0  # a week without reply after day 3
    assert (bo["name"], bo["company"], bo["owner"], bo["stage"], bo["grade"]) == (
        "Bo Berg", "Beta AB", None, "mql", "hot")
    assert bo["in_stage_days"] == 11.5
    assert (cy["name"], cy["company"]) == ("(erased)", "(erased)")
    assert data["by_rule"] == {"hot_not_contacted": 2, "quote_no_reply": 1}
    assert data["order"].startswith("most urgent rule first")


def test_cooling_leads_are_named_and_owned(app: LeadLifecycle) -> None:
    data = report(app, "cooling", day(60))
    ids = {str(app.find_lead(email, erased_ok=True)): email for email in PEOPLE}

    listed = data["leads"] + data["idle"]
    assert listed, data
    for row in listed:
        email = ids[row["lead_id"]]
        expected = ("(erased)", "(erased)") if email == CY else PEOPLE[email]
        assert (row["name"], row["company"]) == expected
        assert row["owner"] == ("sales:zoe" if email == ANN else None)
        assert row["in_stage_days"] is not None
    totals = [(row["grade"] != "hot", row["total_now"]) for row in data["leads"]]
    assert totals == sorted(totals)  # Hot first, lowest score first


# -- export ----------------------------------------------------------------------------------


def test_leads_are_read_from_the_store_a_batch_at_a_time(
    app: LeadLifecycle, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What streams an export: the next batch is read only when the previous one is used."""
    reads: list[int] = []
    events_of = app.event_recorder.events_of

    def counted(ids: Any) -> Any:
        reads.append(len(ids))
        return events_of(ids)

    monkeypatch.setattr(app.event_recorder, "events_of", counted)
    ids = [app.find_lead(email, erased_ok=True) for email in PEOPLE]
    leads = leads_with_events(app, iter(ids), batch=3)
    assert reads == []
    first, _ = next(leads)
    assert reads == [3]
    assert first.id == ids[0]
    assert [lead.id for lead, _ in leads] == ids[1:]
    assert reads == [3, 1]


def cli(app: LeadLifecycle, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LIFECYCLE_")}
    environment.update({"LIFECYCLE_DATABASE_URL": app.settings.database_url,
                        "PYTHONPATH": str(REPO), "COLUMNS": "250"})
    return subprocess.run([sys.executable, "-m", "lifecycle", *args], env=environment,
                          capture_output=True, text=True, timeout=120, check=False)


def test_an_export_agrees_with_lead_show_in_jsonl_and_csv(app: LeadLifecycle,
                                                          tmp_path: Path) -> None:
    at = day(20).isoformat()
    jsonl = cli(app, "leads", "export", "--at", at)
    assert jsonl.returncode == 0, jsonl.stderr
    assert "exported 4 leads" in jsonl.stderr
    rows = [json.loads(line) for line in jsonl.stdout.splitlines()]
    assert [list(row) for row in rows] == [list(COLUMNS)] * 4

    target = tmp_path / "leads.csv"
    written = cli(app, "leads", "export", "--format", "csv", "--at", at, "--output",
                  str(target))
    assert written.returncode == 0, written.stderr
    with target.open(newline="", encoding="utf-8") as f:
        table = list(csv.DictReader(f))
    assert [row["lead_id"] for row in table] == [row["lead_id"] for row in rows]

    for email in (ANN, BO, DEE):
        shown = cli(app, "lead", "show", email, "--at", at, "--json")
        assert shown.returncode == 0, shown.stderr
        lead = json.loads(shown.stdout)
        row = next(r for r in rows if r["lead_id"] == lead["lead_id"])
        cells = next(r for r in table if r["lead_id"] == lead["lead_id"])
        scores = lead["scores"]
        expected = {
            "key": lead["keys"][0], "keys": lead["keys"], "name": PEOPLE[email][0],
            "company": PEOPLE[email][1], "template": lead["template"], "stage": lead["stage"],
            "grade": lead["grade"], "grade_now": scores["grade_now"],
            "fit": scores["fit"]["score"], "behaviour": scores["behaviour"]["score"],
            "total": scores["total"], "last_touch": lead["last_touch_at"],
            "captured_at": lead["captured_at"], "channel": lead["first_channel"],
            "contactable": True, "owner": "sales:zoe" if email == ANN else None,
        }
        assert {k: row[k] for k in expected} == expected
        # The CSV holds the same values as text: numbers as written, lists and objects
        # as JSON, yes/no as true/false, none as an empty cell.
        for name, value in row.items():
            if isinstance(value, bool):
                assert cells[name] == str(value).lower()
            elif isinstance(value, list | dict):
                assert json.loads(cells[name]) == value
            elif isinstance(value, float):
                assert float(cells[name]) == value
            else:
                assert cells[name] == ("" if value is None else str(value)), name

    dee = next(r for r in rows if r["name"] == PEOPLE[DEE][0])
    # The earliest value of each property; a comma, quotes and a line break survive CSV.
    assert dee["properties"] == {"segment": 'SMB, "EU"\nnorth', "visits": 3, "plan": "pro"}
    assert json.loads(next(r for r in table if r["lead_id"] == dee["lead_id"])[
        "properties"])["segment"] == 'SMB, "EU"\nnorth'
    erased = next(r for r in rows if r["lead_id"] == str(app.find_lead(CY, erased_ok=True)))
    assert (erased["name"], erased["company"], erased["key"], erased["contactable"]) == (
        "(erased)", "(erased)", "email:(erased)", False)


def test_an_export_keeps_the_leads_that_satisfy_where(app: LeadLifecycle) -> None:
    def names(where: str) -> list[str]:
        result = cli(app, "leads", "export", "--where", where, "--at", day(20).isoformat())
        assert result.returncode == 0, result.stderr
        return sorted(json.loads(line)["name"] for line in result.stdout.splitlines())

    assert names("stage=mql") == ["(erased)", "Bo Berg"]
    assert names("stage=mql,name!=(erased)") == ["Bo Berg"]
    assert names("owner=sales:zoe") == ["Ann Archer"]
    assert names('property:segment="SMB, \\"EU\\"\nnorth"') == ["Dee Diaz"]
    assert names("property:segment~smb") == ["Dee Diaz"]
    assert names("company~delta,contactable=true,total<1000") == ["Dee Diaz"]
    assert names(f"captured_at>={day(0.5).isoformat()},grade!=cold") == [
        "(erased)", "Bo Berg"]


@pytest.mark.parametrize("where", ["stage", "colour=red", "total>=many", 'name="Ann',
                                   "stage=mql,", "captured_at>yesterday"])
def test_a_bad_where_is_a_usage_error_that_names_the_problem(app: LeadLifecycle,
                                                            where: str) -> None:
    result = cli(app, "leads", "export", "--where", where)
    assert result.returncode == 2, result.stderr
    assert "--where" in result.stderr
    assert result.stdout == ""


def test_the_csv_header_is_the_documented_column_order(app: LeadLifecycle) -> None:
    result = cli(app, "leads", "export", "--format", "csv", "--where", "stage=won")
    assert result.returncode == 0, result.stderr
    assert list(csv.reader(io.StringIO(result.stdout))) == [list(COLUMNS)]
