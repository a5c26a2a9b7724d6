"""What-if: the whole history replayed under another scoring, grading or MQL configuration.

The inputs are rebuilt from the stored events — each touchpoint from its
``TouchpointRecorded`` (and, for a lead's first, its ``Captured``), each sales action
from the events it caused, each policy run (decay regrade, nurture) from its cause —
and fed, in their original order and with their original recorded times, to a fresh
engine on a scratch SQLite file that uses the other configuration. Both histories are
projected into scratch tables and the funnels compared: MQL volume, MQL → SQL and win
rate, per grade at the hand-off. The live store is only read.

``--model``: the other configuration grades every template's leads by a learned model
(``by = "model"``), which is the shadow's active model. A grade a model made live is
part of its input's step (it has that input's cause) and is never replayed as an input:
the shadow grades by its own model after each batch, from the same touchpoints.

Limits: inputs that were rejected live are not in the event store, so they cannot be
replayed even where the new configuration would accept them; policy runs that changed
nothing left no trace; erased leads have lost their contact data and are replayed with
placeholders that keep the screening outcome they had at capture (a screened-out one gets
a free-mail placeholder of the other configuration, so a B2B template screens it again;
without free-mail domains there, it passes).
"""

from __future__ import annotations

import tempfile
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

from lifecycle.aggregates.lead import Lead
from lifecycle.aggregates.rules import SCREEN_ACTOR
from lifecycle.aggregates.values import ERASED
from lifecycle.application import LeadLifecycle, Outcome
from lifecycle.contracts import SalesAction, Touchpoint
from lifecycle.policies.model_grading import grades_by_model
from lifecycle.projections import ProjectionStore, build_runner
from lifecycle.projections.runner import LEAD_TOPIC_PREFIX
from lifecycle.scoring import ScoringConfig
from lifecycle.settings import Settings
from lifecycle.templates import TemplateRegistry

if TYPE_CHECKING:
    from lifecycle.scoring.learned.model import Model

__all__ = ["Replay", "Step", "funnel_figures", "graded_by_model", "replay_steps", "what_if"]

GRADES = ("hot", "warm", "cold", "ungraded")

# Which event names a sales action (first match wins: an accept also emits StageAdvanced).
_ACTIONS = (("SalesAccepted", "accept"), ("Won", "win"), ("Lost", "lose"),
            ("Disqualified", "disqualify"), ("Recycled", "recycle"), ("Reopened", "reopen"),
            ("NoteAdded", "note"), ("BantAssessed", "bant"), ("StageAdvanced", "advance"))


@dataclass
class Step:
    """The events one input (or one policy run) caused on one lead."""

    lead_id: UUID
    cause: str
    recorded_at: datetime
    events: list[Lead.Event] = field(default_factory=list)


def replay_steps(app: LeadLifecycle, *, batch_size: int = 5000) -> Iterator[Step]:
    """The lead events of the notification log, grouped by (lead, cause), in order.

    One input's events on one lead are stored together, so a group ends where the
    next one starts.
    """
    mapper = app.mapper
    step: Step | None = None
    start = 1
    while True:
        notifications = app.recorder.select_notifications(start, batch_size)
        if not notifications:
            break
        for n in notifications:
            if not n.topic.startswith(LEAD_TOPIC_PREFIX):
                continue
            event = mapper.to_domain_event(n)
            assert isinstance(event, Lead.Event)
            if step is None or step.lead_id != event.originator_id or step.cause != event.cause_id:
                if step is not None:
                    yield step
                step = Step(event.originator_id, event.cause_id, event.timestamp)
            step.events.append(event)
        start = notifications[-1].id + 1
    if step is not None:
        yield step


@dataclass(frozen=True)
class _Identity:
    email: str | None
    external_id: str | None
    erased: bool


@dataclass(frozen=True)
class _PolicyRun:
    kind: str
    at: datetime
    cause: str


def _identity(captured: Lead.Captured, step: Step, free_mail: str | None) -> _Identity:
    screened = any(isinstance(e, Lead.Disqualified) and e.actor == SCREEN_ACTOR
                   for e in step.events)
    erased = captured.email == ERASED or any(k.endswith(ERASED) for k in captured.keys)
    if not erased:
        return _Identity(captured.email, captured.external_id, False)
    # Contact data is gone: placeholders that keep the lead's screening outcome. The
    # domain is reserved (RFC 2606) and passes the contract's email validator, which
    # refuses special-use names such as .invalid.
    hexid = captured.originator_id.hex
    placeholder = (f"{hexid}@{free_mail}" if free_mail else None) if screened else (
        f"{hexid}@erased.example")
    return _Identity(placeholder, f"erased-{hexid}", True)


