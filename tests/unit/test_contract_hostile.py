"""The inbound contract against hostile input: strict, database-safe, never crashing.

Every test here tries a class of values, not one example: hypothesis draws the hostile
value and where it goes. Whatever an input holds, parsing it either returns a valid
input or raises :class:`InvalidInput` (code ``schema``) with the field's path — never
anything else, and never a coerced value.
"""

from __future__ import annotations

import contextlib
import json
import math
import string
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from lifecycle.contracts import (
    COUNTRIES,
    CURRENCIES,
    Limits,
    SalesAction,
    Touchpoint,
    inbound_json_schema,
    parse_inbound,
    parse_inbound_json,
)
from lifecycle.errors import InvalidInput
from tests.support import action_data, hypothesis_budget, touchpoint_data

RUNS = settings(deadline=None, max_examples=hypothesis_budget(150),
                suppress_health_check=[HealthCheck.too_slow])


def rejection(data: Any, **kwargs: Any) -> str:
    with pytest.raises(InvalidInput) as raised:
        parse_inbound(data, **kwargs)
    assert raised.value.code == "schema"
    return str(raised.value)


def json_rejection(text: str | bytes, **kwargs: Any) -> str:
    with pytest.raises(InvalidInput) as raised:
        parse_inbound_json(text, **kwargs)
    assert raised.value.code == "schema"
    return str(raised.value)


# -- strict types: nothing is coerced ------------------------------------------------------

# field -> values of the wrong JSON type that a lax parser would coerce into the right one
LOOSE: dict[str, list[Any]] = {
    "profile.employees": [True, False, "5", "300", 5.0, 1e3, "many", [5], {"n": 5}],
    "budget": ["yes", "true", "no", 1, 0, 1.0, "1", [True]],
    "authority": ["false", 0],
    "amount": ["100", "1e3", True, False, [1], {"v": 1}],
    "occurred_at": [1_700_000_000, 1_700_000_000.5, True, "1700000000", "1700000000.5",
                    "2024-03-04", "2024-03-04T09:00:00", "yesterday", "", [2024, 3, 4],
                    {"year": 2024}],
    "touchpoint_id": [5, 5.5, True, None, ["tp"], {"id": "tp"}],
    "source": [1, False],
    "external_id": [123, True],
    "email": [1, True, ["ada@acme.com"]],
    "currency": [978, True, ["EUR"]],
    "competitor": [1, False],
    "text": [1, True],
}


def _place(field: str, value: Any) -> dict[str, Any]:
    if field in {"touchpoint_id", "source", "external_id", "occurred_at", "email"}:
        return {**touchpoint_data("tp-1"), field: value}
    if field == "profile.employees":
        return touchpoint_data("tp-1", profile={"employees": value})
    base = action_data("a-1", "win", amount=10, currency="EUR") if field in {
        "amount", "currency"} else action_data("a-1", "bant", budget=True)
    if field in {"competitor", "text"}:
        base = action_data("a-1", "note", text="hi")
    return {**base, field: value}


LOOSE_CASES = [(f, v) for f, values in LOOSE.items() for v in values]


@pytest.mark.parametrize(("field", "value"), LOOSE_CASES)
def test_no_value_of_the_wrong_type_is_coerced(field: str, value: Any) -> None:
    text = rejection(_place(field, value))
    assert text.startswith(field.split(".", maxsplit=1)[0]), text


def test_the_loose_types_of_the_finding_are_rejected() -> None:
    assert "profile.employees: Input should be a valid integer" in rejection(
        touchpoint_data("tp-1", profile={"employees": True}))
    assert "budget: Input should be a valid boolean" in rejection(
        action_data("a-1", "bant", budget="yes"))
    assert "occurred_at: Value error, must be a string, got int" in rejection(
        {**touchpoint_data("tp-1"), "occurred_at": 1_700_000_000})


# -- business time ------------------------------------------------------------------------


def test_times_that_leave_the_calendar_in_utc_are_rejected_not_raised() -> None:
    for text in ("9999-12-31T23:00:00-05:00", "9999-12-31T23:59:59.999999-00:01",
                 "0001-01-01T00:30:00+01:00", "0001-01-01T00:00:00+23:59"):
        assert "is outside the years 1-9999 once converted to UTC" in rejection(
            {**touchpoint_data("tp-1"), "occurred_at": text}), text


