"""Replaying model-made grades: every ``Graded`` event a model made is recomputed from
the history recorded before it (facts dated up to its business time, the same model
loaded by its id) and must give the same probability and the same grade.

The row is the one the model-grading policy computed (:mod:`lifecycle.policies.
model_grading`): the lead's facts from its events before the ``Graded`` one, dated at or
before the event's ``occurred_at`` (``facts_as_of`` with ``before`` one microsecond
later), described at that same moment. The grade is the replayed probability's under
the configuration's ``[grading.model]`` for the lead's template, so a changed threshold
shows as a mismatch, as it should: the stored grade would no longer be made.

Two passes over the store: the ``Graded`` events of the notification log name the leads a
model graded (read by topic, decoded only those); then those leads' events are read in
chunks, and each model's rows of a chunk are predicted in one call.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

from lifecycle.errors import ModelTampered
from lifecycle.scoring.learned.facts import facts_as_of
from lifecycle.scoring.learned.features import matrix

if TYPE_CHECKING:
    from lifecycle.application import LeadLifecycle
    from lifecycle.scoring.learned.model import Model

__all__ = ["TOLERANCE", "ReplayReport", "replay_grades"]

TOLERANCE = 1e-12
"""How far a replayed probability may be from the stored one. Prediction is
deterministic (LightGBM on one thread, the same artifact), so this only absorbs the last
bit of a float summed in another order; any real change is far larger."""

_CHUNK = 500
_MICROSECOND = timedelta(microseconds=1)
_GRADED_TOPIC = "lifecycle.aggregates.lead:Lead.Graded"


@dataclass
class ReplayReport:
    checked: int = 0
    reproduced: int = 0
    mismatches: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches


def replay_grades(app: LeadLifecycle, lead_ids: list[UUID] | None = None) -> ReplayReport:
    """Checks every model-made ``Graded`` event of the store (or of ``lead_ids``).

    Returns:
        How many were checked and reproduced, and each mismatch: ``lead_id``,
        ``version``, ``model_id``, ``stored`` and ``replayed`` (probability and grade),
        or ``error`` when the model cannot be loaded (unknown id, tampered artifact).
    """
    report = ReplayReport()
    models: dict[str, Model | str] = {}
    ids = list(dict.fromkeys(lead_ids)) if lead_ids is not None else _graded_leads(app)
    for start in range(0, len(ids), _CHUNK):
        _check(app, ids[start:start + _CHUNK], models, report)
    return report


def _graded_leads(app: LeadLifecycle) -> list[UUID]:
    """The leads with a model-made ``Graded`` event, in notification order."""
    found: dict[UUID, None] = {}
    mapper = app.mapper
    start = 1
    while True:
        notifications = app.recorder.select_notifications(start, 5000, topics=[_GRADED_TOPIC])
        if not notifications:
            return list(found)
        for n in notifications:
            event = mapper.to_domain_event(n)
            if getattr(event, "model_id", None) is not None:
                found[event.originator_id] = None
        start = notifications[-1].id + 1


def _lead_events(app: LeadLifecycle, ids: list[UUID]) -> Iterator[list[Any]]:
    """Each lead's events, in version order (one query for the chunk)."""
    stored = app.event_recorder.events_of(ids)
    begin = 0
    for end in range(1, len(stored) + 1):
        if end == len(stored) or stored[end].originator_id != stored[begin].originator_id:
            yield [app.mapper.to_domain_event(s) for s in stored[begin:end]]
            begin = end


def _check(app: LeadLifecycle, ids: list[UUID], models: dict[str, Model | str],
           report: ReplayReport) -> None:
    # model id -> [(event, facts, template)]
    todo: dict[str, list[tuple[Any, Any, str]]] = defaultdict(list)
    for events in _lead_events(app, ids):
        template = getattr(events[0], "template", None)
        for i, event in enumerate(events):
            model_id = getattr(event, "model_id", None)
            if model_id is None or type(event).__name__ != "Graded":
                continue
            facts = facts_as_of(events[:i], before=event.occurred_at + _MICROSECOND)
            todo[model_id].append((event, facts, template or ""))
    for model_id, items in todo.items():
        report.checked += len(items)
        model = _load(app, model_id, models)
        if isinstance(model, str):
            report.mismatches.extend(_mismatch(e, error=model) for e, _, _ in items)
            continue
        usable = [(e, f, t) for e, f, t in items if f is not None]
        report.mismatches.extend(_mismatch(e, error="the lead's capture is not before it")
                                 for e, f, _ in items if f is None)
        if not usable:
            continue
        rows = matrix(model.artifact.spec, [f for _, f, _ in usable],
                      [e.occurred_at for e, _, _ in usable])
        for (event, _, template), p in zip(usable, model.predict(rows), strict=True):
            probability = float(p)
            mg = app.scoring.for_template(template).grading.model
            grade = model.grade_of(probability, hot=mg.hot, warm=mg.warm,
                                   hot_decile=mg.hot_decile, warm_decile=mg.warm_decile)
            stored = event.probability
            if (stored is not None and abs(probability - stored) <= TOLERANCE
                    and grade == event.grade):
                report.reproduced += 1
            else:
                report.mismatches.append(_mismatch(event, probability=probability,
                                                   grade=grade))


def _load(app: LeadLifecycle, model_id: str, models: dict[str, Model | str]) -> Model | str:
    """The model (once per id), or why it cannot be loaded."""
    if model_id not in models:
        try:
            models[model_id] = app.models.load(model_id)
        except (LookupError, ModelTampered) as e:
            models[model_id] = f"model {model_id} cannot be loaded: {e}"
    return models[model_id]


def _mismatch(event: Any, *, probability: float | None = None, grade: str | None = None,
              error: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "lead_id": str(event.originator_id), "version": event.originator_version,
        "model_id": event.model_id, "occurred_at": event.occurred_at.isoformat(),
        "stored": {"probability": event.probability, "grade": event.grade},
    }
    if error is not None:
        out["error"] = error
    else:
        out["replayed"] = {"probability": probability, "grade": grade}
    return out