def _touchpoint(step: Step, ident: _Identity, captured: Lead.Captured | None) -> Touchpoint:
    touch = next(e for e in step.events if isinstance(e, Lead.TouchpointRecorded))
    profile = dict(captured.profile) if captured is not None else dict(touch.profile or {})
    data: dict[str, Any] = {
        "touchpoint_id": step.cause.removeprefix("touchpoint:"), "source": touch.source,
        "channel": touch.channel, "kind": touch.kind,
        "occurred_at": (captured or touch).occurred_at,
        # an email the lead learned from this touch (erased: the placeholder stands)
        "email": touch.email if touch.email and not ident.erased else ident.email,
        "external_id": ident.external_id, "profile": profile or None,
        "properties": touch.properties,
    }
    if captured is not None:
        data["template"] = captured.template
    return Touchpoint.model_validate(data)


def _action(step: Step, ident: _Identity) -> SalesAction | None:
    by_name = {type(e).__name__: e for e in reversed(step.events)}
    mql = by_name.get("MarketingQualified")
    found: tuple[Any, str] | None
    if isinstance(mql, Lead.MarketingQualified) and mql.rule.startswith("qualify:"):
        found = (mql, "qualify")  # a person's MQL (after a reinstatement or stage advance)
    else:
        found = next(((by_name[name], kind) for name, kind in _ACTIONS if name in by_name),
                     None)
    if found is None:
        return None
    event: Any = found[0]
    kind = found[1]
    data: dict[str, Any] = {
        "action_id": step.cause.removeprefix("action:"), "actor": event.actor, "action": kind,
        "occurred_at": event.occurred_at, "email": ident.email,
        "external_id": ident.external_id,
    }
    for attr in ("reason", "competitor", "text", "amount", "currency", "skip_reason",
                 "budget", "authority", "need", "timeline"):
        value = getattr(event, attr, None)
        if value is not None:
            data[attr] = value
    if kind == "advance":
        data["stage"] = event.to_stage
    if kind == "qualify" and isinstance(mql, Lead.MarketingQualified):
        data["rule"] = mql.rule.removeprefix("qualify:")
    noted = by_name.get("PropertiesNoted")
    if isinstance(noted, Lead.PropertiesNoted):
        data["properties"] = noted.properties
    if kind == "accept" and isinstance(mql, Lead.MarketingQualified):
        data["skip_reason"] = mql.rule.removeprefix("sales override: ")
    return SalesAction.model_validate(data)


@dataclass
class Replay:
    """What happened to the replayed inputs under the other configuration."""

    touchpoints: int = 0
    sales_actions: int = 0
    policy_runs: int = 0
    erased_leads: int = 0
    skipped: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    samples: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"touchpoints": self.touchpoints, "sales_actions": self.sales_actions,
                "policy_runs": self.policy_runs, "erased_leads": self.erased_leads,
                "skipped_steps": self.skipped, "rejected": sum(self.rejected.values()),
                "rejected_by_reason": dict(self.rejected.most_common()),
                "rejected_samples": self.samples}


class _Shadow:
    """The scratch engine the inputs are replayed into, batch by recorded time."""

    def __init__(self, app: LeadLifecycle, url: str, *, scoring: ScoringConfig,
                 templates: TemplateRegistry, replay: Replay) -> None:
        self.now = datetime.min
        self.app = LeadLifecycle(Settings(database_url=url, cache_size=app.settings.cache_size),
                                 templates=templates, scoring=scoring, clock=lambda: self.now)
        self.replay = replay
        self.pending: list[Touchpoint | SalesAction] = []
        self.leads: set[UUID] = set()

    def add(self, item: Touchpoint | SalesAction, recorded_at: datetime) -> None:
        if self.pending and (recorded_at != self.now or len(self.pending) >= 2000):
            self.flush()
        self.now = recorded_at
        self.pending.append(item)

    def flush(self) -> None:
        if not self.pending:
            return
        for item, result in zip(self.pending, self.app.record_batch(self.pending), strict=True):
            if result.lead_id is not None:
                self.leads.add(result.lead_id)
            if result.outcome is Outcome.REJECTED:
                what = "touchpoint" if isinstance(item, Touchpoint) else item.action
                self.replay.rejected[f"{what}: {result.code}"] += 1
                if len(self.replay.samples) < 10:
                    self.replay.samples.append({"input": item.input_id, "what": what,
                                                "reason": result.reason or ""})
        self.pending = []

    def policy(self, run: _PolicyRun, recorded_at: datetime) -> None:
        self.flush()
        self.now = recorded_at
        ids = sorted(self.leads)
        if run.kind == "decay":
            self.app.regrade_all(ids, run.at, cause=run.cause)
        else:
            self.app.send_due_nurture(ids, run.at, cause=run.cause)


