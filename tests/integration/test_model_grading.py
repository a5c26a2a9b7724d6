"""Grades by a learned model inside the lifecycle, on real SQLite and PostgreSQL.

Generated leads are ingested in batches of different sizes with a model active and
``[grading] by = "model"``: the model's ``Graded`` events carry its id, probability and
factors, each has the cause of an input of its lead, the lead's grade is its last one,
and ``replay_grades`` reproduces every one of them from the history before it (and
notices when the model or the thresholds are not the ones that made them). ``whatif
--model`` replays a small store under a model. With ``by = "rules"`` a batch does not
even load the model.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from copy import copy
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from click.testing import CliRunner

from lifecycle.aggregates.lead import Lead
from lifecycle.application import LeadLifecycle, Outcome
from lifecycle.cli import _register, cli
from lifecycle.contracts import SalesAction, Touchpoint
from lifecycle.inputs import cause_of
from lifecycle.scoring import ScoringConfig, load_scoring
from lifecycle.scoring.learned.model import Model
from lifecycle.scoring.learned.replay import replay_grades
from lifecycle.settings import Settings
from lifecycle.templates import CLOSED_STAGES
from lifecycle.whatif import graded_by_model, replay_steps, what_if
from tests.integration.learned_model import CHANNELS, KINDS, PROFILES, Registry, trained

pytestmark = pytest.mark.integration

T0 = datetime(2024, 3, 4, 9, 0, tzinfo=UTC)
BATCHES = (1, 7, 60, 250)
"""Batch sizes the inputs are recorded in, in turn (the rest in the last size)."""



def inputs(leads: int, seed: int = 7) -> list[Touchpoint | SalesAction]:
    """Touchpoints of ``leads`` leads over a few weeks, in business-time order, with a
    few sales actions (accept, win, lose) and some late touches."""
    rng = random.Random(seed)
    items: list[tuple[datetime, Touchpoint | SalesAction]] = []
    for j in range(leads):
        email = f"p{j}@firm{j % 50}.com"
        t = T0 + timedelta(hours=rng.uniform(0, 24 * 20))
        for n in range(rng.randint(1, 7)):
            kind = rng.choice(KINDS) if n else "page_view"
            data: dict[str, Any] = {
                "touchpoint_id": f"tp-{j}-{n}", "source": rng.choice(("website", "crm")),
                "channel": rng.choice(CHANNELS), "kind": kind,
                "occurred_at": t.isoformat(), "email": email}
            if n == 0:
                data["profile"] = rng.choice(PROFILES)
            items.append((t, Touchpoint.model_validate(data)))
            t += timedelta(hours=rng.uniform(1, 24 * 4))
        if j % 9 == 0:
            for n, (kind, extra) in enumerate((("accept", {"skip_reason": "called us"}),
                                               rng.choice((("win", {"skip_reason": "fast"}),
                                                           ("lose", {"reason": "no_budget"}))))):
                t += timedelta(hours=2)
                items.append((t, SalesAction.model_validate({
                    "action_id": f"a-{j}-{n}", "actor": "sales:bob", "action": kind,
                    "occurred_at": t.isoformat(), "email": email, **extra})))
    items.sort(key=lambda pair: pair[0])
    # A few late touches: recorded last, dated early.
    late = [Touchpoint.model_validate({
        "touchpoint_id": f"late-{j}", "source": "website", "channel": "seo",
        "kind": "webinar_attended", "occurred_at": (T0 + timedelta(hours=j)).isoformat(),
        "email": f"p{j}@firm{j % 50}.com"}) for j in range(0, leads, 11)]
    return [item for _, item in items] + late


def record(app: LeadLifecycle, items: list[Touchpoint | SalesAction]) -> None:
    start, turn = 0, 0
    while start < len(items):
        size = BATCHES[min(turn, len(BATCHES) - 1)]
        results = app.record_batch(items[start:start + size])
        assert all(r.outcome is Outcome.ACCEPTED for r in results), [
            r.reason for r in results if r.outcome is not Outcome.ACCEPTED]
        start, turn = start + size, turn + 1


def open_app(url: str, scoring: ScoringConfig, model: Model | None, *more: Model,
             ids: dict[str, Model] | None = None) -> LeadLifecycle:
    app = LeadLifecycle(Settings(database_url=url), scoring=scoring)
    app.__dict__["_active_model"] = model
    app.__dict__["_models"] = Registry(*(m for m in (model, *more) if m is not None), ids=ids)
    return app


@pytest.fixture
def by_model() -> ScoringConfig:
    return graded_by_model(load_scoring())


def lead_history(app: LeadLifecycle) -> dict[UUID, list[Lead.Event]]:
    out: dict[UUID, list[Lead.Event]] = {}
    for step in replay_steps(app):
        out.setdefault(step.lead_id, []).extend(step.events)
    return out


def test_model_grades_are_stored_with_their_inputs_and_replayed(
    database_url: str, by_model: ScoringConfig
) -> None:
    model = trained()
    app = open_app(database_url, by_model, model)
    try:
        record(app, inputs(120))
        history = lead_history(app)
        made = [e for events in history.values() for e in events
                if isinstance(e, Lead.Graded) and e.trigger == "model"]
        assert len(made) >= 120  # every lead at least once (its first model grade)
        assert {g.grade for g in made} == {"hot", "warm", "cold"}
        for g in made:
            assert g.model_id == model.model_id
            assert g.actor == "policy:model"
            assert g.probability is not None
            assert 0.0 < g.probability < 1.0
            assert g.factors
            assert len(g.factors) == 3
            assert set(g.factors[0]) == {"feature", "value", "contribution"}
        # Each model grade has the cause of an input of its lead, recorded with it.
        for events in history.values():
            for i, e in enumerate(events):
                if isinstance(e, Lead.Graded) and e.model_id:
                    assert e.cause_id.startswith(("touchpoint:", "action:"))
                    assert any(x.cause_id == e.cause_id and x.actor != "policy:model"
                               and x.timestamp == e.timestamp for x in events[:i])
        # The lead's grade (from the store) is its last model grade while it is open.
        fresh = open_app(database_url, by_model, model)
        for lead_id, events in history.items():
            lead = fresh.get_lead(lead_id)
            grades = [e for e in events if isinstance(e, Lead.Graded)]
            last_model = next((e for e in reversed(grades) if e.model_id), None)
            if lead.stage in CLOSED_STAGES:  # closed in the batch that captured it, or
                continue                        # graded while open (checked below)
            assert last_model is not None
            assert grades[-1] is last_model  # the rules never graded it after the model
            assert (lead.grade, lead.graded_by_model) == (last_model.grade, model.model_id)
        fresh.close()
        report = replay_grades(app)
        assert report.checked == len(made)
        assert (report.reproduced, report.mismatches) == (len(made), [])
        some = list(history)[:5]
        part = replay_grades(app, some)
        assert part.ok
        assert 0 < part.checked < len(made)
        # Erasing people (their personal fields then read ERASED) changes no replay.
        for lead_id in some:
            app.erase(lead_id, actor="dpo", cause=f"erasure:{lead_id}")
        assert replay_grades(app).reproduced == len(made)
    finally:
        app.close()


def test_replay_notices_another_model_or_other_thresholds(
    database_url: str, by_model: ScoringConfig
) -> None:
    model = trained()
    app = open_app(database_url, by_model, model)
    record(app, inputs(30))
    app.close()
    # Another model stored under its id: the probabilities are not reproduced.
    replayed = open_app(database_url, by_model, None, ids={model.model_id: trained(1)})
    report = replay_grades(replayed)
    assert report.checked > 0
    assert report.reproduced == 0
    assert len(report.mismatches) == report.checked
    first = report.mismatches[0]
    assert first["stored"]["probability"] != first["replayed"]["probability"]
    assert first["version"] > 1
    assert first["model_id"] == model.model_id
    replayed.close()
    # Thresholds that call every lead hot: the grades that were not hot mismatch.
    grading = by_model.grading.model.model_copy(update={"hot": 0.01, "warm": 0.01})
    hot = by_model.model_copy(update={"grading": by_model.grading.model_copy(
        update={"model": grading})})
    thresholds = open_app(database_url, hot, None, model)
    report = replay_grades(thresholds)
    assert report.mismatches
    assert all(m["replayed"]["grade"] == "hot" for m in report.mismatches)
    assert report.reproduced == report.checked - len(report.mismatches) > 0
    thresholds.close()
    # A model the store does not have.
    unknown = open_app(database_url, by_model, None)
    report = replay_grades(unknown)
    assert report.checked > 0
    assert all("cannot be loaded" in m["error"] for m in report.mismatches)
    unknown.close()


def test_the_decay_policy_predicts_again_at_its_moment(
    database_url: str, by_model: ScoringConfig
) -> None:
    model = trained()
    app = open_app(database_url, by_model, model)
    try:
        record(app, inputs(60))
        history = lead_history(app)
        graded = {lead_id for lead_id, events in history.items()
                  if any(isinstance(e, Lead.Graded) and e.model_id for e in events)}
        later = T0 + timedelta(days=120)
        cause = f"policy:decay@{later.isoformat()}"
        changed = app.regrade_all(sorted(history), later, cause=cause)
        again = [e for events in lead_history(app).values() for e in events
                 if e.cause_id == cause and isinstance(e, Lead.Graded)]
        assert changed == len(again) > 0
        assert all(e.model_id == model.model_id and e.occurred_at == later for e in again)
        assert {e.originator_id for e in again} <= graded
        report = replay_grades(app)
        assert report.ok
        assert report.reproduced == report.checked > len(again)
        # Nothing more to change at the same moment; a moment before an input: alone.
        assert app.regrade_all(sorted(history), later, cause=cause + "#2") == 0
        assert app.regrade_all(sorted(history), T0, cause="policy:decay@early") == 0
    finally:
        app.close()


def test_a_sales_model_grades_after_sales_actions_too(
    database_url: str, by_model: ScoringConfig
) -> None:
    model = trained(sales=True)
    assert model.artifact.spec.sales
    app = open_app(database_url, by_model, model)
    try:
        items = inputs(40)
        record(app, items)
        # BANT, dated a week after everything: it moves no stage, so no newest_at.
        late = max(i.occurred_at for i in items) + timedelta(days=7)
        bant = [SalesAction.model_validate({
            "action_id": f"bant-{j}", "actor": "sales:bob", "action": "bant",
            "occurred_at": late.isoformat(), "email": f"p{j}@firm{j % 50}.com",
            "budget": True, "need": True}) for j in range(1, 40, 3)]
        results = app.record_batch(bant)
        assert {r.outcome for r in results} <= {Outcome.ACCEPTED, Outcome.REJECTED}
        history = lead_history(app)
        after = [e for events in history.values() for e in events
                 if isinstance(e, Lead.Graded) and e.model_id
                 and e.cause_id.startswith("action:bant-")]
        assert after  # the BANT changed the sales model's grade of some leads
        assert all(e.occurred_at == late for e in after)
        report = replay_grades(app)
        assert report.ok
        assert report.reproduced == report.checked > len(after)
    finally:
        app.close()


def test_without_an_active_model_the_rules_grade_again(
    database_url: str, by_model: ScoringConfig
) -> None:
    model = trained()
    items = inputs(30)
    app = open_app(database_url, by_model, model)
    try:
        record(app, items[:len(items) // 2])
        app.__dict__["_active_model"] = None  # deactivated; by = "model" stays
        record(app, items[len(items) // 2:])
        history = lead_history(app)
        back = [e for events in history.values() for e in events
                if isinstance(e, Lead.Graded) and e.trigger == "no_model"]
        assert back
        later = {cause_of(item) for item in items[len(items) // 2:]}
        for lead_id, events in history.items():
            lead = app.get_lead(lead_id)
            if lead.stage in CLOSED_STAGES or not later & {e.cause_id for e in events}:
                continue  # no input since: its next one hands it back
            assert lead.graded_by_model is None
            made = [i for i, e in enumerate(events) if getattr(e, "model_id", None)]
            if made:  # handed back after its last model grade
                assert any(isinstance(e, Lead.Graded) and e.trigger == "no_model"
                           for e in events[made[-1]:])
        # The others, by the decay policy.
        still = [i for i in history if app.get_lead(i).graded_by_model is not None
                 and app.get_lead(i).stage not in CLOSED_STAGES]
        assert still
        at = T0 + timedelta(days=200)
        assert app.regrade_all(sorted(history), at, cause="policy:decay@200") >= len(still)
        assert all(app.get_lead(i).graded_by_model is None for i in still)
        assert replay_grades(app).ok
    finally:
        app.close()


def test_grading_by_rules_never_loads_a_model(database_url: str) -> None:
    app = LeadLifecycle(Settings(database_url=database_url), scoring=load_scoring())

    class Refuses:
        def active(self) -> None:
            raise AssertionError("by = rules: no model is loaded")

    app.__dict__["_models"] = Refuses()
    try:
        record(app, inputs(20))
        assert "_active_model" not in app.__dict__
        made = [e for events in lead_history(app).values() for e in events
                if isinstance(e, Lead.Graded) and e.model_id is not None]
        assert made == []
    finally:
        app.close()


def test_a_model_that_fails_grades_nothing_and_stops_nothing(
    database_url: str, by_model: ScoringConfig
) -> None:
    model = copy(trained())

    def broken(rows: Any) -> Any:
        raise RuntimeError("the booster is broken")

    model.predict = broken  # type: ignore[method-assign]
    app = open_app(database_url, by_model, model)
    try:
        record(app, inputs(10))
        graded = [e for events in lead_history(app).values() for e in events
                  if isinstance(e, Lead.Graded)]
        assert graded
        assert all(e.model_id is None for e in graded)
    finally:
        app.close()


@pytest.fixture
def small_store(sqlite_database_url: str) -> Iterator[LeadLifecycle]:
    app = open_app(sqlite_database_url, load_scoring(), None)
    record(app, inputs(40, seed=3))
    yield app
    app.close()


def test_whatif_under_a_model_compares_both_funnels(small_store: LeadLifecycle) -> None:
    model = copy(trained())
    rows: list[int] = []
    predict = model.predict

    def counted(x: Any) -> Any:
        rows.append(len(x))
        return predict(x)

    model.predict = counted  # type: ignore[method-assign,assignment]
    data = what_if(small_store, model=model)
    now, other = data["current"], data["what_if"]
    assert now["leads"] == other["leads"] == 40
    assert data["replay"]["rejected"] == 0
    assert sum(rows) >= 40  # the shadow graded every lead by the model
    assert now["by_grade"]
    assert other["by_grade"]
    # Replayed again under the same model, the what-if is the same.
    assert what_if(small_store, model=model)["what_if"] == other
    # Thresholds that call every lead hot once the model graded it: the MQLs handed
    # off after their lead's first batch are all hot.
    hot = load_scoring().model_copy(deep=True)
    hot.grading.model.__dict__.update(hot=0.001, warm=0.001)
    everyone = what_if(small_store, scoring=hot, model=model)["what_if"]
    assert everyone["by_grade"]["hot"]["mql"] >= now["by_grade"].get("hot", {}).get("mql", 0)
    assert set(everyone["by_grade"]) <= {"hot", "warm", "cold", "ungraded"}


def test_whatif_cli_takes_a_model(small_store: LeadLifecycle,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    model = trained()
    # The store's registry is another part's: the command loads the model from this one.
    monkeypatch.setattr(LeadLifecycle, "models", property(lambda self: Registry(model)))
    _register()
    env = {"LIFECYCLE_DATABASE_URL": small_store.settings.database_url}
    result = CliRunner().invoke(cli, ["whatif"], env=env)
    assert result.exit_code == 2
    assert "--model MODEL_ID" in result.output
    result = CliRunner().invoke(cli, ["whatif", "--model", "0000000000000000"], env=env)
    assert result.exit_code == 2
    assert "no stored model '0000000000000000'" in result.output
    result = CliRunner().invoke(cli, ["whatif", "--model", model.model_id, "--json"], env=env)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["config"] == {"scoring": None, "templates": None, "model": model.model_id}
    assert data["current"]["leads"] == data["what_if"]["leads"] == 40
    assert data["what_if"] == what_if(small_store, model=model)["what_if"]
    result = CliRunner().invoke(cli, ["whatif", "--model", model.model_id], env=env)
    assert result.exit_code == 0, result.output
    assert "MQL → SQL" in result.output
    assert f"graded by model {model.model_id}" in result.output