offsets = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(
    lambda m: timezone(timedelta(minutes=m)))


@RUNS
@given(moment=st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)),
       offset=offsets, sep=st.sampled_from(["T", " "]))
@example(moment=datetime(9999, 12, 31, 23), offset=timezone(timedelta(hours=-5)), sep="T")
@example(moment=datetime(1, 1, 1, 0, 30), offset=timezone(timedelta(hours=1)), sep="T")
def test_any_time_with_any_offset_parses_or_is_rejected(
    moment: datetime, offset: timezone, sep: str
) -> None:
    text = moment.replace(tzinfo=offset).isoformat(sep=sep)
    data = {**touchpoint_data("tp-1"), "occurred_at": text}
    try:
        tp = parse_inbound(data)
    except InvalidInput:
        assert "outside the years 1-9999" in rejection(data)
        return
    assert tp.occurred_at.tzinfo == UTC
    assert tp.occurred_at == moment.replace(tzinfo=offset)


# -- control characters and surrogates ----------------------------------------------------

CONTROLS = [chr(c) for c in [*range(0x20), *range(0x7F, 0xA0)]]
LINE_BREAKS = {"\t", "\n", "\r"}

# where a string goes: (builder, description)
SINGLE_LINE_PLACES = ["touchpoint_id", "source", "external_id", "profile.name", "profile.company",
                      "profile.phone", "actor", "action_id", "competitor",
                      "properties.key", "properties.nested.key"]


def _with_string(place: str, value: str) -> dict[str, Any]:
    if place == "profile.name":
        return touchpoint_data("tp-1", profile={"name": value})
    if place == "profile.company":
        return touchpoint_data("tp-1", profile={"company": value})
    if place == "profile.phone":
        return touchpoint_data("tp-1", profile={"phone": value})
    if place == "properties.key":
        return touchpoint_data("tp-1", properties={value: 1})
    if place == "properties.nested.key":
        return touchpoint_data("tp-1", properties={"a": [{"b": {value: "x"}}]})
    if place == "properties.value":
        return touchpoint_data("tp-1", properties={"a": {"b": [1, value]}})
    if place in {"actor", "action_id", "competitor", "text", "skip_reason"}:
        return {**action_data("a-1", "note", text="hi"), place: value}
    return {**touchpoint_data("tp-1"), place: value}


@RUNS
@given(place=st.sampled_from(SINGLE_LINE_PLACES),
       control=st.sampled_from(CONTROLS),
       before=st.text(string.ascii_letters, min_size=1, max_size=5),
       after=st.text(string.ascii_letters, min_size=1, max_size=5))
@example(place="source", control="\x00", before="web", after="site")
@example(place="actor", control="\x00", before="sales", after="bob")
def test_no_control_character_passes_in_any_single_line_string(
    place: str, control: str, before: str, after: str
) -> None:
    text = rejection(_with_string(place, before + control + after))
    assert f"control character U+{ord(control):04X}" in text


@RUNS
@given(place=st.sampled_from(["text", "skip_reason", "properties.value"]),
       control=st.sampled_from(CONTROLS))
def test_free_text_keeps_tabs_and_line_breaks_and_nothing_else(place: str, control: str) -> None:
    data = _with_string(place, f"line one{control}line two")
    if control in LINE_BREAKS:
        assert parse_inbound(data)
    else:
        assert f"control character U+{ord(control):04X}" in rejection(data)


@pytest.mark.parametrize("surrogate", ["\ud800", "x\udfff", "a\udc80b"])
def test_lone_surrogates_are_rejected_from_python_callers(surrogate: str) -> None:
    assert rejection({**touchpoint_data("tp-1"), "source": surrogate}).startswith("source: ")
    assert "control character" in rejection(touchpoint_data("tp-1",
                                                            properties={"k": surrogate}))
    assert "control character" in rejection(touchpoint_data("tp-1",
                                                            properties={surrogate: 1}))


def _outcome(parse: Any) -> str:
    try:
        parse()
    except InvalidInput as e:
        return str(e)
    return "ok"


