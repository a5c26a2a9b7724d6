"""Behaviour points of a touch: its kind's weight (0 for a kind the scoring file does not
list, or a rejection where the file says so) plus capped points from numeric properties
(signals), which decay like any points. Properties are the source's data: nothing in
them scores but a positive number, and nothing in them raises."""

from __future__ import annotations

from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from lifecycle.aggregates.lead import Lead
from lifecycle.aggregates.rules import touch_points
from lifecycle.errors import ConfigError, InvalidInput
from lifecycle.scoring import ScoringConfig, Signal, load_scoring
from lifecycle.templates import TemplateRegistry
from tests.support import T0, lead_events, touchpoint
from tests.unit.test_lead_transitions import Driver

DAY = timedelta(days=1)


def with_behaviour(scoring: ScoringConfig, **changes: Any) -> ScoringConfig:
    return scoring.model_copy(update={"behaviour": scoring.behaviour.model_copy(update=changes)})


def test_the_builtin_file_records_unknown_kinds_with_0_points(scoring: ScoringConfig) -> None:
    assert scoring.behaviour.unknown_kind == "zero"
    assert touch_points(scoring, "sms_sent", None) == 0.0
    assert touch_points(scoring, "demo_requested", None) == 30.0


def test_a_file_can_reject_unknown_kinds_naming_the_setting(scoring: ScoringConfig) -> None:
    rejecting = with_behaviour(scoring, unknown_kind="reject")
    with pytest.raises(InvalidInput, match=r"unknown touchpoint kind 'sms_sent' \(known: "
                       r".*\); or set behaviour.unknown_kind = \"zero\""):
        touch_points(rejecting, "sms_sent", {"seconds_on_site": 100})


@pytest.mark.parametrize(
    ("value", "points"),
    [
        (300, 1 + 3.0),  # page_view 1 + 300 s * 0.01
        (150.5, 1 + 1.505),
        (2000, 1 + 20.0),  # at the cap
        (5000, 1 + 20.0),  # capped
        (2**63 - 1, 1 + 20.0),  # the largest integer the contract takes
        (10**400, 1 + 20.0),  # larger than any float: compared, never multiplied
        (float("inf"), 1 + 20.0),  # cannot arrive (the contract takes finite numbers)
        (float("nan"), 1.0),  # nor this: it scores nothing rather than poisoning the score
        (0, 1.0),
        (-300, 1.0),  # negative: nothing
        ("300", 1.0),  # text: nothing
        (True, 1.0),  # a boolean is no number of seconds
        (None, 1.0),
        ([300], 1.0),
        ({"value": 300}, 1.0),
    ],
)
def test_a_signal_scores_positive_numbers_capped_and_nothing_else(
    scoring: ScoringConfig, value: Any, points: float
) -> None:
    assert touch_points(scoring, "page_view", {"seconds_on_site": value}) == points


def test_a_signal_scores_only_its_kinds_and_unknown_kinds_too(scoring: ScoringConfig) -> None:
    config = with_behaviour(scoring, signals=(
        Signal(property="seconds_on_site", points_per_unit=0.01, cap=20, kinds=("page_view",)),
        Signal(property="lessons_completed", points_per_unit=2, cap=10),
    ))
    props = {"seconds_on_site": 600, "lessons_completed": 3, "other": 99}
    assert touch_points(config, "page_view", props) == 1 + 6 + 6
    assert touch_points(config, "email_open", props) == 1 + 6  # not a page view
    assert touch_points(config, "chat", props) == 0 + 6  # an unknown kind: 0 + the signal
    assert touch_points(config, "page_view", None) == 1.0
    assert touch_points(config, "page_view", {}) == 1.0


def test_signal_points_are_the_touch_points_and_decay_like_them(
    templates: TemplateRegistry, scoring: ScoringConfig
) -> None:
    driver = Driver(templates["generic_b2b"], scoring)
    lead = driver.capture(touchpoint("tp-1", "page_view", properties={"seconds_on_site": 900}))
    driver.touch(lead, touchpoint("tp-2", "sms_sent", at=T0 + 14 * DAY,
                                  properties={"seconds_on_site": "a while"}))
    recorded = [e for e in lead_events(lead) if isinstance(e, Lead.TouchpointRecorded)]
    assert [(e.kind, e.points) for e in recorded] == [("page_view", 10.0), ("sms_sent", 0.0)]
    assert lead.behaviour == 5.0  # 10 points, one half-life ago
    assert recorded[1].properties == {"seconds_on_site": "a while"}  # kept as given


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ('[[behaviour.signals]]\nproperty = "s"\npoints_per_unit = 0\ncap = 5',
         "behaviour.signals.1.points_per_unit: Input should be greater than 0"),
        ('[[behaviour.signals]]\nproperty = "s"\npoints_per_unit = 1\ncap = -5',
         "behaviour.signals.1.cap: Input should be greater than 0"),
        ('[[behaviour.signals]]\nproperty = ""\npoints_per_unit = 1\ncap = 5',
         "behaviour.signals.1.property: String should have at least 1 character"),
        ('[[behaviour.signals]]\nproperty = "s"\npoints_per_unit = 1\ncap = 5\nfactor = 2',
         "behaviour.signals.1.factor: Extra inputs are not permitted"),
    ],
)
def test_an_invalid_signal_is_a_config_error_naming_the_file_and_the_field(
    tmp_path: Path, section: str, message: str
) -> None:
    text = resources.files("lifecycle.config").joinpath("scoring.toml").read_text("utf-8")
    marker = "\n# Per-template overrides"
    path = tmp_path / "scoring.toml"
    path.write_text(text.replace(marker, f"\n{section}\n{marker}", 1), encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_scoring(path)
    assert str(raised.value).startswith(f"scoring file {path}: ")
    assert message in str(raised.value)


def test_unknown_kind_takes_zero_or_reject_only(tmp_path: Path) -> None:
    text = resources.files("lifecycle.config").joinpath("scoring.toml").read_text("utf-8")
    path = tmp_path / "scoring.toml"
    path.write_text(text.replace('unknown_kind = "zero"', 'unknown_kind = "ignore"'), "utf-8")
    with pytest.raises(ConfigError, match=r"behaviour\.unknown_kind: Input should be "
                       r"'reject' or 'zero'"):
        load_scoring(path)
