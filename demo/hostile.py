"""The demo's bad input, on purpose: what a real feed of inputs also carries.

* sales actions on closed leads (won or disqualified) that the state machine must
  refuse; each one is tried on the lead's real aggregate first, and must be refused
  as an illegal transition;
* sales actions for people nobody captured (a CRM record typed in by hand);
* exact redeliveries of earlier inputs (an at-least-once source retrying).

The engine rejects the first two (``illegal_transition``, ``unknown_lead``) and reports
the redeliveries as duplicates; :class:`demo.stats.GeneratedStats` says how many.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Sequence
from datetime import timedelta

from demo.catalogue import FIRST_NAMES, LAST_NAMES, SDRS
from demo.common import MINUTE, History, Item, iso, slug
from demo.stories import Story

REDELIVERY_SHARE = 0.01
"""Share of inputs delivered a second time, byte for byte."""
ILLEGAL_SHARE = 0.002
"""Sales actions that break the state machine on purpose, as a share of all inputs."""
UNKNOWN_LEAD_SHARE = 0.001
"""Sales actions for leads nobody captured, as a share of all inputs."""

_ON_WON: tuple[tuple[str, dict[str, object]], ...] = (
    ("advance", {}), ("bant", {"budget": False}),
    ("lose", {"reason": "decision_postponed",
              "text": "Customer reconsidering; logged on the wrong record."}),
    ("reopen", {"text": "Upsell opportunity"}),
    ("recycle", {"reason": "other", "text": "Nurture for upsell."}),
)
_ON_DISQUALIFIED: tuple[tuple[str, dict[str, object]], ...] = (
    ("accept", {}),
    ("win", {"amount": 12_000.0, "currency": "EUR",
             "skip_reason": "closed on the wrong record"}),
    ("advance", {}),
    ("lose", {"reason": "no_budget", "text": "Thought it was lost, not disqualified."}),
)


def add_illegal_actions(history: History, stories: Sequence[Story], rng: random.Random) -> int:
    """Sales actions the state machine must reject: acting on closed leads.

    Returns:
        How many were added.

    Raises:
        RuntimeError: the engine would accept one of them (a generator bug).
    """
    end = history.end
    wanted = max(2, round(ILLEGAL_SHARE * len(history.items))) if stories else 0
    candidates = [s for s in stories
                  if s.engine.stage in ("won", "disqualified")
                  and s.last_at < end - timedelta(hours=3)]
    rng.shuffle(candidates)
    made = 0
    for story in candidates[:wanted]:
        at = story.last_at + timedelta(minutes=rng.randint(60, 14 * 1440))
        at = min(at, end - MINUTE * 5)
        action, extra = rng.choice(_ON_WON if story.engine.stage == "won" else _ON_DISQUALIFIED)
        data = story.action_data(at, story.lead.ae[0], action, dict(extra),
                                 action_id=f"sa-{history.seed}-{story.lead.no:05d}-x")
        rejection = story.engine.feed(data)  # refused: the lead stays as it was
        if rejection is None or rejection.code != "illegal_transition":
            raise RuntimeError(f"demo generator bug: the engine does not refuse {data} as "
                               f"illegal ({rejection})")
        history.items.append(Item(at + timedelta(seconds=rng.randint(1, 50)),
                                  history.next_order(), at, story.lead.no, data, True,
                                  deliberate=True))
        made += 1
    return made


def add_unknown_lead_actions(history: History, *, any_leads: bool,
                             rng: random.Random) -> int:
    """Sales actions about people the engine never saw (a CRM record typed by hand)."""
    wanted = max(1, round(UNKNOWN_LEAD_SHARE * len(history.items))) if any_leads else 0
    span = int((history.end - history.start).total_seconds() // 60) - 10
    for n in range(wanted):
        at = history.start + timedelta(minutes=rng.randint(60, max(span, 61)))
        data: dict[str, object] = {
            "action_id": f"sa-{history.seed}-unknown-{n:04d}",
            "occurred_at": iso(at),
            "actor": rng.choice(SDRS)[0],
        }
        if n % 2:
            data["external_id"] = f"CRM-{history.seed}-{900000 + n}"
        else:
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            data["email"] = f"{slug(first)}.{slug(last)}@unlisted-prospect-{n}.com"
        kind = rng.choice(("accept", "note", "bant"))
        data["action"] = kind
        if kind == "note":
            data["text"] = "Called from a trade-show list; not in marketing's system."
        elif kind == "bant":
            data["need"] = True
        history.items.append(Item(at + timedelta(seconds=rng.randint(1, 50)),
                                  history.next_order(), at, 0, data, True, deliberate=True))
    return wanted


def add_redeliveries(history: History, rng: random.Random) -> int:
    """Exact copies of ~1 % of the inputs, delivered again up to two days later."""
    pool = [i for i in history.items if not i.deliberate]
    count = round(REDELIVERY_SHARE * len(pool))
    for original in rng.sample(pool, count):
        delay = timedelta(seconds=rng.randint(30, 2 * 86_400))
        at = min(original.delivered + delay, history.end)
        history.items.append(Item(max(at, original.delivered), history.next_order(),
                                  original.occurred, original.lead,
                                  copy.deepcopy(original.data), original.is_action))
    return count