@RUNS
@given(value=st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from(CONTROLS),
                     max_size=12),
       ascii_only=st.booleans(),
       place=st.sampled_from(["source", "text", "profile.name", "properties.key",
                              "properties.value"]))
def test_skipping_the_check_for_clean_json_text_never_lets_a_control_character_pass(
    value: str, ascii_only: bool, place: str
) -> None:
    # parse_inbound_json skips the per-string check when the JSON text has no escape or
    # character that could stand for a control character: it must agree with the check.
    line = json.dumps(_with_string(place, value), ensure_ascii=ascii_only)
    from_text = _outcome(lambda: parse_inbound_json(line))
    assert from_text == _outcome(lambda: parse_inbound_json(line.encode()))
    assert from_text == _outcome(lambda: parse_inbound(json.loads(line)))


# -- invalid UTF-8 -----------------------------------------------------------------------


@RUNS
@given(bad=st.sampled_from([b"\xff", b"\xc3", b"\xe9", b"\xed\xa0\x80", b"\xf8\x88\x80\x80",
                            b"\xc0\xaf", b"\x80"]),
       field=st.sampled_from(["email", "source", "touchpoint_id"]))
@example(bad=b"\xe9", field="email")
def test_invalid_utf8_is_rejected_not_replaced(bad: bytes, field: str) -> None:
    good = orjson.dumps({**touchpoint_data("tp-1"), field: "caf@acme.com"})
    raw = good.replace(b"caf@", b"caf" + bad + b"@", 1)
    assert json_rejection(raw).startswith("not UTF-8")


# -- emails -------------------------------------------------------------------------------


@pytest.mark.parametrize("email", [
    "a@b@c.com", "ada@", "@acme.com", "ada@acme", "ada@localhost", "ada lovelace@acme.com",
    "ada@acme..com", "ada@.acme.com", ".ada@acme.com", "ada.@acme.com", "ada@-acme.com",
    "ada@acme.com.", "ada@[127.0.0.1]", '"ada"@acme.com', "ada@acme.test", "ada@acme.invalid",
    "ada@exa_mple.com", "<ada@acme.com>", "Ada <ada@acme.com>", "ada@acme.com,bob@acme.com",
    "ada\x00@acme.com", "ada\n@acme.com", "ada@" + "a" * 64 + ".com", "ada@acme.c\u200bom",
])
def test_malformed_emails_are_rejected_by_the_validator(email: str) -> None:
    text = rejection(touchpoint_data("tp-1", email=email))
    assert text.startswith("email: Value error, "), text
    assert "not an email address" in text or "control character" in text


@pytest.mark.parametrize(("email", "normalized"), [
    ("Ada.Lovelace@Example.COM", "ada.lovelace@example.com"),
    ("ada+crm@acme.co.uk", "ada+crm@acme.co.uk"),
    ("josé@acme.es", "josé@acme.es"),
])
def test_valid_emails_are_normalised(email: str, normalized: str) -> None:
    assert parse_inbound(touchpoint_data("tp-1", email=email)).email == normalized


# -- money ---------------------------------------------------------------------------------


@RUNS
@given(code=st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=4).filter(
    lambda c: c.strip().upper() not in CURRENCIES))
@example(code="<b>")
@example(code="€€€")
@example(code="123")
@example(code="XXX")
def test_only_iso_4217_currencies_are_accepted(code: str) -> None:
    text = rejection(action_data("a-1", "win", amount=10, currency=code))
    assert text.startswith("currency:"), text


@RUNS
@given(code=st.sampled_from(sorted(CURRENCIES)), lower=st.booleans())
def test_every_iso_4217_currency_is_accepted(code: str, lower: bool) -> None:
    act = parse_inbound(action_data("a-1", "win", amount=10,
                                    currency=code.lower() if lower else code))
    assert isinstance(act, SalesAction)
    assert act.currency == code


def _has_control(text: str) -> bool:
    return any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F or 0xD800 <= ord(c) <= 0xDFFF
               for c in text)


