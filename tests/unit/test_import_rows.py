"""A row → its inputs: ids from the row, lifecycle order, what the engine must be told
(an accept before a win, a disqualify for a lead lost before SQL), loss reasons through
the mapping's table, and a row rejected whole with the column that made it fail."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lifecycle.contracts import DEFAULT_LIMITS
from lifecycle.errors import ConfigError
from lifecycle.importing import ImportPlan, load_mapping, plan_import

MAPPING = """\
[import]
name = "crm"
source = "crm"
actor = { column = "Owner", value = "import" }

[key]
external_id = "Id"
email = "Email"

[time]
formats = ["%d/%m/%Y", "iso"]
timezone = "Europe/Paris"

[capture]
date = "Created"
kind = { column = "Form", value = "form_submit" }
channel = { column = "Source", value = "other" }
template = { column = "Product" }

[profile]
first_name = "First"
last_name = "Last"
employees = "Size"
employees_range = "high"

[properties]
Visits = "visits"
Zip = { name = "zip", type = "text" }

[sql]
date = "SQL"

[won]
date = "Won"
amount = "Amount"
currency = { column = "Currency", value = "EUR" }

[lost]
date = "Lost"
reason = "Why"
competitor = "Rival"
text = "Notes"

[lost.reasons]
"Too expensive" = "no_budget"
"Lost to competitor" = "competitor_won"
"""

HEADER = ("Id,Email,First,Last,Size,Form,Source,Product,Visits,Zip,Owner,Created,SQL,Won,"
          "Amount,Currency,Lost,Why,Rival,Notes\n")


def plan(tmp_path: Path, *rows: str, mapping: str = MAPPING) -> ImportPlan:
    path = tmp_path / "map.toml"
    path.write_text(mapping, encoding="utf-8")
    return plan_import((HEADER + "".join(r + "\n" for r in rows)).encode(),
                       load_mapping(path), limits=DEFAULT_LIMITS)


def inputs(p: ImportPlan) -> list[dict[str, Any]]:
    return [json.loads(i.text) for row in p.mapped for i in row.inputs]


def test_a_row_is_its_capture_and_history_with_ids_from_the_row(tmp_path: Path) -> None:
    p = plan(tmp_path, "7,a@x.example,Ann,Lee,51-200,Webinar,Events,SaaS,12,01234,Zoé,"
             "01/03/2024,02/03/2024,09/03/2024,\"1,500.50\",usd,,,,")
    capture, accept, win = inputs(p)
    assert capture["touchpoint_id"] == "import:crm:7:created"
    assert capture["occurred_at"] == "2024-02-29T23:00:00+00:00"  # Paris midnight
    assert (capture["kind"], capture["channel"], capture["template"]) == (
        "Webinar", "Events", "saas")
    assert capture["profile"] == {"name": "Ann Lee", "employees": 200}
    assert capture["properties"] == {"visits": 12, "zip": "01234"}
    assert accept["action_id"] == "import:crm:7:sql"
    assert accept["actor"] == "Zoé"
    assert win["amount"] == 1500.5
    assert win["currency"] == "usd"
    assert win["skip_reason"] == "imported"
    counts = p.counts()
    assert counts["touchpoints"] == {"webinar": 1}
    assert counts["actions"] == {"accept": 1, "win": 1}
    # The same file maps to the same inputs: a re-import is all duplicates.
    assert inputs(plan(tmp_path, *[r.raw.decode() for r in p.table.rows])) == inputs(p)


def test_a_win_without_an_sql_date_is_accepted_first_at_its_date(tmp_path: Path) -> None:
    _, accept, win = inputs(plan(tmp_path, "8,,,,,,,,,,,01/03/2024,,20/03/2024,,,,,,"))
    assert accept["action"] == "accept"
    assert accept["skip_reason"] == "imported: no MQL date"
    assert accept["occurred_at"] == win["occurred_at"] == "2024-03-19T23:00:00+00:00"
    assert "amount" not in win


@pytest.mark.parametrize(("why", "rival", "notes", "expected"), [
    ("Too expensive", "", "", {"reason": "no_budget"}),
    ("too  EXPENSIVE", "", "call in Q3", {"reason": "no_budget", "text": "call in Q3"}),
    ("Lost to competitor", "Globex", "", {"reason": "competitor_won", "competitor": "Globex"}),
    # the taxonomy needs the competitor's name: without one, other with the words
    ("Lost to competitor", "", "", {"reason": "other", "text": "Lost to competitor"}),
    ("Champion left", "", "line 1\nline 2",
     {"reason": "other", "text": "Champion left: line 1\nline 2"}),
    ("", "", "", {"reason": "other"}),
])
def test_a_loss_reason_goes_through_the_mapping_table(
    tmp_path: Path, why: str, rival: str, notes: str, expected: dict[str, str]
) -> None:
    row = f'9,,,,,,,,,,,01/03/2024,05/03/2024,,,,10/03/2024,{why},{rival},"{notes}"'
    loss = inputs(plan(tmp_path, row))[-1]
    assert loss["action"] == "lose"
    assert {k: v for k, v in loss.items() if k in ("reason", "competitor", "text")} == expected


def test_a_lead_lost_before_sql_is_disqualified(tmp_path: Path) -> None:
    _, loss = inputs(plan(tmp_path, "10,,,,,,,,,,,01/03/2024,,,,,10/03/2024,Too expensive,,"))
    assert loss["action"] == "disqualify"
    assert loss["reason"] == "no_budget"


def test_rows_of_one_lead_are_recorded_in_business_time_order(tmp_path: Path) -> None:
    p = plan(tmp_path, "11,,,,,,,,,,,05/03/2024,,,,,,,,", "12,,,,,,,,,,,01/01/2024,,,,,,,,",
             "11,,,,,,,,,,,01/03/2024,,,,,,,,")
    assert [row.number for row in p.mapped] == [4, 2, 3]
    assert p.counts()["leads"] == 2


@pytest.mark.parametrize(("row", "says"), [
    (",,,,,,,,,,,01/03/2024,,,,,,,,", "no lead key: 'Id' and 'Email' are empty"),
    ("13,,,,,,,,,,,,,,,,,,,", "no date: the row's created date ('Created')"),
    ("13,,,,,,,,,,,2024-02-30,,,,,,,,", "column 'Created': '2024-02-30' is not a time"),
    ("13,,,,lots,,,,,,,01/03/2024,,,,,,,,", "column 'Size': 'lots' is not a number"),
    ("13,,,,,,,,,,,01/03/2024,,05/03/2024,-5,,,,,", "column 'Amount': '-5' is negative"),
    ("13,,,,,,,,,,,01/03/2024,,05/03/2024,,,06/03/2024,,,", "both won and lost"),
    ("13,not-an-email,,,,,,,,,,01/03/2024,,,,,,,,",
     "email (column 'Email'): Value error, not an email address"),
    ("13,,,,,,,,,,,01/03/2024,,05/03/2024,5,XYZ,,,,", "currency (column 'Currency')"),
    ("13,,,,,,,,,,,01/03/2024,,,,,,,,,surplus", "the row has 21 cells, the header 20"),
    ("13,,,,,,,Not A Template!,,,,01/03/2024,,,,,,,,", None),
])
def test_a_row_that_cannot_be_mapped_is_rejected_whole_with_its_column(
    tmp_path: Path, row: str, says: str | None
) -> None:
    p = plan(tmp_path, "1,,,,,,,,,,,01/03/2024,,,,,,,,", row)
    if says is None:  # a template name the engine does not know is its own reject
        assert not p.rejected
        return
    assert [r.number for r, _ in p.rejected] == [3]
    assert says in str(p.rejected[0][1]), str(p.rejected[0][1])
    assert [r.number for r in p.mapped] == [2]


def test_an_empty_status_or_unknown_value_maps_nothing(tmp_path: Path) -> None:
    mapping = MAPPING + '[[status]]\ncolumn = "Form"\nstages = { "Closed Won" = "won" }\n'
    p = plan(tmp_path, "14,,,,,Closed-won,,,,,,01/03/2024,,,,,,,,",
             "15,,,,,Open,,,,,,01/03/2024,,,,,,,,", mapping=mapping)
    assert [[i.get("action") for i in map(json.loads, (x.text for x in r.inputs))]
            for r in p.mapped] == [[None, "accept", "win"], [None]]


def test_a_dataset_without_dates_is_captured_at_the_default_date(tmp_path: Path) -> None:
    mapping = MAPPING.replace('template = { column = "Product" }',
                              'template = { column = "Product" }\ndefault_date = "2020-01-01"')
    mapping += '[[status]]\ncolumn = "Form"\nstages = { "1" = "won" }\n'
    p = plan(tmp_path, "16,,,,,1,,,,,,,,,,,,,,", "17,,,,,0,,,,,,,,,,,,,,",
             "18,,,,,,,,,,,02/03/2024,,,,,,,,", mapping=mapping)
    assert not p.rejected
    got = [[(i.get("action"), i["occurred_at"]) for i in (json.loads(x.text) for x in r.inputs)]
           for r in p.mapped]
    # Won by its status alone: one second after the capture, so that the capture's
    # inputs come before the outcome (training reads only inputs dated before it).
    assert got == [
        [(None, "2019-12-31T23:00:00+00:00"), ("accept", "2019-12-31T23:00:01+00:00"),
         ("win", "2019-12-31T23:00:01+00:00")],
        [(None, "2019-12-31T23:00:00+00:00")],
        [(None, "2024-03-01T23:00:00+00:00")]]
    bad = tmp_path / "bad.toml"
    bad.write_text(MAPPING.replace('[capture]', '[capture]\ndefault_date = "soon"'))
    with pytest.raises(ConfigError, match=r"capture\.default_date: .*'soon' is not an ISO"):
        load_mapping(bad)


def test_a_stage_known_by_its_status_alone_is_a_second_after_the_latest_date(
    tmp_path: Path
) -> None:
    mapping = MAPPING + ('[[status]]\ncolumn = "Form"\n'
                         'stages = { "Deal" = "sql", "No" = "lost", "Yes" = "won" }\n')
    p = plan(tmp_path,
             "21,,,,,No,,,,,,01/03/2024,,,,,,,,",  # lost by status: after the capture
             "22,,,,,Yes,,,,,,01/03/2024,05/03/2024,,,,,,,",  # won: after the SQL date
             "23,,,,,Deal,,,,,,01/03/2024,,09/03/2024,,,,,,",  # SQL by status, dated win
             mapping=mapping)
    got = [[(i.get("action"), i["occurred_at"]) for i in (json.loads(x.text) for x in r.inputs)]
           for r in p.mapped]
    assert got == [
        [(None, "2024-02-29T23:00:00+00:00"), ("disqualify", "2024-02-29T23:00:01+00:00")],
        [(None, "2024-02-29T23:00:00+00:00"), ("accept", "2024-03-04T23:00:00+00:00"),
         ("win", "2024-03-04T23:00:01+00:00")],
        # never after a later stage's own date: the accept comes with the win, not after
        [(None, "2024-02-29T23:00:00+00:00"), ("accept", "2024-03-08T23:00:00+00:00"),
         ("win", "2024-03-08T23:00:00+00:00")]]


def test_an_email_record_id_is_named_as_the_engine_records_it(tmp_path: Path) -> None:
    mapping = MAPPING.replace('external_id = "Id"\n', "")
    upper = inputs(plan(tmp_path, ",Ada@Example.ORG,,,,,,,,,,01/03/2024,,,,,,,,",
                        mapping=mapping))
    lower = inputs(plan(tmp_path, ",ada@example.org,,,,,,,,,,01/03/2024,,,,,,,,",
                        mapping=mapping))
    assert upper[0]["touchpoint_id"] == lower[0]["touchpoint_id"] == (
        "import:crm:ada@example.org:created")
    long_id = "x" * 190
    p = plan(tmp_path, f"{long_id},,,,,,,,,,,01/03/2024,,,,,,,,")
    assert "touchpoint_id (column 'Id')" in str(p.rejected[0][1])
