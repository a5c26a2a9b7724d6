"""``lifecycle import`` end to end: a generated CSV through a mapping gives the same
reports as the equivalent JSONL ingested, its dry run counts what the real import
records, a second import records nothing new, and a dry run writes nothing.

The CSV and the JSONL are both written here from one generated history, independently:
the JSONL by hand, as a backend system would publish it (with ids of its own), the CSV as
a CRM would export it (local times in Europe/Berlin, "1,200" head counts, loss reasons in
words). Each is recorded by the real command into its own database, on SQLite and on
PostgreSQL, and ``report funnel`` and ``report losses`` must print the same JSON.
"""

from __future__ import annotations

import csv
import io
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.cli.test_cli import run
from tests.harness.postgres import fresh_database
from tests.unit.test_import_presets import HUBSPOT

pytestmark = pytest.mark.integration

BERLIN = ZoneInfo("Europe/Berlin")
AT = "2025-01-01T00:00:00+00:00"
REASONS = {"Too expensive": "no_budget", "Chose a competitor": "competitor_won",
           "No answer": "no_response", "Bad timing": "decision_postponed"}

MAPPING = """\
[import]
name = "crm"
source = "crm"
actor = { column = "Owner", value = "import" }

[key]
external_id = "Lead ID"
email = "E-mail"

[time]
formats = ["%d.%m.%Y %H:%M", "iso"]
timezone = "Europe/Berlin"

[capture]
date = "Created"
kind = { value = "form_submit" }
channel = { column = "Source", value = "other" }

[profile]
name = "Name"
company = "Company"
employees = "Employees"
country = "Country"

[properties]
Segment = "segment"
"Seconds on site" = "seconds_on_site"

[mql]
date = "MQL date"

[sql]
date = "SQL date"

[won]
date = "Won date"
amount = "Amount"
currency = { value = "EUR" }

[lost]
date = "Lost date"
reason = "Lost reason"
competitor = "Competitor"

[lost.reasons]
"Too expensive" = "no_budget"
"Chose a competitor" = "competitor_won"
"No answer" = "no_response"
"Bad timing" = "decision_postponed"
"""

HEADER = ["Lead ID", "E-mail", "Name", "Company", "Employees", "Country", "Source",
          "Segment", "Seconds on site", "Owner", "Created", "MQL date", "SQL date",
          "Won date", "Amount", "Lost date", "Lost reason", "Competitor"]


@dataclass
class History:
    """One generated lead: what the CSV row and the JSONL inputs both say."""

    n: int
    external_id: str | None
    email: str | None
    name: str
    company: str
    employees: int
    country: str
    source: str
    segment: str
    seconds: int
    owner: str
    created: datetime
    mql: datetime | None = None
    sql: datetime | None = None
    won: datetime | None = None
    amount: float | None = None
    lost: datetime | None = None
    reason: str | None = None
    competitor: str | None = None
    inputs: list[dict[str, Any]] = field(default_factory=list)


def generate(count: int, seed: int = 11) -> list[History]:
    rng = random.Random(seed)
    start = datetime(2024, 1, 8, 9, 0, tzinfo=BERLIN)
    leads = []
    for n in range(count):
        keys = rng.choice(["both", "both", "id", "email"])
        h = History(
            n=n, external_id=None if keys == "email" else f"L-{n:04d}",
            email=None if keys == "id" else f"person{n}@firm{n % 37}.example",
            name=f"Person {n}", company=f"Firm {n % 37}", employees=rng.choice([12, 80, 1200]),
            country=rng.choice(["DE", "FR", "US"]),
            source=rng.choice(["Organic Search", "Paid Search", "Referral", "Events"]),
            segment=rng.choice(["smb", "mid", "enterprise"]), seconds=rng.randrange(0, 900),
            owner=rng.choice(["Anna", "Ben", "Chloé"]),
            created=start + timedelta(hours=rng.randrange(0, 24 * 300)))
        day = timedelta(days=1)
        if rng.random() < 0.6:
            h.mql = h.created + rng.randrange(1, 20) * day
        if rng.random() < (0.6 if h.mql else 0.15):  # some accepted without an MQL date
            h.sql = (h.mql or h.created) + rng.randrange(1, 20) * day
        if h.sql and rng.random() < 0.4:
            h.won = h.sql + rng.randrange(5, 60) * day
            h.amount = float(rng.randrange(5, 200) * 1000)
        elif h.sql and rng.random() < 0.5:
            h.lost = h.sql + rng.randrange(5, 60) * day
            h.reason = rng.choice(list(REASONS))
            if REASONS[h.reason] == "competitor_won":
                h.competitor = rng.choice(["Acme", "Globex"])
        leads.append(h)
    return leads


