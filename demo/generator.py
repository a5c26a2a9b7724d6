"""Writes the demo's history: leads drawn by :mod:`demo.people`, one story each
(:mod:`demo.stories`), the deliberate bad input (:mod:`demo.hostile`), all in delivery
order.

Only ``random.Random(seed)`` is drawn from: the same arguments give the same output. The
one clock read is the default ``end`` (now, truncated to the hour).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import TypedDict, Unpack

from demo.catalogue import TEMPLATE_SHARES
from demo.common import History
from demo.hostile import add_illegal_actions, add_redeliveries, add_unknown_lead_actions
from demo.people import Casting
from demo.stats import GeneratedStats, summarise
from demo.stories import Story
from lifecycle.scoring import ScoringConfig, load_scoring
from lifecycle.templates import TemplateRegistry, load_templates

__all__ = ["GenerateOptions", "generate", "generate_with_stats"]


class GenerateOptions(TypedDict, total=False):
    """The keyword arguments :func:`generate` passes on to :func:`generate_with_stats`."""

    leads: int
    days: int
    seed: int
    end: datetime | None
    templates: TemplateRegistry | None
    scoring: ScoringConfig | None


def generate(**options: Unpack[GenerateOptions]) -> list[dict[str, object]]:
    """A synthetic history of ``leads`` leads over ``days`` days ending at ``end``.

    Args:
        leads: how many leads are captured (default 3000).
        days: how long the history is (default 180).
        seed: the only source of randomness (default 7); the same arguments give the same
            output.
        end: when the history ends (timezone-aware); default: now (UTC), to the hour.
        templates: the engine's templates (default: the built-in ones); the history uses
            ``saas``, ``industrial`` and ``generic_b2b``.
        scoring: the engine's scoring configuration (default: the built-in one); each
            lead's aggregate is built with it, so sales actions stay legal.

    Returns:
        Inbound objects in delivery order, each valid for
        :func:`lifecycle.contracts.parse_inbound`.
    """
    # The defaults live once, in generate_with_stats' signature.
    return generate_with_stats(**options)[0]


def generate_with_stats(
    *,
    leads: int = 3000,
    days: int = 180,
    seed: int = 7,
    end: datetime | None = None,
    templates: TemplateRegistry | None = None,
    scoring: ScoringConfig | None = None,
) -> tuple[list[dict[str, object]], GeneratedStats]:
    """Like :func:`generate` (the same arguments and defaults), and also says what was
    generated."""
    if leads < 0:
        raise ValueError(f"leads must be >= 0, got {leads}")
    if days < 1:
        raise ValueError(f"days must be >= 1, got {days}")
    if end is None:
        end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    elif end.tzinfo is None:
        raise ValueError("end must be timezone-aware")
    end = end.astimezone(UTC).replace(second=0, microsecond=0)
    registry = templates or load_templates()
    for name in TEMPLATE_SHARES:
        if name not in registry:
            raise ValueError(f"the demo needs the {name!r} template; loaded: "
                             f"{', '.join(registry.names())}")
    history = History(seed=seed, start=end - timedelta(days=days), end=end,
                      registry=registry, scoring=scoring or load_scoring())
    return _run(history, leads)


def _run(history: History, n_leads: int) -> tuple[list[dict[str, object]], GeneratedStats]:
    rng = random.Random(history.seed)
    casting = Casting(seed=history.seed, start=history.start, end=history.end, rng=rng)
    stories: list[Story] = []
    times = sorted(casting.capture_time() for _ in range(n_leads))
    for no, at in enumerate(times, start=1):
        lead = casting.prospect(no, at)
        story = Story(history, lead, random.Random(rng.getrandbits(64)),
                      casting.companies[lead.template])
        story.run()
        stories.append(story)
    illegal = add_illegal_actions(history, stories, rng)
    unknown = add_unknown_lead_actions(history, any_leads=bool(stories), rng=rng)
    redelivered = add_redeliveries(history, rng)
    history.items.sort(key=lambda i: (i.delivered, i.order))
    data = [i.data for i in history.items]
    stats = summarise(history, stories, illegal=illegal, unknown=unknown,
                      redelivered=redelivered)
    return data, stats
