"""Screens are judgements, not tombstones; qualify; properties on sales actions.

A lead without contact details is captured and scored. Screens disqualify on positive
evidence only (free-mail or education domain under a B2B template, a test pattern), run
again when a new email, name or company arrives, and are reversed (``Reinstated``) when
new evidence clears them or a person acts on the lead. Each story goes through
``apply_input``, the application's mapping of the contract onto the Lead's commands.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from eventsourcing.application import project_aggregate

from lifecycle.aggregates.lead import Lead
from lifecycle.aggregates.values import ERASED
from lifecycle.errors import ConfigError, IllegalTransition
from lifecycle.handling import apply_input
from lifecycle.persistence import FastMapper
from lifecycle.scoring import ScoringConfig, load_scoring, screen
from lifecycle.templates import FunnelTemplate, TemplateRegistry
from tests.support import FIT45, T0, action, event_names, hours, touchpoint

RECORDED_AT = datetime(2024, 6, 1, tzinfo=UTC)
CRM = "crm-7"


class Story:
    """One lead driven through the contract, as the application maps inputs."""

    def __init__(self, template: FunnelTemplate, config: ScoringConfig) -> None:
        self.template, self.config = template, config
        self.lead: Lead | None = None
        self.n = 0
        self.events: list[Lead.Event] = []

    def _apply(self, item: Any) -> list[str]:
        self.lead = apply_input(self.lead, item, template=self.template, config=self.config,
                                recorded_at=RECORDED_AT)
        new = [e for e in self.lead.collect_events() if isinstance(e, Lead.Event)]
        self.events += new
        return event_names(new)

    def touch(self, kind: str = "page_view", **fields: Any) -> list[str]:
        self.n += 1
        fields.setdefault("email", None)
        fields.setdefault("external_id", CRM)
        return self._apply(touchpoint(f"tp-{self.n}", kind, at=T0 + hours(self.n), **fields))

    def act(self, kind: str, **fields: Any) -> list[str]:
        self.n += 1
        return self._apply(action(f"a-{self.n}", kind, at=T0 + hours(self.n), email=None,
                                  external_id=CRM, **fields))

    def last(self, name: str) -> Any:
        return next(e for e in reversed(self.events) if type(e).__name__ == name)

    @property
    def stage(self) -> str:
        assert self.lead is not None
        return self.lead.stage


@pytest.fixture
def story(templates: TemplateRegistry, scoring: ScoringConfig) -> Story:
    return Story(templates["generic_b2b"], scoring)


@pytest.fixture
def screened(story: Story) -> Story:
    """A lead a screen disqualified at capture (a free-mail address under B2B)."""
    assert story.touch(email="ada@gmail.com", profile=FIT45) == [
        "Captured", "Disqualified", "TouchpointRecorded"]
    assert story.stage == "disqualified"
    return story


# -- the screens themselves -----------------------------------------------------------


@pytest.mark.parametrize(("emails", "profile", "b2b", "why"), [
    ((), {}, True, None),  # nothing known: no evidence
    (("test@acme.com",), {}, False, "email matches the test pattern '^test@'"),
    (("ada@example.com",), {}, True, "email matches the test pattern "
                                     "'@example\\\\.(com|net|org)$'"),
    (("ada@shop.example.com",), {}, True, None),  # only the reserved domain itself
    (("contest@acme.com",), {}, True, None),  # the pattern is anchored
    ((), {"name": "Asdf Asdf"}, False, "name matches the test pattern 'asdf'"),
    (("ada@acme.com",), {"company": "ASDF Ltd"}, True, "company matches the test pattern 'asdf'"),
    (("ada@gmail.com", "ada@acme.com"), {}, True, None),  # a business address outweighs
    (("ada@acme.com", "ada@gmail.com"), {}, True, None),
    (("ada@gmail.com", "ada@mit.edu"), {}, True,
     "education domain (mit.edu) under a B2B template"),  # the newest failing email
    (("ada@gmail.com",), {}, False, None),  # free mail is fine for a consumer template
])
def test_screens_judge_on_positive_evidence(
    scoring: ScoringConfig, emails: tuple[str, ...], profile: dict[str, Any], b2b: bool,
    why: str | None,
) -> None:
    assert screen(emails, profile, b2b=b2b, config=scoring.screen) == why


def test_an_old_scoring_file_naming_require_contact_still_loads(tmp_path: Path) -> None:
    text = (Path(__file__).parents[2] / "lifecycle/config/scoring.toml").read_text()
    assert "test_patterns" in text
    old = tmp_path / "old.toml"
    old.write_text(re.sub(r"(?m)^test_patterns = .*$", "require_contact = true", text))
    config = load_scoring(old)
    assert config.screen.test_patterns == ()  # not named: none
    assert screen((), {}, b2b=True, config=config.screen) is None


def test_test_patterns_are_checked_as_regular_expressions(tmp_path: Path) -> None:
    text = (Path(__file__).parents[2] / "lifecycle/config/scoring.toml").read_text()
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace("'asdf'", "'(unclosed'"))
    with pytest.raises(ConfigError, match="test pattern '\\(unclosed' is not a regular "
                                          "expression"):
        load_scoring(bad)


# -- capture without contact details -------------------------------------------------------


def test_a_lead_without_contact_details_is_captured_scored_and_graded(story: Story) -> None:
    assert story.touch("demo_requested", profile=FIT45) == [
        "Captured", "TouchpointRecorded", "Graded", "StageAdvanced", "MarketingQualified"]
    assert story.lead is not None
    assert (story.stage, story.lead.grade, story.lead.contactable) == ("mql", "warm", False)
    story.touch(profile={"phone": "+1 555 0100"})
    assert story.lead.contactable


# -- screens run again --------------------------------------------------------------------


def test_a_new_business_email_clears_the_screen_and_the_lead_is_evaluated(
    screened: Story,
) -> None:
    assert screened.touch(email="ada@acme.com") == [
        "TouchpointRecorded", "Reinstated", "Graded", "StageAdvanced", "NurtureStepSent"]
    recorded, reinstated = screened.events[-5:-3]
    assert isinstance(recorded, Lead.TouchpointRecorded)
    assert recorded.email == "ada@acme.com"
    assert isinstance(reinstated, Lead.Reinstated)
    assert (reinstated.from_stage, reinstated.to_stage, reinstated.rule, reinstated.actor,
            reinstated.source, reinstated.cause_id) == (
        "disqualified", "captured", "screen_cleared", "policy:screen", "engine", "touchpoint:tp-2")
    assert reinstated.text == "a new email (acme.com) passes the screens"
    assert screened.lead is not None
    assert screened.lead.emails == ("ada@gmail.com", "ada@acme.com")
    assert (screened.stage, screened.lead.email) == ("nurturing", "ada@gmail.com")
    # the same email again is nothing new: not stored again, no screen
    assert screened.touch(email="ada@acme.com") == ["TouchpointRecorded"]
    assert "email" not in screened.events[-1].__dict__


def test_a_lead_first_seen_by_id_is_screened_when_its_email_arrives(story: Story) -> None:
    story.touch(profile=FIT45)
    assert story.stage == "nurturing"
    assert story.touch(email="ada@mit.edu") == ["TouchpointRecorded", "Disqualified"]
    disqualified = story.last("Disqualified")
    assert (disqualified.actor, disqualified.reason, disqualified.from_stage,
            disqualified.text) == ("policy:screen", "invalid_lead", "nurturing",
                                   "education domain (mit.edu) under a B2B template")
    assert story.touch(email="ada@acme.com")[:2] == ["TouchpointRecorded", "Reinstated"]
    assert (story.last("Reinstated").to_stage, story.stage) == ("nurturing", "nurturing")


def test_a_changed_name_or_company_is_screened_again(story: Story) -> None:
    story.touch(profile={**FIT45, "company": "asdf"})
    assert story.stage == "disqualified"
    assert story.last("Disqualified").text == "company matches the test pattern 'asdf'"
    assert story.touch(profile={"title": "CTO"}) == ["TouchpointRecorded"]  # not looked at
    assert story.touch(profile={"company": "Acme"})[:2] == ["TouchpointRecorded", "Reinstated"]
    assert story.last("Reinstated").text == "a changed name or company passes the screens"
    assert story.stage == "nurturing"


def test_a_person_disqualified_lead_is_never_reinstated_by_a_screen(story: Story) -> None:
    story.touch(profile=FIT45)
    story.act("disqualify", reason="invalid_lead", text="a competitor's engineer")
    assert story.touch(email="ada@acme.com") == ["TouchpointRecorded"]
    assert story.stage == "disqualified"


def test_a_screen_does_not_disqualify_a_lead_a_person_decided_about(story: Story) -> None:
    story.touch(profile=FIT45)
    story.act("bant", need=True)
    assert story.touch(email="ada@gmail.com") == ["TouchpointRecorded"]
    assert story.stage == "nurturing"


def test_a_screen_does_not_disqualify_a_marketing_qualified_lead(story: Story) -> None:
    story.touch("demo_requested", profile=FIT45)
    assert story.stage == "mql"
    assert story.touch(email="ada@gmail.com") == ["TouchpointRecorded"]
    assert story.stage == "mql"


# -- persons act on a screened lead -------------------------------------------------------


def test_a_sales_action_reinstates_a_screened_lead_then_applies(screened: Story) -> None:
    assert screened.act("bant", budget=True) == [
        "Reinstated", "BantAssessed", "Graded", "StageAdvanced", "NurtureStepSent"]
    reinstated = screened.last("Reinstated")
    assert (reinstated.rule, reinstated.actor, reinstated.source, reinstated.to_stage,
            reinstated.text) == ("person_acted", "sales:bob", "sales", "captured", None)
    assert screened.stage == "nurturing"


def test_accept_with_skip_reason_reinstates_and_qualifies(screened: Story) -> None:
    assert screened.act("accept", skip_reason="met at a fair") == [
        "Reinstated", "StageAdvanced", "MarketingQualified", "SalesAccepted"]
    assert screened.stage == "sql"


def test_an_illegal_action_on_a_screened_lead_emits_nothing_and_says_why(
    screened: Story,
) -> None:
    lead = screened.lead
    assert lead is not None
    version = lead.version
    with pytest.raises(IllegalTransition) as raised:
        screened.act("accept")
    assert str(raised.value) == (
        "cannot accept a lead in stage 'disqualified': the lead is not marketing-qualified "
        "yet; give skip_reason to accept it anyway (a screen disqualified it in stage "
        "'captured', where a person's action reinstates it)")
    assert (lead.version, lead.pending_events, lead.stage) == (version, [], "disqualified")
    with pytest.raises(IllegalTransition, match="cannot win a lead in stage 'disqualified'"):
        screened.act("win", skip_reason="signed")


def test_a_person_disqualifying_a_screened_lead_makes_it_theirs(screened: Story) -> None:
    assert screened.act("disqualify", reason="need_mismatch") == ["Reinstated", "Disqualified"]
    assert screened.last("Disqualified").actor == "sales:bob"
    assert screened.touch(email="ada@acme.com") == ["TouchpointRecorded"]  # stays
    assert screened.stage == "disqualified"


def test_a_note_reinstates_nothing(screened: Story) -> None:
    assert screened.act("note", text="a student, by the look of it") == ["NoteAdded"]
    assert screened.stage == "disqualified"


def test_reopen_a_screened_lead_needs_a_reason(screened: Story) -> None:
    with pytest.raises(IllegalTransition, match="give text: why the disqualified lead"):
        screened.act("reopen")
    assert screened.act("reopen", text="a real buyer with a private address") == [
        "Reopened", "Graded", "StageAdvanced", "NurtureStepSent"]
    reopened = screened.last("Reopened")
    assert (reopened.to_stage, reopened.text) == ("captured",
                                                  "a real buyer with a private address")
    assert screened.stage == "nurturing"


# -- qualify --------------------------------------------------------------------------


def test_qualify_through_the_contract(story: Story) -> None:
    story.touch(profile=FIT45)
    assert story.act("qualify", rule="HubSpot MQL", text="imported") == ["MarketingQualified"]
    mql = story.last("MarketingQualified")
    assert (mql.rule, mql.text, mql.actor, story.stage) == (
        "qualify:hubspot_mql", "imported", "sales:bob", "mql")
    with pytest.raises(IllegalTransition, match="it is marketing-qualified already"):
        story.act("qualify")


def test_qualify_reinstates_a_screened_lead_first(screened: Story) -> None:
    assert screened.act("qualify") == [
        "Reinstated", "StageAdvanced", "MarketingQualified", "Graded"]
    assert (screened.last("MarketingQualified").rule, screened.stage) == ("qualify:manual", "mql")


# -- properties ------------------------------------------------------------------------


def test_properties_first_value_wins_from_touches_and_actions(story: Story) -> None:
    story.touch(profile=FIT45, properties={"segment": "smb", "utm": {"source": "x"}})
    assert story.act("bant", need=True, properties={"segment": "enterprise", "team": "emea"}
                     ) == ["BantAssessed", "PropertiesNoted"]
    noted = story.last("PropertiesNoted")
    assert (noted.properties, noted.actor, noted.cause_id) == (
        {"segment": "enterprise", "team": "emea"}, "sales:bob", "action:a-2")
    assert story.lead is not None
    assert story.lead.properties == {"segment": "smb", "utm": {"source": "x"}, "team": "emea"}
    assert story.act("note", text="x", properties={"owner_team": "west"})[-1] == (
        "PropertiesNoted")
    assert story.lead.properties["owner_team"] == "west"


def test_an_illegal_action_with_properties_records_nothing(story: Story) -> None:
    story.touch(profile=FIT45)
    with pytest.raises(IllegalTransition):
        story.act("win", properties={"segment": "smb"})
    assert story.lead is not None
    assert story.lead.properties == {}


# -- replay and stored shape -----------------------------------------------------------


def full_story(story: Story) -> Story:
    story.touch(email="ada@gmail.com", profile=FIT45, properties={"segment": "smb"})
    story.touch(email="ada@acme.com")
    story.act("disqualify", reason="no_budget")
    story.act("reopen", text="budget after all", properties={"team": "emea"})
    story.act("qualify", rule="list_a", text="why not")
    return story


def test_replaying_the_stored_events_rebuilds_the_same_state(story: Story) -> None:
    full_story(story)
    assert story.lead is not None
    live = dict(story.lead.__dict__)
    live["_pending_events"] = []
    assert state_of(project_aggregate(None, story.events)) == live
    mapper = FastMapper()
    decoded = [mapper.to_domain_event(mapper.to_stored_event(e)) for e in story.events]
    assert [vars(d) for d in decoded] == [vars(e) for e in story.events]
    assert state_of(project_aggregate(None, decoded)) == live


def state_of(lead: Lead | None) -> dict[str, Any]:
    assert isinstance(lead, Lead)
    return dict(lead.__dict__)


def test_new_fields_are_stored_only_when_they_hold_something(story: Story) -> None:
    story.touch(profile=FIT45)
    story.act("qualify")
    mapper = FastMapper()
    stored = {type(e).__name__: list(orjson.loads(mapper.encode_state(e)))
              for e in story.events}
    common = ["timestamp", "occurred_at", "source", "actor", "cause_id"]
    # the stored fields of these kinds, as before the new optional fields existed
    assert stored["TouchpointRecorded"] == [*common, "channel", "kind", "points", "behaviour",
                                            "behaviour_at", "profile", "fit", "fit_parts",
                                            "properties"]
    assert stored["MarketingQualified"] == [*common, "from_stage", "rule", "fit", "behaviour"]


def test_an_erased_lead_keeps_no_email_or_property(story: Story) -> None:
    full_story(story)
    lead = story.lead
    assert lead is not None
    assert lead.contactable
    lead.erase(at=T0 + hours(99), recorded_at=RECORDED_AT, actor="dpo", cause="erase:1")
    assert (lead.emails, lead.properties, lead.contactable) == ((ERASED, ERASED), {}, False)

