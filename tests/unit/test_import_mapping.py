"""The mapping file: validated with errors that name the file and the key, extending a
preset or another mapping key by key, and the presets shipped with the engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from lifecycle.errors import ConfigError
from lifecycle.importing import PRESETS, load_mapping

MINIMAL = """\
[import]
name = "crm"
source = "crm"

[key]
email = "Email"
"""


def write(tmp_path: Path, text: str, name: str = "map.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error(path: Path | None, **kwargs: str) -> str:
    with pytest.raises(ConfigError) as raised:
        load_mapping(path, **kwargs)
    return str(raised.value)


def test_a_minimal_mapping_takes_the_documented_defaults(tmp_path: Path) -> None:
    mapping = load_mapping(write(tmp_path, MINIMAL))
    assert mapping.key.record == "Email"
    assert mapping.capture.kind.value == "imported"
    assert mapping.capture.channel.value == "other"
    assert mapping.time.formats == ("iso",)
    assert mapping.time.timezone == "UTC"
    assert mapping.csv.fallback_encoding == "cp1252"
    assert mapping.mql.rule == "import"
    assert mapping.import_.actor.value == "import"


@pytest.mark.parametrize(("extra", "key", "says"), [
    ("[profile]\ncompnay = 'Company'\n", "profile.compnay", "Extra inputs"),
    ("[time]\ntimezone = 'Mars/Olympus'\n", "time.timezone", "not a time zone"),
    ("[csv]\nencoding = 'klingon'\n", "csv.encoding", "not an encoding"),
    ("[csv]\ndelimiter = '#'\n", "csv.delimiter", "','"),
    ("[capture]\nchannel = {}\n", "capture.channel", "give column"),
    ("[lost.reasons]\n'Too expensive' = 'broke'\n", "lost.reasons.too_expensive", "no_budget"),
    ("[[status]]\ncolumn = 'Stage'\nstages = { won = 'champion' }\n", "status.0.stages.won",
     "'mql'"),
    ("[profile]\nemployees_range = 'average'\n", "profile.employees_range", "'middle'"),
])
def test_an_invalid_key_is_named_with_the_file(tmp_path: Path, extra: str, key: str,
                                               says: str) -> None:
    path = write(tmp_path, MINIMAL + extra)
    message = error(path)
    assert message.startswith(f"mapping file {path}: {key}: "), message
    assert says in message


def test_a_mapping_without_a_key_column_is_refused(tmp_path: Path) -> None:
    message = error(write(tmp_path, MINIMAL.replace('email = "Email"', 'record_id = "Id"')))
    assert "key: Value error, map external_id, email or both" in message


def test_a_file_that_is_not_toml_or_is_missing_is_named(tmp_path: Path) -> None:
    assert "not valid TOML" in error(write(tmp_path, "[import\n"))
    assert "does not exist" in error(tmp_path / "nope.toml")
    assert "give a mapping file (--mapping) or a preset" in error(None)
    assert "no preset named 'pipedrive'" in error(None, preset="pipedrive")


def test_extends_merges_sections_key_by_key_and_empty_unmaps(tmp_path: Path) -> None:
    path = write(tmp_path, """\
extends = "hubspot"

[time]
timezone = "Europe/Berlin"

[profile]
phone = ""
industry = "Branche"
""")
    mapping = load_mapping(path)
    assert mapping.time.timezone == "Europe/Berlin"
    assert mapping.time.formats == ("iso",)
    assert mapping.profile.phone is None
    assert mapping.profile.industry == "Branche"
    assert mapping.profile.first_name == "First Name"  # kept from the preset
    assert mapping.key.external_id == "Record ID"


def test_extends_a_mapping_file_relative_to_the_extending_one(tmp_path: Path) -> None:
    (tmp_path / "base").mkdir()
    write(tmp_path / "base", MINIMAL + "[capture]\nkind = { value = 'form_submit' }\n",
          "common.toml")
    path = write(tmp_path, 'extends = "base/common.toml"\n[import]\nname = "eu"\nsource = "crm"\n')
    mapping = load_mapping(path)
    assert mapping.import_.name == "eu"
    assert mapping.capture.kind.value == "form_submit"
    loop = write(tmp_path, 'extends = "map.toml"\n', "loop.toml")
    write(tmp_path, 'extends = "loop.toml"\n')
    assert "which extends it back" in error(loop)


def test_a_preset_option_is_extends_and_cannot_be_both(tmp_path: Path) -> None:
    path = write(tmp_path, '[time]\ntimezone = "America/New_York"\n')
    mapping = load_mapping(path, preset="hubspot")
    assert mapping.import_.name == "hubspot"
    assert mapping.time.timezone == "America/New_York"
    both = write(tmp_path, 'extends = "salesforce"\n', "both.toml")
    assert "give --preset hubspot or extends, not both" in error(both, preset="hubspot")


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_loads_alone(name: str) -> None:
    mapping = load_mapping(None, preset=name)
    assert mapping.import_.source == name
    assert mapping.status
