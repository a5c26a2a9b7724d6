"""Projections checked against the history they were made from, on SQLite and PostgreSQL.

A generated history (:func:`demo.generate`: three templates, ten channels,
late and repeated deliveries, deliberately illegal actions) is recorded through the
application and projected by the embedded runner. Every figure is then recomputed
*without* the projection or report code:

- from the application's stored events, folded by the Lead aggregate's own ``apply``
  methods: a lead enters a stage whenever an event changes its ``stage``;
- from the raw JSON inputs themselves: touches per kind, and decayed engagement
  (``sum(points * 2 ** (-(T - t) / half_life))``) per lead.

Then the runner's own guarantees: a rebuild equals the live projections (also when the
live ones were kept current batch by batch), and a report ``as_of`` a past date equals
the same report of a replay that only ever saw the inputs up to that date.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast
from uuid import UUID

import pytest

from demo import generate
from lifecycle.aggregates.lead import Lead
from lifecycle.application import LeadLifecycle, Outcome, Result
from lifecycle.contracts import parse_inbound
from lifecycle.policies import run_policies
from lifecycle.policies.facts import engagement
from lifecycle.projections import ProjectionRunner, ProjectionStore, build_runner
from lifecycle.reports import REPORTS, build_report
from lifecycle.scoring import ScoringConfig, behaviour_at
from lifecycle.settings import Settings
from lifecycle.templates import CLOSED_STAGES, FunnelTemplate, TemplateRegistry
from tests.harness.postgres import fresh_database

pytestmark = pytest.mark.integration

END = datetime(2025, 6, 2, 9, tzinfo=UTC)
DAYS = 90
DAY = 86_400.0
BACKENDS = [pytest.param("sqlite"), pytest.param("postgres", marks=pytest.mark.postgres)]

Inputs = list[dict[str, object]]
Report = dict[str, Any]


# -- recording ------------------------------------------------------------------------


def open_app(url: str, templates: TemplateRegistry, scoring: ScoringConfig) -> LeadLifecycle:
    return LeadLifecycle(Settings(database_url=url), templates=templates, scoring=scoring,
                         clock=lambda: END)


def record(app: LeadLifecycle, inputs: Sequence[dict[str, object]], *, batch: int = 250,
           after_batch: Callable[[], object] | None = None) -> list[Result]:
    """Records the inputs in delivery order, ``batch`` per transaction."""
    items = [parse_inbound(i) for i in inputs]
    results: list[Result] = []
    for start in range(0, len(items), batch):
        results += app.record_batch(items[start:start + batch])
        if after_batch is not None:
            after_batch()
    return results


def occurred(item: dict[str, object]) -> datetime:
    return datetime.fromisoformat(str(item["occurred_at"]))


@dataclass
class Recorded:
    app: LeadLifecycle
    store: ProjectionStore
    runner: ProjectionRunner
    results: list[Result]


@pytest.fixture(scope="module")
def history() -> Inputs:
    # seed 29: every kind of stage change occurs, a reopened loss included
    return generate(leads=150, days=DAYS, seed=29, end=END)


@pytest.fixture(scope="module", params=BACKENDS)
def recorded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
             history: Inputs, templates: TemplateRegistry,
             scoring: ScoringConfig) -> Iterator[Recorded]:
    """The history recorded and projected (policies run at its end), once per backend."""
    with ExitStack() as stack:
        if request.param == "postgres":
            url = stack.enter_context(fresh_database(request.getfixturevalue("postgres_url")))
        else:
            url = f"sqlite:///{tmp_path_factory.mktemp('projections') / 'lifecycle.db'}"
        app = open_app(url, templates, scoring)
        stack.callback(app.close)
        store = ProjectionStore(url)
        stack.callback(store.close)
        runner = build_runner(app, store)
        results = record(app, history, after_batch=runner.run)
        run_policies(app, at=END, store=store)
        yield Recorded(app, store, runner, results)


# -- the independent recomputation ---------------------------------------------------


@dataclass
class Story:
    """One lead as its stored events tell it, folded by the aggregate (not a projection)."""

    lead_id: str
    template: str
    channel: str
    captured_at: float
    visits: list[tuple[str, float]] = field(default_factory=list)
    """(stage, entered at) for every stage change, in the lead's order."""
    moves: Counter[str] = field(default_factory=Counter)
    """The events that changed the lead's stage, by name."""
    touches: Counter[str] = field(default_factory=Counter)
    losses: list[tuple[Any, ...]] = field(default_factory=list)
    """(kind, reason, stage, channel, template, competitor, month, amount, currency)."""

    @property
    def stage(self) -> str:
        return self.visits[-1][0]

    def reached(self, stage: str) -> bool:
        return any(s == stage for s, _ in self.visits)

    @property
    def cohort(self) -> str:
        return month(self.captured_at)


