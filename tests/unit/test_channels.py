"""The channel grouping file and the dimensions ``--by`` accepts."""

from __future__ import annotations

from pathlib import Path

import pytest

from lifecycle.channels import channel_groups, load_channel_groups
from lifecycle.errors import ConfigError
from lifecycle.reports import parse_dimension
from lifecycle.reports.dimensions import Dimension
from lifecycle.settings import Settings

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "channel_groups.toml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "groups.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_channels_are_grouped_by_their_normalised_names(tmp_path: Path) -> None:
    groups = load_channel_groups(write(tmp_path, """
[groups]
Search = ["Organic Search", "paid-search", "SEO"]
social = ["LinkedIn Ads"]
"""))
    assert dict(groups) == {"organic_search": "search", "paid_search": "search",
                            "seo": "search", "linkedin_ads": "social"}
    assert groups["direct_traffic"] == "direct_traffic"  # in no group: its own
    assert "direct_traffic" not in groups
    assert "seo" in groups
    assert len(groups) == 4


def test_the_setting_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert dict(channel_groups(Settings())) == {}
    monkeypatch.setenv("LIFECYCLE_CHANNEL_GROUPS_FILE",
                       str(write(tmp_path, '[groups]\nsearch = ["seo"]\n')))
    assert channel_groups(Settings())["seo"] == "search"


def test_the_shipped_example_loads() -> None:
    groups = load_channel_groups(EXAMPLE)
    assert groups["organic_search"] == groups["paid_search"] == "search"
    assert groups["direct_traffic"] == "direct"


@pytest.mark.parametrize(("text", "says"), [
    ('[groups]\nsearch = ["seo"]\nweb = ["SEO"]\n',
     "channel 'seo' is in two groups, 'search' and 'web'"),
    ('search = ["seo"]\n', "no [groups] table"),
    ('[groups]\nsearch = "seo"\n', "group 'search' must be a list of channel names"),
    ('[groups]\nsearch = ["seo", 3]\n', "group 'search' must be a list of channel names"),
    ('[groups]\nsearch = ["—"]\n', "channel '—' in group 'search' has no letter or digit"),
    ('[groups]\n"—" = ["seo"]\n', "group '—' has no letter or digit"),
    ("[groups\n", "not valid TOML"),
])
def test_a_bad_file_is_an_error_that_says_what_to_fix(tmp_path: Path, text: str,
                                                     says: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_channel_groups(write(tmp_path, text))
    assert says in str(raised.value)


def test_a_missing_file_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="LIFECYCLE_CHANNEL_GROUPS_FILE"):
        load_channel_groups(tmp_path / "nowhere.toml")


def test_dimensions_parse_by_name_or_property() -> None:
    assert parse_dimension("owner") == Dimension("owner")
    assert parse_dimension("property:plan") == Dimension("property", "plan")
    assert str(parse_dimension("property:a:b c")) == "property:a:b c"
    for bad in ("colour", "property:", "Owner", ""):
        with pytest.raises(ValueError, match="is not a dimension"):
            parse_dimension(bad)
