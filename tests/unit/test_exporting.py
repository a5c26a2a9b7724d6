"""The ``--where`` language of ``lifecycle leads export`` and the CSV and JSONL writers
(no database): what an expression means, what it refuses and why, hostile values."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest

from lifecycle.exporting import COLUMNS, Condition, WhereError, parse_where, write_rows

ROW: dict[str, Any] = {
    "key": "email:ada@acme.com", "keys": ["email:ada@acme.com", "external:42"],
    "name": "Ada, \"the\" Countess", "company": "Acme", "owner": None, "stage": "mql",
    "grade": "warm", "total": 51.5, "fit": 80.0, "contactable": True,
    "captured_at": "2024-03-04T09:00:00+00:00", "employees": 300,
    "properties": {"segment": "SMB, EU", "note": 'say "hi"\nbye', "visits": 3},
}


def holds(where: str, row: dict[str, Any] = ROW) -> bool:
    return all(c.holds(row) for c in parse_where(where))


def test_conditions_are_parsed_into_field_operator_and_value() -> None:
    assert parse_where("stage=mql, grade != cold ,total>=50") == (
        Condition("stage", "=", "mql", None), Condition("grade", "!=", "cold", None),
        Condition("total", ">=", "50", 50.0))
    assert parse_where('property:segment="SMB, EU",name~"a, \\"b\\" \\\\"') == (
        Condition("property:segment", "=", "SMB, EU", None),
        Condition("name", "~", 'a, "b" \\', None))


@pytest.mark.parametrize(("where", "expected"), [
    ("stage=mql", True), ("stage=MQL", True), ("stage!=mql", False), ("grade!=cold", True),
    ("total>=51.5", True), ("total>51.5", False), ("total<60,fit<=80", True),
    ("employees=300", True), ("employees=300.0", True), ("contactable=true", True),
    ("contactable=false", False), ("owner=", True), ("owner!=", False),
    ("owner>1", False),  # no value never satisfies an ordering
    ('name="Ada, \\"the\\" Countess"', True), ("name~countess", True),
    ("keys~external:42", True), ('property:segment="SMB, EU"', True),
    ("property:segment~smb", True), ("property:visits>=3", True),
    ("property:missing=", True), ("property:missing~x", False),
    ("captured_at>=2024-03-04", True), ("captured_at<2024-03-04T09:00:00+00:00", False),
    ("stage=mql,grade=hot", False),
])
def test_a_condition_holds_as_documented(where: str, expected: bool) -> None:
    assert holds(where) is expected


@pytest.mark.parametrize(("where", "says"), [
    ("", "expected FIELD OP VALUE"),
    ("stage", "expected FIELD OP VALUE at position 1"),
    ("stage=mql,", "expected FIELD OP VALUE at position 11"),
    ("stage=mql,,grade=hot", "expected FIELD OP VALUE at position 11"),
    ("colour=red", "unknown field 'colour'"),
    ("total>=many", "total>='many': >= needs a number"),
    ("captured_at>yesterday", "needs an ISO 8601 date or time"),
    ('name="Ada', "unclosed quote"),
    ('name="Ada" Lovelace', "unexpected 'Lovelace' after a quoted value"),
    ('name=Ada "the" Lovelace', "quote the whole value"),
    ("__import__('os')=1", "expected FIELD OP VALUE"),
])
def test_a_bad_expression_says_what_is_wrong(where: str, says: str) -> None:
    with pytest.raises(WhereError, match=None) as caught:
        parse_where(where)
    assert says in str(caught.value)


def test_csv_keeps_hostile_values_whole_in_a_stable_column_order() -> None:
    out = io.StringIO()
    assert write_rows([ROW, {"key": "x"}], out, "csv") == 2
    header, first, second = csv.reader(io.StringIO(out.getvalue()))
    assert header == list(COLUMNS)
    cells = dict(zip(header, first, strict=True))
    assert cells["name"] == 'Ada, "the" Countess'
    assert json.loads(cells["properties"]) == ROW["properties"]
    assert json.loads(cells["keys"]) == ROW["keys"]
    assert (cells["owner"], cells["contactable"], cells["total"]) == ("", "true", "51.5")
    assert second == ["x"] + [""] * (len(COLUMNS) - 1)


def test_jsonl_is_one_object_per_line() -> None:
    out = io.StringIO()
    write_rows([ROW, ROW], out, "jsonl")
    lines = out.getvalue().splitlines()
    assert [json.loads(line) for line in lines] == [ROW, ROW]