def _replay(app: LeadLifecycle, shadow: _Shadow) -> None:
    identities: dict[UUID, _Identity] = {}
    policy_runs: set[str] = set()
    free_mail = min(shadow.app.scoring.screen.free_mail_domains, default=None)
    replay = shadow.replay
    for step in replay_steps(app):
        kind, _, rest = step.cause.partition(":")
        first = step.events[0]
        if isinstance(first, Lead.Captured):
            ident = identities[step.lead_id] = _identity(first, step, free_mail)
            replay.erased_leads += ident.erased
            shadow.add(_touchpoint(step, ident, first), step.recorded_at)
            replay.touchpoints += 1
        elif step.lead_id not in identities:
            replay.skipped += 1
        elif kind == "touchpoint":
            shadow.add(_touchpoint(step, identities[step.lead_id], None), step.recorded_at)
            replay.touchpoints += 1
        elif kind == "action" and (item := _action(step, identities[step.lead_id])):
            shadow.add(item, step.recorded_at)
            replay.sales_actions += 1
        elif kind == "policy" and "@" in rest:
            if step.cause not in policy_runs:
                policy_runs.add(step.cause)
                name, _, stamp = rest.partition("@")
                shadow.policy(_PolicyRun(name, datetime.fromisoformat(stamp), step.cause),
                              step.recorded_at)
                replay.policy_runs += 1
        elif kind != "erasure":
            replay.skipped += 1
    shadow.flush()


def funnel_figures(store: ProjectionStore) -> dict[str, Any]:
    """Leads, MQL volume, MQL → SQL and win rate, overall and per grade at the MQL
    hand-off (the lead's grade just before it became an MQL)."""
    moves: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for lead_id, version, to_stage in store.query(
            "SELECT lead_id, version, to_stage FROM lc_transitions ORDER BY lead_id, version"):
        moves[lead_id].append((int(version), to_stage))
    grades: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for lead_id, version, grade in store.query(
            "SELECT lead_id, version, grade FROM lc_grades ORDER BY lead_id, version"):
        grades[lead_id].append((int(version), grade))
    leads = int(store.query("SELECT COUNT(*) FROM lc_leads")[0][0])
    counts = {g: Counter[str]() for g in ("all", *GRADES)}
    for lead_id, stages in moves.items():
        mql_at = next((v for v, s in stages if s == "mql"), None)
        if mql_at is None:
            continue
        grade = next((g for v, g in reversed(grades.get(lead_id, [])) if v < mql_at),
                     "ungraded")
        reached = {s for v, s in stages if v >= mql_at}
        for key in ("all", grade):
            counts[key]["mql"] += 1
            counts[key]["sql"] += "sql" in reached
            counts[key]["won"] += "won" in reached

    def rates(c: Counter[str]) -> dict[str, Any]:
        return {"mql": c["mql"], "sql": c["sql"], "won": c["won"],
                "mql_to_sql": _rate(c["sql"], c["mql"]), "win_rate": _rate(c["won"], c["sql"])}

    return {"leads": leads, "lead_to_mql": _rate(counts["all"]["mql"], leads),
            **rates(counts["all"]),
            "by_grade": {g: rates(counts[g]) for g in GRADES if counts[g]["mql"]}}


def _rate(num: int, den: int) -> float | None:
    return None if den == 0 else round(num / den, 4)


def graded_by_model(scoring: ScoringConfig) -> ScoringConfig:
    """``scoring`` with ``[grading] by = "model"`` for every template."""

    def by_model(config: ScoringConfig) -> ScoringConfig:
        grading = config.grading.model_copy(update={"by": "model"})
        return config.model_copy(update={"grading": grading})

    return by_model(scoring).model_copy(update={"templates": {
        name: by_model(config) for name, config in scoring.templates.items()}})


def what_if(app: LeadLifecycle, *, scoring: ScoringConfig | None = None,
            templates: TemplateRegistry | None = None, model: Model | None = None,
            workdir: Path | None = None) -> dict[str, Any]:
    """Replays the history under ``scoring`` / ``templates`` / ``model`` and compares the
    funnels.

    ``model``: every template's leads are graded by it (``by = "model"``, the
    configuration's ``[grading.model]`` thresholds), in a shadow engine where it is the
    active model. Grades the live store's model made are not inputs: the shadow makes its
    own, from the same touchpoints.

    Returns:
        ``current`` and ``what_if`` funnel figures, and the ``replay`` accounting
        (inputs replayed, and those the other configuration rejected, by reason).
    """
    other = scoring or app.scoring
    if model is not None:
        other = graded_by_model(other)
    with tempfile.TemporaryDirectory(dir=workdir, prefix="lc-whatif-") as tmp:
        baseline_store = ProjectionStore(f"sqlite:///{Path(tmp) / 'current.db'}")
        shadow_url = f"sqlite:///{Path(tmp) / 'whatif.db'}"
        replay = Replay()
        shadow = _Shadow(app, shadow_url, scoring=other,
                         templates=templates or app.templates, replay=replay)
        # The shadow's active model, set (its scratch store has none): the one asked
        # about, else the live one where the other scoring grades by model.
        shadow.app.__dict__["_active_model"] = model if model is not None else (
            app.active_model if grades_by_model(other) else None)
        shadow_store = ProjectionStore(shadow_url)
        try:
            build_runner(app, baseline_store).run()
            _replay(app, shadow)
            build_runner(shadow.app, shadow_store).run()
            return {"current": funnel_figures(baseline_store),
                    "what_if": funnel_figures(shadow_store), "replay": replay.as_dict()}
        finally:
            baseline_store.close()
            shadow_store.close()
            shadow.app.close()