def month(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m")


def tell(events: Sequence[Lead.Event]) -> Story:
    lead: Lead | None = None
    story: Story | None = None
    for event in events:
        before = None if lead is None else lead.stage
        lead = cast(Lead, event.mutate(lead))
        if story is None:
            story = Story(str(lead.id), lead.template, lead.first_channel,
                          lead.captured_at.timestamp())
        at = event.occurred_at.timestamp()
        if lead.stage != before:
            story.visits.append((lead.stage, at))
            story.moves[type(event).__name__] += 1
        if isinstance(event, Lead.TouchpointRecorded):
            story.touches[event.kind] += 1
        if isinstance(event, Lead.Lost | Lead.Disqualified):
            story.losses.append((
                lead.stage, event.reason, before, story.channel, story.template,
                event.competitor, month(at), getattr(event, "amount", None) or 0.0,
                getattr(event, "currency", None)))
    assert story is not None
    return story


@pytest.fixture(scope="module")
def stories(recorded: Recorded) -> list[Story]:
    lead_ids = {r.lead_id for r in recorded.results if r.lead_id is not None}
    told = [tell(recorded.app.lead_events(lead_id)) for lead_id in sorted(lead_ids)]
    assert len(told) == 150
    return told


def share(num: int, den: int) -> float | None:
    return None if den == 0 else round(num / den, 4)


def in_days(durations: list[float]) -> dict[str, Any]:
    """Median and p90 of the durations that are not negative; the negative ones counted."""
    seconds = [d for d in durations if d >= 0]
    negative = len(durations) - len(seconds)
    if not seconds:
        return {"n": 0, "median": None, "p90": None, "negative": negative}
    p90 = (statistics.quantiles(seconds, n=10, method="inclusive")[8] if len(seconds) > 1
           else seconds[0])
    return {"n": len(seconds), "median": round(statistics.median(seconds) / DAY, 2),
            "p90": round(p90 / DAY, 2), "negative": negative}


def rates(group: list[Story]) -> dict[str, Any]:
    leads = len(group)
    mql, sql, won = (sum(1 for s in group if s.reached(x)) for x in ("mql", "sql", "won"))
    closed = sum(1 for s in group if s.reached("sql") and s.stage in CLOSED_STAGES)
    to_win = [next(at for stage, at in s.visits if stage == "won") - s.captured_at
              for s in group if s.reached("won")]
    return {"leads": leads, "mql": mql, "sql": sql, "won": won,
            "lead_to_mql": share(mql, leads), "mql_to_sql": share(sql, mql),
            "sql_to_won": share(won, sql),
            "mql_to_won": share(sum(1 for s in group if s.reached("mql") and s.reached("won")),
                                mql),
            "win_rate_of_closed": share(won, closed),
            "time_to_win_days": in_days(to_win)}


def breakdown(group: list[Story], attr: str) -> list[dict[str, Any]]:
    keys = sorted({getattr(s, attr) for s in group})
    return [{"channel" if attr == "channel" else attr: key,
             **rates([s for s in group if getattr(s, attr) == key])} for key in keys]


def stage_rows(group: list[Story], template: FunnelTemplate) -> list[dict[str, Any]]:
    order = template.funnel_stages
    rows = []
    for i, stage in enumerate(order):
        nxt = order[i + 1] if i + 1 < len(order) else None
        stays = [(s, j) for s in group for j, (st, _) in enumerate(s.visits) if st == stage]
        done = [(s.visits[j + 1], s.visits[j][1]) for s, j in stays if j + 1 < len(s.visits)]
        exits = [to for (to, _), _ in done]
        entered = {s.lead_id for s, _ in stays}
        # a lead that skipped the next stage (skip_reason) still converted onward
        onward = {s.lead_id for s in group if any(s.reached(st) for st in order[i + 1:])}
        rows.append({
            "stage": stage,
            "probability": template.probability(stage),
            "entered": len(entered),
            "visits": len(stays),
            "moved_forward": sum(1 for to in exits if to in order and order.index(to) > i),
            "lost": exits.count("lost"),
            "disqualified": exits.count("disqualified"),
            "recycled": sum(1 for to in exits if to == "nurturing" and stage != "captured"),
            "current": sum(1 for s in group if s.stage == stage),
            "next_stage": nxt,
            "conversion_to_next": None if nxt is None else share(len(entered & onward),
                                                                 len(entered)),
            "benchmark_conversion": template.benchmark_conversion(stage) if nxt else None,
            "dwell_days": in_days([left - at for (_, left), at in done]),
        })
    return rows


def expected_funnel(stories: list[Story], templates: TemplateRegistry) -> Report:
    out = []
    for name in sorted({s.template for s in stories}):
        group = [s for s in stories if s.template == name]
        out.append({"template": name, "title": templates[name].title,
                    "stages": stage_rows(group, templates[name]), **rates(group),
                    "by_channel": breakdown(group, "channel"),
                    "by_cohort": breakdown(group, "cohort")})
    return {"as_of": None, "templates": out}


def assert_same(actual: Any, expected: Any, path: str = "") -> None:
    """Equal, except dwell days (rounded to 0.01 d from differently ordered arithmetic)."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), path
        assert sorted(actual) == sorted(expected), path
        for key in expected:
            assert_same(actual[key], expected[key], f"{path}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list), path
        assert len(actual) == len(expected), path
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_same(a, e, f"{path}[{i}]")
    elif isinstance(expected, float) and path.endswith((".median", ".p90")):
        assert actual == pytest.approx(expected, abs=0.0101), path
    else:
        assert actual == expected, f"{path}: projected {actual!r}, recomputed {expected!r}"


def report(recorded: Recorded, name: str, templates: TemplateRegistry,
           scoring: ScoringConfig, *, as_of: datetime | None = None) -> Report:
    return build_report(name, recorded.store, templates, scoring, as_of=as_of, at=END)


# -- tests: independent recomputation ---------------------------------------------------


def test_the_funnel_equals_a_recount_of_the_stored_events(
    recorded: Recorded, stories: list[Story], templates: TemplateRegistry,
    scoring: ScoringConfig,
) -> None:
    funnel = report(recorded, "funnel", templates, scoring)
    expected = expected_funnel(stories, templates)
    assert [t["template"] for t in funnel["templates"]] == ["generic_b2b", "industrial", "saas"]
    assert_same(funnel, expected)
    # the history is rich enough for the comparison to mean something
    moves: Counter[str] = Counter()
    for s in stories:
        moves.update(s.moves)
    assert set(moves) == {"Captured", "StageAdvanced", "MarketingQualified", "SalesAccepted",
                          "SalesQualified", "Won", "Lost", "Disqualified", "Recycled",
                          "Reopened"}
    assert {s.stage for s in stories} >= {"nurturing", "mql", "sql", "won", "disqualified"}
    assert sum(1 for s in stories if s.reached("won")) >= 2
    assert any(row["recycled"] for t in expected["templates"] for row in t["stages"])


def test_channels_equal_a_recount_of_the_stored_events(
    recorded: Recorded, stories: list[Story], templates: TemplateRegistry,
    scoring: ScoringConfig,
) -> None:
    channels = report(recorded, "channels", templates, scoring)
    expected = {row.pop("channel"): {**row, "share": share(row["leads"], len(stories))}
                for row in breakdown(stories, "channel")}
    assert channels["leads"] == len(stories)
    assert channels["by"] == "channel"
    assert_same({row["group"]: {k: v for k, v in row.items() if k != "group"}
                 for row in channels["groups"]}, expected)
    leads = [row["leads"] for row in channels["groups"]]
    assert leads == sorted(leads, reverse=True)
    largest = channels["largest"]
    assert expected[largest["group"]]["leads"] == max(leads)
    assert largest["share"] == share(max(leads), len(stories))
    assert len(expected) >= 8


def test_losses_equal_the_stored_losses_and_disqualifications(
    recorded: Recorded, stories: list[Story], templates: TemplateRegistry,
    scoring: ScoringConfig,
) -> None:
    losses = report(recorded, "losses", templates, scoring)
    every = [loss for s in stories for loss in s.losses]
    assert losses["total"] == len(every) > 0
    assert {loss[0] for loss in every} == {"lost", "disqualified"}
    assert any(loss[7] > 0 for loss in every)  # some losses carry the deal's value

    cells: Counter[tuple[Any, ...]] = Counter()
    amounts: Counter[tuple[Any, ...]] = Counter()
    for kind, reason, stage, channel, template, competitor, when, amount, currency in every:
        key = (kind, reason, stage, channel, template, competitor, when, currency)
        cells[key] += 1
        amounts[key] += amount
    projected = {(c["kind"], c["reason"], c["stage"], c["channel"], c["template"],
                  c["competitor"], c["month"], c["currency"]): c for c in losses["cells"]}
    assert len(projected) == len(losses["cells"])  # one cell per combination
    assert {k: c["count"] for k, c in projected.items()} == dict(cells)
    for key, cell in projected.items():
        assert cell["amount"] == pytest.approx(amounts[key], abs=0.01), key

    by_reason = Counter(loss[1] for loss in every)
    assert {r["reason"]: r["count"] for r in losses["by_reason"]} == dict(by_reason)
    assert [r["count"] for r in losses["by_reason"]] == sorted(by_reason.values(), reverse=True)
    for row in losses["by_reason"]:
        by_currency: Counter[str] = Counter()
        for loss in every:
            if loss[1] == row["reason"] and loss[7]:
                by_currency[loss[8]] += loss[7]
        assert {a["currency"]: a["amount"] for a in row["amounts"]} == pytest.approx(
            dict(by_currency), abs=0.01)
    competitors = Counter(loss[5] for loss in every if loss[5])
    assert {c["competitor"]: c["count"] for c in losses["by_competitor"]} == dict(competitors)
    for stage, top in losses["top_reasons_by_stage"].items():
        counts = Counter(loss[1] for loss in every if loss[2] == stage)
        assert 0 < len(top) <= 3
        assert all(counts[t["reason"]] == t["count"] for t in top), stage
        assert [t["count"] for t in top] == sorted(counts.values(), reverse=True)[:len(top)]
    assert set(losses["top_reasons_by_stage"]) == {loss[2] for loss in every}


def test_touches_equal_the_distinct_touchpoints_of_the_raw_input(
    recorded: Recorded, stories: list[Story], history: Inputs,
) -> None:
    unique = {str(i["touchpoint_id"]): str(i["kind"]) for i in history if "touchpoint_id" in i}
    delivered = sum(1 for i in history if "touchpoint_id" in i)
    assert delivered > len(unique)  # some were delivered twice
    expected = Counter(unique.values())
    projected = dict(recorded.store.query("SELECT kind, COUNT(*) FROM lc_touches GROUP BY kind"))
    assert projected == dict(expected)
    from_events: Counter[str] = Counter()
    for s in stories:
        from_events.update(s.touches)
    assert from_events == expected


def test_sales_touches_are_the_accepted_sales_actions_of_the_raw_input(
    recorded: Recorded, history: Inputs,
) -> None:
    """Every accepted sales action left a sales touch at its time, by its actor, and
    every sales touch is one of them (or the engine's rule it set off at that moment, as
    when a BANT assessment makes a lead sales-qualified): nothing a marketing system or
    a timer did counts as contact by sales."""
    actions = {(str(result.lead_id), occurred(item).timestamp(), str(item["actor"]))
               for item, result in zip(history, recorded.results, strict=True)
               if "action_id" in item and result.outcome is Outcome.ACCEPTED}
    assert len(actions) > 100
    rows = {(str(UUID(str(lead_id))), float(t), actor) for lead_id, t, actor in
            recorded.store.query("SELECT lead_id, occurred_at, actor FROM lc_sales_touches")}
    assert rows >= actions
    moments = {(lead_id, t) for lead_id, t, _ in actions}
    for lead_id, t, actor in rows - actions:
        assert actor.startswith("policy:"), (lead_id, t, actor)
        assert (lead_id, t) in moments, (lead_id, t, actor)


def test_engagement_equals_the_decayed_points_of_the_raw_touchpoints(
    recorded: Recorded, history: Inputs, scoring: ScoringConfig,
) -> None:
    """The decayed score of every lead at the end, by hand from the JSON input: each
    touchpoint the engine accepted counts its kind's points, halved every half-life."""
    half_life = scoring.behaviour.half_life_days * DAY
    weights = scoring.behaviour.weights
    at = END.timestamp()
    expected: dict[str, float] = defaultdict(float)
    touches: Counter[str] = Counter()
    for item, result in zip(history, recorded.results, strict=True):
        if "touchpoint_id" in item and result.outcome is Outcome.ACCEPTED:
            lead_id = str(result.lead_id)
            t = occurred(item).timestamp()
            expected[lead_id] += weights[str(item["kind"])] * 2.0 ** (-(at - t) / half_life)
            touches[lead_id] += 1
    projected = engagement(recorded.store, at, scoring.behaviour.half_life_days)
    assert sorted(projected) == sorted(expected)
    for lead_id, score in expected.items():
        assert projected[lead_id]["score"] == pytest.approx(score, rel=1e-9, abs=1e-9), lead_id
        assert projected[lead_id]["touches"] == touches[lead_id]
        lead = recorded.app.get_lead(UUID(lead_id))
        assert behaviour_at(lead.contributions, END, half_life) == pytest.approx(
            score, rel=1e-9, abs=1e-9), lead_id


# -- tests: rebuild ---------------------------------------------------------------------


def snapshot(store: ProjectionStore) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every ``lc_*`` table (the positions without their wall-clock time)."""
    if store.url.startswith("sqlite"):
        names = store.query("SELECT name FROM sqlite_master WHERE type = 'table' "
                            "AND name LIKE 'lc!_%' ESCAPE '!'")
    else:
        names = store.query("SELECT table_name FROM information_schema.tables WHERE "
                            "table_schema = current_schema() AND table_name LIKE 'lc!_%' "
                            "ESCAPE '!'")
    tables = {}
    for (name,) in names:
        columns = ("name, version, position" if name == "lc_projection_positions" else "*")
        tables[name] = sorted(store.query(f"SELECT {columns} FROM {name}"), key=repr)
    return tables


PROJECTED = ("lc_leads", "lc_transitions", "lc_touches", "lc_sales_touches", "lc_nurture",
             "lc_grades", "lc_losses")


def test_a_rebuild_equals_the_projections_kept_current_batch_by_batch(
    database_url: str, history: Inputs, templates: TemplateRegistry, scoring: ScoringConfig,
) -> None:
    app = open_app(database_url, templates, scoring)
    store = ProjectionStore(database_url)
    try:
        # small batches on both sides, so runs stop and resume mid-lead
        runner = build_runner(app, store, batch_size=97)
        record(app, history[:700], batch=113, after_batch=runner.run)
        run_policies(app, at=occurred(history[699]) + timedelta(days=1), store=store)
        record(app, history[700:], batch=180, after_batch=runner.run)
        live = snapshot(store)
        head = runner.head()
        assert set(PROJECTED) <= set(live)
        assert all(live[name] for name in PROJECTED), "every projection table has rows"
        assert {p for _, _, p in live["lc_projection_positions"]} == {head}

        fresh = build_runner(app, store)  # the default batch (PostgreSQL: COPY)
        assert fresh.rebuild() == head
        assert snapshot(store) == live
    finally:
        store.close()
        app.close()


def test_rebuilding_one_projection_leaves_the_others_and_ends_where_it_began(
    database_url: str, history: Inputs, templates: TemplateRegistry, scoring: ScoringConfig,
) -> None:
    app = open_app(database_url, templates, scoring)
    store = ProjectionStore(database_url)
    try:
        runner = build_runner(app, store)
        record(app, history[:400])
        runner.run()
        live = snapshot(store)
        head = runner.head()
        store.reset(next(p for p in runner.projections if p.name == "activity"))
        assert store.query("SELECT COUNT(*) FROM lc_touches") == [(0,)]
        assert {s.name: s.lag for s in runner.status()} == {
            "funnel": 0, "activity": head, "losses": 0, "dimensions": 0}
        assert runner.run() == head  # one pass from the start, for the lagging one only
        assert snapshot(store) == live
        with pytest.raises(Exception, match="unknown projection"):
            runner.rebuild(["nonsense"])
        assert snapshot(store) == live
    finally:
        store.close()
        app.close()


# -- tests: as of a past date -------------------------------------------------------------


def clean_cut(history: Inputs, results: list[Result], near: datetime) -> datetime:
    """The first midnight from ``near`` on that no late delivery straddles.

    A touchpoint that happened before T but was delivered after a later input of its lead
    is a legitimate difference between "the funnel as of T, as we know it now" and "the
    funnel a replay of the inputs up to T builds": the aggregate scored it late, at its
    lead's newest time, so what it caused (an MQL) is dated after T. Away from such
    moments the two must agree exactly.
    """
    by_lead: dict[UUID, list[datetime]] = {}
    for item, result in zip(history, results, strict=True):
        if result.lead_id is not None:
            by_lead.setdefault(result.lead_id, []).append(occurred(item))
    t = near.replace(hour=0, minute=0, second=0, microsecond=0)
    for _ in range(DAYS):
        straddled = any(
            any(a > t >= b for i, a in enumerate(times) for b in times[i + 1:])
            for times in by_lead.values())
        if not straddled:
            return t
        t += timedelta(days=1)
    raise AssertionError(f"no clean cut after {near}")


@pytest.mark.parametrize("fraction", [0.35, 0.7])
def test_as_of_equals_a_replay_cut_at_that_date(
    recorded: Recorded, history: Inputs, fraction: float, tmp_path: Path,
    templates: TemplateRegistry, scoring: ScoringConfig,
) -> None:
    """Every report ``as_of`` T on the whole history equals the report of a fresh engine
    fed only the inputs that happened by T (sales actions and touchpoints after T left
    out). The whole history also had its policies run at its end: the grades they
    changed are dated then, after T, so they are not part of the past view either.
    """
    cut = clean_cut(history, recorded.results, END - timedelta(days=DAYS * (1 - fraction)))
    url = f"sqlite:///{tmp_path / 'replay.db'}"
    replay = open_app(url, templates, scoring)
    store = ProjectionStore(url)
    try:
        before = [i for i in history if occurred(i) <= cut]
        assert 0 < len(before) < len(history)
        record(replay, before)
        build_runner(replay, store).run()
        for name in REPORTS:
            past = build_report(name, recorded.store, templates, scoring, as_of=cut, at=END)
            replayed = build_report(name, store, templates, scoring, as_of=cut, at=END)
            assert replayed == past, name
            if name in ("funnel", "channels", "losses", "forecast"):
                # nothing in the replay happened after the cut
                everything = build_report(name, store, templates, scoring, at=END)
                assert everything == {**replayed, "as_of": None}, name
        now = report(recorded, "funnel", templates, scoring)
        then = report(recorded, "funnel", templates, scoring, as_of=cut)
        assert then["as_of"] == cut.astimezone(UTC).isoformat()
        assert sum(t["leads"] for t in then["templates"]) < sum(
            t["leads"] for t in now["templates"])
    finally:
        store.close()
        replay.close()