@RUNS
@given(code=st.text(max_size=120))
@example(code="UK")
@example(code="ZZ")
@example(code="<b")
@example(code="")
def test_a_country_is_a_code_or_kept_as_given_or_rejected_with_its_field(code: str) -> None:
    data = touchpoint_data("tp-1", profile={"country": code})
    given = code.strip()
    try:
        tp = parse_inbound(data)
    except InvalidInput as e:
        problem: str | None = str(e)
    else:
        problem = None
    if problem is not None:
        assert problem.startswith("profile.country:"), problem
        assert not given or len(given) > 100 or _has_control(code), (code, problem)
        return
    assert isinstance(tp, Touchpoint)
    assert tp.profile is not None
    country = tp.profile.country
    assert country is not None
    assert country in COUNTRIES or country.strip() == country, (code, country)
    assert country in COUNTRIES or given.startswith(country), (code, country)


def test_every_iso_3166_country_is_accepted() -> None:
    for country in sorted(COUNTRIES):
        tp = parse_inbound(touchpoint_data("tp-1", profile={"country": country.lower()}))
        assert isinstance(tp, Touchpoint)
        assert tp.profile is not None
        assert tp.profile.country == country


@RUNS
@given(amount=st.floats(min_value=1e12, exclude_min=True, allow_infinity=False,
                        allow_nan=False) | st.integers(min_value=10**12 + 1, max_value=2**63))
@example(amount=1e308)
@example(amount=1.7976931348623157e308)
def test_amounts_beyond_the_maximum_are_rejected(amount: float) -> None:
    text = rejection(action_data("a-1", "win", amount=amount, currency="EUR"))
    assert "is more than the largest amount accepted (1e+12)" in text


@RUNS
@given(above=st.floats(min_value=1e-4, max_value=1e6))
def test_an_amount_just_above_the_maximum_is_named_in_full(above: float) -> None:
    # "1e+12 is more than the largest amount accepted (1e+12)" said nothing useful.
    amount = 1e12 + above
    text = rejection(action_data("a-1", "win", amount=amount, currency="EUR"))
    assert f"{amount!r} is more than the largest amount accepted (1e+12)" in text


@pytest.mark.parametrize("literal", ["-0", "-0.0", "-0e5", "-0.0E-3"])
def test_a_negative_zero_amount_is_recorded_as_zero(literal: str) -> None:
    text = json.dumps(action_data("a-1", "win", amount=1, currency="EUR")).replace(
        '"amount": 1', f'"amount": {literal}')
    item = parse_inbound_json(text)
    assert isinstance(item, SalesAction)
    assert item.amount is not None
    assert math.copysign(1, item.amount) == 1  # printed "0.00", never "-0.00"


@pytest.mark.parametrize("written", ["2024-03-04t09:00:00z", "2024-03-04T09:00:00z",
                                     "2024-03-04t09:00:00+01:00"])
def test_the_lower_case_t_and_z_of_rfc_3339_are_times(written: str) -> None:
    item = parse_inbound({**touchpoint_data("tp-1"), "occurred_at": written})
    assert item.occurred_at == datetime.fromisoformat(written.upper())


def test_the_maximum_amount_is_configurable() -> None:
    limits = Limits(max_amount=100.0)
    assert "largest amount accepted (100)" in rejection(
        action_data("a-1", "win", amount=100.01, currency="EUR"), limits=limits)
    assert parse_inbound(action_data("a-1", "win", amount=100, currency="EUR"), limits=limits)


# -- integers, nesting, keys, size --------------------------------------------------------


@RUNS
@given(number=st.integers(min_value=2**63) | st.integers(max_value=-(2**63) - 1))
@example(number=123456789012345678901234567890)
def test_integers_beyond_64_bits_are_rejected_never_rounded(number: int) -> None:
    line = json.dumps(touchpoint_data("tp-1", properties={"n": number}))
    assert "beyond the 64-bit range; send it as a string" in json_rejection(line)
    assert "beyond the 64-bit range" in rejection(touchpoint_data("tp-1",
                                                                 properties={"n": [number]}))


@RUNS
@given(number=st.integers(min_value=-(2**63), max_value=2**63 - 1),
       real=st.floats(allow_nan=False, allow_infinity=False))
def test_integers_within_64_bits_and_floats_are_kept_exactly(number: int, real: float) -> None:
    tp = parse_inbound_json(json.dumps(touchpoint_data("tp-1",
                                                       properties={"n": number, "x": real})))
    assert isinstance(tp, Touchpoint)
    assert tp.properties == {"n": number, "x": real}
    assert type(tp.properties["n"]) is int


