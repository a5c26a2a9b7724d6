"""Training examples read from real SQLite and PostgreSQL stores, and a model trained on
one store that scores the other identically.

The outcome is a lead's last closing event while it is closed: won, lost, disqualified
by a person; a screen's disqualification and an open lead (a reopened one too) are
skipped and counted. ``as_of`` forgets what was recorded later; ``closed_after`` keeps
only outcomes recorded after a moment.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import numpy as np
import pytest

from lifecycle.application import LeadLifecycle, Outcome
from lifecycle.contracts import SalesAction, Touchpoint
from lifecycle.scoring.learned.artifact import content_hash, decode, encode, model_id_of
from lifecycle.scoring.learned.features import matrix
from lifecycle.scoring.learned.model import Model
from lifecycle.scoring.learned.training import Examples, examples, train
from tests.integration.audit_story import ICP, T0, Clock, open_app

pytestmark = pytest.mark.integration

R1 = datetime(2024, 6, 1, tzinfo=UTC)
"""When the first batch is recorded."""
R2 = datetime(2024, 7, 1, tzinfo=UTC)
"""When the second batch is recorded."""
H = timedelta(hours=1)


def email(name: str) -> str:
    return f"{name}@{name}-corp.example.com"


def touch(tid: str, kind: str, at: datetime, who: str, *, address: str | None = None,
          **fields: Any) -> Touchpoint:
    return Touchpoint.model_validate({"touchpoint_id": tid, "source": "website",
                                      "channel": "seo", "kind": kind,
                                      "occurred_at": at.isoformat(),
                                      "email": address or email(who), **fields})


def act(aid: str, kind: str, at: datetime, who: str, **fields: Any) -> SalesAction:
    return SalesAction.model_validate({"action_id": aid, "actor": "sales:bob", "action": kind,
                                       "occurred_at": at.isoformat(), "email": email(who),
                                       **fields})


def opened(who: str, day: int) -> list[Touchpoint | SalesAction]:
    t = T0 + timedelta(days=day)
    return [touch(f"{who}-c", "form_submit", t, who, profile=ICP),
            touch(f"{who}-d", "demo_requested", t + H, who),
            act(f"{who}-a", "accept", t + 2 * H, who)]


def at(day: int, hours: int) -> datetime:
    return T0 + timedelta(days=day) + hours * H


LOSE = {"reason": "competitor_won", "competitor": "Rival"}
WIN = {"skip_reason": "signed early"}

FIRST: list[Touchpoint | SalesAction] = [
    *opened("won", 0), act("won-w", "win", at(0, 5), "won", **WIN),
    touch("won-after", "pricing_page", at(0, 9), "won"),  # after the outcome: no feature
    *opened("lost", 1), act("lost-l", "lose", at(1, 5), "lost", **LOSE),
    touch("dq-c", "form_submit", at(2, 0), "dq", profile=ICP),
    act("dq-x", "disqualify", at(2, 3), "dq", reason="no_budget"),
    touch("screened-c", "form_submit", at(3, 0), "screened", address="pat.screened@gmail.com",
          profile=ICP),
    *opened("reopened", 4), act("reopened-l", "lose", at(4, 5), "reopened", **LOSE),
    act("reopened-r", "reopen", at(4, 6), "reopened", text="they called back"),
    *opened("rewon", 5), act("rewon-l", "lose", at(5, 5), "rewon", **LOSE),
    act("rewon-r", "reopen", at(5, 6), "rewon", text="budget found"),
    act("rewon-w", "win", at(5, 8), "rewon", **WIN),
    touch("open-c", "form_submit", at(6, 0), "open", profile=ICP),
    *opened("late", 7),
]
SECOND: list[Touchpoint | SalesAction] = [
    # dated before sales accepted the lead (and the win), recorded after both
    touch("won-late", "webinar", at(0, 1) + H / 2, "won"),
    act("late-w", "win", at(7, 5), "late", **WIN),
]


@pytest.fixture
def app(database_url: str) -> Iterator[LeadLifecycle]:
    clock = Clock(R1)
    app = open_app(database_url, clock)
    for batch, now in ((FIRST, R1), (SECOND, R2)):
        clock.now = now
        results = app.record_batch(batch)
        assert [r.outcome for r in results] == [Outcome.ACCEPTED] * len(batch), [
            (r.outcome, r.reason) for r in results if r.outcome != Outcome.ACCEPTED]
    yield app
    app.close()


def by_name(app: LeadLifecycle, data: Examples) -> dict[str, Any]:
    ids = {app.find_lead(email(n)): n for n in
           ("won", "lost", "dq", "reopened", "rewon", "open", "late")}
    return {ids[e.lead_id]: e for e in data.items}


def test_the_outcome_is_the_last_closing_event(app: LeadLifecycle) -> None:
    data = examples(app)
    found = by_name(app, data)
    assert {n: e.label for n, e in found.items()} == {
        "won": 1, "lost": 0, "dq": 0, "rewon": 1, "late": 1}
    assert data.skipped == {"open": 2, "screened": 1}
    assert found["rewon"].at == at(5, 8)
    assert found["dq"].at == at(2, 3)
    assert found["late"].recorded_at == R2
    assert found["won"].recorded_at == R1


def test_features_are_the_inputs_before_the_outcome(app: LeadLifecycle) -> None:
    found = by_name(app, examples(app))
    won = found["won"]
    kinds = [kind for _, kind, _ in won.facts.touches]
    assert kinds == ["form_submit", "demo_requested", "webinar"]  # late-recorded webinar in
    assert all(t < won.at for t, _, _ in won.facts.touches)
    assert won.facts.profile["industry"] == ICP["industry"]
    assert found["rewon"].facts.touches[-1][0] < at(5, 8)
    # The rules' total as of the outcome: a CTO at a software firm who asked for a demo
    # scores above one disqualified straight after capture.
    assert won.rules_total > 0
    assert found["won"].rules_total > found["dq"].rules_total


def test_as_of_forgets_what_was_recorded_later(app: LeadLifecycle) -> None:
    data = examples(app, as_of=R1 + H)
    found = by_name(app, data)
    assert "late" not in found
    assert data.skipped == {"open": 3, "screened": 1}
    assert [kind for _, kind, _ in found["won"].facts.touches] == [
        "form_submit", "demo_requested"]
    nothing = examples(app, as_of=R1 - H)
    assert (nothing.items, nothing.skipped) == ([], {})


def test_closed_after_keeps_the_later_outcomes(app: LeadLifecycle) -> None:
    data = examples(app, closed_after=R1)
    assert list(by_name(app, data)) == ["late"]
    assert examples(app, closed_after=R2).items == []


def test_an_outcome_dated_before_capture_is_skipped(app: LeadLifecycle) -> None:
    clock: Any = app.clock
    clock.now = R2 + H
    results = app.record_batch([
        touch("early-c", "form_submit", at(9, 5), "early", profile=ICP),
        # the CRM's disqualification carries a business time before the web capture
        act("early-x", "disqualify", at(9, 1), "early", reason="no_budget"),
    ])
    assert [r.outcome for r in results] == [Outcome.ACCEPTED] * 2
    data = examples(app)
    assert data.skipped["outcome_before_capture"] == 1
    assert app.find_lead(email("early")) not in {e.lead_id for e in data.items}


# -- one store trains, another scores --------------------------------------------------


INDUSTRIES = ("software", "retail", "health")


def population(n: int, seed: int = 3) -> list[Touchpoint | SalesAction]:
    """Leads that win more often in software and with more pricing-page visits."""
    rng = random.Random(seed)
    items: list[Touchpoint | SalesAction] = []
    for i in range(n):
        who = f"p{i}"
        t = T0 + timedelta(hours=7 * i)
        industry = rng.choice(INDUSTRIES)
        visits = rng.randint(0, 4)
        items.append(touch(f"{who}-c", "form_submit", t, who,
                           profile={**ICP, "industry": industry},
                           properties={"pages": rng.randint(1, 9)}))
        items += [touch(f"{who}-v{j}", "pricing_page", t + (j + 1) * H, who,
                        properties={"pages": rng.randint(1, 9)}) for j in range(visits)]
        items.append(act(f"{who}-a", "accept", t + 6 * H, who, skip_reason="inbound call"))
        chance = 0.15 + 0.4 * (industry == "software") + 0.1 * visits
        if rng.random() < chance:
            items.append(act(f"{who}-w", "win", t + 7 * H, who, **WIN))
        else:
            items.append(act(f"{who}-l", "lose", t + 7 * H, who, **LOSE))
    return items


def stored(url: str, items: list[Touchpoint | SalesAction]) -> Examples:
    app = open_app(url, Clock(R1))
    try:
        results = app.record_batch(items)
        assert {r.outcome for r in results} == {Outcome.ACCEPTED}
        return examples(app)
    finally:
        app.close()


@pytest.mark.postgres
def test_a_model_trained_on_one_store_scores_another_identically(
    sqlite_database_url: str, pg_database_url: str,
) -> None:
    items = population(90)
    first = stored(sqlite_database_url, items)
    second = stored(pg_database_url, items)

    def key(data: Examples) -> list[tuple[UUID, datetime, int, float]]:
        return [(e.lead_id, e.at, e.label, e.rules_total) for e in data.items]

    assert key(first) == key(second)
    assert [e.facts for e in first.items] == [e.facts for e in second.items]
    created = datetime(2025, 1, 1, tzinfo=UTC)
    artifact = train(first, created_at=created, min_per_class=10)
    data = encode(artifact)
    model = Model(decode(data, content_hash(data)), model_id_of(content_hash(data)))

    def rows(data: Examples) -> np.ndarray:
        return matrix(artifact.spec, [e.facts for e in data.items], [e.at for e in data.items])

    here, there = rows(first), rows(second)
    assert np.array_equal(here, there, equal_nan=True)
    predicted = model.predict(here)
    assert len(set(predicted.tolist())) > 1  # the model tells leads apart
    assert predicted.tobytes() == model.predict(there).tobytes()
    assert model.factors(here) == model.factors(there)
    # and either store trains the very same model
    assert encode(train(second, created_at=created, min_per_class=10)) == data
    assert artifact.metrics["n_train"] == 90
