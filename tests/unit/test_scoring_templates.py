"""Per-template scoring: ``[templates.NAME]`` overrides in the scoring file, merged into
its own sections; the built-in ``consumer`` override (fit from the person, grading that
behaviour alone can make Hot); and a consumer lead with no company reaching Hot."""

from __future__ import annotations

from datetime import timedelta
from importlib import resources
from pathlib import Path

import pytest

from lifecycle.aggregates.lead import Lead
from lifecycle.errors import ConfigError
from lifecycle.scoring import ScoringConfig, fit_score, grade, load_scoring
from lifecycle.templates import TemplateRegistry
from lifecycle.views import lead_summary
from tests.support import T0, event_names, hours, lead_events, touchpoint
from tests.unit.test_lead_transitions import Driver


def builtin() -> str:
    return resources.files("lifecycle.config").joinpath("scoring.toml").read_text("utf-8")


def write(tmp_path: Path, extra: str) -> Path:
    path = tmp_path / "scoring.toml"
    path.write_text(builtin() + "\n" + extra, encoding="utf-8")
    return path


def test_a_template_without_overrides_is_scored_by_the_file_itself(
    scoring: ScoringConfig,
) -> None:
    assert scoring.for_template("generic_b2b") is scoring
    assert scoring.for_template("no_such_template") is scoring
    consumer = scoring.for_template("consumer")
    assert consumer.for_template("consumer") is consumer  # nothing nested


def test_the_builtin_consumer_override_scores_the_person(scoring: ScoringConfig) -> None:
    consumer = scoring.for_template("consumer")
    grading = consumer.grading
    assert (grading.fit_weight, grading.behaviour_weight, grading.behaviour_cap,
            grading.hot) == (0.2, 0.8, 80, 65)
    weights = {d: getattr(consumer.fit, d).weight
               for d in ("industry", "company_size", "seniority", "country")}
    assert weights == {"industry": 0, "company_size": 0, "seniority": 60, "country": 40}
    # merged, not replaced: what the override does not name is the file's
    assert consumer.behaviour == scoring.behaviour
    assert consumer.nurture == scoring.nurture
    assert consumer.fit.country.targets == scoring.fit.country.targets
    assert consumer.fit.seniority.aliases == scoring.fit.seniority.aliases
    assert fit_score({"title": "Working Professional", "country": "Germany"},
                     consumer.fit)[0] == 100.0
    assert fit_score({"title": "Student"}, consumer.fit)[0] == 24.0
    assert fit_score({"industry": "software", "employees": 300}, consumer.fit)[0] == 0.0


@pytest.mark.parametrize(
    ("behaviour", "grade_"),
    [(65.0, "hot"), (64.9, "warm"), (35.0, "warm"), (34.9, "cold"), (500.0, "hot")],
)
def test_consumer_grading_reaches_hot_on_behaviour_alone(
    scoring: ScoringConfig, behaviour: float, grade_: str
) -> None:
    # fit 0: total = 0.8 * min(behaviour, 80) * 100 / 80 / (0.2 + 0.8) = min(behaviour, 80)
    assert grade(0.0, behaviour, None, scoring.for_template("consumer").grading).grade == grade_
    # the same behaviour under the file's own grading: fit 0 caps the total at 50
    assert grade(0.0, 500.0, None, scoring.grading).grade == "warm"


def test_a_consumer_lead_with_no_company_reaches_hot_on_behaviour(
    templates: TemplateRegistry, scoring: ScoringConfig
) -> None:
    driver = Driver(templates["consumer"], scoring.for_template("consumer"))
    email = "student.one@gmail.com"  # free-mail: normal for individual buyers
    lead = driver.capture(touchpoint("c-1", "page_view", email=email,
                                     properties={"seconds_on_site": 1200}))
    for n, kind in enumerate(("webinar_attended", "sms_sent", "chat", "form_submit",
                              "event_attended", "application_started"), start=2):
        driver.touch(lead, touchpoint(f"c-{n}", kind, email=email, at=T0 + hours(n)))
    assert lead.fit == 0.0
    assert lead.stage == "mql"
    # 13 + 15 + 0 + 0 + 10 + 15 + 20 points, barely decayed: ~73 (Hot from 65)
    assert lead.grade == "hot"
    graded = [e for e in lead_events(lead) if isinstance(e, Lead.Graded)]
    assert [(g.grade, g.fit) for g in graded][-1] == ("hot", 0.0)
    assert "Disqualified" not in event_names(lead_events(lead))
    rules = [e.rule for e in lead_events(lead) if isinstance(e, Lead.MarketingQualified)]
    assert rules == ["thresholds"]  # behaviour alone: 40 points and no minimum fit
    # lead show explains it by the same configuration (the file's own would say Warm)
    shown = lead_summary(lead, lead_events(lead), scoring, at=T0 + hours(8))["scores"]
    assert (shown["grade_now"], shown["fit"]["score"]) == ("hot", 0.0)


def test_a_file_overrides_what_it_names_and_keeps_the_rest(tmp_path: Path) -> None:
    config = load_scoring(write(tmp_path, """
[templates.webshop.grading]
hot = 50

[templates.webshop.behaviour.weights]
cart_abandoned = 12
page_view = 2

[templates.webshop.fit.industry.aliases]
"Online Shop" = "retail"
"""))
    shop = config.for_template("webshop")
    assert shop.grading.hot == 50
    assert shop.grading.warm == config.grading.warm
    assert shop.behaviour.weights == {**config.behaviour.weights, "cart_abandoned": 12,
                                      "page_view": 2}
    assert shop.fit.industry.aliases["online_shop"] == "retail"
    assert shop.fit.industry.aliases["fintech"] == "financial_services"  # merged
    assert "online_shop" not in config.fit.industry.aliases
    assert config.for_template("consumer").grading.hot == 65  # the built-in one stays


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("[templates.webshop.screen]\nrequire_contact = false",
         "templates.webshop: a template can override behaviour, fit, grading, nurture, "
         "not screen"),
        ("[templates.webshop.grading]\nhot = 120",
         "templates.webshop.grading.hot: Input should be less than or equal to 100"),
        ("[templates.webshop.grading]\nwarm = 90",
         "templates.webshop.grading: Value error, grading.warm (90.0) must not exceed "
         "grading.hot (65.0)"),
        ("[templates.webshop.fit.country]\nweight = 20",
         "templates.webshop.fit: Value error, fit weights must add up to 100, they add up "
         "to 105"),
        ("[templates.webshop.behaviour]\nhalf_life_days = 7",
         "templates.webshop.behaviour.half_life_days: every template decays with the "
         "file's one half-life"),
        ("[templates.Web-Shop.grading]\nhot = 50",
         "templates.Web-Shop: not a template name"),
        ("[templates]\nwebshop = 3",
         "templates.webshop: Input should be a valid dictionary or instance of "
         "ScoringConfig"),
    ],
)
def test_an_invalid_override_is_a_config_error_naming_the_file_and_the_template(
    tmp_path: Path, extra: str, message: str
) -> None:
    path = write(tmp_path, extra)
    with pytest.raises(ConfigError) as raised:
        load_scoring(path)
    assert str(raised.value).startswith(f"scoring file {path}: ")
    assert message in str(raised.value)


def test_a_late_touch_counts_the_same_under_every_template(scoring: ScoringConfig) -> None:
    # one half-life for all: the activity projection decays every lead's points alike
    consumer = scoring.for_template("consumer")
    assert consumer.half_life_seconds == scoring.half_life_seconds
    assert timedelta(seconds=consumer.half_life_seconds) == timedelta(days=14)