@RUNS
@given(depth=st.integers(min_value=9, max_value=300), kind=st.sampled_from(["list", "dict"]))
def test_properties_nested_too_deeply_are_rejected_with_a_reason(depth: int, kind: str) -> None:
    deep: Any = 1
    for _ in range(depth - 1):
        deep = [deep] if kind == "list" else {"k": deep}
    assert "nested deeper than 8 levels" in rejection(touchpoint_data("tp-1",
                                                                     properties={"a": deep}))


def test_properties_at_the_depth_and_key_limits_pass_and_beyond_fail() -> None:
    deep: Any = 1
    for _ in range(7):
        deep = {"k": deep}
    assert parse_inbound(touchpoint_data("tp-1", properties=deep))
    assert parse_inbound(touchpoint_data("tp-1", properties={f"k{i}": i for i in range(256)}))
    assert "more than 256 keys" in rejection(
        touchpoint_data("tp-1", properties={"a": {f"k{i}": i for i in range(257)}}))
    limits = Limits(max_property_depth=2, max_property_keys=3)
    assert "nested deeper than 2 levels" in rejection(
        touchpoint_data("tp-1", properties={"a": {"b": {"c": 1}}}), limits=limits)
    assert "more than 3 keys" in rejection(
        touchpoint_data("tp-1", properties={"a": 1, "b": 2, "c": {"d": 4}}), limits=limits)


@RUNS
@given(size=st.integers(min_value=65_537 - 200, max_value=300_000),
       wide=st.booleans())
