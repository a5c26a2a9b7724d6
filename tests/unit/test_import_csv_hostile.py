"""CSV exports as they come: byte-order marks, ``;`` and tabs, line breaks inside quotes,
huge cells, control characters, duplicate headers, ragged rows, bytes that are not
UTF-8. Whatever the file holds, reading and mapping it never raises: every row is mapped
or rejected with its row number and a reason, and every value that a CSV writer wrote is
read back as it was."""

from __future__ import annotations

import csv
import io
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lifecycle.contracts import DEFAULT_LIMITS
from lifecycle.errors import ConfigError
from lifecycle.importing import Mapping, plan_import
from lifecycle.importing.reading import DELIMITERS, read_csv
from tests.support import hypothesis_budget

RUNS = settings(deadline=None, max_examples=hypothesis_budget(150),
                suppress_health_check=[HealthCheck.too_slow])

MAPPING = Mapping.model_validate({
    "import": {"name": "t", "source": "crm"},
    "key": {"external_id": "Id", "email": "Email"},
    "capture": {"date": "Created", "channel": {"column": "Source", "value": "other"}},
    "profile": {"name": "Name", "company": "Company", "employees": "Size"},
    "properties": {"Note": "note"},
    "lost": {"date": "Lost", "text": "Note"},
})


def captured(text: str | bytes, mapping: Mapping = MAPPING) -> list[dict[str, object]]:
    data = text.encode("utf-8") if isinstance(text, str) else text
    plan = plan_import(data, mapping, limits=DEFAULT_LIMITS)
    return [json.loads(row.inputs[0].text) for row in plan.mapped]


def test_a_byte_order_mark_and_a_semicolon_are_taken_in_stride() -> None:
    text = "\ufeffId;Name;Created\r\n1;Zoë;2024-03-04\r\n"
    (tp,) = captured(text)
    assert tp["external_id"] == "1"
    assert tp["profile"] == {"name": "Zoë"}


def test_tabs_and_pipes_are_recognised_by_the_header() -> None:
    for delimiter in ("\t", "|"):
        assert captured(f"Id{delimiter}Created\n1{delimiter}2024-03-04\n")[0]["external_id"] == "1"


def test_line_breaks_inside_quotes_are_one_row_numbered_as_a_spreadsheet_does() -> None:
    text = 'Id,Company,Created,Note\n1,"Acme\nGmbH",2024-03-04,"two\r\nlines"\n2,,2024-03-05,\n'
    plan = plan_import(text.encode(), MAPPING, limits=DEFAULT_LIMITS)
    assert [row.number for row in plan.mapped] == [2, 3]
    first = json.loads(plan.mapped[0].inputs[0].text)
    assert first["profile"] == {"company": "Acme GmbH"}  # one line: white space joined
    assert first["properties"] == {"note": "two lines"}


def test_cp1252_bytes_are_read_by_the_fallback_and_counted() -> None:
    data = "Id,Name,Created\n1,Zoë,2024-03-04\n2,Zoë,2024-03-04\n".encode()
    data = data.replace("2,Zoë".encode(), "2,Zoë".encode("cp1252"))
    plan = plan_import(data, MAPPING, limits=DEFAULT_LIMITS)
    names = [json.loads(r.inputs[0].text)["profile"]["name"] for r in plan.mapped]
    assert names == ["Zoë", "Zoë"]
    assert "1 rows are not utf-8: read as cp1252" in plan.warnings


def test_bytes_no_encoding_reads_reject_their_row_only() -> None:
    data = b"Id,Name,Created\n1,\x81\x8d,2024-03-04\n2,ok,2024-03-04\n"  # undefined in cp1252
    plan = plan_import(data, MAPPING, limits=DEFAULT_LIMITS)
    assert [r.number for r in plan.mapped] == [3]
    assert [(r.number, str(e)) for r, e in plan.rejected] == [
        (2, "the row holds bytes that are not text in the file's encoding")]
    assert plan.rejected[0][0].raw == b"1,\x81\x8d,2024-03-04"
    strict = MAPPING.model_copy(update={"csv": MAPPING.csv.model_copy(
        update={"fallback_encoding": None})})
    latin = "Id,Name,Created\n1,Zoë,2024-03-04\n".encode("latin-1")
    assert plan_import(latin, strict, limits=DEFAULT_LIMITS).rejected


def test_utf16_with_its_byte_order_mark_is_read() -> None:
    data = "Id\tName\tCreated\r\n1\tZoë\t2024-03-04\r\n".encode("utf-16")
    assert captured(data)[0]["profile"] == {"name": "Zoë"}


def test_duplicate_headers_read_the_first_column_and_warn() -> None:
    plan = plan_import(b"Id,Name,Name,Created\n1,first,second,2024-03-04\n", MAPPING,
                       limits=DEFAULT_LIMITS)
    assert json.loads(plan.mapped[0].inputs[0].text)["profile"] == {"name": "first"}
    assert "the header names 'Name' twice" in plan.warnings[0]


