"""The lead's rules as pure functions: stage moves, qualification, scoring, nurture.

The aggregate's commands ask these what the rules say and emit what they answer; none
of them reads a clock or changes anything, so each is tested with plain values.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, NamedTuple

from lifecycle.errors import IllegalTransition, InvalidInput
from lifecycle.scoring import BantAssessment, Grade, ScoringConfig, decay_factor
from lifecycle.templates import CLOSED_STAGES, FunnelTemplate

__all__ = [
    "POOL_OPEN",
    "SCREEN_ACTOR",
    "NurtureStep",
    "advance_target",
    "auto_sql_rule",
    "behaviour_after",
    "check_open",
    "deal_position",
    "due_nurture_step",
    "mql_rule",
    "touch_points",
    "win_skips",
]

POOL_OPEN = ("captured", "nurturing")
"""Stages of a lead marketing has not qualified yet."""

SCREEN_ACTOR = "policy:screen"
"""The actor of a disqualification (and reinstatement) decided by the screens."""

_GRADE_ORDER = {"cold": 0, "warm": 1, "hot": 2}


def touch_points(config: ScoringConfig, kind: str,
                 properties: Mapping[str, Any] | None = None) -> float:
    """The behaviour points a touchpoint of ``kind`` is worth: the kind's weight (0 for
    an unknown kind, unless the configuration rejects those) plus each signal's points
    from the touch's numeric ``properties`` (capped; anything but a positive number —
    text, a boolean, a list — scores nothing: properties are the source's data).

    Raises:
        InvalidInput: an unknown kind, and the configuration rejects those.
    """
    behaviour = config.behaviour
    points = behaviour.weights.get(kind)
    if points is None:
        if behaviour.unknown_kind == "reject":
            known = ", ".join(sorted(behaviour.weights))
            raise InvalidInput(f"kind: unknown touchpoint kind {kind!r} (known: {known}); "
                               "or set behaviour.unknown_kind = \"zero\" to record it")
        points = 0.0
    if behaviour.signals and properties:
        for signal in behaviour.signals:
            value = properties.get(signal.property)
            # type(), not isinstance: True is an int, and no number of seconds.
            if (type(value) is int or type(value) is float) and value > 0 \
                    and (not signal.kinds or kind in signal.kinds):
                # Capped before multiplying: an integer times a float is a float, and
                # one beyond 1e308 would overflow.
                ppu = signal.points_per_unit
                points += round(ppu * value if value < signal.cap / ppu else signal.cap, 6)
    return points


def behaviour_after(
    behaviour: float, behaviour_at: datetime, points: float, t: datetime, half_life: float
) -> tuple[float, datetime]:
    """The behaviour score (and the time it is as of) after ``points`` earned at ``t``."""
    if t >= behaviour_at:
        return behaviour * decay_factor(behaviour_at, t, half_life) + points, t
    # late: its points have decayed from its own time to the lead's newest time
    return behaviour + points * decay_factor(t, behaviour_at, half_life), behaviour_at


def mql_rule(template: FunnelTemplate, fit: float, behaviour: float, kind: str | None) -> str:
    """The rule that makes a nurturing lead marketing-qualified; "" when none does."""
    rule = template.mql
    if fit >= rule.min_fit and behaviour >= rule.min_behaviour:
        return "thresholds"
    if kind in rule.instant_kinds and fit >= rule.instant_min_fit:
        return f"instant:{kind}"
    return ""


def auto_sql_rule(
    template: FunnelTemplate, grade: Grade | None, bant: BantAssessment, kind: str | None
) -> str:
    """The template's rule that makes an MQL sales-qualified by itself; "" when none."""
    rule = template.sql
    grade_ok = rule.min_grade is None or (
        grade is not None and _GRADE_ORDER[grade] >= _GRADE_ORDER[rule.min_grade]
    )
    if rule.on_kinds and kind in rule.on_kinds and grade_ok:
        return f"on_kind:{kind}"
    if rule.min_bant is not None and bant.met >= rule.min_bant and grade_ok:
        return f"bant>={rule.min_bant}"
    return ""


