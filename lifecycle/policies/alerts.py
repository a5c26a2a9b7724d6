"""Alerts: where a salesperson should step in, decided from the events as they arrive.

Each rule (the scoring file's ``[alerts]`` section) says when an alert opens (a deadline
passed without the expected event) and when it resolves (that event arrived, or the lead
closed), so the open alerts at ``T`` follow the events and can be asked for any past
moment: nothing is raised or cleared on a timer.

Stuck in stage is a salesperson's alert: it watches the sales-side stages only (``mql``,
``sql`` and the template's opportunity stages; :data:`MARKETING_STAGES` are automated
marketing care, and the cooling report covers their leads), and a stage only once its
template has :attr:`~lifecycle.scoring.AlertConfig.stuck_min_samples` completed visits
to measure a p90 dwell from. Alerts are listed most urgent first (:func:`by_urgency`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Literal

from lifecycle.policies.dwell import stage_p90_seconds
from lifecycle.policies.facts import DAY, HOUR, AlertFacts, alert_facts
from lifecycle.projections.queries import History
from lifecycle.projections.store import ProjectionStore
from lifecycle.scoring import AlertConfig
from lifecycle.templates import CLOSED_STAGES

__all__ = ["MARKETING_STAGES", "URGENCY", "Alert", "AlertKind", "alerts_at", "by_urgency",
           "decide_alerts"]

AlertKind = Literal["hot_not_contacted", "quote_no_reply", "terms_revised", "stuck_in_stage"]

URGENCY: tuple[AlertKind, ...] = ("hot_not_contacted", "quote_no_reply", "terms_revised",
                                  "stuck_in_stage")
"""The rules, most urgent first: a Hot lead waiting for its first call goes cold within
days; an unanswered quote is a deal at risk; revised terms and a long stay are slower."""

MARKETING_STAGES = frozenset({"captured", "nurturing"})
"""Open stages that marketing automation tends (nurture steps, regrading): never
"stuck" for sales. Imported history leaves thousands of leads there for years."""


@dataclass(frozen=True, slots=True)
class Alert:
    """An open alert on a lead at a moment."""

    kind: AlertKind
    lead_id: str
    opened_at: float
    """Epoch seconds it opened: when its deadline passed (or the revision that tipped it)."""
    since: float
    """What the rule counts from: Hot since, the last quote, the revision that tipped
    it, or entering the stage."""
    stage: str | None
    template: str
    channel: str
    revisions: int = 0
    """terms_revised: how many times the terms were revised."""
    p90_seconds: float | None = None
    """stuck_in_stage: the p90 dwell of the stage in its template."""


def alerts_at(store: ProjectionStore, history: History, rules: AlertConfig, *,
              at: float) -> tuple[Alert, ...]:
    """Reads what the rules look at as of ``at`` and decides the open alerts."""
    p90 = stage_p90_seconds(history, min_samples=rules.stuck_min_samples)
    return decide_alerts(alert_facts(store, rules, at), history, p90, rules, at=at)


def decide_alerts(facts: AlertFacts, history: History,
                  p90: Mapping[tuple[str, str], float], rules: AlertConfig, *,
                  at: float) -> tuple[Alert, ...]:
    """The open alerts at ``at``, lead by lead (pure: no reads, no clock).

    Args:
        facts: the touches, sales contacts and Hot spells by ``at``.
        history: the leads and their stages as of ``at``.
        p90: p90 dwell per (template, stage) (:func:`stage_p90_seconds`).
        rules: the alert rules.
        at: the moment, epoch seconds.
    """
    alerts: list[Alert] = []
    for lead_id, lead in history.leads.items():
        stage = history.current_stage(lead_id)
        if stage is None or stage in CLOSED_STAGES:
            continue
        open_alert = partial(Alert, lead_id=lead_id, stage=stage, template=lead.template,
                             channel=lead.channel)
        lead_touches = facts.touches.get(lead_id, [])
        since = facts.hot_since.get(lead_id)
        if since is not None:
            deadline = since + rules.hot_not_contacted_hours * HOUR
            contacted = any(since < t <= at for t, k in lead_touches if k in rules.contact_kinds)
            contacted = contacted or any(since < t <= at for t in facts.sales.get(lead_id, ()))
            if deadline <= at and not contacted:
                alerts.append(open_alert(kind="hot_not_contacted", opened_at=deadline,
                                         since=since))
        quotes = [t for t, k in lead_touches if k in rules.quote_kinds]
        if quotes:
            last_quote = quotes[-1]
            replied = any(last_quote < t <= at for t, k in lead_touches if k in rules.reply_kinds)
            deadline = last_quote + rules.quote_no_reply_days * DAY
            if deadline <= at and not replied:
                alerts.append(open_alert(kind="quote_no_reply", opened_at=deadline,
                                         since=last_quote))
        revisions = [t for t, k in lead_touches if k == rules.revision_kind]
        if len(revisions) >= rules.terms_revised_times:
            tipped = revisions[rules.terms_revised_times - 1]
            alerts.append(open_alert(kind="terms_revised", opened_at=tipped, since=tipped,
                                     revisions=len(revisions)))
        visit = history.visits[lead_id][-1]
        limit = p90.get((lead.template, stage))
        if limit is not None and stage not in MARKETING_STAGES:
            deadline = visit.entered_at + limit
            if deadline <= at:
                alerts.append(open_alert(kind="stuck_in_stage", opened_at=deadline,
                                         since=visit.entered_at, p90_seconds=limit))
    return tuple(alerts)


def by_urgency(alerts: Iterable[Alert]) -> list[Alert]:
    """The alerts most urgent first: by rule (:data:`URGENCY`), then open longest first
    (for stuck in stage: furthest past its stage's p90), then by lead id."""
    rank = {kind: i for i, kind in enumerate(URGENCY)}
    return sorted(alerts, key=lambda a: (rank[a.kind], a.opened_at, a.lead_id))
