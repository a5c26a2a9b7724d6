"""Test stand-ins for the learned-scoring contract while its other parts are being built.

The grading branch codes against the contract's signatures (``lead.facts``,
``facts_as_of``, ``matrix``, ``Model``, ``app.models.load``); where the real one is not
there yet (``NotImplementedError``), :func:`install` puts a minimal one in place for the
test (monkeypatched, never committed in ``lifecycle/``). Where the real one is there, it
is used as it is.

The stand-in model is a fixed logistic function of a few activity columns: deterministic
and explainable (a factor is a column's weight times its value), which is all grading
and its replay need of a model.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from lifecycle.aggregates import events
from lifecycle.scoring.learned import facts as facts_module
from lifecycle.scoring.learned import features as features_module
from lifecycle.scoring.learned import replay as replay_module
from lifecycle.scoring.learned.artifact import Artifact, Baseline, Calibration
from lifecycle.scoring.learned.facts import LeadFacts
from lifecycle.scoring.learned.features import FeatureSpec
from lifecycle.scoring.learned.model import Factor, Model

__all__ = ["KINDS", "Registry", "StandInModel", "install", "stand_in_model"]

KINDS = ("page_view", "email_open", "email_click", "webinar_attended", "demo_requested",
         "pricing_page_view", "content_download")
_DAY = 86_400.0


def _missing(call: Any) -> bool:
    try:
        call()
    except NotImplementedError:
        return True
    except Exception:
        return False
    return False


# -- facts and features ------------------------------------------------------------------


def _start(cls: type[LeadFacts], captured: Any) -> LeadFacts:
    return LeadFacts(template=captured.template, captured_at=captured.occurred_at,
                     channel=captured.channel, source=captured.source,
                     profile=dict(captured.profile), has_email=bool(captured.email),
                     newest_at=captured.occurred_at)


def _add(self: LeadFacts, event: Any) -> None:
    if type(event).__name__ != "TouchpointRecorded":
        return
    self.touches.append((event.occurred_at, event.kind, event.channel))
    self.newest_at = max(self.newest_at, event.occurred_at)
    if event.profile:
        self.profile.update(event.profile)


def _facts_as_of(stored: Iterable[Any], before: datetime | None) -> LeadFacts | None:
    out: LeadFacts | None = None
    for event in stored:
        if before is not None and event.occurred_at >= before:
            continue
        if type(event).__name__ == "Captured":
            out = LeadFacts.start(event)
        elif out is not None:
            out.add(event)
    return out


def _matrix(spec: FeatureSpec, facts: Sequence[LeadFacts], at: Sequence[datetime]) -> Any:
    kinds = {k: 3 + i for i, k in enumerate(spec.kinds)}
    rows = np.zeros((len(facts), 3 + len(kinds)))
    for i, (f, t) in enumerate(zip(facts, at, strict=True)):
        last = max((w for w, _, _ in f.touches), default=f.captured_at)
        rows[i, 0] = len(f.touches)
        rows[i, 1] = (t - last).total_seconds() / _DAY
        rows[i, 2] = (t - f.captured_at).total_seconds() / _DAY
        for _, kind, _ in f.touches:
            if kind in kinds:
                rows[i, kinds[kind]] += 1
    return rows


def _captured_apply(original: Any) -> Any:
    def apply(self: Any, aggregate: Any) -> None:
        original(self, aggregate)
        aggregate.facts = LeadFacts.start(self)
    return apply


def _event_apply(original: Any) -> Any:
    def apply(self: Any, aggregate: Any) -> None:
        original(self, aggregate)
        aggregate.facts.add(self)
    return apply


# -- the model ---------------------------------------------------------------------------


class StandInModel(Model):
    """p = logistic(bias + Σ weight × column), columns of the stand-in matrix."""

    def __init__(self, artifact: Artifact, model_id: str) -> None:  # no super(): a stand-in
        self.artifact = artifact
        self.model_id = model_id
        self.weights = np.array(artifact.params["weights"], dtype=float)
        self.bias = float(artifact.params["bias"])
        self.names = ("touches", "days_since_last_touch", "days_since_capture",
                      *(f"count:{k}" for k in artifact.spec.kinds))
        self.predicted = 0

    def predict(self, rows: np.ndarray) -> np.ndarray:
        self.predicted += len(rows)
        z = self.bias + rows[:, :len(self.weights)] @ self.weights
        out: np.ndarray = 1.0 / (1.0 + np.exp(-z))
        return out

    def factors(self, rows: np.ndarray, *, top: int = 3) -> list[list[Factor]]:
        out = []
        for row in rows:
            parts = [Factor(self.names[j], float(row[j]), float(self.weights[j] * row[j]))
                     for j in range(len(self.weights))]
            parts.sort(key=lambda f: -abs(f.contribution))
            out.append(parts[:top])
        return out

    def grade_of(self, probability: float, *, hot: float | None = None,
                 warm: float | None = None, hot_decile: int = 9,
                 warm_decile: int = 7) -> str:
        if hot is None or warm is None:
            hot = self.artifact.deciles[hot_decile - 1]
            warm = self.artifact.deciles[warm_decile - 1]
        return "hot" if probability >= hot else "warm" if probability >= warm else "cold"


def stand_in_model(model_id: str = "standin0000000001", *, bias: float = -2.0,
                   weights: Sequence[float] | None = None) -> StandInModel:
    """A stand-in model: more touches and demo requests push up, idle days push down."""
    spec = FeatureSpec(kinds=KINDS, channels=(), categorical={}, numeric=())
    w = list(weights) if weights is not None else [
        0.35, -0.08, -0.01, 0.0, 0.2, 0.6, 0.4, 1.5, 0.5, 0.3]
    now = datetime(2024, 1, 1, tzinfo=UTC)
    artifact = Artifact(
        created_at=now, as_of=None, first_outcome=now, last_outcome=now, spec=spec,
        booster="", calibration=Calibration(x=(0.0, 1.0), y=(0.0, 1.0)),
        deciles=tuple(1 / (1 + math.exp(-x)) for x in (-3, -2.6, -2.2, -1.8, -1.4, -1.0,
                                                         -0.6, -0.2, 0.4)),
        baseline=Baseline(coef=(), intercept=0.0, median=(), mean=(), scale=()),
        params={"weights": w, "bias": bias}, metrics={})
    return StandInModel(artifact, model_id)


class Registry:
    """``app.models`` for the tests: ``load`` by id (LookupError for an unknown one)."""

    def __init__(self, *models: Model) -> None:
        self.models = {m.model_id: m for m in models}
        self.loaded: list[str] = []

    def load(self, model_id: str) -> Model:
        self.loaded.append(model_id)
        if model_id not in self.models:
            raise LookupError(f"no model {model_id}")
        return self.models[model_id]

    def active(self) -> Model | None:
        raise AssertionError("the test sets the active model itself")


def install(monkeypatch: pytest.MonkeyPatch) -> None:
    """Puts the stand-ins in place of what the contract has not filled in yet."""
    if _missing(lambda: LeadFacts.start(None)):
        monkeypatch.setattr(LeadFacts, "start", classmethod(_start))
        monkeypatch.setattr(LeadFacts, "add", _add)
        monkeypatch.setattr(events.Captured, "apply",
                            _captured_apply(events.Captured.apply))
        monkeypatch.setattr(events.LeadEvent, "apply", _event_apply(events.LeadEvent.apply))
    if _missing(lambda: facts_module.facts_as_of([], None)):
        monkeypatch.setattr(facts_module, "facts_as_of", _facts_as_of)
        monkeypatch.setattr(replay_module, "facts_as_of", _facts_as_of)
    spec = FeatureSpec(kinds=(), channels=(), categorical={}, numeric=())
    if _missing(lambda: features_module.matrix(spec, [], [])):
        monkeypatch.setattr(features_module, "matrix", _matrix)
        monkeypatch.setattr(replay_module, "matrix", _matrix)
