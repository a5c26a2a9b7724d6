"""Which leads are due a policy command at a moment: a regrade, or a nurture step.

A regrade is due for every cooling lead (:mod:`~lifecycle.policies.cooling`); a nurture
step may be due for every lead in the nurturing pool. Whether a step is due yet is the
aggregate's rule (its track and cadence live in the Lead): deciding it here too would
be a second copy of that rule, so every nurturing lead is asked and the aggregate sends
only a step that is due. Likewise a regrade of a lead that changed since the projection
was read emits nothing unless its grade really changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from uuid import UUID

from lifecycle.policies.cooling import CoolingDecision
from lifecycle.projections.queries import History

__all__ = ["Due", "DueCommand", "nurture_due", "regrades_due"]

DueCommand = Literal["regrade", "send_nurture"]


@dataclass(frozen=True, slots=True)
class Due:
    """A lead due a policy command (the aggregate checks it again when it runs)."""

    lead_id: UUID
    command: DueCommand


def regrades_due(cooling: CoolingDecision) -> tuple[Due, ...]:
    """A regrade for each cooling lead, in the order the decision lists them."""
    return tuple(Due(UUID(lead.lead_id), "regrade") for lead in cooling.cooling)


def nurture_due(history: History) -> tuple[Due, ...]:
    """A nurture step for each lead in the nurturing pool of ``history``."""
    return tuple(Due(UUID(lead_id), "send_nurture") for lead_id in history.leads
                 if history.current_stage(lead_id) == "nurturing")
