"""Grading by a learned model, once per batch: the leads' new inputs, one prediction.

``LeadLifecycle.record_batch`` calls :func:`grade_batch` after the batch's inputs are
applied and before anything is saved, so the model's grades are stored in the same
transaction as the inputs that led to them (in both modes: the streams worker records
through ``record_batch`` too). Every lead of the batch that took a new input (a capture
or a touchpoint; with a ``sales`` model, a sales action too), is open, and whose template
grades by model (``[grading] by = "model"``) is scored in one call: one feature matrix,
one ``predict``, and ``factors`` (TreeSHAP, the costly part) only for the leads whose
grade changes. Each lead then gets ``Lead.grade_by_model``, which records a ``Graded``
event only when the grade changes.

The row describes the lead at ``at`` = its newest moment (the latest business time of
its inputs and stage changes): the ``Graded`` event carries it as ``occurred_at``, and
:func:`lifecycle.scoring.learned.replay.replay_grades` rebuilds the same row from the
events recorded before it (all of them dated at or before ``at``).

The decay policy (``LeadLifecycle.regrade_all``) predicts again, at the regrade moment,
for the leads a model graded (:func:`regrade_by_model`): the rules' regrade leaves their
grade alone. With a template grading by model and no model active, the rules grade (as
``[grading] by`` says): a lead a model graded is handed back to them
(``Lead.grade_by_rules``) on its next input or regrade.

With no template grading by model, a batch costs one look at the configuration: the
learned package (numpy, LightGBM) is not even imported.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from lifecycle.aggregates.lead import Lead
from lifecycle.scoring import ScoringConfig
from lifecycle.templates import CLOSED_STAGES

if TYPE_CHECKING:
    from lifecycle.application import LeadLifecycle
    from lifecycle.scoring.config import ModelGrading
    from lifecycle.scoring.learned.model import Model

__all__ = ["grade_batch", "grade_leads", "grades_by_model", "model_at", "regrade_by_model"]

log = logging.getLogger(__name__)

_INPUTS = (Lead.Captured, Lead.TouchpointRecorded)


def grades_by_model(scoring: ScoringConfig) -> bool:
    """Whether any template's leads are graded by model (``[grading] by = "model"``)."""
    return scoring.grading.by == "model" or any(
        t.grading.by == "model" for t in scoring.templates.values())


def model_at(lead: Lead) -> datetime:
    """The moment a model grades ``lead`` at: its newest input or stage change."""
    facts_at: datetime = lead.facts.newest_at
    return max(lead.newest_at, facts_at)


def grade_batch(app: LeadLifecycle, aggregates: Iterable[Any], recorded_at: datetime) -> int:
    """Grades by the active model the batch's leads that took a new input.

    Args:
        aggregates: the batch's aggregates, with their pending events.
        recorded_at: the batch's recorded time.

    Returns:
        How many leads got a model-made ``Graded`` event.
    """
    scoring = app.scoring
    if not grades_by_model(scoring):
        return 0
    model = app.active_model
    if model is None:
        return _to_rules(app, (lead for lead in aggregates if isinstance(lead, Lead)
                               and lead.graded_by_model is not None and lead.pending_events),
                         None, recorded_at=recorded_at)
    sales = bool(model.artifact.spec.sales)
    chosen: list[tuple[Lead, datetime, str]] = []
    for lead in aggregates:
        if not isinstance(lead, Lead) or lead.erased or lead.stage in CLOSED_STAGES:
            continue
        pending: list[Lead.Event] = lead.pending_events  # type: ignore[assignment]
        if not pending or scoring.for_template(lead.template).grading.by != "model":
            continue
        if any(isinstance(e, _INPUTS) or (sales and e.cause_id.startswith("action:"))
               for e in pending):
            at = model_at(lead)
            if sales:  # a sales action that moved no stage is in no newest_at
                at = max(at, *(e.occurred_at for e in pending))
            # The cause of the last input applied: history shows which one led to it.
            chosen.append((lead, at, pending[-1].cause_id))
    return grade_leads(app, model, chosen, recorded_at=recorded_at)


