"""The synthetic history behind ``lifecycle demo``: deterministic, valid, realistic."""

from __future__ import annotations

import json
import statistics
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from demo import GeneratedStats, generate, generate_with_stats
from lifecycle.application import LeadLifecycle, Outcome
from lifecycle.contracts import LOSS_REASONS, SalesAction, Touchpoint, parse_inbound
from lifecycle.scoring import load_scoring
from lifecycle.settings import Settings

END = datetime(2025, 6, 2, 9, tzinfo=UTC)

Inputs = list[dict[str, object]]


@pytest.fixture(scope="module")
def history() -> tuple[Inputs, GeneratedStats]:
    return generate_with_stats(leads=1000, days=180, seed=5, end=END)


def _id(item: dict[str, object]) -> str:
    return str(item.get("touchpoint_id") or item.get("action_id"))


def _lead_no(item: dict[str, object]) -> str:
    """The lead number inside an input id (``tp-SEED-LEAD-N``)."""
    return _id(item).split("-")[2]


def _time(item: dict[str, object]) -> datetime:
    return datetime.fromisoformat(str(item["occurred_at"]))


def test_same_seed_gives_the_same_history() -> None:
    first = generate(leads=150, days=90, seed=3, end=END)
    again = generate(leads=150, days=90, seed=3, end=END)
    assert first == again
    assert json.dumps(first) == json.dumps(again)


def test_another_seed_gives_another_history() -> None:
    assert generate(leads=150, days=90, seed=3, end=END) != generate(
        leads=150, days=90, seed=4, end=END)


def test_no_leads_no_inputs() -> None:
    data, stats = generate_with_stats(leads=0, end=END)
    assert data == []
    assert stats.inputs == 0


def test_end_must_be_timezone_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        generate(leads=1, end=datetime(2025, 1, 1))


def test_every_input_is_valid_json_for_the_contract(history: tuple[Inputs, GeneratedStats]) -> None:
    data, stats = history
    assert len(data) == stats.inputs
    kinds = set(load_scoring().behaviour.weights)
    for item in data:
        parsed = parse_inbound(json.loads(json.dumps(item)))
        if isinstance(parsed, Touchpoint):
            assert parsed.kind in kinds
    assert sum("touchpoint_id" in i for i in data) == stats.touchpoints
    assert sum("action_id" in i for i in data) == stats.sales_actions


def test_history_lies_within_the_period(history: tuple[Inputs, GeneratedStats]) -> None:
    data, stats = history
    times = [_time(i) for i in data]
    assert min(times) >= END - timedelta(days=180)
    assert max(times) <= END
    assert stats.start == END - timedelta(days=180)
    assert stats.end == END


def test_ids_are_unique_except_redeliveries(history: tuple[Inputs, GeneratedStats]) -> None:
    data, stats = history
    first_seen: dict[str, int] = {}
    repeats = 0
    for position, item in enumerate(data):
        key = _id(item)
        if key in first_seen:
            repeats += 1
            assert item == data[first_seen[key]], "a redelivery is an exact copy"
        else:
            first_seen[key] = position
    assert stats.redeliveries > 0
    assert repeats == stats.redeliveries
    assert 0.005 < repeats / len(data) < 0.02


def test_channel_mix(history: tuple[Inputs, GeneratedStats]) -> None:
    _, stats = history
    assert sum(stats.by_channel.values()) == stats.leads
    assert len(stats.by_channel) >= 9
    assert max(stats.by_channel.values()) <= 0.35 * stats.leads
    assert 0 < stats.by_channel["partner"] < 0.08 * stats.leads


def test_channels_differ_in_quality(history: tuple[Inputs, GeneratedStats]) -> None:
    _, stats = history

    def win_rate(channel: str) -> float:
        return stats.wins_by_channel.get(channel, 0) / stats.by_channel[channel]

    for good in ("referral", "event"):
        for poor in ("paid_search", "social"):
            assert win_rate(good) > 3 * win_rate(poor)


def test_every_lead_starts_with_a_touchpoint_naming_its_template(
    history: tuple[Inputs, GeneratedStats],
) -> None:
    data, stats = history
    first: dict[str, dict[str, object]] = {}
    for item in data:
        if "-x" in _id(item) or "unknown" in _id(item):
            continue  # the deliberately invalid actions
        first.setdefault(_lead_no(item), item)
    assert len(first) == stats.leads
    templates = Counter(str(item.get("template")) for item in first.values())
    assert set(templates) == {"saas", "industrial", "generic_b2b"}
    assert templates == Counter(stats.by_template)
    for item in first.values():
        assert "touchpoint_id" in item
        assert isinstance(item.get("profile"), dict)


def test_industrial_companies_are_bigger_and_deals_larger(
    history: tuple[Inputs, GeneratedStats],
) -> None:
    data, _ = history
    employees: dict[str, list[int]] = defaultdict(list)
    template_of: dict[str, str] = {}
    won: dict[str, list[float]] = defaultdict(list)
    currencies: dict[str, set[str]] = defaultdict(set)
    for item in data:
        if "template" in item:
            template_of[_lead_no(item)] = str(item["template"])
            profile = item["profile"]
            assert isinstance(profile, dict)
            if isinstance(profile.get("employees"), int):
                employees[str(item["template"])].append(profile["employees"])
    for item in data:
        if item.get("action") == "win" and "-x" not in _id(item):
            template = template_of[_lead_no(item)]
            amount = item["amount"]
            assert isinstance(amount, float)
            won[template].append(amount)
            currencies[template].add(str(item["currency"]))
    assert statistics.median(employees["industrial"]) > 2 * statistics.median(employees["saas"])
    assert statistics.median(won["industrial"]) > 3 * statistics.median(won["saas"])
    assert currencies["industrial"] == {"EUR"}


