"""The shipped presets on exports as HubSpot and Salesforce write them: their real column
names, their date formats, and the rows real exports hold — leads known by an id only,
missing dates, a stage without its date, a win dated before the creation (imported as it
is: the quality report shows it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lifecycle.contracts import DEFAULT_LIMITS
from lifecycle.importing import load_mapping, plan_import

HUBSPOT = (
    "Record ID,First Name,Last Name,Email,Lifecycle Stage,Create Date,Contact owner,"
    "Original Source,Original Source Drill-Down 1,Became a Marketing Qualified Lead Date,"
    "Became a Sales Qualified Lead Date,Became a Customer Date,Associated Company,Job Title,"
    "Country/Region,Industry,Phone Number\r\n"
    "51,Ada,Lovelace,ada@analytical.example,Customer,2024-03-04 09:15,Jane Doe,Organic Search,"
    "google,2024-03-05 10:00,2024-03-12 14:30,2024-04-20 16:00,Analytical Engines,CTO,"
    "United Kingdom,Financial Services,+44 20 7946 0000\r\n"
    "52,,,,Lead,2024-03-06 08:00,,Direct Traffic,,,,,,,Germany,,\r\n"
    "53,Bo,Chen,bo@widgets.example,Customer,2024-05-01 12:00,,Paid Search,,,,,Widgets Inc,,"
    "USA,,\r\n"
    "54,Cy,,cy@odd.example,Customer,2024-06-10 09:00,John Roe,Referrals,,,,2024-06-01 09:00,"
    ",,,,\r\n"
    "55,Di,,di@mql.example,Marketing Qualified Lead,2024-07-01 09:00,,Email Marketing,,,,,,"
    ",France,,\r\n"
)

SALESFORCE = (
    "Id,FirstName,LastName,Company,Email,Phone,Title,Industry,Country,Status,LeadSource,"
    "IsConverted,ConvertedDate,CreatedDate,OwnerId,NumberOfEmployees\n"
    "00Q5e00000AbCdEAAV,Ada,Lovelace,Analytical Engines,ada@analytical.example,"
    "+44 20 7946 0000,CTO,Banking,United Kingdom,Working - Contacted,Web,false,,"
    "2024-03-04T09:15:00.000+0000,0055e000001XyZQAA0,1200\n"
    "00Q5e00000AbCdFAAV,Bo,Chen,Widgets Inc,bo@widgets.example,,,,US,Closed - Converted,"
    "Partner Referral,true,2024-03-20,2024-03-04T10:00:00.000Z,0055e000001XyZQAA0,80\n"
    "00Q5e00000AbCdGAAV,,Doe,[not provided],,,,,,Open - Not Contacted,Purchased List,false,,"
    "2024-03-05T08:00:00.000+0000,0055e000001XyZQAA0,\n"
    "00Q5e00000AbCdHAAV,Cy,Lee,Lee & Co,cy@lee.example,,,,DEU,Closed - Not Converted,"
    "Phone Inquiry,false,,2024-03-06T08:00:00.000+0000,0055e000001XyZRAA0,12\n"
    "00Q5e00000AbCdIAAV,Di,Ray,Ray Ltd,di@ray.example,,,,,Closed - Converted,Web,true,,"
    "2024-03-07T08:00:00.000+0000,0055e000001XyZRAA0,\n"
)


def planned(preset: str, text: str, **overrides: str) -> dict[int, list[dict[str, Any]]]:
    plan = plan_import(text.encode("utf-8"), load_mapping(None, preset=preset),
                       limits=DEFAULT_LIMITS)
    assert plan.rejected == [], plan.rejects()
    return {row.number: [json.loads(i.text) for i in row.inputs] for row in plan.mapped}


def test_hubspot_contacts_become_leads_with_their_history() -> None:
    rows = planned("hubspot", HUBSPOT)
    ada = rows[2]
    assert [i.get("action", "touchpoint") for i in ada] == ["touchpoint", "qualify", "accept",
                                                            "win"]
    capture = ada[0]
    assert capture["touchpoint_id"] == "import:hubspot:51:created"
    assert capture["occurred_at"] == "2024-03-04T09:15:00+00:00"  # the preset's zone: UTC
    assert (capture["external_id"], capture["email"]) == ("51", "ada@analytical.example")
    assert capture["channel"] == "Organic Search"
    assert capture["kind"] == "imported"
    assert capture["profile"] == {"name": "Ada Lovelace", "company": "Analytical Engines",
                                  "industry": "Financial Services", "title": "CTO",
                                  "country": "United Kingdom", "phone": "+44 20 7946 0000"}
    assert capture["properties"] == {"source_detail": "google", "lifecycle_stage": "Customer"}
    assert ada[1]["rule"] == "hubspot"
    assert ada[1]["actor"] == "Jane Doe"
    assert "skip_reason" not in ada[2]  # qualified first: no override needed
    assert ada[3]["occurred_at"] == "2024-04-20T16:00:00+00:00"


def test_hubspot_id_only_and_stage_only_rows() -> None:
    rows = planned("hubspot", HUBSPOT)
    assert len(rows[3]) == 1
    assert "email" not in rows[3][0]
    assert rows[3][0]["profile"] == {"country": "Germany"}
    # A customer without dates: accepted (sales override) and won a second after its
    # one date (its capture), so the capture comes before the outcome.
    customer = rows[4]
    assert [i.get("action") for i in customer[1:]] == ["accept", "win"]
    assert customer[1]["skip_reason"] == "imported: no MQL date"
    assert [i["occurred_at"] for i in customer] == [
        "2024-05-01T12:00:00+00:00", "2024-05-01T12:00:01+00:00", "2024-05-01T12:00:01+00:00"]
    # An MQL by its stage alone: qualified a second after its created date.
    assert [(i.get("action"), i["occurred_at"]) for i in rows[6][1:]] == [
        ("qualify", "2024-07-01T09:00:01+00:00")]


def test_hubspot_a_win_before_the_creation_is_imported_as_it_is() -> None:
    odd = planned("hubspot", HUBSPOT)[5]
    assert odd[0]["occurred_at"] == "2024-06-10T09:00:00+00:00"
    assert [(i["action"], i["occurred_at"]) for i in odd[1:]] == [
        ("accept", "2024-06-01T09:00:00+00:00"), ("win", "2024-06-01T09:00:00+00:00")]


def test_hubspot_times_are_read_in_the_account_zone_given() -> None:
    plan = plan_import(HUBSPOT.encode(), load_mapping(None, preset="hubspot").model_copy(
        update={"time": load_mapping(None, preset="hubspot").time.model_copy(
            update={"timezone": "America/New_York"})}), limits=DEFAULT_LIMITS)
    first = json.loads(plan.mapped[0].inputs[0].text)
    assert first["occurred_at"] == "2024-03-04T14:15:00+00:00"


def test_salesforce_leads_by_api_names() -> None:
    rows = planned("salesforce", SALESFORCE)
    ada = rows[2]
    assert len(ada) == 1
    assert ada[0]["touchpoint_id"] == "import:salesforce:00Q5e00000AbCdEAAV:created"
    assert ada[0]["occurred_at"] == "2024-03-04T09:15:00+00:00"
    assert ada[0]["channel"] == "Web"
    assert ada[0]["properties"] == {
        "lead_status": "Working - Contacted"}
    assert ada[0]["profile"]["employees"] == 1200
    assert ada[0]["profile"]["industry"] == "Banking"
    converted = rows[3]
    assert converted[1] == {
        "action_id": "import:salesforce:00Q5e00000AbCdFAAV:sql", "action": "accept",
        "occurred_at": "2024-03-20T00:00:00+00:00", "skip_reason": "imported: no MQL date",
        "external_id": "00Q5e00000AbCdFAAV", "email": "bo@widgets.example",
        "actor": "0055e000001XyZQAA0"}


def test_salesforce_id_only_closed_and_converted_without_a_date() -> None:
    rows = planned("salesforce", SALESFORCE)
    anonymous = rows[4]
    assert len(anonymous) == 1
    assert "email" not in anonymous[0]
    assert anonymous[0]["profile"] == {"name": "Doe"}  # "[not provided]" is no company
    closed = rows[5]
    assert closed[1]["action"] == "disqualify"
    assert closed[1]["reason"] == "other"
    assert closed[1]["text"] == "Status: Closed - Not Converted"
    assert closed[0]["profile"]["country"] == "DEU"  # the contract makes it DE
    no_date = rows[6]
    assert no_date[1]["action"] == "accept"
    assert no_date[0]["occurred_at"] == "2024-03-07T08:00:00+00:00"  # its only date
    assert no_date[1]["occurred_at"] == "2024-03-07T08:00:01+00:00"  # a second after it


def test_a_preset_on_an_export_without_some_of_its_columns_warns() -> None:
    header, *rest = SALESFORCE.splitlines()
    trimmed = "\n".join(",".join(line.split(",")[:-1]) for line in [header, *rest]) + "\n"
    plan = plan_import(trimmed.encode(), load_mapping(None, preset="salesforce"),
                       limits=DEFAULT_LIMITS)
    assert plan.warnings == ["columns not in the file, read as empty: 'NumberOfEmployees' "
                             "(profile.employees)"]
    assert len(plan.mapped) == 5


def test_the_documented_example_maps_every_row() -> None:
    folder = Path(__file__).parents[2] / "examples" / "import"
    plan = plan_import((folder / "leads.csv").read_bytes(),
                       load_mapping(folder / "mapping.toml"), limits=DEFAULT_LIMITS)
    assert plan.rejects() == []
    assert plan.warnings == []
    counts = plan.counts()
    assert (counts["rows"], counts["leads"]) == (6, 6)
    assert counts["actions"] == {"accept": 3, "disqualify": 1, "lose": 1, "qualify": 3,
                                 "win": 2}
    rows = {row.number: [json.loads(i.text) for i in row.inputs] for row in plan.mapped}
    ada = rows[2]
    assert ada[0]["occurred_at"] == "2024-03-04T08:15:00+00:00"  # Berlin, winter time
    assert ada[0]["profile"]["employees"] == 1200
    assert ada[-1]["amount"] == 48000.0
    assert rows[3][0]["properties"] == {"segment": "smb", "seconds_on_site": 35,
                                        "postal_code": "01067"}
    lost = rows[4][-1]
    assert (lost["action"], lost["reason"], lost["competitor"]) == (
        "lose", "competitor_won", "Globex")
    assert lost["text"] == "Chose Globex after the second demo.\nPrice was not the issue."
    assert [i.get("action") for i in rows[5]] == [None, "qualify"]  # by its stage alone
    assert rows[7][-1] == {
        "action_id": "import:example-crm:L-1006:lost", "action": "disqualify",
        "occurred_at": "2024-03-19T23:00:00+00:00", "reason": "other",
        "external_id": "L-1006", "email": "eve@example.org", "actor": "import",
        "text": "Budget freeze"}


def test_the_public_dataset_examples_map_every_row() -> None:
    folder = Path(__file__).parents[2] / "examples" / "import"

    def example(name: str) -> dict[int, list[dict[str, Any]]]:
        plan = plan_import((folder / f"{name}.csv").read_bytes(),
                           load_mapping(folder / f"{name}.toml"), limits=DEFAULT_LIMITS)
        assert plan.rejects() == []
        assert plan.warnings == []
        return {row.number: [json.loads(i.text) for i in row.inputs] for row in plan.mapped}

    mqls = example("olist-mqls")
    assert all([i.get("action") for i in inputs] == [None, "qualify"]
               for inputs in mqls.values())
    assert mqls[5][0]["channel"] == "unknown"  # origin left empty
    deals = example("olist-closed-deals")
    assert [i.get("action") for i in deals[2]] == [None, "accept", "win"]
    assert deals[2][0]["external_id"] == mqls[2][0]["external_id"]  # the same leads
    assert deals[2][0]["properties"]["declared_monthly_revenue"] == 0.0
    students = example("x-education")
    assert all("email" not in inputs[0] for inputs in students.values())  # ids only
    assert {inputs[0]["occurred_at"] for inputs in students.values()} == {
        "2019-12-31T18:30:00+00:00"}  # the default date, in Kolkata
    assert [i.get("action") for i in students[4]] == [None, "accept", "win"]  # converted
    assert students[4][-1]["occurred_at"] == "2019-12-31T18:30:01+00:00"  # after capture
    # not converted: disqualified by the import (a negative example for training)
    assert [(i.get("action"), i.get("actor")) for i in students[2]] == [
        (None, None), ("disqualify", "import")]
    assert students[2][-1]["occurred_at"] == "2019-12-31T18:30:01+00:00"
    assert "specialization" not in students[2][0]["properties"]  # "Select": not answered
    assert students[3][0]["properties"]["seconds_on_site"] == 674
