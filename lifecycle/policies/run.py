"""Running the policies: read the projections, decide, send commands back to leads.

- **decay**: the cooling leads (:func:`~lifecycle.policies.cooling.cooling_at`) are told
  to regrade at ``at``; the Lead aggregate recomputes its decayed behaviour and emits
  ``Graded`` only if its grade really changes. Both decide with
  :func:`lifecycle.scoring.evaluate` on the same inputs, so every cooling lead is
  regraded and, afterwards, none is cooling at ``at``.
- **nurture**: nurturing leads are told to send their next step if it is due at
  ``at``; the aggregate knows its track and cadence.

Embedded mode runs them with ``lifecycle policies run``; distributed workers run them
on timers.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from lifecycle.policies.cooling import cooling_at
from lifecycle.policies.nurture import nurture_due, regrades_due
from lifecycle.projections import ProjectionStore, build_runner
from lifecycle.projections.queries import load_history

if TYPE_CHECKING:
    from lifecycle.application import LeadLifecycle

__all__ = ["run_policies"]


def run_policies(app: LeadLifecycle, *, at: datetime,
                 store: ProjectionStore | None = None, embedded: bool = True) -> dict[str, Any]:
    """Runs the decay and nurture policies at ``at``.

    In embedded mode (``embedded``) the projections are brought up to date before and
    after; a distributed worker's projector agents do that instead.

    Returns:
        Counts: cooling leads found and regraded, nurturing leads and steps sent.
    """
    own_store = store is None
    store = store or ProjectionStore(app.settings.database_url)
    try:
        runner = build_runner(app, store)
        if embedded:
            runner.run()
        history = load_history(store)
        regrades = regrades_due(cooling_at(store, history, app.scoring, at=at))
        stamp = at.isoformat()
        regraded = app.regrade_all([d.lead_id for d in regrades], at,
                                   cause=f"policy:decay@{stamp}")
        nurture = nurture_due(history)
        sent = app.send_due_nurture([d.lead_id for d in nurture], at,
                                    cause=f"policy:nurture@{stamp}")
        if embedded:
            runner.run()
    finally:
        if own_store:
            store.close()
    return {"at": at.isoformat(), "cooling": len(regrades), "regraded": regraded,
            "nurturing": len(nurture), "nurture_sent": sent}
