"""Policies: read the projections, decide nothing, send commands back to leads.

- **decay**: leads the cooling report lists are told to regrade at ``at``; the Lead
  aggregate recomputes its decayed behaviour and emits ``Graded`` only if its grade
  really changes. Both decide with :func:`lifecycle.scoring.evaluate` on the same
  inputs, so every listed lead is regraded and, afterwards, none is listed at ``at``.
- **nurture**: nurturing leads are told to send their next step if it is due at
  ``at``; the aggregate knows its track and cadence.

Embedded mode runs them with ``lifecycle policies run``; distributed workers run them
on timers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from lifecycle.application import LeadLifecycle
from lifecycle.projections import ProjectionStore, build_runner
from lifecycle.projections.queries import load_history
from lifecycle.reports.activity import cooling_report

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
        cooling = cooling_report(store, history, app.scoring, at=at)
        cooling_ids = [UUID(row["lead_id"]) for row in cooling["leads"]]
        stamp = at.isoformat()
        regraded = app.regrade_all(cooling_ids, at, cause=f"policy:decay@{stamp}")
        nurturing = [UUID(lid) for lid in history.leads
                     if history.current_stage(lid) == "nurturing"]
        sent = app.send_due_nurture(nurturing, at, cause=f"policy:nurture@{stamp}")
        if embedded:
            runner.run()
    finally:
        if own_store:
            store.close()
    return {"at": at.isoformat(), "cooling": len(cooling_ids), "regraded": regraded,
            "nurturing": len(nurturing), "nurture_sent": sent}
