"""The scoring configuration: what decides fits, screens, behaviour points, grades,
nurture tracks and alerts (the built-in ``lifecycle/config/scoring.toml`` or a user's
file), validated strictly and loaded with :func:`load_scoring`."""

from __future__ import annotations

import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from lifecycle.config import read_toml
from lifecycle.errors import ConfigError
from lifecycle.scoring.profile_config import FitConfig, ScreenConfig, as_tokens
from lifecycle.scoring.profile_config import Strict as _Strict

# Its public names are listed once, in the package's __all__ (lifecycle.scoring).

Grade = Literal["cold", "warm", "hot"]
GRADES: tuple[Grade, ...] = ("cold", "warm", "hot")
SECONDS_PER_DAY = 86_400.0


class Signal(_Strict):
    """A numeric touchpoint property scored as behaviour: ``points_per_unit`` for each
    unit of its value, at most ``cap`` points per touch, on touches of ``kinds`` (empty:
    of every kind)."""

    property: str = Field(min_length=1)
    points_per_unit: float = Field(gt=0)
    cap: float = Field(gt=0)
    kinds: tuple[str, ...] = ()

    _tokens = field_validator("kinds")(as_tokens)


class BehaviourConfig(_Strict):
    # At most a century: beyond it nothing decays in any lead's lifetime, and a half-life
    # near 1e308 days overflowed (the activity projection's version, the decay factor).
    half_life_days: float = Field(gt=0, le=36_525)
    unknown_kind: Literal["reject", "zero"] = "zero"
    weights: dict[str, float]
    signals: tuple[Signal, ...] = ()


class ModelGrading(_Strict):
    """How a learned model's probability becomes a grade (``[grading.model]``): by
    probability thresholds (``hot``, ``warm``, both or neither), else by the model's
    training distribution (``hot_decile`` 9: the top 10 % are hot; ``warm_decile`` 7:
    the next 20 % warm)."""

    hot: float | None = Field(default=None, gt=0, le=1)
    warm: float | None = Field(default=None, gt=0, le=1)
    hot_decile: int = Field(default=9, ge=1, le=9)
    warm_decile: int = Field(default=7, ge=1, le=9)
    top_factors: int = Field(default=3, ge=1, le=20)

    @model_validator(mode="after")
    def _ordered(self) -> ModelGrading:
        if (self.hot is None) != (self.warm is None):
            raise ValueError("grading.model: give both hot and warm probabilities, or neither "
                             "(then the deciles decide)")
        if self.hot is not None and self.warm is not None and self.warm > self.hot:
            raise ValueError(f"grading.model.warm ({self.warm}) must not exceed hot ({self.hot})")
        if self.warm_decile > self.hot_decile:
            raise ValueError(f"grading.model.warm_decile ({self.warm_decile}) must not exceed "
                             f"hot_decile ({self.hot_decile})")
        return self


class GradingConfig(_Strict):
    by: Literal["rules", "model"] = "rules"
    """``model``: with a model active (``lifecycle model activate``), grades follow its
    predicted probability (:class:`ModelGrading`); without one, the rules grade."""
    model: ModelGrading = ModelGrading()
    fit_weight: float = Field(ge=0)
    behaviour_weight: float = Field(ge=0)
    bant_weight: float = Field(ge=0)
    behaviour_cap: float = Field(gt=0)
    hot: float = Field(ge=0, le=100)
    warm: float = Field(ge=0, le=100)

    @model_validator(mode="after")
    def _ordered(self) -> GradingConfig:
        if self.warm > self.hot:
            raise ValueError(f"grading.warm ({self.warm}) must not exceed grading.hot ({self.hot})")
        if self.fit_weight + self.behaviour_weight <= 0:
            raise ValueError("fit_weight + behaviour_weight must be positive")
        return self

    def threshold(self, grade: Grade) -> float:
        return {"hot": self.hot, "warm": self.warm, "cold": 0.0}[grade]


class NurtureStep(_Strict):
    content: str
    after_days: float = Field(ge=0)


class NurtureConfig(_Strict):
    cold: tuple[NurtureStep, ...]
    warm: tuple[NurtureStep, ...]
    hot: tuple[NurtureStep, ...]

    def track(self, grade: Grade) -> tuple[NurtureStep, ...]:
        steps: tuple[NurtureStep, ...] = getattr(self, grade)
        return steps