def test_screened_and_external_id_leads(history: tuple[Inputs, GeneratedStats]) -> None:
    data, stats = history
    free_mail = [i for i in data if "template" in i
                 and str(i.get("email", "")).endswith(("@gmail.com", ".edu", ".ac.uk"))]
    assert free_mail
    assert 0 < stats.screened < 0.06 * stats.leads
    external_first = [i for i in data if "template" in i and "email" not in i]
    assert len(external_first) == stats.external_id_first > 0
    for item in external_first:
        profile = item["profile"]
        assert isinstance(profile, dict)
        assert profile.get("phone"), "without email the lead needs a phone to pass the screen"
        # later the same person gives their email along with the external id
        linked = [i for i in data if i.get("external_id") == item["external_id"] and "email" in i]
        assert linked or _time(item) > END - timedelta(days=7)


def test_sales_actions_look_like_a_sales_team(history: tuple[Inputs, GeneratedStats]) -> None:
    data, stats = history
    actions = [i for i in data if "action_id" in i]
    kinds = Counter(str(a["action"]) for a in actions)
    for kind in ("accept", "advance", "bant", "win", "lose", "disqualify", "recycle", "note"):
        assert kinds[kind] > 0, kind
    for action in actions:
        parsed = parse_inbound(action)
        assert isinstance(parsed, SalesAction)
        if parsed.action == "lose":
            assert parsed.reason in LOSS_REASONS
            assert parsed.text
        if parsed.action == "win" and "-x" not in parsed.action_id:
            assert parsed.amount
            assert parsed.currency
    reasons = Counter(str(a["reason"]) for a in actions if a["action"] == "lose")
    assert {"competitor_won", "no_budget", "decision_postponed", "need_mismatch"} <= set(reasons)
    assert all(a.get("competitor") for a in actions if a.get("reason") == "competitor_won")
    assert any(a.get("skip_reason") for a in actions if a["action"] == "advance")
    actors = Counter(str(a["actor"]) for a in actions)
    assert len(actors) >= 10
    revisions = Counter(str(json.dumps(i.get("properties"))).split('"quote": ')[1].split(",")[0]
                        for i in data if i.get("kind") == "quote_revised")
    assert sum(1 for n in revisions.values() if n >= 3) >= 3
    assert stats.funnel["mql"] > stats.funnel["sql"] > stats.funnel["won"] > 0


def test_late_deliveries(history: tuple[Inputs, GeneratedStats]) -> None:
    data, stats = history
    latest: dict[str, datetime] = {}
    overtaken = set()
    for item in data:
        lead, at = _lead_no(item), _time(item)
        if lead in latest and at < latest[lead] and "touchpoint_id" in item:
            overtaken.add(_id(item))
        latest[lead] = max(latest.get(lead, at), at)
    assert stats.late > 0
    assert 0.01 < stats.late / stats.touchpoints < 0.04
    # every late one arrives after something of its lead that happened later
    # (redeliveries of on-time inputs are "behind" too, so this is a lower bound)
    assert len(overtaken) >= stats.late


def test_deliberately_invalid_actions_are_few(history: tuple[Inputs, GeneratedStats]) -> None:
    data, stats = history
    assert stats.illegal_actions > 0
    assert stats.unknown_lead_actions > 0
    assert len(stats.deliberate_ids) == stats.expected_rejections
    assert stats.expected_rejections < 0.005 * len(data)
    ids = {_id(i) for i in data}
    assert set(stats.deliberate_ids) <= ids


@pytest.mark.integration
def test_the_engine_accepts_the_history(tmp_path: Path) -> None:
    data, stats = generate_with_stats(leads=300, days=180, seed=11, end=END)
    app = LeadLifecycle(Settings(database_url=f"sqlite:///{tmp_path / 'demo.db'}"))
    results = []
    for start in range(0, len(data), 500):
        results += app.record_batch([parse_inbound(d) for d in data[start:start + 500]])
    outcomes = Counter(r.outcome for r in results)
    rejected = {r.input_id for r in results if r.outcome == Outcome.REJECTED}
    assert rejected == set(stats.deliberate_ids), [
        (r.input_id, r.reason) for r in results
        if r.outcome == Outcome.REJECTED and r.input_id not in stats.deliberate_ids]
    codes = Counter(r.code for r in results if r.outcome == Outcome.REJECTED)
    assert codes == {"illegal_transition": stats.illegal_actions,
                     "unknown_lead": stats.unknown_lead_actions}
    assert outcomes[Outcome.DUPLICATE] == stats.redeliveries
    assert outcomes[Outcome.ACCEPTED] == len(data) - stats.redeliveries - len(rejected)

    stages: Counter[str] = Counter()
    events: Counter[str] = Counter()
    loss_reasons: Counter[str] = Counter()
    for lead_id in {r.lead_id for r in results if r.lead_id is not None}:
        stages[app.get_lead(lead_id).stage] += 1
        for event in app.lead_events(lead_id):
            events[type(event).__name__] += 1
            if type(event).__name__ == "Lost":
                loss_reasons[str(getattr(event, "reason", ""))] += 1
    assert sum(stages.values()) == stats.leads
    assert stages["won"] == stats.by_outcome.get("won", 0) > 0
    assert stages["lost"] == stats.by_outcome.get("lost", 0) > 0
    assert events["Recycled"] > 0
    assert events["Reopened"] + events["Lost"] + events["Won"] > 0
    assert len(loss_reasons) >= 3
    assert set(loss_reasons) <= set(LOSS_REASONS)
    assert events["Disqualified"] >= stats.screened
