"""The mapping file: which CSV column is which part of the contract, and how to read it.

A mapping is TOML, validated here (frozen pydantic models that reject unknown keys), so a
typo is an error naming the file and the key, never a column silently left out. It may
start from a preset shipped with the engine (``extends = "hubspot"``) or another mapping
(``extends = "base.toml"``, relative to the file): its own sections are merged over the
base's key by key, and a key it sets replaces the base's value (``phone = ""`` unmaps a
column). ``docs/bring-your-own-data.md`` is the reference of every key.
"""

from __future__ import annotations

import codecs
import tomllib
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from lifecycle.aggregates.values import LossReason
from lifecycle.config import read_toml
from lifecycle.contracts import format_validation_error
from lifecycle.errors import ConfigError
from lifecycle.vocabulary import token

__all__ = ["PRESETS", "Mapping", "Spec", "Stage", "load_mapping"]

PRESETS = ("hubspot", "salesforce")
"""The mappings shipped with the engine (``lifecycle/importing/presets/NAME.toml``)."""

Stage = Literal["lead", "mql", "sql", "won", "lost"]
"""What a status column's value says the lead reached (``lead``: nothing beyond capture)."""


def _unmapped(value: Any) -> Any:
    """``""`` names no column: how a mapping unmaps a column its preset maps."""
    return None if value == "" else value


Column = Annotated[str | None, BeforeValidator(_unmapped)]
"""The header of a CSV column (matched exactly, after trimming spaces), or None."""


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class Spec(_Section):
    """A value read from ``column``, or the constant ``value`` when no column is given or
    the row's cell is empty."""

    column: Column = None
    value: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _something(self) -> Spec:
        if self.column is None and self.value is None:
            raise ValueError("give column (a CSV column), value (a constant) or both")
        return self


class Import(_Section):
    name: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    source: str = Field(min_length=1, max_length=100)
    actor: Spec = Spec(value="import")