def regrade_by_model(app: LeadLifecycle, leads: Iterable[Lead], at: datetime, *,
                     cause: str) -> int:
    """The decay policy for leads a model graded: predicts again at ``at`` (the row's
    recency columns move with time, the inputs do not), in one call, and saves the
    grades that change (one transaction).

    Leads whose newest input or stage change is after ``at`` are left alone, like the
    rules' regrade does (and a replay could not rebuild a row from a moment before an
    input it had).

    Returns:
        How many leads' grade changed.
    """
    scoring = app.scoring
    if not grades_by_model(scoring):
        return 0
    model = app.active_model
    if model is None:
        return _to_rules(app, leads, at, recorded_at=app.clock(), cause=cause, save=True)
    chosen = [(lead, at, cause) for lead in leads
              if lead.graded_by_model is not None and not lead.erased
              and lead.stage not in CLOSED_STAGES
              and scoring.for_template(lead.template).grading.by == "model"
              and at >= model_at(lead)]
    if not chosen:
        return 0
    try:
        changed = grade_leads(app, model, chosen, recorded_at=app.clock())
        events = [e for lead, _, _ in chosen for e in lead.collect_events()]
        if events:
            app.save(*events)
    except BaseException:
        for lead, _, _ in chosen:  # their cached state may hold unsaved events
            app._leads.pop(lead.id, None)
        raise
    return changed


def grade_leads(app: LeadLifecycle, model: Model, leads: list[tuple[Lead, datetime, str]],
                *, recorded_at: datetime) -> int:
    """Predicts for ``(lead, at, cause)`` in one call and grades each lead by it.

    A failure of the model (not of a lead) is logged and grades nothing: no input may
    stop ingestion, and the leads keep their grades until their next input.
    """
    if not leads:
        return 0
    from lifecycle.handling import template_of
    from lifecycle.scoring.learned.features import matrix

    configs = [app.scoring.for_template(lead.template) for lead, _, _ in leads]
    try:
        rows = matrix(model.artifact.spec, [lead.facts for lead, _, _ in leads],
                      [at for _, at, _ in leads])
        probabilities = [float(p) for p in model.predict(rows)]
        grades = [model.grade_of(p, **_thresholds(c.grading.model))
                  for p, c in zip(probabilities, configs, strict=True)]
        changing = [i for i, ((lead, _, _), g) in enumerate(zip(leads, grades, strict=True))
                    if g != lead.grade or lead.graded_by_model != model.model_id]
        top = max((configs[i].grading.model.top_factors for i in changing), default=0)
        explained = model.factors(rows[changing], top=top) if changing else []
    except Exception:
        log.exception("model %s failed to grade %d leads; they keep their grades",
                      model.model_id, len(leads))
        return 0
    graded = 0
    for i, factors in zip(changing, explained, strict=True):
        lead, at, cause = leads[i]
        config = configs[i]
        graded += lead.grade_by_model(
            at, model_id=model.model_id, probability=probabilities[i],
            grade=grades[i],  # type: ignore[arg-type]
            factors=[f.as_dict() for f in factors[:config.grading.model.top_factors]],
            template=template_of(app, lead.template), config=config,
            recorded_at=recorded_at, cause=cause)
    return graded


def _to_rules(app: LeadLifecycle, leads: Iterable[Lead], at: datetime | None, *,
              recorded_at: datetime, cause: str | None = None, save: bool = False) -> int:
    """No model is active: the model-graded leads (of templates grading by model) go
    back to the rules (``Lead.grade_by_rules``), at ``at`` or their newest moment, for
    the cause given or their last input's. Returns how many were handed back."""
    from lifecycle.handling import template_of

    scoring = app.scoring
    handed: list[Lead] = []
    for lead in leads:
        config = scoring.for_template(lead.template)
        if config.grading.by != "model" or (at is not None and at < lead.newest_at):
            continue
        why = cause if cause is not None else lead.pending_events[-1].cause_id  # type: ignore[attr-defined]
        if lead.grade_by_rules(lead.newest_at if at is None else at,
                               template=template_of(app, lead.template), config=config,
                               recorded_at=recorded_at, cause=why):
            handed.append(lead)
    if save and handed:
        try:
            app.save(*handed)
        except BaseException:
            for lead in handed:
                app._leads.pop(lead.id, None)
            raise
    return len(handed)


def _thresholds(grading: ModelGrading) -> dict[str, Any]:
    return {"hot": grading.hot, "warm": grading.warm, "hot_decile": grading.hot_decile,
            "warm_decile": grading.warm_decile}
