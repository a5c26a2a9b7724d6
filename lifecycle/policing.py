"""What the application does outside an input: policy runs and the learned model.

:class:`PolicyRuns` is the part of :class:`~lifecycle.application.LeadLifecycle` that
policies call (:mod:`lifecycle.policies`): regrading on decay (with the leads a model
graded predicted again, in one call), due nurture steps, and the stored models
(:mod:`lifecycle.scoring.learned`), loaded on first use so that an engine grading by
rules never imports numpy or LightGBM.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from lifecycle.aggregates.lead import Lead
from lifecycle.handling import run_policy, template_of

if TYPE_CHECKING:
    from lifecycle.application import LeadLifecycle
    from lifecycle.scoring import ScoringConfig
    from lifecycle.scoring.learned.model import Model
    from lifecycle.scoring.learned.registry import ModelRegistry

__all__ = ["PolicyRuns"]


class PolicyRuns:
    """Mixed into the application (``self`` is a LeadLifecycle)."""

    if TYPE_CHECKING:
        scoring: ScoringConfig

    def regrade_all(self, lead_ids: Iterable[UUID], at: datetime, *, cause: str) -> int:
        """Policy: re-evaluates leads' grades with behaviour decayed to ``at``; the
        leads a model graded are predicted again at ``at``, in one call.

        Returns:
            How many leads changed (their events are saved in one transaction; the
            model's grades in a second one).
        """
        by_model: list[Lead] = []

        def regrade(lead: Lead, now: datetime) -> bool:
            if lead.graded_by_model is not None:
                by_model.append(lead)
            return lead.regrade(at, template=template_of(self.app, lead.template),
                                config=self.scoring.for_template(lead.template),
                                recorded_at=now, cause=cause)

        changed = run_policy(self.app, lead_ids, regrade)
        if by_model and self._grades_by_model():
            from lifecycle.policies.model_grading import regrade_by_model

            changed += regrade_by_model(self.app, by_model, at, cause=cause)
        return changed

    def _grades_by_model(self) -> bool:
        """Whether any template grades by model (``[grading] by = "model"``): checked
        once per batch, so that without it the learned package is never even imported
        (nor the policies package, ~50 ms on the CLI's start)."""
        scoring = self.scoring
        return scoring.grading.by == "model" or any(
            t.grading.by == "model" for t in scoring.templates.values())

    def send_due_nurture(self, lead_ids: Iterable[UUID], at: datetime, *, cause: str) -> int:
        """Policy: sends each nurturing lead's next step if it is due at ``at``."""
        return run_policy(self.app, lead_ids, lambda lead, now: lead.send_due_nurture(
            at, config=self.scoring.for_template(lead.template), recorded_at=now, cause=cause))


    # -- learned models ---------------------------------------------------------------

    @property
    def models(self) -> ModelRegistry:
        """The stored models (imported on first use: numpy and LightGBM load only then)."""
        registry = self.__dict__.get("_models")
        if registry is None:
            from lifecycle.scoring.learned.registry import ModelRegistry

            registry = self.__dict__["_models"] = ModelRegistry(self.app)
        return registry

    @property
    def active_model(self) -> Model | None:
        """The active model, loaded once per application (``reload_model`` after
        ``lifecycle model activate`` in another process); None when no model is active."""
        if "_active_model" not in self.__dict__:
            self.__dict__["_active_model"] = self.models.active()
        model: Model | None = self.__dict__["_active_model"]
        return model

    def reload_model(self) -> None:
        self.__dict__.pop("_active_model", None)

    @property
    def app(self) -> LeadLifecycle:
        from lifecycle.application import LeadLifecycle

        assert isinstance(self, LeadLifecycle)
        return self