def test_inputs_beyond_the_size_limit_are_rejected_with_their_size(size: int, wide: bool) -> None:
    filler = ("é" if wide else "x") * (size // (2 if wide else 1))
    line = json.dumps(touchpoint_data("tp-1", properties={"blob": filler}), ensure_ascii=False)
    n = len(line.encode())
    if n > 65_536:
        assert json_rejection(line) == (
            f"an input may have at most 65536 bytes, this one has {n}")
        assert json_rejection(line.encode()).endswith(f"this one has {n}")
    else:
        assert parse_inbound_json(line)


# -- identifiers: one spelling per id, nothing invisible ----------------------------------

FORMAT_CHARACTERS = ["\u202e", "\u202d", "\u2066", "\u2069", "\u200e", "\u200f", "\u061c",
                     "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\U000e0041"]


@RUNS
@given(text=st.text(alphabet=st.characters(codec="utf-8", categories=["L", "M", "N"]),
                    min_size=1, max_size=40),
       field=st.sampled_from(["external_id", "touchpoint_id"]))
def test_an_id_in_composed_or_decomposed_form_is_one_id(text: str, field: str) -> None:
    # "café" typed on one system and "cafe\u0301" sent by another are the same text
    # (canonically equivalent) and must not make two leads.
    import unicodedata

    forms = {unicodedata.normalize(form, text) for form in ("NFC", "NFD")}
    parsed = []
    for form in forms:
        try:
            item = parse_inbound({**touchpoint_data("tp-1", external_id="x"), field: form})
        except InvalidInput:
            return  # e.g. too long once decomposed, or all blanks: rejected either way
        parsed.append(getattr(item, field))
    assert len(set(parsed)) == 1
    assert parsed[0] == unicodedata.normalize("NFC", parsed[0])


@pytest.mark.parametrize("char", FORMAT_CHARACTERS)
@pytest.mark.parametrize("field", ["external_id", "touchpoint_id", "action_id"])
def test_an_id_holding_an_invisible_format_character_is_rejected(char: str, field: str) -> None:
    # "evil\u202egnp.exe" shows as "evilexe.png"; "ada\u200b" looks like "ada": ids that
    # look like another id, or like nothing, are not ids.
    data = action_data("a-1", "note", text="hi") if field == "action_id" else touchpoint_data(
        "tp-1", external_id="x")
    reason = rejection({**data, field: f"crm{char}42"})
    assert f"{field}: " in reason
    assert f"U+{ord(char):04X}" in reason


# -- duplicate keys: ambiguous, so rejected -----------------------------------------------


def _with_duplicate(text: str, key: str, value: Any) -> str:
    """``text`` (a JSON object) with ``key`` given once more, after the first member."""
    member = f"{json.dumps(key, ensure_ascii=False)}:{json.dumps(value, ensure_ascii=False)}"
    where = text.index("{", 1) + 1 if key.startswith("profile.") else 1
    if key.startswith("profile."):
        member = member.replace(key, key.removeprefix("profile."), 1)
    return f"{text[:where]}{member},{text[where:]}"


@RUNS
@given(key=st.sampled_from(["touchpoint_id", "email", "occurred_at", "kind", "source",
                            "channel", "profile.name", "profile.employees"]),
       value=st.sampled_from(["other", 5, None, "tp-1"]), as_bytes=st.booleans())
def test_a_key_given_twice_in_one_object_is_rejected_never_resolved(
    key: str, value: Any, as_bytes: bool
) -> None:
    # One parser keeps the first value, another the last: which one the sender meant is
    # unknown, so neither may be recorded.
    data = touchpoint_data("tp-1", profile={"name": "Ada", "employees": 5})
    text = _with_duplicate(json.dumps(data), key, value)
    reason = json_rejection(text.encode() if as_bytes else text)
    assert "more than once" in reason
    assert key.removeprefix("profile.") in reason


def test_a_key_given_twice_inside_properties_is_rejected_and_the_same_key_apart_is_not(
) -> None:
    data = touchpoint_data("tp-1", properties={"a": {"x": 1}, "b": {"x": 2}})
    assert parse_inbound_json(json.dumps(data))  # one key in two objects: fine
    text = json.dumps(data).replace('{"x": 1}', '{"x": 1, "x": 3}')
    assert "key 'x' is given more than once" in json_rejection(text)


# -- whatever the bytes: InvalidInput or a valid input ------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@RUNS
@given(raw=st.binary(max_size=300))
def test_random_bytes_never_raise_anything_but_invalid_input(raw: bytes) -> None:
    with contextlib.suppress(InvalidInput):
        parse_inbound_json(raw)


@RUNS
@given(field=st.sampled_from(sorted({*Touchpoint.model_fields, *SalesAction.model_fields})),
       value=json_values, kind=st.sampled_from(["touchpoint", "action"]))
def test_any_json_value_in_any_field_is_parsed_or_rejected(
    field: str, value: Any, kind: str
) -> None:
    base = touchpoint_data("tp-1") if kind == "touchpoint" else action_data(
        "a-1", "win", amount=1, currency="EUR")
    data = {**base, field: value}
    try:
        item = parse_inbound(data)
    except InvalidInput:
        return
    # what passes can be encoded again exactly as the event store will
    assert orjson.loads(orjson.dumps(item.model_dump(mode="json")))


# -- the published schema says the same ----------------------------------------------------


def test_the_json_schema_states_the_new_rules() -> None:
    schema = inbound_json_schema()
    touch, act = schema["$defs"]["Touchpoint"], schema["$defs"]["SalesAction"]
    assert touch["properties"]["occurred_at"]["type"] == "string"
    assert touch["properties"]["occurred_at"]["format"] == "date-time"
    source_pattern = touch["properties"]["source"]["pattern"]
    assert "\\u0000" in source_pattern
    assert act["properties"]["amount"]["maximum"] == 1e12
    currency = act["properties"]["currency"]
    assert set(currency["enum"]) == {*CURRENCIES, None}
    assert "<b>" not in currency["enum"]
    configured = inbound_json_schema(Limits(max_amount=5.0, max_property_keys=7))
    assert configured["$defs"]["SalesAction"]["properties"]["amount"]["maximum"] == 5.0
    assert configured["$defs"]["Touchpoint"]["properties"]["properties"]["maxProperties"] == 7


@pytest.mark.parametrize("depth", [990, 1010, 1020])
def test_properties_nested_to_orjsons_limit_are_rejected_for_their_depth(depth: int) -> None:
    # The duplicate-key check reparses with Python's json, which stops near 1000 levels;
    # the reason must still be the contract's depth limit, not a parser's recursion.
    text = json.dumps(touchpoint_data("tp-1"))[:-1] + ', "properties": {"a": ' + (
        "[" * depth + "]" * depth) + "}}"
    assert "nested deeper than 8 levels" in json_rejection(text)