def csv_text(leads: list[History]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(HEADER)

    def local(moment: datetime | None) -> str:
        return "" if moment is None else moment.astimezone(BERLIN).strftime("%d.%m.%Y %H:%M")

    for h in leads:
        writer.writerow([
            h.external_id or "", h.email or "", h.name, h.company, f"{h.employees:,}",
            h.country, h.source, h.segment, h.seconds, h.owner, local(h.created),
            local(h.mql), local(h.sql), local(h.won),
            "" if h.amount is None else f"{h.amount:,.2f}", local(h.lost), h.reason or "",
            h.competitor or ""])
    return out.getvalue()


def jsonl_text(leads: list[History]) -> str:
    """The same history as a backend system would publish it, written by hand."""
    lines: list[dict[str, Any]] = []
    for h in leads:
        keys = {k: v for k, v in (("external_id", h.external_id), ("email", h.email)) if v}
        acts: dict[str, Any] = {"actor": h.owner, **keys}
        lines.append({
            "touchpoint_id": f"tp-{h.n}", "source": "crm", "channel": h.source,
            "kind": "form_submit", "occurred_at": h.created.isoformat(), **keys,
            "profile": {"name": h.name, "company": h.company, "employees": h.employees,
                        "country": h.country},
            "properties": {"segment": h.segment, "seconds_on_site": h.seconds}})
        if h.mql:
            lines.append({"action_id": f"q-{h.n}", "action": "qualify", "rule": "import",
                          "occurred_at": h.mql.isoformat(), **acts})
        accepted = h.sql or h.won
        if accepted:
            accept = {"action_id": f"a-{h.n}", "action": "accept",
                      "occurred_at": accepted.isoformat(), **acts}
            if not h.mql:
                accept["skip_reason"] = "no MQL date"
            lines.append(accept)
        if h.won:
            lines.append({"action_id": f"w-{h.n}", "action": "win", "skip_reason": "import",
                          "occurred_at": h.won.isoformat(), "amount": h.amount,
                          "currency": "EUR", **acts})
        if h.lost:
            reason = REASONS[h.reason or ""]
            lines.append({"action_id": f"l-{h.n}", "action": "lose", "reason": reason,
                          "occurred_at": h.lost.isoformat(), **acts,
                          **({"competitor": h.competitor} if h.competitor else {})})
    return "".join(json.dumps(line) + "\n" for line in lines)


def reports(cwd: Path, env: dict[str, str]) -> dict[str, Any]:
    out = {}
    for name in ("funnel", "losses"):
        result = run(["report", name, "--json", "--at", AT], cwd=cwd, env=env)
        assert result.returncode == 0, result.stderr
        out[name] = json.loads(result.stdout)
    return out


def summary(args: list[str], cwd: Path, env: dict[str, str]) -> dict[str, Any]:
    result = run([*args, "--json"], cwd=cwd, env=env)
    assert result.returncode in (0, 1), result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    if "received" in data:  # not in a dry run
        assert data["accepted"] + data["duplicate"] + data["rejected"] == data["received"]
    return data


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def two_databases(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Two empty databases of one backend: one for the CSV, one for the JSONL."""
    if request.param == "sqlite":
        yield (f"sqlite:///{tmp_path / 'csv.db'}", f"sqlite:///{tmp_path / 'jsonl.db'}")
        return
    base: str = request.getfixturevalue("postgres_url")
    with fresh_database(base) as first, fresh_database(base) as second:
        yield first, second


def test_a_csv_through_a_mapping_reports_as_the_equivalent_jsonl(
    tmp_path: Path, two_databases: tuple[str, str]
) -> None:
    leads = generate(300)
    assert sum(1 for h in leads if h.won) > 20
    assert sum(1 for h in leads if h.lost) > 20
    (tmp_path / "leads.csv").write_text(csv_text(leads), encoding="utf-8")
    (tmp_path / "leads.jsonl").write_text(jsonl_text(leads), encoding="utf-8")
    (tmp_path / "map.toml").write_text(MAPPING, encoding="utf-8")
    csv_env = {"LIFECYCLE_DATABASE_URL": two_databases[0]}
    jsonl_env = {"LIFECYCLE_DATABASE_URL": two_databases[1]}
    imported = ["import", "leads.csv", "--mapping", "map.toml"]

    dry = summary([*imported, "--dry-run"], tmp_path, csv_env)
    real = summary(imported, tmp_path, csv_env)
    ingested = summary(["ingest", "leads.jsonl"], tmp_path, jsonl_env)

    assert dry["rows"] == real["rows"] == 300
    assert dry["rows_rejected"] == 0
    assert dry["inputs"] == real["received"] == ingested["received"]
    assert (dry["touchpoints"], dry["actions"]) == (real["touchpoints"], real["actions"])
    assert real["accepted"] == ingested["accepted"]
    assert reports(tmp_path, csv_env) == reports(tmp_path, jsonl_env)
    # Every input recorded: qualify (MQL dates) and id-only leads taken as leads.
    assert real["accepted"] == dry["inputs"], (real, ingested)

    again = summary(imported, tmp_path, csv_env)
    assert (again["accepted"], again["duplicate"]) == (0, dry["inputs"])
    assert reports(tmp_path, csv_env) == reports(tmp_path, jsonl_env)


def test_a_dry_run_opens_no_database_and_lists_every_rejected_row(tmp_path: Path) -> None:
    leads = generate(40, seed=3)
    text = csv_text(leads).splitlines(keepends=True)
    text[5] = text[5].replace(";Person 4;", ";Person 4;").replace("2024", "20x4", 1)
    text[9] = ";;" + text[9].split(";", 2)[2]  # no key
    (tmp_path / "leads.csv").write_text("".join(text), encoding="utf-8")
    (tmp_path / "map.toml").write_text(MAPPING, encoding="utf-8")
    result = run(["import", "leads.csv", "--mapping", "map.toml", "--dry-run", "--json"],
                 cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    data = json.loads(result.stdout)
    assert [(r["row"], r["code"]) for r in data["rejects"]] == [(6, "mapping"), (10, "mapping")]
    assert "column 'Created'" in data["rejects"][0]["reason"]
    assert data["rejects"][1]["reason"].startswith("no lead key")
    assert data["examples"][0]["row"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["leads.csv", "map.toml"]

    shown = run(["import", "leads.csv", "--mapping", "map.toml", "--dry-run"], cwd=tmp_path)
    assert "rows that would be rejected (2)" in shown.stdout
    assert "no lead key" in shown.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["leads.csv", "map.toml"]


def test_rejects_name_the_csv_row_and_the_accounting_balances(tmp_path: Path) -> None:
    leads = generate(30, seed=5)
    lines = csv_text(leads).splitlines(keepends=True)
    lines[3] = lines[3].replace("Person 2", "Person\x1b2")  # a control character: schema
    (tmp_path / "leads.csv").write_text("".join(lines), encoding="utf-8")
    (tmp_path / "map.toml").write_text(MAPPING, encoding="utf-8")
    data = summary(["import", "leads.csv", "--mapping", "map.toml", "--rejects", "out.jsonl"],
                   tmp_path, {})
    rejects = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert rejects[0]["line"] == 4
    assert rejects[0]["code"] == "schema"
    assert "profile.name (column 'Name')" in rejects[0]["reason"]
    assert data["rows_rejected"] == 1
    assert data["rejected"] >= 1


def test_a_mapping_error_names_the_file_and_the_key(tmp_path: Path) -> None:
    (tmp_path / "leads.csv").write_text("Lead ID\n1\n", encoding="utf-8")
    (tmp_path / "map.toml").write_text(MAPPING.replace('timezone = "Europe/Berlin"',
                                                       'timezone = "Mars/Olympus"'))
    result = run(["import", "leads.csv", "--mapping", "map.toml"], cwd=tmp_path)
    assert result.returncode == 2
    assert "map.toml" in result.stderr
    assert "time.timezone" in result.stderr
    assert "Mars/Olympus" in result.stderr


def test_a_later_export_adds_what_is_new_and_rejects_rewritten_facts(tmp_path: Path) -> None:
    leads = generate(20, seed=8)
    (tmp_path / "map.toml").write_text(MAPPING, encoding="utf-8")
    (tmp_path / "leads.csv").write_text(csv_text(leads), encoding="utf-8")
    first = summary(["import", "leads.csv", "--mapping", "map.toml"], tmp_path, {})
    leads[0].company = "Renamed GmbH"
    leads.append(generate(21, seed=9)[20])
    (tmp_path / "leads.csv").write_text(csv_text(leads), encoding="utf-8")
    second = summary(["import", "leads.csv", "--mapping", "map.toml", "--rejects", "r.jsonl"],
                     tmp_path, {})
    assert second["received"] == first["received"] + len(jsonl_text(leads[20:]).splitlines())
    rejects = [json.loads(x) for x in (tmp_path / "r.jsonl").read_text().splitlines()]
    conflicts = [r for r in rejects if r["code"] == "id_conflict"]
    assert [(r["line"], r["input_id"].rsplit(":", 1)[1]) for r in conflicts] == [(2, "created")]
    assert "profile" in conflicts[0]["reason"]


def test_a_hostile_file_is_imported_row_by_row_and_balances(tmp_path: Path) -> None:
    (tmp_path / "map.toml").write_text(MAPPING, encoding="utf-8")
    rows = [
        "\ufeff" + ";".join(HEADER),
        "L-1;a@b.example;Zoë;Acme;12;DE;Web;smb;5;Anna;04.03.2024 09:00;;;;;;;",
        'L-2;;"Multi\nLine";"Quote ""d""";1,200;FR;Web;smb;;Ben;04.03.2024 10:00;;;;;;;',
        "L-3;;Bad\x07Bell;Acme;12;DE;Web;smb;;Ben;04.03.2024 11:00;;;;;;;",
        "L-4;;Ragged;Acme;12;DE;Web;smb;;Ben;04.03.2024 12:00;;;;;;;;extra",
        "L-5;;Short;Acme",
        "",
        "L-6;;" + "x" * 300 + ";Acme;12;DE;Web;smb;;Ben;04.03.2024 13:00;;;;;;;",
    ]
    latin = "L-7;;Ren\xe9;Acme;;;;;;;05.03.2024 09:00;;;;;;;\r\n".encode("cp1252")
    data = "\r\n".join(rows).encode("utf-8") + b"\r\n" + latin
    (tmp_path / "hostile.csv").write_bytes(data)
    result = summary(["import", "hostile.csv", "--mapping", "map.toml"], tmp_path, {})
    assert (result["rows"], result["rows_rejected"], result["blank_rows"]) == (7, 4, 1)
    assert any("are not utf-8: read as cp1252" in w for w in result["warnings"])
    rejects = [json.loads(x)
               for x in (tmp_path / "hostile.csv.rejects.jsonl").read_text().splitlines()]
    assert sorted(r["line"] for r in rejects if r["code"] in ("mapping", "schema")) == [
        4, 5, 6, 8]


def test_a_preset_alone_and_a_reject_file_that_is_the_input(tmp_path: Path) -> None:
    (tmp_path / "contacts.csv").write_text(HUBSPOT, encoding="utf-8")
    result = run(["import", "contacts.csv", "--preset", "hubspot", "--dry-run", "--json"],
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert (data["rows"], data["leads"], data["rows_rejected"]) == (5, 5, 0)
    assert data["actions"] == {"accept": 3, "qualify": 2, "win": 3}
    same = run(["import", "contacts.csv", "--preset", "hubspot", "--rejects", "contacts.csv"],
               cwd=tmp_path)
    assert same.returncode == 2
    assert "is the input itself" in same.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["contacts.csv"]