class Csv(_Section):
    delimiter: Literal["auto", ",", ";", "\t", "|"] = "auto"
    encoding: str = "utf-8"
    fallback_encoding: Column = "cp1252"
    blank: frozenset[str] = frozenset()

    @field_validator("encoding", "fallback_encoding")
    @classmethod
    def _known(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                codecs.lookup(value)
            except LookupError:
                raise ValueError(f"{value!r} is not an encoding Python knows") from None
        return value


class Key(_Section):
    external_id: Column = None
    email: Column = None
    record_id: Column = None

    @model_validator(mode="after")
    def _a_key(self) -> Key:
        if self.external_id is None and self.email is None:
            raise ValueError("map external_id, email or both: a lead needs a key")
        return self

    @property
    def record(self) -> str:
        """The column that names a record in its inputs' ids."""
        column = self.record_id or self.external_id or self.email
        assert column is not None  # checked by _a_key
        return column


class Time(_Section):
    formats: tuple[str, ...] = Field(default=("iso",), min_length=1)
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not a time zone (e.g. Europe/Berlin, UTC)") from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class Capture(_Section):
    date: Column = None
    default_date: str | None = None
    kind: Spec = Spec(value="imported")
    channel: Spec = Spec(value="other")
    template: Spec | None = None


    @field_validator("default_date")
    @classmethod
    def _iso(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                datetime.fromisoformat(value)
            except ValueError:
                raise ValueError(f"{value!r} is not an ISO 8601 date or time "
                                 "(e.g. 2024-01-01)") from None
        return value


class Profile(_Section):
    name: Column = None
    first_name: Column = None
    last_name: Column = None
    company: Column = None
    industry: Column = None
    employees: Column = None
    employees_range: Literal["low", "middle", "high"] = "low"
    title: Column = None
    country: Column = None
    phone: Column = None


class Property(_Section):
    name: str = Field(min_length=1, max_length=100)
    type: Literal["auto", "text", "number"] = "auto"


def _property(value: Any) -> Any:
    return {"name": value} if isinstance(value, str) else value


class Qualified(_Section):
    date: Column = None
    rule: str = Field(default="import", min_length=1, max_length=100)


class Accepted(_Section):
    date: Column = None


class Won(_Section):
    date: Column = None
    amount: Column = None
    currency: Spec | None = None


class Lost(_Section):
    date: Column = None
    reason: Column = None
    competitor: Column = None
    text: Column = None
    reasons: dict[str, LossReason] = {}

    @field_validator("reasons", mode="before")
    @classmethod
    def _tokens(cls, value: Any) -> Any:
        # Matched as tokens: "Too expensive", "too_expensive" and "TOO EXPENSIVE" are one.
        return {token(k): v for k, v in value.items()} if isinstance(value, dict) else value


class Status(_Section):
    column: str = Field(min_length=1)
    stages: dict[str, Stage]

    @field_validator("stages", mode="before")
    @classmethod
    def _tokens(cls, value: Any) -> Any:
        return {token(k): v for k, v in value.items()} if isinstance(value, dict) else value


class Mapping(_Section):
    """A whole mapping: every section (see the module docstring for ``extends``)."""

    import_: Import = Field(alias="import")
    csv: Csv = Csv()
    key: Key
    time: Time = Time()
    capture: Capture = Capture()
    profile: Profile = Profile()
    properties: dict[str, Annotated[Property, BeforeValidator(_property)]] = {}
    mql: Qualified = Qualified()
    sql: Accepted = Accepted()
    won: Won = Won()
    lost: Lost = Lost()
    status: tuple[Status, ...] = ()


def load_mapping(path: Path | None, *, preset: str | None = None) -> Mapping:
    """The mapping in ``path`` (over ``preset`` when given), or ``preset`` alone.

    Raises:
        ConfigError: a file is missing or not TOML, ``extends`` names nothing, or a key
            is unknown or invalid (the message names the file and the key).
    """
    if path is None:
        if preset is None:
            raise ConfigError("give a mapping file (--mapping) or a preset (--preset)")
        data, origin = _document(_preset(preset), f"preset {preset}", set()), f"preset {preset}"
    else:
        document = read_toml(path, "mapping file")
        if preset is not None:
            if "extends" in document:
                raise ConfigError(f"mapping file {path}: it extends {document['extends']!r}; "
                                  f"give --preset {preset} or extends, not both")
            document["extends"] = preset
        data, origin = _document(document, f"mapping file {path}", {path.resolve()}, path), (
            f"mapping file {path}")
    try:
        return Mapping.model_validate(data)
    except ValidationError as e:
        raise ConfigError(f"{origin}: {format_validation_error(e)}") from None


def _preset(name: str) -> dict[str, Any]:
    if name not in PRESETS:
        raise ConfigError(f"no preset named {name!r}: the presets are {', '.join(PRESETS)}")
    text = resources.files("lifecycle.importing").joinpath(f"presets/{name}.toml").read_text(
        encoding="utf-8")
    return tomllib.loads(text)


def _document(document: dict[str, Any], origin: str, seen: set[Path],
              path: Path | None = None) -> dict[str, Any]:
    """The document merged over what it extends (recursively)."""
    base_name = document.pop("extends", None)
    if base_name is None:
        return document
    if not isinstance(base_name, str) or not base_name:
        raise ConfigError(f"{origin}: extends: give a preset ({', '.join(PRESETS)}) or a "
                          "mapping file's path")
    if base_name in PRESETS:
        base = _document(_preset(base_name), f"preset {base_name}", seen)
    else:
        base_path = (path.parent if path else Path.cwd()) / base_name
        if base_path.resolve() in seen:
            raise ConfigError(f"{origin}: extends {base_name!r}, which extends it back")
        base = _document(read_toml(base_path, "mapping file", hint=f" (extended by {origin})"),
                         f"mapping file {base_path}", seen | {base_path.resolve()}, base_path)
    merged = dict(base)
    for section, value in document.items():
        below = merged.get(section)
        merged[section] = ({**below, **value} if isinstance(below, dict)
                           and isinstance(value, dict) else value)
    return merged
