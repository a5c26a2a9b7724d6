"""Reading cells as typed values: times in formats and zones, head counts, amounts,
property values — typed when plainly so, rejected with the value when not."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from lifecycle.importing.values import (
    BadValue,
    parse_amount,
    parse_count,
    parse_property,
    parse_time,
)

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(("text", "formats", "expected"), [
    # HubSpot: local time of the account, no offset
    ("2024-03-04 09:15", ("iso",), datetime(2024, 3, 4, 8, 15, tzinfo=UTC)),
    # summer time: two hours ahead
    ("2024-07-04 09:15", ("iso",), datetime(2024, 7, 4, 7, 15, tzinfo=UTC)),
    # Salesforce API: an offset without a colon, milliseconds; or Z
    ("2024-03-04T09:15:00.000+0000", ("iso",), datetime(2024, 3, 4, 9, 15, tzinfo=UTC)),
    ("2024-03-04T09:15:00.000Z", ("iso",), datetime(2024, 3, 4, 9, 15, tzinfo=UTC)),
    # a date alone: midnight in the zone
    ("2024-03-04", ("iso",), datetime(2024, 3, 3, 23, 0, tzinfo=UTC)),
    ("04.03.2024 09:15", ("%Y-%m-%d", "%d.%m.%Y %H:%M"), datetime(2024, 3, 4, 8, 15, tzinfo=UTC)),
    ("1709543700000", ("iso", "unix_ms"), datetime(2024, 3, 4, 9, 15, tzinfo=UTC)),
    ("1709543700", ("unix",), datetime(2024, 3, 4, 9, 15, tzinfo=UTC)),
])
def test_a_time_is_read_in_its_format_and_zone(text: str, formats: tuple[str, ...],
                                               expected: datetime) -> None:
    assert parse_time(text, formats, BERLIN) == expected


def test_a_local_time_a_clock_change_repeats_is_its_first_meaning() -> None:
    # 2024-10-27 02:30 happened twice in Berlin: first in summer time (+02:00).
    assert parse_time("2024-10-27 02:30", ("iso",), BERLIN) == datetime(
        2024, 10, 27, 0, 30, tzinfo=UTC)


@pytest.mark.parametrize("text", ["31.02.2024", "yesterday", "2024-13-01", "", "12"])
def test_a_cell_no_format_reads_is_rejected_with_the_value(text: str) -> None:
    with pytest.raises(BadValue, match=r"is not a time in the formats iso, %d\.%m\.%Y"):
        parse_time(text, ("iso", "%d.%m.%Y"), UTC)


@pytest.mark.parametrize(("text", "policy", "expected"), [
    ("1,200", "low", 1200), ("1.200", "low", 1200), ("1 200", "low", 1200), ("12", "low", 12),
    ("51-200", "low", 51), ("51-200", "high", 200), ("51-200", "middle", 126),
    ("1,001 - 5,000", "low", 1001), ("10,001+", "high", 10001), ("10000.0", "low", 10000),
    ("11 to 50", "high", 50),
])
def test_a_head_count_is_read_as_people_write_it(text: str, policy: str, expected: int) -> None:
    assert parse_count(text, policy) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["many", "12.5", "200-51", "-5", "1,2,3"])
def test_a_head_count_that_is_none_is_rejected(text: str) -> None:
    with pytest.raises(BadValue):
        parse_count(text, "low")


@pytest.mark.parametrize(("text", "expected"), [
    ("12,500.00", 12500.0), ("12.500,00", 12500.0), ("12500", 12500.0), ("0.5", 0.5),
    ("1,5", 1.5), ("1'000", 1000.0),
])
def test_an_amount_is_read_with_either_decimal_mark(text: str, expected: float) -> None:
    assert parse_amount(text) == expected


@pytest.mark.parametrize("text", ["-5", "€ 100", "lots", "1e400"])
def test_an_amount_that_is_none_is_rejected(text: str) -> None:
    with pytest.raises(BadValue):
        parse_amount(text)


@pytest.mark.parametrize(("text", "expected"), [
    ("42", 42), ("-7", -7), ("12.5", 12.5),
    # codes and ambiguous numbers stay text
    ("007", "007"), ("01234", "01234"), ("1,200", "1,200"), ("9" * 30, "9" * 30),
    ("1e5", "1e5"), ("nan", "nan"), ("Enterprise", "Enterprise"),
])
def test_a_property_is_a_number_only_when_plainly_one(text: str, expected: object) -> None:
    value = parse_property(text, "auto")
    assert value == expected
    assert type(value) is type(expected)


def test_a_property_can_be_typed_by_the_mapping() -> None:
    assert parse_property("1,200", "number") == 1200
    assert parse_property("42", "text") == "42"
    with pytest.raises(BadValue):
        parse_property("n/a", "number")