class AlertConfig(_Strict):
    """Rules that raise alerts for a salesperson to step in."""

    hot_not_contacted_hours: float = Field(default=24, gt=0)
    contact_kinds: tuple[str, ...] = ("meeting_held", "reply_received")
    quote_kinds: tuple[str, ...] = ("quote_sent", "quote_revised")
    reply_kinds: tuple[str, ...] = ("reply_received", "meeting_held")
    quote_no_reply_days: float = Field(default=7, gt=0)
    revision_kind: str = "quote_revised"
    terms_revised_times: int = Field(default=3, ge=1)
    stuck_min_samples: int = Field(default=5, ge=1)
    cooling_no_touch_days: float = Field(default=21, gt=0)


OVERRIDABLE = ("behaviour", "fit", "grading", "nurture")
"""The sections a template's ``[templates.NAME]`` table may override."""


class ScoringConfig(_Strict):
    """Everything that decides scores, grades, nurture steps and alerts.

    ``templates`` holds, by template name, the configuration that template's leads are
    scored by: the file's own sections with the template's overrides merged in (a table
    key by key, any other value replaced), validated like the file itself.
    """

    version: int = 1
    fit: FitConfig
    screen: ScreenConfig
    behaviour: BehaviourConfig
    grading: GradingConfig
    nurture: NurtureConfig
    alerts: AlertConfig = AlertConfig()
    templates: dict[str, ScoringConfig] = {}

    @model_validator(mode="before")
    @classmethod
    def _merge_overrides(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not isinstance(data.get("templates"), dict):
            return data
        base = {k: v for k, v in data.items() if k != "templates"}
        merged: dict[str, Any] = {}
        for name, override in data["templates"].items():
            merged[name] = override  # not a table: its validation says so
            if isinstance(override, dict):
                others = sorted(set(override) - set(OVERRIDABLE))
                if others:
                    raise ValueError(f"templates.{name}: a template can override "
                                     f"{', '.join(OVERRIDABLE)}, not {', '.join(others)}")
                merged[name] = _merged(base, override)
        return {**base, "templates": merged}

    @model_validator(mode="after")
    def _one_half_life(self) -> ScoringConfig:
        for name, config in self.templates.items():
            if not _TEMPLATE_NAME.fullmatch(name):
                raise ValueError(f"templates.{name}: not a template name (lower case letters, "
                                 "digits and _, starting with a letter)")
            if config.behaviour.half_life_days != self.behaviour.half_life_days:
                # The activity projection and the reports decay every lead's points alike.
                raise ValueError(f"templates.{name}.behaviour.half_life_days: every template "
                                 "decays with the file's one half-life")
        return self

    @property
    def half_life_seconds(self) -> float:
        return self.behaviour.half_life_days * SECONDS_PER_DAY

    def for_template(self, name: str) -> ScoringConfig:
        """The configuration the template's leads are scored by (this one when the file
        overrides nothing for it)."""
        return self.templates.get(name, self)


_TEMPLATE_NAME = re.compile(r"[a-z][a-z0-9_]*")


def _merged(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``override`` merged in: tables key by key, other values replaced."""
    out = dict(base)
    for key, value in override.items():
        below = out.get(key)
        out[key] = (_merged(below, value) if isinstance(below, dict) and isinstance(value, dict)
                    else value)
    return out


def load_scoring(path: Path | None = None) -> ScoringConfig:
    """Loads a scoring file, or the built-in default when ``path`` is None.

    Raises:
        ConfigError: the file is missing, not TOML, or not a valid configuration.
    """
    if path is None:
        text = resources.files("lifecycle.config").joinpath("scoring.toml").read_text("utf-8")
        origin, data = "built-in scoring.toml", tomllib.loads(text)
    else:
        origin, data = str(path), read_toml(path, "scoring file")
    try:
        return ScoringConfig.model_validate(data)
    except ValidationError as e:
        from lifecycle.contracts import format_validation_error

        raise ConfigError(f"scoring file {origin}: {format_validation_error(e)}") from None