class NurtureStep(NamedTuple):
    """A nurture step that is due: its track's start, its index and its content."""

    track_started_at: datetime
    step: int
    content: str


def due_nurture_step(
    config: ScoringConfig,
    grade: Grade,
    at: datetime,
    *,
    track: Grade | None,
    started_at: datetime | None,
    next_step: int,
) -> NurtureStep | None:
    """The step of ``grade``'s nurture track due at ``at``, if one is.

    A lead whose track is another grade's (or none) starts ``grade``'s track at ``at``.
    """
    steps = config.nurture.track(grade)
    if track != grade or started_at is None:
        started, step = at, 0
    else:
        started, step = started_at, next_step
    if step >= len(steps):
        return None
    if (at - started).total_seconds() >= steps[step].after_days * 86_400.0:
        return NurtureStep(started, step, steps[step].content)
    return None


def deal_position(stage: str, template: FunnelTemplate, action: str, why: str) -> int:
    """The stage's place in the opportunity stages (-1: ``sql``).

    Raises:
        IllegalTransition: the lead is neither sales-qualified nor an opportunity.
    """
    if stage == "sql":
        return -1
    if stage not in template.opportunity_stages:
        raise IllegalTransition(action=action, stage=stage, why=why)
    return template.opportunity_stages.index(stage)


def advance_target(
    stage: str, template: FunnelTemplate, target: str | None, skip_reason: str | None
) -> tuple[str, tuple[str, ...]]:
    """Where an advance from ``stage`` goes (``target``, or the next stage), and the
    stages it skips.

    Raises:
        IllegalTransition: not an SQL or opportunity, no stage ahead, a stage the
            template lacks or that is not ahead, or skipped stages without a reason.
    """
    opp = template.opportunity_stages
    pos = deal_position(stage, template, "advance",
                        "only a sales-qualified lead (sql) or an opportunity can advance; "
                        f"accept it first (template {template.name!r} stages: {', '.join(opp)})")
    target = target or (opp[pos + 1] if pos + 1 < len(opp) else None)
    if target is None:
        raise IllegalTransition(action="advance", stage=stage,
                                why="it is the template's last stage; win or lose it")
    if target not in opp:
        raise IllegalTransition(
            action=f"advance to {target!r}", stage=stage,
            why=f"template {template.name!r} has no such stage ({', '.join(opp)})",
        )
    to = opp.index(target)
    if to <= pos:
        raise IllegalTransition(
            action=f"advance to {target!r}", stage=stage,
            why="that stage is not ahead of the current one; recycle the lead instead",
        )
    skipped = opp[pos + 1 : to]
    if skipped and not skip_reason:
        raise IllegalTransition(
            action=f"advance to {target!r}", stage=stage,
            why=f"it skips {', '.join(skipped)}; give skip_reason to skip stages",
        )
    return target, skipped


def win_skips(stage: str, template: FunnelTemplate, skip_reason: str | None) -> tuple[str, ...]:
    """The opportunity stages a win from ``stage`` skips.

    Raises:
        IllegalTransition: not an SQL or open opportunity, or stages skipped without
            a reason.
    """
    pos = deal_position(stage, template, "win",
                        "only a sales-qualified lead or an open opportunity can be won")
    skipped = template.opportunity_stages[pos + 1 :]
    if skipped and not skip_reason:
        raise IllegalTransition(
            action="win", stage=stage,
            why=f"it skips {', '.join(skipped)}; give skip_reason to close early",
        )
    return skipped


def check_open(stage: str, action: str, why: str) -> None:
    """Raises IllegalTransition (saying ``why``) when the lead is closed."""
    if stage in CLOSED_STAGES:
        raise IllegalTransition(action=action, stage=stage, why=why)