def test_ragged_rows_short_ones_read_long_ones_rejected_unless_the_rest_is_empty() -> None:
    plan = plan_import(b"Id,Created,Name\n1,2024-03-04\n2,2024-03-04,b,,\n3,2024-03-04,c,x\n",
                       MAPPING, limits=DEFAULT_LIMITS)
    assert [r.number for r in plan.mapped] == [2, 3]
    assert [r.number for r, _ in plan.rejected] == [4]


def test_blank_rows_keep_their_number_and_are_not_rows() -> None:
    plan = plan_import(b"Id,Created\n\n1,2024-03-04\n,\n2,2024-03-05\n", MAPPING,
                       limits=DEFAULT_LIMITS)
    assert [r.number for r in plan.mapped] == [3, 5]
    assert plan.counts()["blank_rows"] == 2
    assert plan.counts()["rows"] == 2


def test_a_huge_cell_rejects_its_row_and_a_huge_unmapped_one_costs_nothing() -> None:
    huge = "x" * 100_000
    text = f"Id,Company,Other,Created\n1,{huge},,2024-03-04\n2,,{huge},2024-03-04\n"
    plan = plan_import(text.encode(), MAPPING, limits=DEFAULT_LIMITS)
    assert [r.number for r in plan.mapped] == [3]
    assert "an input may have at most 65536 bytes" in str(plan.rejected[0][1])


def test_a_control_character_in_a_value_rejects_its_row_naming_the_column() -> None:
    plan = plan_import(b"Id,Name,Created\n1,a\x1b[31mb,2024-03-04\n", MAPPING,
                       limits=DEFAULT_LIMITS)
    assert "profile.name (column 'Name')" in str(plan.rejected[0][1])
    assert plan.rejected[0][1].code == "schema"


def test_a_cell_of_only_punctuation_falls_back_to_the_constant() -> None:
    assert captured("Id,Source,Created\n1,—,2024-03-04\n")[0]["channel"] == "other"


# -- fuzz ----------------------------------------------------------------------------------

cell = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=30)


@RUNS
@given(rows=st.lists(st.lists(cell, min_size=3, max_size=3), min_size=1, max_size=12),
       delimiter=st.sampled_from(DELIMITERS), quoting=st.sampled_from(
           [csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC]),
       bom=st.booleans(), crlf=st.booleans())
def test_whatever_a_csv_writer_writes_is_read_back_cell_for_cell(
    rows: list[list[str]], delimiter: str, quoting: int, bom: bool, crlf: bool
) -> None:
    if any("\r" in c for r in rows for c in r):
        # Python's writer leaves a lone CR unquoted under QUOTE_MINIMAL with a "\n"
        # terminator: the file it writes is ambiguous to any reader.
        quoting = csv.QUOTE_ALL
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, quoting=quoting,  # type: ignore[arg-type]
                        lineterminator="\r\n" if crlf else "\n")
    header = ["Id", "Name", "Note"]
    writer.writerow(header)
    writer.writerows(rows)
    data = ("\ufeff" if bom else "").encode() + out.getvalue().encode("utf-8")
    table = read_csv(data, delimiter=delimiter)
    kept = [r for r in rows if any(c.strip() for c in r)]
    assert [tuple(r.cells.values()) for r in table.rows] == [tuple(r) for r in kept]
    assert all(r.problem is None for r in table.rows)


@RUNS
@given(data=st.binary(max_size=600) | st.lists(
    st.sampled_from([b"Id", b"Email", b"Created", b"Name", b"Lost", b",", b";", b"\t", b'"',
                     b"\n", b"\r", b"2024-03-04", b"a@b.example", b"\xff", b"\xe9", b"\x00",
                     b"\x1b", b"\xef\xbb\xbf", b"1,200", b"x" * 70_000]),
    max_size=40).map(b"".join))
def test_any_bytes_map_or_reject_every_row_and_never_raise(data: bytes) -> None:
    try:
        plan = plan_import(b"Id,Email,Created,Name,Size,Lost,Note\n" + data, MAPPING,
                           limits=DEFAULT_LIMITS)
    except ConfigError:  # only when the data broke the header: no key column is left
        return
    counts = plan.counts()
    assert counts["rows"] == counts["rows_mapped"] + counts["rows_rejected"]
    assert counts["rows"] + counts["blank_rows"] == len(plan.table.rows) + plan.table.blank
    for row, why in plan.rejected:
        assert row.number >= 2
        assert str(why)
    for mapped in plan.mapped:
        assert all(len(i.text.encode()) <= DEFAULT_LIMITS.max_input_bytes
                   for i in mapped.inputs)
