"""Funnel templates as data.

A template names the opportunity stages that follow sales qualification, the win
probability and benchmark conversion of every stage, and the rules that make a lead
marketing-qualified (MQL) and, where the business wants it, sales-qualified (SQL)
without a hand-off. Three ship with the engine (``generic_b2b``, ``saas``,
``industrial``); a user adds their own as a TOML file in a directory named by
``LIFECYCLE_TEMPLATES_DIR``. Every file is validated when it is loaded.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from lifecycle.errors import ConfigError

__all__ = [
    "CLOSED_STAGES",
    "LEAD_POOL_STAGES",
    "FunnelTemplate",
    "MqlRule",
    "SqlRule",
    "StageSpec",
    "TemplateRegistry",
    "load_templates",
]

LEAD_POOL_STAGES: tuple[str, ...] = ("captured", "nurturing", "mql", "sql")
CLOSED_STAGES: tuple[str, ...] = ("won", "lost", "disqualified")
Grade = Literal["cold", "warm", "hot"]


class _Strict(BaseModel):
    # Finite numbers only: NaN passes every bound (each comparison is false).
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class StageSpec(_Strict):
    """One stage: its default win probability and the conversion expected of it."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str = ""
    probability: float = Field(ge=0, le=1)
    benchmark_conversion: float = Field(
        ge=0, le=1, description="industry benchmark share of leads reaching the next stage"
    )


class PoolStage(_Strict):
    probability: float = Field(ge=0, le=1)
    benchmark_conversion: float = Field(ge=0, le=1)


class LeadPool(_Strict):
    captured: PoolStage
    nurturing: PoolStage
    mql: PoolStage
    sql: PoolStage


class MqlRule(_Strict):
    """When a nurtured lead becomes marketing-qualified."""

    min_fit: float = Field(ge=0, le=100)
    min_behaviour: float = Field(ge=0)
    instant_kinds: tuple[str, ...] = ()
    instant_min_fit: float = Field(default=0, ge=0, le=100)


class SqlRule(_Strict):
    """When an MQL becomes sales-qualified without a salesperson's accept."""

    auto: bool = False
    on_kinds: tuple[str, ...] = ()
    min_grade: Grade | None = None
    min_bant: int | None = Field(default=None, ge=1, le=4)

    @model_validator(mode="after")
    def _auto_needs_a_rule(self) -> SqlRule:
        if self.auto and not self.on_kinds and self.min_bant is None:
            raise ValueError("sql.auto needs on_kinds or min_bant")
        return self


class FunnelTemplate(_Strict):
    """A funnel: the stages after SQL, their probabilities, and the MQL/SQL rules."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str
    version: int = Field(ge=1)
    b2b: bool = True
    lead_pool: LeadPool
    stages: tuple[StageSpec, ...] = Field(min_length=1)
    mql: MqlRule
    sql: SqlRule = SqlRule()

    @model_validator(mode="after")
    def _unique_stage_names(self) -> FunnelTemplate:
        names = [s.name for s in self.stages]
        reserved = set(LEAD_POOL_STAGES) | set(CLOSED_STAGES)
        clash = sorted(set(names) & reserved)
        if clash:
            raise ValueError(f"stage names {clash} are reserved lifecycle stages")
        if len(set(names)) != len(names):
            raise ValueError(f"stage names repeat: {names}")
        return self

    @property
    def opportunity_stages(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.stages)

    @property
    def open_stages(self) -> tuple[str, ...]:
        """Every stage a lead can be in before it is won, lost or disqualified."""
        return LEAD_POOL_STAGES + self.opportunity_stages

    @property
    def funnel_stages(self) -> tuple[str, ...]:
        """The funnel from top to bottom, ending in ``won``."""
        return (*self.open_stages, "won")

    def probability(self, stage: str) -> float:
        """Default win probability of a lead in ``stage``."""
        if stage == "won":
            return 1.0
        if stage in CLOSED_STAGES:
            return 0.0
        if stage in LEAD_POOL_STAGES:
            return float(getattr(self.lead_pool, stage).probability)
        return next(s.probability for s in self.stages if s.name == stage)

    def benchmark_conversion(self, stage: str) -> float:
        """Benchmark share of leads in ``stage`` that reach the next funnel stage."""
        if stage in LEAD_POOL_STAGES:
            return float(getattr(self.lead_pool, stage).benchmark_conversion)
        return next(s.benchmark_conversion for s in self.stages if s.name == stage)

    def index(self, stage: str) -> int:
        """Position of an open stage (or ``won``) in the funnel."""
        return self.funnel_stages.index(stage)


class TemplateRegistry:
    """The loaded templates, by name, and which one new leads get by default."""

    def __init__(self, templates: dict[str, FunnelTemplate], *, default: str) -> None:
        if default not in templates:
            raise ConfigError(
                f"default template {default!r} is not loaded; loaded: {', '.join(templates)}"
            )
        self._templates = dict(templates)
        self.default = default

    def __getitem__(self, name: str) -> FunnelTemplate:
        return self._templates[name]

    def __contains__(self, name: object) -> bool:
        return name in self._templates

    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._templates))

    def all(self) -> tuple[FunnelTemplate, ...]:
        return tuple(self._templates[n] for n in self.names())


def _parse(text: str, origin: str) -> FunnelTemplate:
    try:
        return FunnelTemplate.model_validate(tomllib.loads(text))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"template {origin}: not valid TOML: {e}") from None
    except ValidationError as e:
        from lifecycle.contracts import format_validation_error

        raise ConfigError(f"template {origin}: {format_validation_error(e)}") from None


def load_templates(
    extra_dir: Path | None = None, *, default: str = "generic_b2b"
) -> TemplateRegistry:
    """Loads the built-in templates, then every ``*.toml`` in ``extra_dir``.

    A user file with the name of a built-in template replaces it.

    Raises:
        ConfigError: a file is not valid TOML or not a valid template.
    """
    templates: dict[str, FunnelTemplate] = {}
    for entry in sorted(resources.files(__package__).iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            template = _parse(entry.read_text(encoding="utf-8"), entry.name)
            templates[template.name] = template
    if extra_dir is not None:
        if not extra_dir.is_dir():
            raise ConfigError(f"templates directory {extra_dir} does not exist")
        for path in sorted(extra_dir.glob("*.toml")):
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as e:
                raise ConfigError(f"template {path} cannot be read: {e}") from None
            template = _parse(text, str(path))
            templates[template.name] = template
    return TemplateRegistry(templates, default=default)
