"""Fit matching: industries, titles and countries compared as tokens, through the scoring
file's aliases; :func:`unmatched` names what matched nothing; values in the file are
normalised when it loads, and what cannot match is a configuration error naming it."""

from __future__ import annotations

import pickle
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from lifecycle.errors import ConfigError
from lifecycle.scoring import ScoringConfig, fit_score, load_scoring, unmatched
from lifecycle.scoring.matching import MEMO_LIMIT


@pytest.mark.parametrize(
    ("industry", "points"),
    [
        ("financial_services", 30.0),
        ("Financial Services", 30.0),  # the case: it scored 0
        ("FINANCIAL-SERVICES", 30.0),
        ("  financial   services ", 30.0),
        ("Fintech", 30.0),  # an alias
        ("Banking", 30.0),
        ("IT Services", 30.0),  # alias it_services -> software
        ("Health Care", 0.0),  # "health_care" is not "healthcare"
        ("Healthcare", 15.0),  # adjacent
        ("Energy & Utilities", 0.0),  # "energy_and_utilities": neither
    ],
)
def test_industries_match_as_tokens_and_through_aliases(
    scoring: ScoringConfig, industry: str, points: float
) -> None:
    assert fit_score({"industry": industry}, scoring.fit)[1]["industry"] == points


@pytest.mark.parametrize(
    ("title", "points"),
    [
        ("SVP, Sales", 25.0),  # alias svp -> vp
        ("Vice-President Marketing", 25.0),  # keyword "vice president" as words
        ("VICE_PRESIDENT", 25.0),
        ("Managing Director", 20.0),  # alias managing_director -> director
        ("Head of R&D", 25.0),
        ("Headhunter", 0.0),  # whole words only
        ("Lead Engineer", 15.0),  # the first level that matches
        ("Ingénieur", 0.0),
    ],
)
def test_titles_match_keywords_as_whole_words_and_through_aliases(
    scoring: ScoringConfig, title: str, points: float
) -> None:
    assert fit_score({"title": title}, scoring.fit)[1]["seniority"] == points


@pytest.mark.parametrize(
    ("country", "points"),
    [
        ("GB", 15.0),
        ("uk", 15.0),  # alias: pycountry knows no "UK"
        ("England", 15.0),  # alias
        ("United Kingdom", 15.0),  # a name
        ("DEU", 15.0),  # alpha-3
        ("es", 7.5),  # secondary, any case
        ("BR", 0.0),  # a country that is no target
        ("Narnia", 0.0),
    ],
)
def test_countries_match_by_code_name_or_alias(
    scoring: ScoringConfig, country: str, points: float
) -> None:
    assert fit_score({"country": country}, scoring.fit)[1]["country"] == points


@pytest.mark.parametrize(
    ("profile", "names"),
    [
        ({}, ()),
        ({"industry": "Financial Services", "title": "CTO", "country": "uk"}, ()),
        # known values worth nothing are matched: an "others" industry, a country that is
        # no target, a level worth 0
        ({"industry": "Education", "title": "Student", "country": "BR"}, ()),
        ({"industry": "Agro", "title": "Data Scientist", "country": "Narnia"},
         ("industry", "title", "country")),
        ({"industry": "Fintechs"}, ("industry",)),
        ({"title": "—"}, ("title",)),  # nothing to match by
        ({"employees": 10, "name": "Ada", "company": "Acme"}, ()),  # not matched by words
        ({"industry": 7, "title": None}, ()),  # not text: not given
    ],
)
def test_unmatched_names_the_dimensions_whose_value_matched_nothing(
    scoring: ScoringConfig, profile: dict[str, Any], names: tuple[str, ...]
) -> None:
    assert unmatched(profile, scoring.fit) == names


def test_a_dimension_of_weight_0_has_no_unmatched_values(scoring: ScoringConfig) -> None:
    consumer = scoring.for_template("consumer").fit
    assert consumer.industry.weight == 0
    assert unmatched({"industry": "Agro", "country": "Narnia"}, consumer) == ("country",)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scoring.toml"
    path.write_text(text, encoding="utf-8")
    return path


def builtin_with(old: str, new: str) -> str:
    text = resources.files("lifecycle.config").joinpath("scoring.toml").read_text("utf-8")
    assert old in text
    return text.replace(old, new, 1)


def test_values_in_the_file_are_normalised_when_it_loads(tmp_path: Path) -> None:
    path = write(tmp_path, builtin_with(
        'targets = ["software", "saas",', 'targets = ["Software", "SaaS", "Cyber Security",'
    ).replace('fintech = "financial_services"', '"Fin-Tech" = "Financial Services"\n'
              '"Infosec" = "cyber security"'
    ).replace('{ keywords = ["director"], score = 0.8 }',
              '{ keywords = ["Director", "Head Of"], score = 0.8 }'
    ).replace('targets = ["US", "CA"', 'targets = ["United States", "can"'))
    config = load_scoring(path)
    assert config.fit.industry.targets[:3] == ("software", "saas", "cyber_security")
    assert config.fit.industry.aliases["fin_tech"] == "financial_services"
    assert config.fit.seniority.levels[1].keywords == ("director", "head_of")
    assert config.fit.country.targets[:2] == ("US", "CA")
    assert fit_score({"industry": "infosec", "country": "USA", "title": "fin tech"},
                     config.fit)[1] == {"industry": 30.0, "company_size": 0.0,
                                        "seniority": 0.0, "country": 15.0}
    assert fit_score({"industry": "Fin Tech"}, config.fit)[0] == 30.0


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('fintech = "financial_services"', 'fintech = "finance"',
         "fit.industry: Value error, alias 'fintech' names 'finance', which is in none of "
         "targets, adjacent or others"),
        ('svp = "vp"', 'svp = "veep"',
         "fit.seniority: Value error, alias 'svp' names 'veep', which is no level's keyword"),
        ('uk = "GB"', 'uk = "Albion"',
         "fit.country.aliases: Value error, 'Albion' names no country"),
        ('targets = ["US", "CA"', 'targets = ["XX", "CA"',
         "fit.country.targets: Value error, 'XX' names no country"),
        ('adjacent = ["retail",', 'adjacent = ["—",',
         "fit.industry.adjacent: Value error, '—' has no letter or digit to match by"),
    ],
)
def test_what_cannot_match_is_a_config_error_naming_the_file_and_the_value(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    path = write(tmp_path, builtin_with(old, new))
    with pytest.raises(ConfigError) as raised:
        load_scoring(path)
    assert str(raised.value).startswith(f"scoring file {path}: ")
    assert message in str(raised.value)


def test_answers_stay_right_past_the_memo_limit(scoring: ScoringConfig) -> None:
    # a hostile source sends a new title with every touchpoint: the memo starts again
    for n in range(MEMO_LIMIT + 10):
        assert fit_score({"title": f"Director {n}"}, scoring.fit)[1]["seniority"] == 20.0
    assert fit_score({"title": "CTO"}, scoring.fit)[1]["seniority"] == 25.0


def test_a_configuration_that_matched_pickles_and_equals_a_fresh_one(
    scoring: ScoringConfig,
) -> None:
    # worker processes (what-if, benchmarks) receive it pickled; its matcher is a cache
    fit_score({"industry": "Fintech", "title": "VP", "country": "uk"}, scoring.fit)
    copy = pickle.loads(pickle.dumps(scoring))
    assert copy == scoring == load_scoring()
    assert fit_score({"industry": "Fintech"}, copy.fit)[0] == 30.0
