"""The inbound contract: what backend systems may send, and what they are told if not."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import jsonschema
import pytest

from lifecycle.contracts import (
    LOSS_REASONS,
    SalesAction,
    Touchpoint,
    inbound_json_schema,
    parse_inbound,
    parse_inbound_json,
)
from lifecycle.errors import InvalidInput
from tests.support import action_data, touchpoint_data


def rejection(data: Any) -> str:
    with pytest.raises(InvalidInput) as raised:
        parse_inbound(data)
    assert raised.value.code == "schema"
    return str(raised.value)


# -- field paths --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"touchpoint_id": 5}, "touchpoint_id: Input should be a valid string"),
        ({"touchpoint_id": ""}, "touchpoint_id: String should have at least 1 character"),
        ({"channel": "—"}, "channel: String should have at least 1 character"),
        ({"channel": 7}, "channel: Input should be a valid string"),
        ({"kind": "***"}, "kind: String should have at least 1 character"),
        ({"kind": "x" * 61}, "kind: String should have at most 60 characters"),
        ({"occurred_at": "2024-03-04T09:00:00"}, "occurred_at: Value error, has no offset"),
        ({"occurred_at": "yesterday"}, "occurred_at: Value error, not an ISO 8601 time"),
        ({"profile": {"employees": "many"}}, "profile.employees: Input should be a valid integer"),
        ({"profile": {"employees": -1}}, "profile.employees: Input should be greater than or "
         "equal to 0"),
        ({"profile": {"country": "x" * 101}}, "profile.country: String should have at most 100"),
        ({"profile": {"fax": "123"}}, "profile.fax: Extra inputs are not permitted"),
        ({"colour": "blue"}, "colour: Extra inputs are not permitted"),
        ({"properties": ["a"]}, "properties: Input should be a valid dictionary"),
        ({"template": "SaaS!"}, "template: String should match pattern"),
    ],
)
def test_touchpoint_errors_name_the_field_path(changes: dict[str, Any], message: str) -> None:
    assert message in rejection({**touchpoint_data("tp-1"), **changes})


def test_every_problem_is_reported_at_once() -> None:
    data = {**touchpoint_data("tp-1"), "channel": "!!", "profile": {"employees": "x"}}
    del data["source"]
    text = rejection(data)
    assert text.split("; ")[0].startswith("source: Field required")
    assert "channel: String should have at least 1 character" in text
    assert "profile.employees: Input should be a valid integer" in text


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"action": "fly"}, "action: Input should be 'qualify', 'accept', 'advance', 'bant'"),
        ({"rule": "list_a"}, "Value error, rule is only for action 'qualify', not 'note'"),
        ({"amount": "lots", "currency": "EUR"}, "amount: Input should be a valid number"),
        ({"amount": -5, "currency": "EUR"}, "amount: Input should be greater than or equal to 0"),
        ({"amount": float("inf"), "currency": "EUR"}, "amount: Input should be a finite number"),
        ({"currency": "EURO"}, "currency: String should have at most 3 characters"),
        ({"reason": "bored"}, "reason: Input should be 'need_mismatch'"),
        ({"budget": "maybe"}, "budget: Input should be a valid boolean"),
        ({"mood": "great"}, "mood: Extra inputs are not permitted"),
    ],
)
def test_sales_action_errors_name_the_field_path(changes: dict[str, Any], message: str) -> None:
    assert message in rejection({**action_data("a-1", "note", text="hi"), **changes})


def test_an_input_must_say_what_it_is() -> None:
    data = touchpoint_data("tp-1")
    del data["touchpoint_id"]
    assert rejection(data) == (
        "(input): an input needs touchpoint_id (a touchpoint) or action_id (a sales action)")


def test_an_input_with_both_ids_is_a_sales_action_with_an_unknown_field() -> None:
    data = {**action_data("a-1", "note", text="hi"), "touchpoint_id": "tp-1"}
    assert rejection(data) == "touchpoint_id: Extra inputs are not permitted"


# -- normalisation ------------------------------------------------------------------------


def test_email_is_normalised() -> None:
    tp = parse_inbound(touchpoint_data("tp-1", email="  Ada.Lovelace@Example.COM "))
    assert tp.email == "ada.lovelace@example.com"
    assert tp.lead_key == "email:ada.lovelace@example.com"


@pytest.mark.parametrize(
    "email", ["no-at-sign", "ada@localhost", "@acme.com", "ada lovelace@acme.com"])
def test_malformed_email_is_rejected(email: str) -> None:
    assert rejection(touchpoint_data("tp-1", email=email)).startswith(
        "email: Value error, not an email address")


def test_business_time_is_kept_as_the_same_instant_in_utc() -> None:
    tp = parse_inbound({**touchpoint_data("tp-1"), "occurred_at": "2024-03-04T11:30:00+02:00"})
    assert tp.occurred_at == datetime(2024, 3, 4, 9, 30, tzinfo=UTC)
    assert tp.occurred_at.utcoffset() is not None
    assert tp.occurred_at.tzinfo == UTC


def test_profile_country_and_industry_and_currency_are_normalised() -> None:
    tp = parse_inbound(touchpoint_data("tp-1", profile={"country": "de", "industry": "SaaS"}))
    assert isinstance(tp, Touchpoint)
    assert tp.profile is not None
    assert (tp.profile.country, tp.profile.industry) == ("DE", "saas")
    act = parse_inbound(action_data("a-1", "win", amount=10, currency="eur"))
    assert isinstance(act, SalesAction)
    assert act.currency == "EUR"


@pytest.mark.parametrize(
    ("given", "recorded"),
    [("Organic Search", "organic_search"), ("organic-search", "organic_search"),
     ("ORGANIC_SEARCH", "organic_search"), ("Café & Chat", "cafe_and_chat"),
     ("  Direct Traffic ", "direct_traffic"), ("seo", "seo"), ("3rd party", "3rd_party")],
)
def test_channels_and_kinds_are_the_users_own_words_as_tokens(given: str, recorded: str,
                                                               ) -> None:
    tp = parse_inbound(touchpoint_data("tp-1", channel=given, kind=given))
    assert isinstance(tp, Touchpoint)
    assert (tp.channel, tp.kind) == (recorded, recorded)


@pytest.mark.parametrize(
    ("given", "recorded"),
    [("de", "DE"), ("USA", "US"), ("United States", "US"), ("germany", "DE"),
     ("Viet Nam", "VN"), ("UAE", "AE"), ("Russia", "RU"), ("UK", "GB"), ("Bolivia", "BO"),
     ("Deutschland", "Deutschland"), ("ZZ", "ZZ")],
)
def test_countries_are_read_as_codes_or_names_and_kept_when_unknown(given: str,
                                                                    recorded: str) -> None:
    tp = parse_inbound(touchpoint_data("tp-1", profile={"country": given}))
    assert isinstance(tp, Touchpoint)
    assert tp.profile is not None
    assert tp.profile.country == recorded


def test_sales_actions_carry_properties_and_qualify_a_rule() -> None:
    act = parse_inbound(action_data("a-1", "qualify", rule="Webinar List", text="imported",
                                    properties={"segment": "smb", "score": 7}))
    assert isinstance(act, SalesAction)
    assert (act.action, act.rule, act.text) == ("qualify", "webinar_list", "imported")
    assert act.properties == {"segment": "smb", "score": 7}
    assert "properties: Value error, nested deeper than 8 levels" in rejection(
        action_data("a-2", "note", text="x", properties={"a": [[[[[[[[[1]]]]]]]]]}))


def test_inputs_are_frozen() -> None:
    tp = Touchpoint.model_validate(touchpoint_data("tp-1"))
    with pytest.raises(ValueError, match="frozen"):
        tp.kind = "demo_requested"  # type: ignore[misc]


# -- lead keys ----------------------------------------------------------------------------


@pytest.mark.parametrize("build", [touchpoint_data, action_data])
def test_a_lead_key_is_required(build: Any) -> None:
    data = build("x-1", "note", email=None, text="hi") if build is action_data else build(
        "x-1", email=None)
    assert rejection(data) == (
        "(input): Value error, a lead key is required: give external_id, email or both")
    assert "a lead key is required" in rejection({**data, "external_id": None, "email": None})


def test_external_id_routes_before_email() -> None:
    both = parse_inbound(touchpoint_data("tp-1", external_id="crm-7"))
    assert both.lead_key == "external:crm-7"
    only_email = parse_inbound(touchpoint_data("tp-1"))
    assert only_email.lead_key == "email:ada@acme.com"


# -- rules that depend on the action ------------------------------------------------------


@pytest.mark.parametrize("kind", ["lose", "disqualify", "recycle"])
def test_reason_is_required(kind: str) -> None:
    assert rejection(action_data("a-1", kind)) == (
        f"(input): Value error, action {kind!r} needs a reason ({', '.join(LOSS_REASONS)})")
    accepted = parse_inbound(action_data("a-1", kind, reason="no_budget"))
    assert isinstance(accepted, SalesAction)
    assert accepted.reason == "no_budget"


@pytest.mark.parametrize("kind", ["lose", "disqualify"])
def test_competitor_is_required_when_a_competitor_won(kind: str) -> None:
    assert rejection(action_data("a-1", kind, reason="competitor_won")) == (
        "(input): Value error, reason 'competitor_won' needs the competitor's name")
    accepted = parse_inbound(action_data("a-1", kind, reason="competitor_won",
                                         competitor="Initech"))
    assert isinstance(accepted, SalesAction)
    assert accepted.competitor == "Initech"


@pytest.mark.parametrize(
    ("kind", "fields", "message"),
    [
        ("bant", {}, "action 'bant' needs at least one of budget/authority/need/timeline"),
        ("note", {}, "action 'note' needs text"),
        ("win", {"amount": 100}, "an amount needs a currency (ISO 4217, e.g. EUR)"),
    ],
)
def test_action_specific_fields(kind: str, fields: dict[str, Any], message: str) -> None:
    assert rejection(action_data("a-1", kind, **fields)) == f"(input): Value error, {message}"


def test_bant_with_one_answer_is_enough() -> None:
    act = parse_inbound(action_data("a-1", "bant", budget=False))
    assert isinstance(act, SalesAction)
    assert (act.budget, act.authority) == (False, None)


# -- JSON decoding ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not JSON: "),
        ("", "not JSON: "),
        ("[1, 2]", "an input must be a JSON object, got list"),
        ('"touchpoint"', "an input must be a JSON object, got str"),
        ("null", "an input must be a JSON object, got NoneType"),
    ],
)
def test_parse_inbound_json_rejects_what_is_not_an_object(text: str, message: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_inbound_json(text)
    assert str(raised.value).startswith(message)


def test_parse_inbound_json_reads_a_valid_line() -> None:
    line = json.dumps(touchpoint_data("tp-1", "demo_requested"))
    tp = parse_inbound_json(line)
    assert isinstance(tp, Touchpoint)
    assert (tp.touchpoint_id, tp.kind) == ("tp-1", "demo_requested")
    assert parse_inbound_json(line.encode()) == tp


@pytest.mark.parametrize(
    "fragment",
    [
        '"properties": {"x": NaN}',
        '"properties": {"x": Infinity}',
        '"properties": {"x": "\\ud800"}',  # a lone surrogate cannot be stored as UTF-8
        '"amount": 1e400, "currency": "EUR"',
    ],
)
def test_values_the_event_store_cannot_encode_are_rejected_up_front(fragment: str) -> None:
    base = json.dumps(action_data("a-1", "note", text="hi") if "amount" in fragment
                      else touchpoint_data("tp-1"))
    with pytest.raises(InvalidInput, match=r"^not JSON: "):
        parse_inbound_json(base[:-1] + ", " + fragment + "}")


def test_properties_that_cannot_be_stored_are_rejected_with_their_path() -> None:
    assert rejection(touchpoint_data("tp-1", properties={"n": 2**64})) == (
        "properties: Value error, properties.n: the integer 18446744073709551616 is beyond "
        "the 64-bit range; send it as a string")
    deep: Any = 1
    for _ in range(253):  # deeper than the encoder goes once inside an event
        deep = [deep]
    assert "properties: Value error, nested deeper than 8 levels (at properties.a[0]" in (
        rejection(touchpoint_data("tp-1", properties={"a": deep})))
    assert parse_inbound(touchpoint_data("tp-1", properties={"n": 2**63 - 1, "s": "ok"}))


# -- JSON Schema --------------------------------------------------------------------------


def test_json_schema_is_valid_and_agrees_with_the_models() -> None:
    schema = inbound_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    good = [
        touchpoint_data("tp-1", profile={"employees": 20, "country": "DE"},
                        properties={"page": "/pricing"}),
        action_data("a-1", "lose", reason="competitor_won", competitor="Initech"),
        action_data("a-2", "advance", external_id="crm-1", email=None, stage="proposal"),
    ]
    for data in good:
        assert list(validator.iter_errors(data)) == []
        parse_inbound(data)
    bad = [
        {**touchpoint_data("tp-1"), "colour": "blue"},
        {**touchpoint_data("tp-1"), "channel": 5},
        {**touchpoint_data("tp-1"), "touchpoint_id": 5},
        {**action_data("a-1", "note", text="x"), "action": "fly"},
        {k: v for k, v in touchpoint_data("tp-1").items() if k != "kind"},
    ]
    for data in bad:
        assert list(validator.iter_errors(data)) != [], data
        with pytest.raises(InvalidInput):
            parse_inbound(data)


def test_json_schema_describes_both_kinds_of_input() -> None:
    schema = inbound_json_schema()
    assert schema["title"] == "Lead lifecycle inbound input"
    assert schema["oneOf"] == [{"$ref": "#/$defs/Touchpoint"}, {"$ref": "#/$defs/SalesAction"}]
    touch, act = schema["$defs"]["Touchpoint"], schema["$defs"]["SalesAction"]
    assert set(touch["required"]) == {"occurred_at", "touchpoint_id", "source", "channel", "kind"}
    assert set(act["required"]) == {"occurred_at", "action_id", "actor", "action"}
    assert touch["additionalProperties"] is False
    assert act["additionalProperties"] is False
    assert set(touch["properties"]) == set(Touchpoint.model_fields)
    assert set(act["properties"]) == set(SalesAction.model_fields)
