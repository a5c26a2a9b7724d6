"""What the demo generated, counted: the summary ``generate_with_stats`` returns.

The outcomes and funnel counts are the real Lead aggregates' (see :mod:`demo.engine`),
so they are what the engine's projections will show after ingesting the history.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from demo.common import History, by_count
from demo.stories import Story


@dataclass(frozen=True)
class GeneratedStats:
    """What :func:`demo.generate_with_stats` produced.

    ``by_outcome`` is each lead's final state as the engine decides it (the generator
    fed each lead's inputs to a real Lead aggregate in delivery order): ``won``,
    ``lost``, ``disqualified`` (by sales), ``screened_out`` (free-mail or university
    address, disqualified at capture), ``opportunity`` (an open opportunity stage),
    ``sql``, ``mql`` or ``nurturing``. The engine should accept every input except
    ``expected_rejections`` (the deliberately invalid sales actions, whose ids are in
    ``deliberate_ids``), and report ``expected_duplicates`` (the redeliveries) as
    duplicates.
    """

    seed: int
    start: datetime
    end: datetime
    leads: int
    inputs: int
    touchpoints: int
    sales_actions: int
    by_channel: dict[str, int]
    by_template: dict[str, int]
    by_outcome: dict[str, int]
    funnel: dict[str, int]
    wins_by_channel: dict[str, int]
    won_amounts: dict[str, float]
    actions_by_kind: dict[str, int]
    touchpoints_by_kind: dict[str, int]
    loss_reasons: dict[str, int]
    screened: int
    external_id_first: int
    redeliveries: int
    late: int
    illegal_actions: int
    unknown_lead_actions: int
    deliberate_ids: tuple[str, ...]

    @property
    def expected_rejections(self) -> int:
        return self.illegal_actions + self.unknown_lead_actions

    @property
    def expected_duplicates(self) -> int:
        return self.redeliveries

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready summary (without the list of deliberate ids)."""
        return {
            "seed": self.seed, "start": self.start.isoformat(), "end": self.end.isoformat(),
            "leads": self.leads, "inputs": self.inputs, "touchpoints": self.touchpoints,
            "sales_actions": self.sales_actions, "by_channel": self.by_channel,
            "by_template": self.by_template, "by_outcome": self.by_outcome,
            "funnel": self.funnel, "wins_by_channel": self.wins_by_channel,
            "won_amounts": self.won_amounts, "actions_by_kind": self.actions_by_kind,
            "touchpoints_by_kind": self.touchpoints_by_kind, "loss_reasons": self.loss_reasons,
            "screened": self.screened, "external_id_first": self.external_id_first,
            "redeliveries": self.redeliveries, "late": self.late,
            "illegal_actions": self.illegal_actions,
            "unknown_lead_actions": self.unknown_lead_actions,
            "expected_rejections": self.expected_rejections,
            "expected_duplicates": self.expected_duplicates,
        }


def summarise(history: History, stories: Sequence[Story], *, illegal: int, unknown: int,
              redelivered: int) -> GeneratedStats:
    """Counts what the stories and the deliberate mistakes put into ``history``."""
    by_outcome: Counter[str] = Counter()
    wins: Counter[str] = Counter()
    funnel: Counter[str] = Counter()
    for s in stories:
        reached = s.engine.reached()
        funnel["leads"] += 1
        funnel["mql"] += "mql" in reached
        funnel["sql"] += "sql" in reached
        funnel["opportunity"] += any(st in reached for st in s.template.opportunity_stages)
        funnel["won"] += "won" in reached
        stage = s.engine.stage
        if stage == "disqualified" and s.lead.invalid:
            outcome = "screened_out"
        elif stage in s.template.opportunity_stages:
            outcome = "opportunity"
        else:
            outcome = stage
        by_outcome[outcome] += 1
        if stage == "won":
            wins[s.lead.channel] += 1
    actions: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    amounts: dict[str, float] = {}
    seen: set[str] = set()
    for item in history.items:
        d = item.data
        input_id = str(d.get("action_id") or d.get("touchpoint_id"))
        if item.deliberate or input_id in seen:
            continue
        seen.add(input_id)
        if item.is_action:
            actions[str(d["action"])] += 1
            if d["action"] == "lose":
                reasons[str(d["reason"])] += 1
            elif d["action"] == "win" and isinstance(d.get("amount"), float):
                currency = str(d["currency"])
                amounts[currency] = amounts.get(currency, 0.0) + float(str(d["amount"]))
        else:
            kinds[str(d["kind"])] += 1
    n_actions = sum(1 for i in history.items if i.is_action)
    return GeneratedStats(
        seed=history.seed, start=history.start, end=history.end, leads=len(stories),
        inputs=len(history.items), touchpoints=len(history.items) - n_actions,
        sales_actions=n_actions,
        by_channel=by_count(Counter(s.lead.channel for s in stories)),
        by_template=by_count(Counter(s.lead.template for s in stories)),
        by_outcome=by_count(by_outcome), funnel=dict(funnel), wins_by_channel=by_count(wins),
        won_amounts={c: round(v, 2) for c, v in sorted(amounts.items())},
        actions_by_kind=by_count(actions), touchpoints_by_kind=by_count(kinds),
        loss_reasons=by_count(reasons),
        screened=sum(1 for s in stories if s.lead.invalid),
        external_id_first=sum(1 for s in stories if s.lead.external_id),
        redeliveries=redelivered, late=sum(s.late for s in stories),
        illegal_actions=illegal, unknown_lead_actions=unknown,
        deliberate_ids=tuple(str(i.data["action_id"]) for i in history.items if i.deliberate),
    )
