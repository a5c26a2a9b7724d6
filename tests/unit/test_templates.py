"""Funnel templates: the built-in ones, user templates, and invalid files."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import pytest

from lifecycle.aggregates.lead import Lead
from lifecycle.errors import ConfigError, IllegalTransition
from lifecycle.handling import apply_input, touch_of
from lifecycle.scoring import ScoringConfig
from lifecycle.templates import LEAD_POOL_STAGES, TemplateRegistry, load_templates
from tests.support import action, touchpoint

CUSTOM = """\
name = "webshop"
title = "Web shop"
version = 2
b2b = false

[lead_pool]
captured = { probability = 0.02, benchmark_conversion = 0.9 }
nurturing = { probability = 0.05, benchmark_conversion = 0.4 }
mql = { probability = 0.2, benchmark_conversion = 0.5 }
sql = { probability = 0.3, benchmark_conversion = 0.6 }

[[stages]]
name = "cart"
probability = 0.5
benchmark_conversion = 0.5

[[stages]]
name = "checkout"
probability = 0.8
benchmark_conversion = 0.9

[mql]
min_fit = 0
min_behaviour = 5
"""


def test_builtin_templates_load_with_their_stages(templates: TemplateRegistry) -> None:
    assert templates.names() == ("consumer", "generic_b2b", "industrial", "saas")
    assert templates.default == "generic_b2b"
    assert templates["saas"].opportunity_stages == (
        "demo", "trial", "commercial_negotiation", "closing")
    assert templates["industrial"].opportunity_stages == (
        "technical_evaluation", "bidding", "pre_bid_clarification", "closing")
    assert templates["generic_b2b"].opportunity_stages == (
        "discovery", "proposal", "negotiation", "closing")
    assert templates["consumer"].opportunity_stages == ("application", "enrolment", "checkout")
    assert [t.name for t in templates.all() if not t.b2b] == ["consumer"]


@pytest.mark.parametrize("name", ["generic_b2b", "saas", "industrial", "consumer"])
def test_builtin_funnels_run_top_to_bottom_with_rising_probability(
    templates: TemplateRegistry, name: str
) -> None:
    template = templates[name]
    assert template.funnel_stages == (*LEAD_POOL_STAGES, *template.opportunity_stages, "won")
    probabilities = [template.probability(s) for s in template.funnel_stages]
    assert probabilities == sorted(probabilities)
    assert probabilities[-1] == 1.0
    assert all(template.probability(s) == 0.0 for s in ("lost", "disqualified"))
    assert template.index("won") == len(template.funnel_stages) - 1


def _user_dir(tmp_path: Path, **files: str) -> Path:
    directory = tmp_path / "templates"
    directory.mkdir()
    for name, text in files.items():
        (directory / f"{name}.toml").write_text(text, encoding="utf-8")
    return directory


def test_a_user_template_directory_adds_a_template(
    tmp_path: Path, scoring: ScoringConfig
) -> None:
    registry = load_templates(_user_dir(tmp_path, webshop=CUSTOM))
    assert registry.names() == ("consumer", "generic_b2b", "industrial", "saas", "webshop")
    webshop = registry["webshop"]
    assert (webshop.version, webshop.b2b, webshop.opportunity_stages) == (
        2, False, ("cart", "checkout"))
    # a lead follows it: not B2B, so a free-mail address passes the screens
    now = datetime(2024, 1, 1, tzinfo=UTC)
    lead = Lead.capture(uuid4(), touch_of(touchpoint("tp-1", "form_submit", email="bo@gmail.com",
                                                     template="webshop")),
                        keys=("email:bo@gmail.com",), email="bo@gmail.com", external_id=None,
                        template=webshop, config=scoring, recorded_at=now)
    assert (lead.template, lead.stage) == ("webshop", "mql")  # behaviour 10 >= 5
    apply_input(lead, action("a-1", "accept", email="bo@gmail.com"), template=webshop,
                config=scoring, recorded_at=now)
    for stage in ("cart", "checkout"):
        apply_input(lead, action(f"adv-{stage}", "advance", email="bo@gmail.com"),
                    template=webshop, config=scoring, recorded_at=now)
        assert lead.stage == stage
    with pytest.raises(IllegalTransition, match="template 'webshop' has no such stage"):
        apply_input(lead, action("a-9", "advance", email="bo@gmail.com", stage="closing"),
                    template=webshop, config=scoring, recorded_at=now)


def test_a_user_template_replaces_a_builtin_of_the_same_name(tmp_path: Path) -> None:
    text = CUSTOM.replace('name = "webshop"', 'name = "saas"')
    registry = load_templates(_user_dir(tmp_path, mine=text))
    assert registry.names() == ("consumer", "generic_b2b", "industrial", "saas")
    assert registry["saas"].opportunity_stages == ("cart", "checkout")


def test_the_default_template_can_be_a_user_template(tmp_path: Path) -> None:
    registry = load_templates(_user_dir(tmp_path, webshop=CUSTOM), default="webshop")
    assert registry.default == "webshop"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name = [", "not valid TOML"),
        (CUSTOM.replace('name = "cart"', 'name = "won"'),
         "stage names ['won'] are reserved lifecycle stages"),
        (CUSTOM.replace('name = "checkout"', 'name = "cart"'), "stage names repeat"),
        (CUSTOM.replace("probability = 0.8", "probability = 1.5"),
         "stages.1.probability: Input should be less than or equal to 1"),
        (CUSTOM.replace('title = "Web shop"\n', ""), "title: Field required"),
        (CUSTOM.replace("[mql]\nmin_fit = 0\nmin_behaviour = 5\n", ""), "mql: Field required"),
        (CUSTOM + "\n[sql]\nauto = true\n", "sql.auto needs on_kinds or min_bant"),
        (CUSTOM.replace("version = 2", "version = 2\ncolour = 'red'"),
         "colour: Extra inputs are not permitted"),
        (CUSTOM.replace('name = "webshop"', 'name = "Web Shop"'),
         "name: String should match pattern"),
    ],
)
def test_an_invalid_template_file_is_a_config_error_naming_file_and_problem(
    tmp_path: Path, text: str, message: str
) -> None:
    directory = _user_dir(tmp_path, broken=text)
    with pytest.raises(ConfigError) as raised:
        load_templates(directory)
    assert f"template {directory / 'broken.toml'}: " in str(raised.value)
    assert message in str(raised.value)


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
@pytest.mark.parametrize("setting", ["probability = 0.8", "min_behaviour = 5", "min_fit = 0"])
def test_a_number_that_is_not_finite_in_a_template_is_a_config_error(
    tmp_path: Path, value: str, setting: str
) -> None:
    name = setting.partition(" =")[0]
    directory = _user_dir(tmp_path, broken=CUSTOM.replace(setting, f"{name} = {value}", 1))
    with pytest.raises(ConfigError, match=f"template {directory / 'broken.toml'}: "):
        load_templates(directory)


@pytest.mark.parametrize("content", [b"\xff\xfe", b"name = '\xe9'\n", None])
def test_a_template_file_that_cannot_be_read_is_a_config_error(
    tmp_path: Path, content: bytes | None
) -> None:
    directory = tmp_path / "templates"
    directory.mkdir()
    if content is None:
        (directory / "folder.toml").mkdir()  # a directory named like a template
    else:
        (directory / "bad.toml").write_bytes(content)
    with pytest.raises(ConfigError, match=r"template .* cannot be read"):
        load_templates(directory)


def test_a_missing_template_directory_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"templates directory .*nowhere does not exist"):
        load_templates(tmp_path / "nowhere")


def test_an_unknown_default_template_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as raised:
        load_templates(default="retail")
    assert str(raised.value) == (
        "default template 'retail' is not loaded; loaded: consumer, generic_b2b, industrial, saas")

