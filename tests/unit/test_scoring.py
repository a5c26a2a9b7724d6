"""Scoring, grading and nurture: the pure functions, and the rules the Lead applies.

Default configuration (``lifecycle/config/scoring.toml``): fit weights industry 30,
company size 30, seniority 25, country 15; behaviour half-life 14 days; grade total =
(0.4 fit + 0.4 behaviour [+ 0.2 BANT]) / weights; hot >= 65, warm >= 35.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lifecycle.aggregates.lead import Lead
from lifecycle.errors import ConfigError, InvalidInput
from lifecycle.scoring import (
    BantAssessment,
    Contribution,
    ScoringConfig,
    bant_score,
    behaviour_at,
    decay_factor,
    fit_score,
    grade,
    load_scoring,
    screen,
)
from lifecycle.templates import TemplateRegistry
from tests.support import FIT45, ICP, T0, event_names, hours, lead_events, touchpoint
from tests.unit.test_lead_transitions import RECORDED_AT, Driver

DAY = timedelta(days=1)
HALF_LIFE = 14 * 86_400.0


@pytest.fixture
def generic(templates: TemplateRegistry, scoring: ScoringConfig) -> Driver:
    return Driver(templates["generic_b2b"], scoring)


# -- fit ----------------------------------------------------------------------------------


def test_fit_of_the_ideal_customer_is_100_with_every_part(scoring: ScoringConfig) -> None:
    assert fit_score(ICP, scoring.fit) == (
        100.0, {"industry": 30.0, "company_size": 30.0, "seniority": 25.0, "country": 15.0})


def test_fit_of_an_empty_profile_is_0(scoring: ScoringConfig) -> None:
    assert fit_score({}, scoring.fit) == (
        0.0, {"industry": 0.0, "company_size": 0.0, "seniority": 0.0, "country": 0.0})


@pytest.mark.parametrize(
    ("profile", "dimension", "points"),
    [
        ({"industry": "software"}, "industry", 30.0),
        ({"industry": "healthcare"}, "industry", 15.0),  # adjacent: half
        ({"industry": "agriculture"}, "industry", 0.0),
        ({"employees": 0}, "company_size", 3.0),
        ({"employees": 9}, "company_size", 3.0),
        ({"employees": 10}, "company_size", 12.0),
        ({"employees": 49}, "company_size", 12.0),
        ({"employees": 50}, "company_size", 24.0),
        ({"employees": 199}, "company_size", 24.0),
        ({"employees": 200}, "company_size", 30.0),
        ({"employees": 4999}, "company_size", 30.0),
        ({"employees": 5000}, "company_size", 21.0),
        ({"title": "CTO"}, "seniority", 25.0),
        ({"title": "Head of Sales"}, "seniority", 25.0),
        ({"title": "Headhunter"}, "seniority", 0.0),  # whole words only
        ({"title": "IT Director"}, "seniority", 20.0),
        ({"title": "Lead Engineer"}, "seniority", 15.0),  # the first level that matches
        ({"title": "Software Engineer"}, "seniority", 8.75),
        ({"title": "Student"}, "seniority", 0.0),
        ({"country": "US"}, "country", 15.0),
        ({"country": "ES"}, "country", 7.5),
        ({"country": "BR"}, "country", 0.0),
    ],
)
def test_fit_dimension(
    scoring: ScoringConfig, profile: dict[str, Any], dimension: str, points: float
) -> None:
    total, parts = fit_score(profile, scoring.fit)
    assert parts[dimension] == points
    assert total == points


# -- screens ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("email", "phone", "b2b", "why"),
    [
        ("ada@acme.com", None, True, None),
        ("ada@gmail.com", None, True, "free-mail address (gmail.com) under a B2B template"),
        ("ada@gmail.com", None, False, None),
        ("ada@mit.edu", None, True, "education domain (mit.edu) under a B2B template"),
        ("ada@cs.ox.ac.uk", None, True, "education domain (cs.ox.ac.uk) under a B2B template"),
        ("ada@mail.uni-bonn.de", None, True,
         "education domain (mail.uni-bonn.de) under a B2B template"),
        (None, "+49 30 1234", True, None),
        (None, None, True, None),  # no contact details: no evidence, the lead passes
    ],
)
def test_screen(
    scoring: ScoringConfig, email: str | None, phone: str | None, b2b: bool, why: str | None
) -> None:
    emails = (email,) if email else ()
    assert screen(emails, {"phone": phone}, b2b=b2b, config=scoring.screen) == why


def test_a_screened_out_lead_is_disqualified_at_capture_and_never_graded(
    generic: Driver,
) -> None:
    lead = generic.capture(touchpoint("tp-1", email="ada@gmail.com", profile=ICP))
    events = lead_events(lead)
    assert event_names(events) == ["Captured", "Disqualified", "TouchpointRecorded"]
    disqualified = events[1]
    assert isinstance(disqualified, Lead.Disqualified)
    assert (disqualified.reason, disqualified.actor, disqualified.from_stage) == (
        "invalid_lead", "policy:screen", "captured")
    assert disqualified.text == "free-mail address (gmail.com) under a B2B template"
    assert (lead.stage, lead.grade) == ("disqualified", None)


# -- decay and behaviour ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("after", "factor"),
    [
        (timedelta(0), 1.0),
        (-DAY, 1.0),  # never grows backwards
        (14 * DAY, 0.5),
        (28 * DAY, 0.25),
        (42 * DAY, 0.125),
        (7 * DAY, 2 ** -0.5),
    ],
)
def test_decay_factor(after: timedelta, factor: float) -> None:
    assert decay_factor(T0, T0 + after, HALF_LIFE) == pytest.approx(factor, rel=1e-12)


def test_behaviour_at_sums_decayed_contributions_up_to_that_moment() -> None:
    contributions = [
        Contribution(T0, "form_submit", 10.0),
        Contribution(T0 + 7 * DAY, "content_download", 8.0),
        Contribution(T0 + 20 * DAY, "demo_requested", 30.0),  # after the moment: not counted
    ]
    assert behaviour_at(contributions, T0 + 14 * DAY, HALF_LIFE) == pytest.approx(
        10 * 0.5 + 8 * 2 ** -0.5, rel=1e-12)
    assert behaviour_at(contributions, T0 - DAY, HALF_LIFE) == 0.0


def test_touchpoints_score_at_their_own_business_time_late_ones_included(
    generic: Driver,
) -> None:
    lead = generic.capture(touchpoint("tp-1", "form_submit", profile=FIT45))  # 10 points
    generic.touch(lead, touchpoint("tp-2", "content_download", at=T0 + 14 * DAY))  # 8 points
    assert lead.behaviour == 13.0  # 10 decayed by one half-life, plus 8
    assert lead.behaviour_at == T0 + 14 * DAY
    # a late touchpoint, a week before the newest one: it has decayed from its own time
    generic.touch(lead, touchpoint("tp-3", "email_click", at=T0 + 7 * DAY))  # 3 points
    late = [e for e in lead_events(lead) if isinstance(e, Lead.TouchpointRecorded)][-1]
    assert late.occurred_at == T0 + 7 * DAY
    assert late.points == 3.0
    assert late.behaviour == round(13 + 3 * 2 ** -0.5, 6) == 15.12132
    assert late.behaviour_at == T0 + 14 * DAY
    assert lead.last_touch_at == T0 + 14 * DAY  # the newest touch stays the newest
    assert [(c.occurred_at, c.points) for c in lead.contributions] == [
        (T0, 10.0), (T0 + 14 * DAY, 8.0), (T0 + 7 * DAY, 3.0)]


def test_unknown_touchpoint_kind_is_rejected_before_anything_is_emitted(
    templates: TemplateRegistry, scoring: ScoringConfig
) -> None:
    rejecting = scoring.model_copy(update={
        "behaviour": scoring.behaviour.model_copy(update={"unknown_kind": "reject"})})
    generic = Driver(templates["generic_b2b"], rejecting)
    lead = generic.capture(touchpoint("tp-1"))
    lead.collect_events()
    with pytest.raises(InvalidInput, match="kind: unknown touchpoint kind 'fax_received'"):
        generic.touch(lead, touchpoint("tp-2", "fax_received"))
    assert lead.pending_events == []


def test_regrade_by_decay_at_chosen_moments(generic: Driver) -> None:
    lead = generic.capture(touchpoint("tp-1", profile=FIT45))
    generic.touch(lead, touchpoint("tp-2", "demo_requested", at=T0 + hours(1)))
    graded = [e for e in lead_events(lead) if isinstance(e, Lead.Graded)]
    # fit 45; behaviour 1 * 2^(-1h/14d) + 30 = 30.997939 -> total (45 + 31.0) / 2 = 38.0
    assert [(g.grade, g.total, g.behaviour) for g in graded] == [
        ("cold", 23.0, 1.0), ("warm", 38.0, 31.0)]
    lead.collect_events()
    # 4 days on: 30.997939 * 2^(-4/14) = 25.43 -> total 35.22, still warm: nothing happens
    assert generic.regrade(lead, T0 + hours(1) + 4 * DAY) is False
    assert lead.pending_events == []
    # 5 days on: 24.20 -> total 34.6, cold
    assert generic.regrade(lead, T0 + hours(1) + 5 * DAY) is True
    (event,) = lead_events(lead)
    assert isinstance(event, Lead.Graded)
    assert (event.previous, event.grade, event.total, event.behaviour, event.trigger) == (
        "warm", "cold", 34.6, 24.2, "decay")
    assert (event.actor, event.cause_id, event.occurred_at) == (
        "policy:decay", "policy:test", T0 + hours(1) + 5 * DAY)
    assert lead.grade == "cold"
    # a moment before the newest event cannot be evaluated
    assert generic.regrade(lead, T0) is False


# -- BANT and grades ----------------------------------------------------------------------


def test_bant_score_is_25_per_confirmed_criterion() -> None:
    assert bant_score(BantAssessment()) == 0.0
    assert bant_score(BantAssessment(budget=True, authority=False)) == 25.0
    assert bant_score(BantAssessment(True, True, True, True)) == 100.0


def test_bant_merge_keeps_earlier_answers_and_takes_new_ones() -> None:
    earlier = BantAssessment(budget=True, need=False)
    merged = earlier.merged(BantAssessment(need=True, timeline=False))
    assert merged == BantAssessment(budget=True, authority=None, need=True, timeline=False)
    assert (merged.met, merged.assessed) == (2, True)
    assert BantAssessment().assessed is False


@pytest.mark.parametrize(
    ("bant", "total", "grade_", "part"),
    [
        (None, 22.5, "cold", None),  # (45 + 0) / 2: BANT's weight shared out
        (BantAssessment(), 22.5, "cold", None),  # nothing asked is not assessed
        (BantAssessment(False, False, False, False), 18.0, "cold", 0.0),
        (BantAssessment(True, True, True, True), 38.0, "warm", 100.0),  # 18 + 0 + 20
    ],
)
def test_grade_with_and_without_bant(
    scoring: ScoringConfig, bant: BantAssessment | None, total: float, grade_: str,
    part: float | None,
) -> None:
    result = grade(45.0, 0.0, bant, scoring.grading)
    assert (result.total, result.grade, result.bant) == (total, grade_, part)


@pytest.mark.parametrize(
    ("fit", "behaviour", "total", "grade_"),
    [
        (65.0, 65.0, 65.0, "hot"),
        (64.98, 65.0, 64.99, "warm"),
        (35.0, 35.0, 35.0, "warm"),
        (34.98, 35.0, 34.99, "cold"),
        (0.0, 0.0, 0.0, "cold"),
        (100.0, 100.0, 100.0, "hot"),
        (0.0, 250.0, 50.0, "warm"),  # behaviour is capped at 100
        (60.0, -40.0, 30.0, "cold"),  # and never counts below 0
    ],
)
def test_grade_boundaries(
    scoring: ScoringConfig, fit: float, behaviour: float, total: float, grade_: str
) -> None:
    result = grade(fit, behaviour, None, scoring.grading)
    assert (result.total, result.grade) == (total, grade_)


def test_graded_is_emitted_only_when_the_grade_changes(generic: Driver) -> None:
    lead = generic.capture(touchpoint("tp-1", profile=FIT45))
    lead.collect_events()
    generic.touch(lead, touchpoint("tp-2", "email_open", at=T0 + hours(1)))
    assert event_names(lead_events(lead)) == ["TouchpointRecorded"]  # still cold
    lead.collect_events()
    generic.touch(lead, touchpoint("tp-3", "webinar_attended", at=T0 + hours(2)))
    generic.touch(lead, touchpoint("tp-4", "form_submit", at=T0 + hours(3)))  # total 36
    graded = [e for e in lead_events(lead) if isinstance(e, Lead.Graded)]
    assert [(g.previous, g.grade) for g in graded] == [("cold", "warm")]


# -- MQL and SQL rules per template -------------------------------------------------------


def _driver(templates: TemplateRegistry, scoring: ScoringConfig, name: str) -> Driver:
    return Driver(templates[name], scoring)


def _rules(lead: Lead) -> list[tuple[str, str]]:
    return [(type(e).__name__, e.rule) for e in lead_events(lead)
            if isinstance(e, Lead.MarketingQualified | Lead.SalesQualified)]


def test_generic_mql_by_thresholds(generic: Driver) -> None:
    lead = generic.capture(touchpoint("tp-1", profile=ICP))  # fit 100, behaviour 1
    for n, kind in enumerate(("webinar_attended", "event_attended", "form_submit")):
        assert lead.stage == "nurturing"
        generic.touch(lead, touchpoint(f"tp-{n + 2}", kind))
    # behaviour 41 >= 40 and fit 100 >= 50
    assert lead.stage == "mql"
    assert _rules(lead) == [("MarketingQualified", "thresholds")]


@pytest.mark.parametrize(
    ("profile", "stage"),
    [(FIT45, "mql"), ({"industry": "software", "country": "ES"}, "nurturing")],  # 45 / 37.5
)
def test_generic_instant_mql_needs_the_minimum_fit(
    generic: Driver, profile: dict[str, Any], stage: str
) -> None:
    lead = generic.capture(touchpoint("tp-1", "demo_requested", profile=profile))
    assert lead.stage == stage
    assert _rules(lead) == ([("MarketingQualified", "instant:demo_requested")]
                            if stage == "mql" else [])


def test_generic_never_makes_an_sql_without_a_salesperson(generic: Driver) -> None:
    lead = generic.capture(touchpoint("tp-1", "contact_sales", profile=ICP))
    generic.touch(lead, touchpoint("tp-2", "trial_started"))
    generic.touch(lead, touchpoint("tp-3", "meeting_held"))
    assert lead.stage == "mql"


def test_saas_trial_by_a_hot_lead_is_sales_qualified_at_once(
    templates: TemplateRegistry, scoring: ScoringConfig
) -> None:
    saas = _driver(templates, scoring, "saas")
    lead = saas.capture(touchpoint("tp-1", "trial_started", profile=ICP, template="saas"))
    # fit 100, behaviour 35: total 67.5, hot; fit >= 45 and behaviour >= 35: thresholds
    assert lead.grade == "hot"
    assert _rules(lead) == [("MarketingQualified", "thresholds"),
                            ("SalesQualified", "on_kind:trial_started")]
    assert lead.stage == "sql"


def test_saas_trial_by_a_warm_lead_stops_at_mql(
    templates: TemplateRegistry, scoring: ScoringConfig
) -> None:
    saas = _driver(templates, scoring, "saas")
    lead = saas.capture(touchpoint("tp-1", "trial_started", profile={"industry": "software"},
                                   template="saas"))
    # fit 30 < 45: not the thresholds, but the instant rule (fit >= 35)? No: 30 < 35
    assert (lead.stage, _rules(lead)) == ("nurturing", [])
    saas.touch(lead, touchpoint("tp-2", "trial_started", at=T0 + hours(1),
                                profile={"country": "US"}))  # fit 45 now
    assert lead.grade == "warm"
    assert _rules(lead) == [("MarketingQualified", "thresholds")]
    assert lead.stage == "mql"


def test_industrial_mql_only_on_contact_sales_and_sql_on_three_bant_criteria(
    templates: TemplateRegistry, scoring: ScoringConfig
) -> None:
    ind = _driver(templates, scoring, "industrial")
    # two months ago: its 30 points have decayed to 1.53 by now
    lead = ind.capture(touchpoint("tp-1", "demo_requested", at=T0 - 60 * DAY, profile=ICP,
                                  template="industrial"))
    assert lead.stage == "nurturing"  # demo requests are not an instant kind here
    ind.touch(lead, touchpoint("tp-2", "contact_sales", at=T0 + hours(1)))
    assert lead.stage == "mql"  # behaviour 31.5 < 45: by the instant rule, not thresholds
    ind.act(lead, "bant", at=T0 + hours(2), budget=True, authority=True)
    assert lead.stage == "mql"  # two criteria
    ind.act(lead, "bant", at=T0 + hours(3), need=True)
    assert lead.stage == "sql"
    assert _rules(lead) == [("MarketingQualified", "instant:contact_sales"),
                            ("SalesQualified", "bant>=3")]
    sql = lead_events(lead)[-1]
    assert isinstance(sql, Lead.SalesQualified)
    assert (sql.actor, sql.cause_id.startswith("action:bant-")) == ("policy:bant", True)


# -- nurture by grade and timing ---------------------------------------------------------


def _steps(lead: Lead) -> list[tuple[str, int, str, datetime]]:
    return [(e.track, e.step, e.content, e.occurred_at) for e in lead_events(lead)
            if isinstance(e, Lead.NurtureStepSent)]


def test_cold_track_steps_are_sent_when_due(generic: Driver) -> None:
    lead = generic.capture(touchpoint("tp-1", profile=FIT45))
    assert _steps(lead) == [("cold", 0, "industry_white_paper", T0)]
    lead.collect_events()
    generic.touch(lead, touchpoint("tp-2", at=T0 + 13 * DAY))
    assert _steps(lead) == []  # second step is due after 14 days
    generic.touch(lead, touchpoint("tp-3", at=T0 + 14 * DAY))
    assert _steps(lead) == [("cold", 1, "industry_trends_newsletter", T0 + 14 * DAY)]
    assert generic.send_nurture(lead, T0 + 34 * DAY) is False
    assert generic.send_nurture(lead, T0 + 35 * DAY) is True
    assert _steps(lead)[-1] == ("cold", 2, "benchmark_report", T0 + 35 * DAY)
    assert generic.send_nurture(lead, T0 + 90 * DAY) is False  # the track is done


def test_warm_track_starts_when_the_grade_turns_warm(generic: Driver) -> None:
    lead = generic.capture(touchpoint("tp-1", profile=FIT45))
    # behaviour 1 + 15 + 8 + 3 = 27, fit 45: total 36, warm; no MQL rule applies
    for n, kind in enumerate(("webinar_attended", "content_download", "email_click")):
        generic.touch(lead, touchpoint(f"tp-{n + 2}", kind))
    assert (lead.stage, lead.grade) == ("nurturing", "warm")
    assert _steps(lead) == [("cold", 0, "industry_white_paper", T0),
                            ("warm", 0, "customer_case_study", T0)]
    assert generic.send_nurture(lead, T0 + 5 * DAY - hours(1)) is False
    assert generic.send_nurture(lead, T0 + 5 * DAY) is True
    step = lead_events(lead)[-1]
    assert isinstance(step, Lead.NurtureStepSent)
    assert (step.track, step.step, step.content, step.track_started_at) == (
        "warm", 1, "product_demo_video", T0)


def test_hot_track_offers_a_trial_then_a_call(generic: Driver) -> None:
    lead = generic.capture(touchpoint("tp-1", profile=ICP))  # warm: 50.5
    # behaviour 1 + 15 + 8 + 6 = 30: total 65, hot; below the MQL thresholds (40)
    for n, kind in enumerate(("webinar_attended", "content_download", "pricing_page_view")):
        generic.touch(lead, touchpoint(f"tp-{n + 2}", kind))
    assert (lead.stage, lead.grade) == ("nurturing", "hot")
    assert [s[:3] for s in _steps(lead)] == [("warm", 0, "customer_case_study"),
                                             ("hot", 0, "trial_offer")]
    assert generic.send_nurture(lead, T0 + 2 * DAY) is True
    assert _steps(lead)[-1][:3] == ("hot", 1, "sales_call_invitation")


def test_no_nurture_outside_nurturing(generic: Driver) -> None:
    lead = generic.lead_in("mql")
    assert lead.send_due_nurture(T0 + 60 * DAY, config=generic.config,
                                 recorded_at=RECORDED_AT, cause="policy:nurture") is False
    assert lead.pending_events == []


# -- configuration ------------------------------------------------------------------------


def test_builtin_scoring_configuration_loads(scoring: ScoringConfig) -> None:
    assert scoring.behaviour.half_life_days == 14.0
    assert scoring.half_life_seconds == HALF_LIFE
    assert (scoring.grading.hot, scoring.grading.warm) == (65, 35)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace("weight = 30\ntargets", "weight = 35\ntargets", 1),
         "fit weights must add up to 100, they add up to 105"),
        (lambda t: t.replace("hot = 65", "hot = 30"),
         "grading.warm (35.0) must not exceed grading.hot (30.0)"),
        (lambda t: t.replace("half_life_days = 14.0", "half_life_days = 0"),
         "behaviour.half_life_days: Input should be greater than 0"),
        (lambda t: t + "\n[surprise]\nx = 1\n", "surprise: Extra inputs are not permitted"),
        (lambda t: t + "\nthis is not toml\n", "not valid TOML"),
    ],
)
def test_invalid_scoring_file_is_a_config_error_naming_the_problem(
    tmp_path: Path, edit: Any, message: str
) -> None:
    builtin = Path(__file__).parents[2] / "lifecycle" / "config" / "scoring.toml"
    path = tmp_path / "scoring.toml"
    path.write_text(edit(builtin.read_text(encoding="utf-8")), encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_scoring(path)
    assert str(path) in str(raised.value)
    assert message in str(raised.value)


NON_FINITE = ["nan", "inf", "-inf", "+nan"]


@pytest.mark.parametrize("value", NON_FINITE)
@pytest.mark.parametrize("setting", [
    "half_life_days = 14.0", "page_view = 1", "weight = 30", "hot = 65", "warm = 35",
    "fit_weight = 0.4", "behaviour_cap = 100", "score = 0.1", "after_days = 14",
])
def test_a_number_that_is_not_finite_is_a_config_error_wherever_it_stands(
    tmp_path: Path, value: str, setting: str
) -> None:
    # NaN and infinity passed the bounds (an infinite half-life crashed whatif with an
    # OverflowError; a NaN weight made the projections drop every touchpoint's events).
    builtin = Path(__file__).parents[2] / "lifecycle" / "config" / "scoring.toml"
    text = builtin.read_text(encoding="utf-8")
    name = setting.partition(" =")[0]
    path = tmp_path / "scoring.toml"
    path.write_text(text.replace(setting, f"{name} = {value}", 1), encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_scoring(path)
    assert str(raised.value).startswith(f"scoring file {path}: ")
    assert "not valid TOML" not in str(raised.value)


@pytest.mark.parametrize("days", ["1e308", "1e300", "1000000"])
def test_a_half_life_beyond_any_use_is_a_config_error_not_an_overflow(
    tmp_path: Path, days: str
) -> None:
    builtin = Path(__file__).parents[2] / "lifecycle" / "config" / "scoring.toml"
    path = tmp_path / "scoring.toml"
    path.write_text(builtin.read_text(encoding="utf-8").replace(
        "half_life_days = 14.0", f"half_life_days = {days}"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"behaviour\.half_life_days: Input should be less"):
        load_scoring(path)


@pytest.mark.parametrize("content", [b"\xff\xfe\x00v", b"version = 1\n\xe9\n"])
def test_a_scoring_file_that_is_not_utf8_or_not_readable_is_a_config_error(
    tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "scoring.toml"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=f"scoring file {path} cannot be read"):
        load_scoring(path)
    with pytest.raises(ConfigError, match=f"scoring file {tmp_path} cannot be read"):
        load_scoring(tmp_path)  # a directory


def test_missing_scoring_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_scoring(tmp_path / "nope.toml")
